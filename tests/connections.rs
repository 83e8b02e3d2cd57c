//! The connection slots under hostile clients (issue 15): hundreds of half-open sockets and
//! clients that pipeline requests and never read the answers cannot keep a scrape out; the
//! deadlines close them; only when every slot is answering is a new connection refused, with a
//! proper 503.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// What a scrape must take at most with the slots under attack.
const SCRAPE_LIMIT: Duration = Duration::from_secs(2);

fn exporter(dir: &std::path::Path, args: &[&str]) -> Exporter {
    let log = dir.join("access.log");
    append(&log, "");
    let log = log.to_str().unwrap();
    Exporter::start([&["--log-file", log][..], args].concat())
}

/// A client that sends half a request and then nothing.
fn half_open(address: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: half-open\r\n")
        .unwrap();
    stream
}

/// Scrapes over a new connection; fails unless answered 200 within [`SCRAPE_LIMIT`].
fn timely_scrape(address: SocketAddr) -> (Duration, String) {
    let asked = Instant::now();
    let (status, body) = http_get(address, "/metrics");
    let took = asked.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(took < SCRAPE_LIMIT, "a scrape took {took:?}");
    (took, body)
}

/// Waits until the server closes `stream` (end of file or reset), for at most `limit`.
fn wait_closed(stream: &mut TcpStream, limit: Duration) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return,
            Err(error) => panic!("not closed within {limit:?}: {error}"),
        }
    }
}

#[test]
fn scrapes_are_answered_while_500_half_open_sockets_are_held() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = exporter(dir.path(), &[]);
    let mut held: Vec<TcpStream> = (0..500).map(|_| half_open(exporter.address)).collect();
    let slowest = (0..10)
        .map(|_| timely_scrape(exporter.address).0)
        .max()
        .unwrap();
    eprintln!("slowest of 10 scrapes with 500 half-open sockets held: {slowest:?}");

    // The longest idle went first to make room; the rest go at the request deadline.
    for stream in &mut held {
        wait_closed(stream, Duration::from_secs(10) + PATIENCE);
    }
    let (_, text) = timely_scrape(exporter.address);
    let evicted = value(
        &text,
        r#"accesslog_http_connections_evicted_total{state="idle"}"#,
    )
    .unwrap();
    let timed_out = value(
        &text,
        r#"accesslog_http_connections_timed_out_total{phase="request"}"#,
    )
    .unwrap();
    assert!(evicted >= 500.0 - 64.0, "{text}");
    assert_eq!(evicted + timed_out, 500.0, "{text}");
    assert_eq!(
        value(&text, "accesslog_http_connections_refused_total"),
        Some(0.0)
    );
}

/// A connection to `address` whose receive buffer is small from the start (it sets the window
/// the server may fill), so that a server writing to it stalls after a few answers.
fn connect_with_small_receive_buffer(address: SocketAddr) -> TcpStream {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(address) = address else {
        panic!("the exporter listens on IPv4 loopback")
    };
    let size: libc::c_int = 4096;
    let peer = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: address.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*address.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a socket of our own, given options and an address of the sizes stated, and
    // owned by the TcpStream once connected.
    unsafe {
        let socket = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(socket >= 0, "{}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(socket);
        let set = libc::setsockopt(
            socket,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(set, 0, "{}", std::io::Error::last_os_error());
        let connected = libc::connect(
            socket,
            (&peer as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(connected, 0, "{}", std::io::Error::last_os_error());
        stream
    }
}

/// A client that pipelines `GET /metrics` without end and never reads an answer; when the
/// server closes the connection it opens another, until `attacking` is cleared. Counts each
/// connection in `connected`, and itself in `stalled` once the server stops taking its
/// requests (its answers could not be written).
fn never_reading(
    address: SocketAddr,
    attacking: Arc<AtomicBool>,
    connected: Arc<AtomicUsize>,
    stalled: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let requests = b"GET /metrics HTTP/1.1\r\nHost: never-reads\r\n\r\n".repeat(64);
        let mut said = false;
        while attacking.load(Ordering::SeqCst) {
            let mut stream = connect_with_small_receive_buffer(address);
            connected.fetch_add(1, Ordering::SeqCst);
            stream
                .set_write_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut sent = 0;
            loop {
                // Whole requests only, whatever each write takes.
                match stream.write(&requests[sent % requests.len()..]) {
                    Ok(written) => sent += written,
                    Err(error)
                        if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                    {
                        if !said {
                            stalled.fetch_add(1, Ordering::SeqCst);
                            said = true;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
    })
}

#[test]
fn clients_that_never_read_their_answers_cannot_hold_the_slots() {
    const CLIENTS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let exporter = exporter(dir.path(), &[]);
    let (attacking, connected, stalled) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (attacking, connected) = (Arc::clone(&attacking), Arc::clone(&connected));
            never_reading(exporter.address, attacking, connected, Arc::clone(&stalled))
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while stalled.load(Ordering::SeqCst) < CLIENTS {
        assert!(Instant::now() < deadline, "the clients never stalled");
        std::thread::yield_now();
    }
    let slowest = (0..10)
        .map(|_| timely_scrape(exporter.address).0)
        .max()
        .unwrap();
    eprintln!("slowest of 10 scrapes with {CLIENTS} clients not reading: {slowest:?}");

    // The connections left are closed once their answers have waited 30 s.
    attacking.store(false, Ordering::SeqCst);
    let waited = Instant::now();
    for client in clients {
        client.join().unwrap();
    }
    eprintln!(
        "the last client not reading was closed after {:?}",
        waited.elapsed()
    );
    let (_, text) = timely_scrape(exporter.address);
    let evicted = sum(&text, "accesslog_http_connections_evicted_total");
    let timed_out = value(
        &text,
        r#"accesslog_http_connections_timed_out_total{phase="response"}"#,
    )
    .unwrap();
    assert!(evicted >= 1.0, "{text}");
    assert!(timed_out >= 1.0, "{text}");
    let connected = connected.load(Ordering::SeqCst) as f64;
    assert_eq!(evicted + timed_out, connected, "{text}");
}

/// A connection kept alive after one request answered: idle from the moment it is read.
fn kept_alive(address: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /missing HTTP/1.1\r\nHost: kept-alive\r\n\r\n")
        .unwrap();
    let mut answer = [0; 4096];
    let read = stream.read(&mut answer).unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 404 "));
    stream
}

#[test]
fn past_the_cap_the_longest_idle_connection_makes_room() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = exporter(dir.path(), &["--web.max-connections", "3"]);
    let mut idle: Vec<TcpStream> = (0..3).map(|_| kept_alive(exporter.address)).collect();
    timely_scrape(exporter.address);
    let (oldest, newer) = idle.split_first_mut().unwrap();
    wait_closed(oldest, PATIENCE);
    for stream in newer {
        stream.set_nonblocking(true).unwrap();
        let still_open = stream.read(&mut [0; 16]).unwrap_err();
        assert_eq!(still_open.kind(), ErrorKind::WouldBlock);
    }
}

/// A wrong password for `alice`, sent on a new connection and not read yet.
fn wrong_password(address: SocketAddr, password: &str) -> TcpStream {
    use base64::Engine;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("alice:{password}"));
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.0\r\nAuthorization: Basic {credentials}\r\n\r\n"
    )
    .unwrap();
    stream
}

#[test]
fn with_every_slot_answering_a_new_connection_is_answered_503_after_its_request() {
    let dir = tempfile::tempdir().unwrap();
    // Slow password checks keep both slots answering for seconds.
    let hash = bcrypt::hash("right", 13).unwrap();
    let config = dir.path().join("web.yml");
    std::fs::write(&config, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
    let mut exporter = exporter(
        dir.path(),
        &[
            "--web.max-connections",
            "2",
            "--web.config.file",
            config.to_str().unwrap(),
        ],
    );
    // Both are answering once the server has read their requests. A newcomer before then
    // is given the slot of one not read yet (it is idle), and its 401 at once: the closed one
    // is sent again.
    let mut sent = 0;
    let mut send = || {
        sent += 1;
        wrong_password(exporter.address, &sent.to_string())
    };
    let mut checking = [send(), send()];
    let deadline = Instant::now() + PATIENCE;
    let answer = loop {
        let mut stream = TcpStream::connect(exporter.address).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: newcomer\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("a refusal is read in full, not reset");
        if !answer.starts_with("HTTP/1.1 401 ") {
            break answer;
        }
        for stream in &mut checking {
            stream.set_nonblocking(true).unwrap();
            if !matches!(stream.read(&mut [0; 1]), Err(e) if e.kind() == ErrorKind::WouldBlock) {
                *stream = send();
            }
        }
        assert!(Instant::now() < deadline, "never refused");
    };
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(answer.ends_with("try again\n"), "{answer}");
    exporter.wait_for_stderr("2 connections open and every one answering a request");
    drop(checking);
}
