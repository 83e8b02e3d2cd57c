//! What the program runs, every value checked: the library's configuration types.
//!
//! [`crate::cli`] builds these from the command line; nothing below it knows of flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::generate::{LineFormat, Profile};
use crate::logs::{LogSource, StreamSource};
use crate::metrics::{HistogramBounds, SeriesLimits};
use crate::monitor::{MonitorConfig, Renderer};
use crate::parse::LogFormat;
use crate::tail::TailConfig;

/// What the program runs, every value checked.
#[derive(Debug, Clone)]
pub enum Config {
    /// Serve metrics (or print them once).
    Serve(ServeConfig),
    /// Print stats and alerts for a followed log.
    Monitor(MonitorRun),
    /// Print stats and alerts for a finished log.
    Replay(ReplayRun),
    /// Write finished logs' metrics as OpenMetrics.
    Backfill(BackfillRun),
    /// Write synthetic traffic.
    Generate(GenerateConfig),
    /// Generate, monitor and serve, in a temporary directory.
    Demo(DemoConfig),
}

/// How lines are parsed and counted.
#[derive(Debug, Clone)]
pub struct ParseConfig {
    /// The line format.
    pub format: LogFormat,
    /// Bounds on the label values and series of the request counter and the histograms.
    pub limits: SeriesLimits,
    /// The histograms' bucket bounds.
    pub histogram_bounds: HistogramBounds,
    /// The longest line kept.
    pub max_line_bytes: usize,
}

/// A log to follow.
#[derive(Debug, Clone)]
pub struct InputConfig {
    /// What `--log-file` names.
    pub sources: Vec<LogSource>,
    /// The most files followed at once.
    pub max_logs: usize,
    /// How to follow a log; its path is the first source's.
    pub tail: TailConfig,
    /// How to parse it.
    pub parse: ParseConfig,
    /// The polling fallback's interval.
    pub poll_interval: Duration,
    /// What a server's configuration declares that cannot be followed, to be said at start.
    pub notes: Vec<String>,
    /// Logs that are not files: stdin, syslog tags.
    pub streams: Vec<StreamSource>,
    /// Where syslog messages are received, if anywhere.
    pub syslog: Option<crate::syslog::ListenAddress>,
}

impl InputConfig {
    /// The names of the logs that are not one file each (streams, named globs): the files'
    /// names must keep clear of them.
    pub fn reserved_names(&self) -> Vec<String> {
        let streams = self.streams.iter().map(|stream| stream.label().to_owned());
        let named_globs = (self.sources.iter())
            .filter(|source| source.is_glob)
            .filter_map(|source| source.name.clone());
        streams.chain(named_globs).collect()
    }

    /// Whether series carry a `log` label: unless one plain unnamed file, or stdin alone, is
    /// followed (syslog's logs are always named by their tags).
    pub fn labelled(&self) -> bool {
        if self.syslog.is_some() {
            return true;
        }
        match (&self.sources[..], &self.streams[..]) {
            ([], [stream]) => stream.name.is_some(),
            (sources, []) => !crate::logs::is_single_unnamed(sources),
            _ => true,
        }
    }
}

/// The monitor's settings and how its output looks.
#[derive(Debug, Clone)]
pub struct MonitorSettings {
    /// What it watches.
    pub config: MonitorConfig,
    /// How it prints.
    pub renderer: Renderer,
    /// On the terminal dashboard rather than printed (`--tui`).
    pub tui: bool,
}

/// `serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The log.
    pub input: InputConfig,
    /// Where to serve.
    pub listen_address: SocketAddr,
    /// The metrics path.
    pub telemetry_path: String,
    /// Connections open at once.
    pub max_connections: usize,
    /// TLS and basic auth, if any.
    pub web_config_file: Option<PathBuf>,
    /// Read once and print instead of serving.
    pub one_shot: bool,
    /// The monitor's settings; its threshold is exported as a gauge for the alert rules.
    pub monitor: MonitorSettings,
    /// Print the monitor to stdout too.
    pub console: bool,
    /// Where the read position is kept between runs.
    pub position_file: Option<PathBuf>,
}

/// `monitor`.
#[derive(Debug, Clone)]
pub struct MonitorRun {
    /// The log.
    pub input: InputConfig,
    /// The monitor.
    pub monitor: MonitorSettings,
}

/// `replay`.
#[derive(Debug, Clone)]
pub struct ReplayRun {
    /// The finished log's files, in any order.
    pub files: Vec<PathBuf>,
    /// How to parse it.
    pub parse: ParseConfig,
    /// How late a line may be and still be placed by its own time, in seconds.
    pub reorder_tolerance_seconds: u32,
    /// The monitor.
    pub monitor: MonitorSettings,
    /// With `--tui`: seconds of log time played a second.
    pub speed: f64,
}

/// `backfill`.
#[derive(Debug, Clone)]
pub struct BackfillRun {
    /// The logs.
    pub sources: Vec<LogSource>,
    /// Where the OpenMetrics text goes; `-` for stdout.
    pub output: PathBuf,
    /// Seconds of log time between samples.
    pub step: u32,
    /// How late a line may be and still count in its own step, in seconds.
    pub reorder_tolerance_seconds: u32,
    /// `job="…",instance="…"`.
    pub target_labels: String,
    /// The alert threshold to write beside the counts.
    pub threshold: f64,
    /// How to parse them.
    pub parse: ParseConfig,
}

/// `generate`.
#[derive(Debug, Clone)]
pub struct GenerateConfig {
    /// The log file.
    pub output: PathBuf,
    /// The line format.
    pub format: LineFormat,
    /// The traffic shape.
    pub profile: Profile,
    /// The random seed.
    pub seed: u64,
    /// Lines to write at once, with the log time of the first; `None` writes live.
    pub count: Option<(u64, i64)>,
    /// How long to write live.
    pub duration: Option<Duration>,
}

/// `demo`.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Where to serve.
    pub listen_address: SocketAddr,
    /// The metrics path.
    pub telemetry_path: String,
    /// Connections open at once.
    pub max_connections: usize,
    /// TLS and basic auth, if any.
    pub web_config_file: Option<PathBuf>,
    /// The traffic shape.
    pub profile: Profile,
    /// The random seed.
    pub seed: u64,
    /// The monitor.
    pub monitor: MonitorSettings,
}
