//! The `accesslog-exporter` program: flags → config, then one of the commands, wiring the
//! tailer, the parser, the metrics, the monitor and the HTTP server together.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use accesslog_exporter::checkpoint::{CheckpointSet, Checkpoints, Positions, Saver};
use accesslog_exporter::cli::{
    Cli, Config, DemoConfig, GenerateConfig, InputConfig, MonitorRun, ParseConfig, ReplayRun,
    ServeConfig,
};
use accesslog_exporter::generate;
use accesslog_exporter::ingest::{self, Ingest};
use accesslog_exporter::logs::{self, LogContext, LogNames, LogSet};
use accesslog_exporter::metrics::{ExporterMetrics, Exposition, SeriesLimits};
use accesslog_exporter::monitor::{LiveMonitor, ReplayMonitor};
use accesslog_exporter::tail::{self, FollowThread, StartAt, TailConfig, TailSink};
use accesslog_exporter::web::config::{WebConfigError, WebSecurity};
use accesslog_exporter::web::{self, Site};
use clap::Parser;

/// Why the program stopped: each displays as the one line the user sees.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("{}: cannot read the log file: {source}", path.display())]
    LogFile { path: PathBuf, source: io::Error },
    #[error("{}: cannot write the log file: {source}", path.display())]
    Output { path: PathBuf, source: io::Error },
    #[error("--web.listen-address {address}: {source}")]
    Listen {
        address: std::net::SocketAddr,
        source: io::Error,
    },
    #[error("writing to stdout: {0}")]
    Stdout(io::Error),
    #[error("starting: {0}")]
    Runtime(io::Error),
    #[error("registering metrics: {0}")]
    Registration(#[from] prometheus::Error),
    #[error("--position-file {}: {source}", path.display())]
    PositionFile { path: PathBuf, source: io::Error },
    #[error("--web.config.file {0}")]
    WebConfig(#[from] WebConfigError),
}

/// How often the read position is saved with `--position-file`: the lines read in this long
/// before the last scrape may be counted twice after a crash.
const POSITION_SAVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

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
    let result = match config {
        Config::Serve(serve) if serve.one_shot => one_shot(&serve),
        Config::Serve(serve) => run_server(serve),
        Config::Monitor(run) => monitor(run),
        Config::Replay(run) => replay(run),
        Config::Generate(config) => generate(config),
        Config::Demo(config) => demo(config),
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

fn one_shot(config: &ServeConfig) -> Result<(), Error> {
    let exposition = Exposition::new()?;
    exposition
        .alert_threshold
        .set(config.monitor.config.threshold);
    let input = &config.input;
    let paths = logs::matching_paths(&input.sources);
    if paths.is_empty() {
        eprintln!("accesslog-exporter: warning: no file matches --log-file");
    }
    let mut names = LogNames::default();
    let labelled = !logs::is_single_unnamed(&input.sources);
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    for path in paths.iter().take(input.max_logs) {
        let name = labelled.then(|| names.name(path, &input.sources));
        let metrics = exposition.log(name.as_deref())?;
        count_whole_file(path, &input.parse, metrics, cores)?;
    }
    if paths.len() > input.max_logs {
        eprintln!(
            "accesslog-exporter: warning: {} files match --log-file; the first {} (--max-logs) were read",
            paths.len(),
            input.max_logs
        );
    }
    io::stdout()
        .lock()
        .write_all(exposition.encode().as_bytes())
        .map_err(Error::Stdout)
}

fn count_whole_file(
    path: &Path,
    parse: &ParseConfig,
    metrics: ExporterMetrics,
    cores: usize,
) -> Result<(), Error> {
    // With one core, workers would only take turns with each other and with the reader.
    if cores > 1 {
        let format = parse.format.clone();
        ingest::count_in_parallel(format, metrics, parse.limits, cores, |reader| {
            read_file(path, parse, reader)
        })
    } else {
        read_file(
            path,
            parse,
            &mut Ingest::exporter(parse.format.clone(), metrics, parse.limits),
        )
    }
}

fn read_file(path: &Path, parse: &ParseConfig, sink: &mut impl TailSink) -> Result<(), Error> {
    tail::read_whole_file(path, parse.max_line_bytes, sink).map_err(|source| Error::LogFile {
        path: path.to_owned(),
        source,
    })
}

fn run_server(mut config: ServeConfig) -> Result<(), Error> {
    check_readable(&config.input)?;
    let security = match &config.web_config_file {
        Some(path) => WebSecurity::load(path)?,
        None => WebSecurity::default(),
    };
    let scheme = if security.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let one_file = logs::is_one_file(&config.input.sources);
    let mut resumed = Vec::new();
    if let Some(path) = &config.position_file {
        let error = |source| Error::PositionFile {
            path: path.clone(),
            source,
        };
        if one_file {
            config.input.tail.resume = tail::position::load(path).map_err(error)?;
        } else {
            resumed = tail::position::load_many(path)
                .map_err(error)?
                .unwrap_or_default();
        }
        // Fail now, not at the first save, if the position cannot be written there.
        tail::position::check_writable(path).map_err(error)?;
    }
    let listener = std::net::TcpListener::bind(config.listen_address)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|source| Error::Listen {
            address: config.listen_address,
            source,
        })?;
    let local = listener.local_addr().map_err(Error::Runtime)?;

    let exposition = Exposition::new()?;
    exposition
        .alert_threshold
        .set(config.monitor.config.threshold);
    let parse = &config.input.parse;
    let (following, positions) = if one_file {
        let checkpoints = config
            .position_file
            .as_ref()
            .map(|_| Checkpoints::default());
        let metrics = exposition.log(config.input.sources[0].name.as_deref())?;
        let monitor = config.monitor;
        let console = config
            .console
            .then(|| LiveMonitor::new(monitor.config, monitor.renderer, io::stdout()));
        let ingest = Ingest::served(
            parse.format.clone(),
            metrics,
            parse.limits,
            console,
            checkpoints.clone(),
        );
        let following = Following::One(follow_thread(&config.input, ingest)?);
        (following, checkpoints.map(Positions::One))
    } else {
        let monitor = config.monitor;
        let checkpoints = config
            .position_file
            .as_ref()
            .map(|_| CheckpointSet::default());
        let context = LogContext {
            input: config.input.clone(),
            exposition: exposition.clone(),
            console: config.console.then(|| {
                Arc::new(Mutex::new(LiveMonitor::new(
                    monitor.config,
                    monitor.renderer,
                    io::stdout(),
                )))
            }),
            checkpoints: checkpoints.clone(),
            resumed,
        };
        let following = Following::Many(LogSet::start(context).map_err(Error::Runtime)?);
        (following, checkpoints.map(Positions::Many))
    };
    let saver = positions
        .clone()
        .zip(config.position_file.clone())
        .map(|(checkpoints, path)| Saver::start(checkpoints, path, POSITION_SAVE_INTERVAL))
        .transpose()
        .map_err(Error::Runtime)?;

    let site = Site {
        metrics: exposition,
        telemetry_path: config.telemetry_path.clone(),
        checkpoints: positions,
        max_connections: config.max_connections,
        security,
    };
    let result = runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(Error::Runtime)?;
        // Installed before saying we listen, so a stop sent right after is a clean stop.
        let shutdown = shutdown_signal().map_err(Error::Runtime)?;
        eprintln!(
            "accesslog-exporter: listening on {scheme}://{local}{}",
            config.telemetry_path
        );
        web::serve(listener, site, shutdown).await;
        Ok(())
    });
    following.stop();
    if let Some(saver) = saver {
        saver.finish();
    }
    eprintln!("accesslog-exporter: stopped");
    result
}

/// The followers a server runs: one for a single file, or a set kept up to date with what
/// `--log-file` matches.
enum Following {
    One(FollowThread),
    Many(LogSet),
}

impl Following {
    fn stop(self) {
        match self {
            Following::One(thread) => thread.stop(),
            Following::Many(set) => set.stop(),
        }
    }
}

fn monitor(run: MonitorRun) -> Result<(), Error> {
    check_readable(&run.input)?;
    let live = LiveMonitor::new(run.monitor.config, run.monitor.renderer, io::stdout());
    let following = if logs::is_one_file(&run.input.sources) {
        let ingest = Ingest::new(
            run.input.parse.format.clone(),
            ExporterMetrics::new()?,
            live,
        );
        Following::One(follow_thread(&run.input, ingest)?)
    } else {
        // Counted into metrics nobody serves: the monitor is what is shown.
        Following::Many(
            LogSet::start(LogContext {
                input: run.input,
                exposition: Exposition::new()?,
                console: Some(Arc::new(Mutex::new(live))),
                checkpoints: None,
                resumed: Vec::new(),
            })
            .map_err(Error::Runtime)?,
        )
    };
    let result = runtime()?.block_on(async {
        shutdown_signal().map_err(Error::Runtime)?.await;
        Ok(())
    });
    following.stop();
    result
}

fn replay(run: ReplayRun) -> Result<(), Error> {
    let stdout = io::BufWriter::new(io::stdout().lock());
    let monitor = ReplayMonitor::new(
        run.monitor.config,
        run.monitor.renderer,
        stdout,
        run.reorder_tolerance_seconds,
    );
    let mut ingest = Ingest::new(run.parse.format.clone(), ExporterMetrics::new()?, monitor);
    read_file(&run.file, &run.parse, &mut ingest)?;
    ingest
        .into_consumer()
        .finish()
        .flush()
        .map_err(Error::Stdout)
}

fn generate(config: GenerateConfig) -> Result<(), Error> {
    let output = |source| Error::Output {
        path: config.output.clone(),
        source,
    };
    match config.count {
        Some((count, start)) => generate::write_count(
            &config.output,
            config.profile,
            config.format,
            config.seed,
            count,
            start,
        )
        .map_err(output),
        None => {
            let never = AtomicBool::new(false);
            generate::write_live(
                &config.output,
                config.profile,
                config.format,
                config.seed,
                config.duration,
                &never,
            )
            .map(drop)
            .map_err(output)
        }
    }
}

fn demo(config: DemoConfig) -> Result<(), Error> {
    let directory =
        std::env::temp_dir().join(format!("accesslog-exporter-demo-{}", std::process::id()));
    std::fs::create_dir_all(&directory).map_err(|source| Error::Output {
        path: directory.clone(),
        source,
    })?;
    let log = directory.join("access.log");
    File::create(&log).map_err(|source| Error::Output {
        path: log.clone(),
        source,
    })?;
    eprintln!(
        "accesslog-exporter demo: writing bursty traffic to {}\n\
         accesslog-exporter demo: stats every {}s below; with the default shape the alert fires about 1.5 minutes in \
         and recovers about 2.5 minutes later. Ctrl-C stops and cleans up.",
        log.display(),
        config.monitor.config.interval_seconds,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop, profile) = (log.clone(), Arc::clone(&stop), config.profile.clone());
        std::thread::spawn(move || {
            generate::write_live(
                &log,
                profile,
                generate::LineFormat::Combined,
                config.seed,
                None,
                &stop,
            )
        })
    };
    let result = run_server(ServeConfig {
        input: InputConfig {
            sources: vec![logs::LogSource {
                name: None,
                pattern: log.clone(),
                is_glob: false,
            }],
            max_logs: 1,
            tail: TailConfig {
                path: log.clone(),
                start_at: StartAt::Beginning,
                max_line_bytes: 64 * 1024,
                rotate_wait: std::time::Duration::from_secs(60),
                resume: None,
            },
            parse: ParseConfig {
                format: accesslog_exporter::parse::LogFormat::Combined,
                limits: SeriesLimits::default(),
                max_line_bytes: 64 * 1024,
            },
            poll_interval: std::time::Duration::from_millis(250),
        },
        listen_address: config.listen_address,
        telemetry_path: config.telemetry_path,
        max_connections: config.max_connections,
        web_config_file: config.web_config_file,
        one_shot: false,
        monitor: config.monitor,
        console: true,
        position_file: None,
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join();
    let _ = std::fs::remove_dir_all(&directory);
    if let Ok(Err(source)) = written {
        return Err(Error::Output { path: log, source });
    }
    eprintln!("accesslog-exporter demo: removed {}", directory.display());
    result
}

/// Starts following the configured log on a thread of its own, feeding `sink`.
fn follow_thread<S: TailSink + Send + 'static>(
    input: &InputConfig,
    sink: S,
) -> Result<FollowThread, Error> {
    FollowThread::start(input.tail.clone(), input.poll_interval, sink).map_err(Error::Runtime)
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// Refuses at start a log named by path that exists but cannot be read; a missing one is
/// waited for (and globs are looked at as they are followed).
fn check_readable(input: &InputConfig) -> Result<(), Error> {
    for path in input
        .sources
        .iter()
        .filter(|source| !source.is_glob)
        .map(|source| &source.pattern)
    {
        if let Err(source) = tail::open_log(path) {
            if source.kind() != io::ErrorKind::NotFound {
                return Err(Error::LogFile {
                    path: path.to_owned(),
                    source,
                });
            }
        }
    }
    Ok(())
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
