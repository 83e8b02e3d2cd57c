//! The `accesslog-exporter` program: flags → config, then either one pass over the log
//! (`--one-shot`) or the follower thread plus the HTTP server until SIGINT/SIGTERM.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use accesslog_exporter::cli::{Cli, Config};
use accesslog_exporter::ingest::Ingest;
use accesslog_exporter::metrics::ExporterMetrics;
use accesslog_exporter::tail::{self, Follower, Tailer};
use accesslog_exporter::web::{self, Site};
use clap::Parser;

/// Why the program stopped: each displays as the one line the user sees.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("{}: cannot read the log file: {source}", path.display())]
    LogFile { path: PathBuf, source: io::Error },
    #[error("--web.listen-address {address}: {source}")]
    Listen {
        address: std::net::SocketAddr,
        source: io::Error,
    },
    #[error("writing metrics to stdout: {0}")]
    Stdout(io::Error),
    #[error("starting the server: {0}")]
    Runtime(io::Error),
    #[error("registering metrics: {0}")]
    Registration(#[from] prometheus::Error),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            let text = error.to_string();
            let first = text.lines().next().unwrap_or_default();
            eprintln!(
                "accesslog-exporter: {}",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let config = match Config::try_from(cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("accesslog-exporter: {error}");
            return ExitCode::from(2);
        }
    };
    let result = if config.one_shot {
        one_shot(&config)
    } else {
        serve(config)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Stdout(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("accesslog-exporter: {error}");
            ExitCode::FAILURE
        }
    }
}

fn one_shot(config: &Config) -> Result<(), Error> {
    let metrics = ExporterMetrics::new()?;
    let mut ingest = Ingest::exporter(config.format, metrics.clone(), config.max_sections);
    let path = &config.tail.path;
    tail::read_whole_file(path, config.tail.max_line_bytes, &mut ingest).map_err(|source| {
        Error::LogFile {
            path: path.clone(),
            source,
        }
    })?;
    io::stdout()
        .lock()
        .write_all(metrics.encode().as_bytes())
        .map_err(Error::Stdout)
}

fn serve(config: Config) -> Result<(), Error> {
    check_readable(&config.tail.path)?;
    let listener = std::net::TcpListener::bind(config.listen_address)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|source| Error::Listen {
            address: config.listen_address,
            source,
        })?;
    let local = listener.local_addr().map_err(Error::Runtime)?;

    let metrics = ExporterMetrics::new()?;
    let mut ingest = Ingest::exporter(config.format, metrics.clone(), config.max_sections);
    let (follower, watch_error) =
        Follower::new(Tailer::new(config.tail.clone()), config.poll_interval);
    if let Some(error) = watch_error {
        eprintln!(
            "accesslog-exporter: no file-system events for {} ({error}); checking every {}",
            config.tail.path.display(),
            humantime::format_duration(config.poll_interval)
        );
    }
    let stop_following = follower.stop_handle();
    let follower_thread = std::thread::Builder::new()
        .name("follow".into())
        .spawn(move || tail::follow(follower, &mut ingest))
        .map_err(Error::Runtime)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let site = Site {
        metrics,
        telemetry_path: config.telemetry_path.clone(),
    };
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(Error::Runtime)?;
        // Installed before saying we listen, so a stop sent right after is a clean stop.
        let shutdown = shutdown_signal().map_err(Error::Runtime)?;
        eprintln!(
            "accesslog-exporter: listening on http://{local}{}",
            config.telemetry_path
        );
        web::serve(listener, site, shutdown).await;
        Ok::<(), Error>(())
    })?;

    stop_following.stop();
    let _ = follower_thread.join();
    eprintln!("accesslog-exporter: stopped");
    Ok(())
}

/// Refuses at start a log that exists but cannot be read; a missing one is waited for.
fn check_readable(path: &Path) -> Result<(), Error> {
    let error = |source| Error::LogFile {
        path: path.to_owned(),
        source,
    };
    match File::open(path) {
        Ok(file) if file.metadata().map_err(error)?.is_dir() => {
            Err(error(io::Error::other("is a directory, expected a file")))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(error(e)),
    }
}

/// Completes on the first SIGINT or SIGTERM; the handlers are in place once this returns.
fn shutdown_signal() -> io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
