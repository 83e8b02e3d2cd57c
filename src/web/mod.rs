//! The HTTP side: `/metrics` (or the configured telemetry path) and a landing page at `/`,
//! over TLS and behind basic auth when `--web.config.file` says so ([`config`]).

pub mod config;
mod connections;

pub use connections::{Connections, RESPONSE_DEADLINE};

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::checkpoint::CheckpointSet;
use crate::metrics::Exposition;
use config::{AuthFailure, BasicAuth, Verdict, WebSecurity};
use connections::{Activity, Admission, Phase, Tracked, REQUEST_BUFFER_BYTES};

/// How long a client may take to finish the TLS handshake, and to send its request headers
/// (counted again from each answer written, so also how long a connection may sit idle).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// How long a refused connection gets to send its request before it is closed unanswered.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(1);
/// Refused connections answered at once; past it they are closed unanswered.
const REFUSALS_AT_ONCE: usize = 16;
/// How long open connections get to finish after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// What the server serves.
#[derive(Clone)]
pub struct Site {
    /// The metrics encoded on every scrape.
    pub metrics: Exposition,
    /// Where the metrics are served, e.g. `/metrics`.
    pub telemetry_path: String,
    /// Marked at every scrape, when the read position is kept between runs.
    pub checkpoints: Option<CheckpointSet>,
    /// The connections open, and which to close when a new one needs room.
    pub connections: Connections,
    /// TLS and the users let in.
    pub security: WebSecurity,
    /// Turns at the bcrypt check, and the count of refusals.
    pub auth: AuthChecks,
    /// Failed accepts (out of file descriptors and the like).
    pub accept_errors: prometheus::IntCounter,
}

/// How long a request waits for its turn at a bcrypt check before it is answered 503.
pub const AUTH_WAIT: Duration = Duration::from_secs(5);

/// Password checks one at a time (bcrypt takes tens of milliseconds of a core on purpose, and a
/// flood of wrong passwords must not take every core of the web server's host), and the count
/// of refused credentials by reason.
#[derive(Clone)]
pub struct AuthChecks {
    turn: Arc<Semaphore>,
    failures: Option<prometheus::IntCounterVec>,
}

impl AuthChecks {
    /// One check at a time; refusals counted in `exposition` when `users` are configured.
    pub fn new(
        exposition: &Exposition,
        users: &BasicAuth,
    ) -> Result<AuthChecks, prometheus::Error> {
        let reasons = AuthFailure::ALL.map(AuthFailure::label);
        let failures = match users.is_open() {
            true => None,
            false => Some(exposition.auth_failures(&reasons)?),
        };
        Ok(AuthChecks {
            turn: Arc::new(Semaphore::new(1)),
            failures,
        })
    }

    /// Whether the request's credentials let it in: at once from what is remembered, else
    /// after a bcrypt check in turn, waiting at most [`AUTH_WAIT`] for it.
    async fn admit(
        &self,
        users: &BasicAuth,
        authorization: Option<&[u8]>,
    ) -> Result<(), AuthFailure> {
        let result = match users.check(authorization) {
            Verdict::Allowed => Ok(()),
            Verdict::Refused(reason) => Err(reason),
            Verdict::Check(check) => {
                let turn = Arc::clone(&self.turn).acquire_owned();
                match tokio::time::timeout(AUTH_WAIT, turn).await {
                    Ok(Ok(turn)) => {
                        let users = users.clone();
                        let checked = tokio::task::spawn_blocking(move || {
                            let result = users.verify(check);
                            drop(turn);
                            result
                        });
                        checked.await.unwrap_or(Err(AuthFailure::Busy))
                    }
                    _ => Err(AuthFailure::Busy),
                }
            }
        };
        if let (Err(reason), Some(failures)) = (result, &self.failures) {
            failures.with_label_values(&[reason.label()]).inc();
        }
        result
    }
}

/// Serves `site` on `listener` until `shutdown` completes, then lets open connections finish
/// for at most half a second.
pub async fn serve(listener: TcpListener, site: Site, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let refusals = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let connections = site.connections.clone();
    let mut refusing = false;
    let mut accept_failures = AcceptFailures::default();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    accept_failures.backoff = ACCEPT_BACKOFF_FIRST;
                    stream
                }
                // Out of file descriptors (EMFILE, ENFILE) and the like: the next accept may
                // succeed once connections close, so wait longer each time it fails.
                Err(error) => {
                    site.accept_errors.inc();
                    let wait = accept_failures.failed(&error);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match connections.admit() {
            Admission::Slot(slot) => slot,
            Admission::Refused => {
                if !refusing {
                    crate::report::warning(format_args!(
                        "{} connections open and every one answering a request; answering 503 \
                         to more",
                        connections.cap()
                    ));
                    refusing = true;
                }
                if let Ok(turn) = Arc::clone(&refusals).try_acquire_owned() {
                    let tls = site.security.tls.clone();
                    tokio::spawn(async move {
                        let deadline = REFUSAL_DEADLINE * 2;
                        let _ = tokio::time::timeout(deadline, refuse(stream, tls)).await;
                        drop(turn);
                    });
                }
                continue;
            }
        };
        refusing = false;
        let id = slot.id();
        let (site, watcher) = (site.clone(), graceful.watcher());
        let task = tokio::spawn(async move {
            let activity = slot.activity();
            let stream = Tracked::new(stream, &slot);
            match site.security.tls.clone() {
                Some(acceptor) => {
                    // Plain HTTP sent to a TLS port fails here, and a client that stalls in
                    // the handshake is let go like one that stalls in its headers.
                    let handshake = tokio::time::timeout(REQUEST_DEADLINE, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            serve_connection(TokioIo::new(stream), site, activity, watcher).await
                        }
                        Ok(Err(_)) => {}
                        Err(_) => site.connections.timed_out(Phase::Handshake),
                    }
                }
                None => serve_connection(TokioIo::new(stream), site, activity, watcher).await,
            }
            drop(slot);
        });
        connections.serving(id, task.abort_handle());
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// The first wait after a failed accept; it doubles with each failure in a row, up to
/// [`ACCEPT_BACKOFF_MOST`].
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
/// The longest wait after a failed accept.
const ACCEPT_BACKOFF_MOST: Duration = Duration::from_secs(1);
/// Failed accepts are said at most this often, with how many there were.
const ACCEPT_FAILURES_SAID_EVERY: Duration = Duration::from_secs(60);

/// Failed accepts in a row, and when they were last said.
struct AcceptFailures {
    backoff: Duration,
    unsaid: u64,
    said: Option<std::time::Instant>,
}

impl Default for AcceptFailures {
    fn default() -> Self {
        AcceptFailures {
            backoff: ACCEPT_BACKOFF_FIRST,
            unsaid: 0,
            said: None,
        }
    }
}

impl AcceptFailures {
    /// Counts a failure, says it if none was said for a minute; returns how long to wait.
    fn failed(&mut self, error: &std::io::Error) -> Duration {
        self.unsaid += 1;
        if !self
            .said
            .is_some_and(|said| said.elapsed() < ACCEPT_FAILURES_SAID_EVERY)
        {
            crate::report::warning(format_args!(
                "accepting connections: {error} ({} failure(s) since the last said; said at most \
                 once a minute, counted in accesslog_http_accept_errors_total)",
                self.unsaid
            ));
            self.unsaid = 0;
            self.said = Some(std::time::Instant::now());
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(ACCEPT_BACKOFF_MOST);
        wait
    }
}

/// Serves the requests of one connection until it closes or the server shuts down.
async fn serve_connection<I>(io: I, site: Site, activity: Arc<Activity>, watcher: Watcher)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let connections = site.connections.clone();
    let service = service_fn(move |request: Request<Incoming>| {
        let site = site.clone();
        let answering = activity.answering();
        async move {
            let users = &site.security.users;
            if !users.is_open() {
                let authorization = request.headers().get(AUTHORIZATION);
                let admitted = site
                    .auth
                    .admit(users, authorization.map(HeaderValue::as_bytes))
                    .await;
                match admitted {
                    Ok(()) => {}
                    Err(AuthFailure::Busy) => return Ok::<_, Infallible>(busy()),
                    Err(_) => return Ok(unauthorized()),
                }
            }
            let response = respond(&site, &request);
            drop(answering);
            Ok(response)
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_DEADLINE)
        .max_buf_size(REQUEST_BUFFER_BYTES)
        .serve_connection(io, service);
    // A client that goes away mid-request is not our error to report; one that took too
    // long to send its request is counted.
    if let Err(error) = watcher.watch(connection).await {
        if error.is_timeout() {
            connections.timed_out(Phase::Request);
        }
    }
}

/// Answers a connection refused for want of a slot with a 503, over TLS when the port is TLS,
/// once its request is read; one that sends none within [`REFUSAL_DEADLINE`] is closed.
async fn refuse(stream: tokio::net::TcpStream, tls: Option<tokio_rustls::TlsAcceptor>) {
    let service = service_fn(|_: Request<Incoming>| async {
        Ok::<_, Infallible>(try_again(
            "Every connection is answering a request; try again\n",
        ))
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_DEADLINE)
        .max_buf_size(REQUEST_BUFFER_BYTES)
        .keep_alive(false);
    match tls {
        Some(acceptor) => {
            let handshake = tokio::time::timeout(REFUSAL_DEADLINE, acceptor.accept(stream));
            if let Ok(Ok(stream)) = handshake.await {
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        }
        None => {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    }
}

fn busy() -> Response<Full<Bytes>> {
    try_again("Too many password checks waiting; try again\n")
}

/// A 503 saying why, to be asked again in a second.
fn try_again(why: &'static str) -> Response<Full<Bytes>> {
    let mut response = with_type(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain; charset=utf-8",
        why.into(),
    );
    response
        .headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn unauthorized() -> Response<Full<Bytes>> {
    let mut response = with_type(
        StatusCode::UNAUTHORIZED,
        "text/plain; charset=utf-8",
        "Unauthorized\n".into(),
    );
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"accesslog-exporter\""),
    );
    response
}

fn respond(site: &Site, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if path == site.telemetry_path {
        // Marked with the counts served, so the position saved is neither ahead of them nor
        // behind them.
        let body = site.metrics.encode_marking(|| {
            if let Some(checkpoints) = &site.checkpoints {
                checkpoints.mark_scraped();
            }
        });
        return with_type(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            body,
        );
    }
    if path == "/" {
        return with_type(
            StatusCode::OK,
            "text/html; charset=utf-8",
            landing_page(&site.telemetry_path),
        );
    }
    with_type(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        "Not found\n".into(),
    )
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn landing_page(telemetry_path: &str) -> String {
    let path = escape_html(telemetry_path);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>accesslog-exporter</title></head>\n\
         <body><h1>accesslog-exporter</h1>\n\
         <p>Metrics from an HTTP access log, version {}.</p>\n\
         <p><a href=\"{path}\">{path}</a></p>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landing_page_escapes_the_telemetry_path() {
        let page = landing_page("/m\"><script>x</script>");
        assert!(
            page.contains("/m&quot;&gt;&lt;script&gt;x&lt;/script&gt;"),
            "{page}"
        );
        assert!(!page.contains("<script>"));
    }
}
