//! The commands, one entry point each: they build the pipeline from a [`Config`], run it until
//! it is done or told to stop, and stop what they started. `main` parses the flags, calls
//! [`run`], and prints the one line an [`Error`] displays as.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use crate::backfill;
use crate::checkpoint::{CheckpointSet, Saver};
use crate::config::{
    BackfillRun, Config, DemoConfig, GenerateConfig, InputConfig, MonitorRun, MonitorSettings,
    ParseConfig, ReplayRun, ServeConfig,
};
use crate::dashboard::{self, Controls, Dashboard, Playback, Screen};
use crate::generate;
use crate::ingest::{self, Ingest};
use crate::logs::{self, LogContext, LogNames, LogSet, SharedConsole};
use crate::metrics::{ExporterMetrics, Exposition, SeriesLimits};
use crate::monitor::{Console, LiveMonitor, ReplayMonitor};
use crate::parse::LogFormat;
use crate::report;
use crate::shutdown::Shutdown;
use crate::tail::{self, position::SavedPosition, StartAt, TailConfig, TailSink};
use crate::web::config::{WebConfigError, WebSecurity};
use crate::web::{self, Site};

/// Why the program stopped: each displays as the one line the user sees.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A log cannot be read.
    #[error("{}: cannot read the log file: {source}", path.display())]
    LogFile {
        /// The log.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file cannot be written.
    #[error("{}: cannot write the log file: {source}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The address cannot be listened on.
    #[error("--web.listen-address {address}: {source}")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The syslog address cannot be listened on.
    #[error("--syslog.listen-address {address}: {source}")]
    SyslogListen {
        /// The address.
        address: crate::syslog::ListenAddress,
        /// Why.
        source: io::Error,
    },
    /// A file given as a log holds no line of its format.
    #[error("{}: not an access log: {problem}", path.display())]
    NotALog {
        /// The file.
        path: PathBuf,
        /// What was found.
        problem: String,
    },
    /// The output cannot be written.
    #[error("{}: cannot write: {source}", path.display())]
    Written {
        /// The output.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Stdout cannot be written.
    #[error("writing to stdout: {0}")]
    Stdout(io::Error),
    /// A thread or the runtime could not start.
    #[error("starting: {0}")]
    Runtime(io::Error),

    /// The dashboard's terminal could not be taken or drawn on.
    #[error("the terminal (--tui): {0}")]
    Terminal(io::Error),
    /// A metric could not be registered (a programming error).
    #[error("registering metrics: {0}")]
    Registration(#[from] prometheus::Error),
    /// The position file cannot be read or written.
    #[error("--position-file {}: {source}", path.display())]
    PositionFile {
        /// The position file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The web configuration file is wrong.
    #[error("--web.config.file {0}")]
    WebConfig(#[from] WebConfigError),
}

impl Error {
    /// Whether this is stdout gone away (`… | head`): nothing to tell, and no failure.
    pub fn is_closed_stdout(&self) -> bool {
        matches!(self, Error::Stdout(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// How often the read position is saved with `--position-file`: the lines read in this long
/// before the last scrape may be counted twice after a crash.
const POSITION_SAVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the command `config` describes until it is done or told to stop.
pub fn run(config: Config) -> Result<(), Error> {
    match config {
        Config::Serve(serve) if serve.one_shot => one_shot(&serve),
        Config::Serve(serve) => self::serve(serve),
        Config::Monitor(run) => monitor(run),
        Config::Replay(run) => replay(run),
        Config::Backfill(run) => backfill(run),
        Config::Generate(config) => self::generate(config),
        Config::Demo(config) => demo(config),
    }
}

/// `--one-shot`: counts every file the sources match, from start to end, and prints the
/// metrics once.
fn one_shot(config: &ServeConfig) -> Result<(), Error> {
    let exposition = Exposition::with_buckets(&config.input.parse.histogram_bounds)?;
    exposition
        .alert_threshold
        .set(config.monitor.config.threshold);
    let input = &config.input;
    say_notes(input);
    let paths = logs::matching_paths(&input.sources);
    if paths.is_empty() && !input.sources.is_empty() {
        report::warning("no file matches --log-file");
    }
    let mut names = LogNames::new(input.labelled()).reserving(input.reserved_names());
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    for log in logs::whole_logs(
        paths.iter().take(input.max_logs),
        &input.sources,
        &mut names,
    ) {
        let metrics = exposition.log_with_labels(log.name.as_deref(), &log.source.labels)?;
        let format = logs::format_of(&log.files[0], &input.sources).unwrap_or(&input.parse.format);
        count_whole(
            Whole::Files(&log.files),
            format,
            &input.parse,
            metrics,
            cores,
        )?;
    }
    for stream in &input.streams {
        let name = input.labelled().then(|| stream.label());
        let metrics = exposition.log_with_labels(name, &stream.labels)?;
        let format = stream.format.as_ref().unwrap_or(&input.parse.format);
        // Syslog has no end to read to: the flags refuse it with --one-shot.
        if stream.origin == logs::Origin::Stdin {
            count_whole(Whole::Stdin, format, &input.parse, metrics, cores)?;
        }
    }
    if paths.len() > input.max_logs {
        report::warning(format_args!(
            "{} files match --log-file; the first {} (--max-logs) were read",
            paths.len(),
            input.max_logs
        ));
    }
    io::stdout()
        .lock()
        .write_all(exposition.encode().as_bytes())
        .map_err(Error::Stdout)
}

/// What `--one-shot` reads from start to end.
#[derive(Clone, Copy)]
enum Whole<'a> {
    /// One after another, each's unfinished last line a line.
    Files(&'a [PathBuf]),
    Stdin,
}

fn count_whole(
    whole: Whole<'_>,
    format: &LogFormat,
    parse: &ParseConfig,
    metrics: ExporterMetrics,
    cores: usize,
) -> Result<(), Error> {
    // With one core, workers would only take turns with each other and with the reader.
    if cores > 1 {
        let format = format.clone();
        ingest::count_in_parallel(format, metrics, parse.limits, cores, |reader| {
            read_whole(whole, parse, reader)
        })
    } else {
        read_whole(
            whole,
            parse,
            &mut Ingest::exporter(format.clone(), metrics, parse.limits),
        )
    }
}

fn read_whole(
    whole: Whole<'_>,
    parse: &ParseConfig,
    sink: &mut impl TailSink,
) -> Result<(), Error> {
    match whole {
        Whole::Files(paths) => (paths.iter()).try_for_each(|path| read_file(path, parse, sink)),
        Whole::Stdin => {
            tail::read_stream(io::stdin().lock(), parse.max_line_bytes, sink).map_err(|source| {
                Error::LogFile {
                    path: PathBuf::from("stdin"),
                    source,
                }
            })
        }
    }
}

fn read_file(path: &Path, parse: &ParseConfig, sink: &mut impl TailSink) -> Result<(), Error> {
    tail::read_whole_file(path, parse.max_line_bytes, sink).map_err(|source| Error::LogFile {
        path: path.to_owned(),
        source,
    })
}

/// `serve`: follows the logs and serves their metrics until SIGINT or SIGTERM.
pub fn serve(config: ServeConfig) -> Result<(), Error> {
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
    let resumed = match &config.position_file {
        Some(path) => load_positions(path, &config.input)?,
        None => Vec::new(),
    };
    let listener = std::net::TcpListener::bind(config.listen_address)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|source| Error::Listen {
            address: config.listen_address,
            source,
        })?;
    let local = listener.local_addr().map_err(Error::Runtime)?;
    let open_files_room = raise_open_files_limit();

    let exposition = Exposition::with_buckets(&config.input.parse.histogram_bounds)?;
    exposition
        .alert_threshold
        .set(config.monitor.config.threshold);
    let shutdown = Shutdown::default();
    let (console, screen) = match config.console {
        true => {
            let (console, screen) = live_monitor(
                &config.monitor,
                &config.input,
                &exposition,
                &shutdown,
                Some(exposition.console_reports_dropped()?),
                || report::warning("stdout was closed: the console stops, serving goes on"),
            )?;
            (Some(console), screen)
        }
        false => (None, None),
    };
    let checkpoints = config
        .position_file
        .as_ref()
        .map(|_| CheckpointSet::default());
    let syslog = bind_syslog(&config.input)?;
    let logs = LogSet::start(
        LogContext {
            input: config.input,
            exposition: exposition.clone(),
            console,
            checkpoints: checkpoints.clone(),
            resumed,
            open_files_room,
        },
        syslog,
    )
    .map_err(Error::Runtime)?;
    let saver = checkpoints
        .clone()
        .zip(config.position_file.clone())
        .map(|(checkpoints, path)| Saver::start(checkpoints, path, POSITION_SAVE_INTERVAL))
        .transpose()
        .map_err(Error::Runtime)?;

    let site = Site {
        auth: web::AuthChecks::new(&exposition, &security.users)?,
        accept_errors: exposition.accept_errors()?,
        connections: web::Connections::new(&exposition, config.max_connections)?,
        metrics: exposition,
        telemetry_path: config.telemetry_path.clone(),
        checkpoints,
        security,
    };
    let result = runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(Error::Runtime)?;
        // Installed before saying we listen, so a stop sent right after is a clean stop.
        let stop = shutdown.on_signals().map_err(Error::Runtime)?;
        report::info(format_args!(
            "listening on {scheme}://{local}{}",
            config.telemetry_path
        ));
        web::serve(listener, site, stop).await;
        Ok(())
    });
    logs.stop();
    if let Some(saver) = saver {
        saver.finish();
    }
    if let Some(screen) = screen {
        screen.finish().map_err(Error::Terminal)?;
    }
    report::info("stopped");
    result
}

/// The positions `--position-file` holds, after checking that they can be saved there too. A
/// one-log position of version 1 is for a single plain file only.
fn load_positions(path: &Path, input: &InputConfig) -> Result<Vec<SavedPosition>, Error> {
    let error = |source| Error::PositionFile {
        path: path.to_owned(),
        source,
    };
    let mut saved = tail::position::load(path)
        .map_err(error)?
        .unwrap_or_default();
    // Fail now, not at the first save, if the positions cannot be written there.
    tail::position::check_writable(path).map_err(error)?;
    if !logs::is_one_file(&input.sources) && saved.iter().any(|saved| saved.path.is_none()) {
        report::warning(format_args!(
            "{}: holds the position of one log, and several are followed: ignored",
            path.display()
        ));
        saved.retain(|saved| saved.path.is_some());
    }
    Ok(saved)
}

/// The live monitor on stdout, through a writer of its own; or with `--tui` on the terminal
/// dashboard, returned to be finished once the program stops.
fn live_monitor(
    monitor: &MonitorSettings,
    input: &InputConfig,
    exposition: &Exposition,
    shutdown: &Shutdown,
    dropped: Option<prometheus::IntCounter>,
    on_closed: impl FnOnce() + Send + 'static,
) -> Result<(SharedConsole, Option<Screen>), Error> {
    if !monitor.tui {
        let console = Console::start(io::stdout(), dropped, on_closed).map_err(Error::Runtime)?;
        let live = LiveMonitor::new(monitor.config.clone(), monitor.renderer.clone(), console);
        return Ok((Arc::new(Mutex::new(live)), None));
    }
    let (feed, events) = dashboard::feed(false);
    let live = LiveMonitor::showing(monitor.config.clone(), Box::new(feed), true);
    let files = input.sources.iter();
    let files = files.map(|source| source.pattern.display().to_string());
    let screen = start_screen(
        "live",
        monitor,
        files.collect(),
        events,
        exposition,
        shutdown,
        None,
    )?;
    Ok((Arc::new(Mutex::new(live)), Some(screen)))
}

/// The dashboard of `command` over `files`, fed by `events`, showing the counts of
/// `exposition`'s logs; a quit key asks `shutdown`.
fn start_screen(
    command: &'static str,
    monitor: &MonitorSettings,
    files: Vec<String>,
    events: std::sync::mpsc::Receiver<dashboard::Fed>,
    exposition: &Exposition,
    shutdown: &Shutdown,
    playback: Option<Playback>,
) -> Result<Screen, Error> {
    let (config, renderer) = (monitor.config.clone(), monitor.renderer.clone());
    let exposition = exposition.clone();
    let controls = Controls {
        shutdown: shutdown.clone(),
        read: Box::new(move || dashboard::read_totals(&exposition)),
        bell: monitor.renderer.bell,
        playback,
    };
    let dashboard = Dashboard::new(command, config, renderer, files);
    Screen::start(dashboard, events, controls).map_err(Error::Terminal)
}

/// `monitor`: follows the logs and prints stats and alerts until SIGINT, SIGTERM, or stdout
/// is closed.
fn monitor(run: MonitorRun) -> Result<(), Error> {
    check_readable(&run.input)?;
    let open_files_room = raise_open_files_limit();
    let shutdown = Shutdown::default();
    // Counted into metrics nobody serves: the monitor is what is shown.
    let exposition = Exposition::new()?;
    let (console, screen) = {
        let stop = shutdown.clone();
        let on_closed = move || stop.request();
        live_monitor(
            &run.monitor,
            &run.input,
            &exposition,
            &shutdown,
            None,
            on_closed,
        )?
    };
    let syslog = bind_syslog(&run.input)?;
    let logs = LogSet::start(
        LogContext {
            input: run.input,
            exposition,
            console: Some(console),
            checkpoints: None,
            resumed: Vec::new(),
            open_files_room,
        },
        syslog,
    )
    .map_err(Error::Runtime)?;
    let result = runtime()?.block_on(async {
        shutdown.on_signals().map_err(Error::Runtime)?.await;
        Ok(())
    });
    logs.stop();
    if let Some(screen) = screen {
        screen.finish().map_err(Error::Terminal)?;
    }
    result
}

/// `replay`: prints the stats and alerts of a finished log, on the log's own time.
fn replay(run: ReplayRun) -> Result<(), Error> {
    if run.monitor.tui {
        return replay_on_screen(run);
    }
    let stdout = io::BufWriter::new(io::stdout().lock());
    let monitor = ReplayMonitor::new(
        run.monitor.config,
        run.monitor.renderer,
        stdout,
        run.reorder_tolerance_seconds,
    );
    let mut ingest = Ingest::new(run.parse.format.clone(), ExporterMetrics::new()?, monitor);
    for path in in_log_order(&run.files, &run.parse)? {
        read_file(&path, &run.parse, &mut ingest)?;
    }
    ingest
        .into_consumer()
        .finish()
        .into_inner()
        .flush()
        .map_err(Error::Stdout)
}

/// `replay --tui`: plays a finished log on the dashboard at `--speed`, read ahead on a thread
/// of its own as far as the screen's queue holds; the screen stays at the end until a quit key.
fn replay_on_screen(run: ReplayRun) -> Result<(), Error> {
    let files = in_log_order(&run.files, &run.parse)?;
    let metrics = ExporterMetrics::new()?;
    let shutdown = Shutdown::default();
    let (feed, events) = dashboard::feed(true);
    let monitor = &run.monitor;
    let shown = (files.iter()).map(|file| file.display().to_string());
    let playback = Some(Playback { speed: run.speed });
    let screen = start_screen(
        "replay",
        monitor,
        shown.collect(),
        events,
        &metrics.exposition,
        &shutdown,
        playback,
    )?;
    let signals = {
        let (shutdown, runtime) = (shutdown.clone(), runtime()?);
        std::thread::spawn(move || {
            runtime.block_on(async {
                match shutdown.on_signals() {
                    Ok(stopped) => stopped.await,
                    Err(error) => report::warning(format_args!("signals: {error}")),
                }
            })
        })
    };
    let replay = ReplayMonitor::showing(
        monitor.config.clone(),
        feed,
        true,
        run.reorder_tolerance_seconds,
    );
    let mut ingest = Ingest::new(run.parse.format.clone(), metrics, replay);
    // Not joined: after a quit key it may wait for room the screen will never make.
    let reader = std::thread::spawn(move || {
        let read = files
            .iter()
            .try_for_each(|path| read_file(path, &run.parse, &mut ingest));
        if let Err(error) = &read {
            report::warning(error);
        }
        ingest.into_consumer().finish();
        read
    });
    let shown = screen.finish().map_err(Error::Terminal);
    shutdown.request();
    let _ = signals.join();
    shown?;
    match reader.is_finished() {
        true => reader.join().unwrap_or(Ok(())),
        false => Ok(()),
    }
}

/// The files of one log in the order written, or the one that is no log.
fn in_log_order(files: &[PathBuf], parse: &ParseConfig) -> Result<Vec<PathBuf>, Error> {
    crate::backfill::in_log_order(files, &parse.format, parse.max_line_bytes).map_err(not_a_log)
}

fn not_a_log((path, source): (PathBuf, io::Error)) -> Error {
    match source.kind() {
        io::ErrorKind::InvalidData => Error::NotALog {
            path,
            problem: source.to_string(),
        },
        _ => Error::LogFile { path, source },
    }
}

/// `backfill`: writes the logs' metrics, sampled on log time, as OpenMetrics text.
fn backfill(run: BackfillRun) -> Result<(), Error> {
    let output = run.output.clone();
    let written = |source| Error::Written {
        path: output.clone(),
        source,
    };
    let out: Box<dyn Write> = if run.output == Path::new("-") {
        Box::new(io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&run.output).map_err(written)?)
    };
    let sampling = backfill::Sampling {
        step: i64::from(run.step),
        tolerance: i64::from(run.reorder_tolerance_seconds),
        target_labels: run.target_labels.clone(),
    };
    let mut writer = backfill::Writer::new(io::BufWriter::new(out), sampling);
    let paths = logs::matching_paths(&run.sources);
    if paths.is_empty() {
        return Err(Error::LogFile {
            path: run.sources[0].pattern.clone(),
            source: io::Error::new(io::ErrorKind::NotFound, "no file matches"),
        });
    }
    for log in backfill::logs_of(&paths, &run.sources) {
        let exposition = Exposition::with_buckets(&run.parse.histogram_bounds)?;
        exposition.alert_threshold.set(run.threshold);
        let metrics = exposition.log_with_labels(log.name.as_deref(), &log.labels)?;
        let format = logs::format_of(&log.files[0], &run.sources).unwrap_or(&run.parse.format);
        let files = crate::backfill::in_log_order(&log.files, format, run.parse.max_line_bytes)
            .map_err(not_a_log)?;
        let mut sampler =
            backfill::Sampler::new(&mut writer, metrics, format.clone(), run.parse.limits);
        for (i, path) in files.iter().enumerate() {
            if i > 0 {
                sampler.rotated();
            }
            sampler
                .read_file(path, run.parse.max_line_bytes)
                .map_err(|source| match source.kind() {
                    io::ErrorKind::BrokenPipe | io::ErrorKind::WriteZero => written(source),
                    _ => Error::LogFile {
                        path: path.clone(),
                        source,
                    },
                })?;
        }
        sampler.finish().map_err(written)?;
    }
    writer.finish().map_err(written)?;
    Ok(())
}

/// `generate`: writes synthetic traffic.
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

/// `demo`: writes bursty traffic to a temporary log, and monitors and serves it.
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
    report::info(format_args!(
        "demo: writing bursty traffic to {}",
        log.display()
    ));
    let (shown, stop_key) = match config.monitor.tui {
        true => ("on the dashboard".to_owned(), "q"),
        false => (
            format!("every {}s below", config.monitor.config.interval_seconds),
            "Ctrl-C",
        ),
    };
    report::info(format_args!(
        "demo: stats {shown}; with the default shape the alert fires about 1.5 minutes in and \
         recovers about 2.5 minutes later. {stop_key} stops and cleans up."
    ));
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
    let result = serve(ServeConfig {
        input: InputConfig {
            sources: vec![logs::LogSource {
                name: None,
                pattern: log.clone(),
                is_glob: false,
                format: None,
                labels: Vec::new(),
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
                format: crate::parse::LogFormat::Combined,
                limits: SeriesLimits::default(),
                histogram_bounds: Default::default(),
                max_line_bytes: 64 * 1024,
            },
            poll_interval: std::time::Duration::from_millis(250),
            notes: Vec::new(),
            streams: Vec::new(),
            syslog: None,
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
    report::info(format_args!("demo: removed {}", directory.display()));
    result
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// Says what a server's configuration declares that cannot be followed, and checks that every
/// plain path there is can be opened if it exists: a missing one is waited for (and globs
/// are looked at as they are followed).
fn check_readable(input: &InputConfig) -> Result<(), Error> {
    say_notes(input);
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

/// The syslog socket, bound before anything runs so that an address in use is said at once.
fn bind_syslog(input: &InputConfig) -> Result<Option<crate::syslog::Bound>, Error> {
    let Some(address) = &input.syslog else {
        return Ok(None);
    };
    let bound = crate::syslog::Bound::bind(address).map_err(|source| Error::SyslogListen {
        address: address.clone(),
        source,
    })?;
    report::info(format_args!(
        "receiving syslog on {}",
        bound.local_address()
    ));
    Ok(Some(bound))
}

fn say_notes(input: &InputConfig) {
    for note in &input.notes {
        report::warning(note);
    }
}

/// Raises the soft limit on open files to the hard one, as the Go runtime does: each log
/// followed holds its file open. Returns how many logs fit under it.
fn raise_open_files_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return usize::MAX;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                ..limit
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
        limit.rlim_cur
    };
    usize::try_from(soft)
        .unwrap_or(usize::MAX)
        .saturating_sub(RESERVED_FILES)
}

/// Open files kept for what is not a log: listening and scrape connections, the watcher, the
/// position file, stdio.
const RESERVED_FILES: usize = 128;
