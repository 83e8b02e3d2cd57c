//! Command-line flags, and the validated [`Config`] built from them.
//!
//! [`Cli`] mirrors the command line and does no more than clap does; [`Config::try_from`]
//! checks what clap cannot and is the only thing the rest of the program sees.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{
    BackfillRun, Config, DemoConfig, GenerateConfig, InputConfig, MonitorRun, MonitorSettings,
    ParseConfig, ReplayRun, ServeConfig,
};
use crate::generate::{LineFormat, Profile};
use crate::logs::{self, LogSource, Origin, StreamSource};
use crate::metrics::{parse_bounds, Buckets, HistogramBounds, SeriesLimits};
use crate::monitor::{MonitorConfig, OutputFormat, Renderer};
use crate::parse::LogFormat;
use crate::tail::{StartAt, TailConfig};

/// The port served when `--web.listen-address` is not given. 9100–9999, the range Prometheus
/// keeps for exporters, is fully allocated; this one is clear of what runs beside web servers.
pub const DEFAULT_PORT: u16 = 10071;

/// The log followed when no other is named.
const DEFAULT_LOG_FILE: &str = "/var/log/access.log";

/// The version `--version` prints: the package's and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ACCESSLOG_EXPORTER_COMMIT"),
    ")"
);

/// Follows an HTTP access log and serves per-section request metrics to Prometheus.
#[derive(Debug, Parser)]
#[command(name = "accesslog-exporter", version = VERSION, about, max_term_width = 100)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; `serve` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The flags of `serve`, given without the word.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Follow the log and serve metrics on HTTP (the default).
    Serve(ServeArgs),
    /// Follow the log and print traffic stats and high-traffic alerts to the terminal.
    Monitor(MonitorCommandArgs),
    /// Run the monitor over a finished log on its own timestamps, then exit.
    Replay(ReplayArgs),
    /// Write finished logs' metrics, sampled on log time, as OpenMetrics for `promtool tsdb
    /// create-blocks-from openmetrics`.
    Backfill(BackfillArgs),
    /// Write synthetic traffic to a log file.
    Generate(GenerateArgs),
    /// Generate bursty traffic into a temporary log, monitor it and serve its metrics.
    Demo(DemoArgs),
}

/// Which log to read and how.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// An access log to follow; may be given several times, as a glob (`/var/log/nginx/*.log`),
    /// as `-` for stdin, or as `NAME=PATH` to set its `log` label [default:
    /// /var/log/access.log, unless another option names logs]
    #[arg(long, value_name = "[NAME=]PATH")]
    pub log_file: Vec<String>,

    /// An nginx configuration (`/etc/nginx/nginx.conf`, or `-` for the output of `nginx -T`):
    /// every `access_log` it declares is followed, read with its own `log_format`, and named
    /// after its server
    #[arg(long = "nginx.config", value_name = "PATH")]
    pub nginx_config: Option<PathBuf>,

    /// An Apache httpd configuration (`/etc/apache2/apache2.conf`): every `CustomLog` and
    /// `TransferLog` it declares is followed, read with its own `LogFormat`, and named after
    /// its virtual host
    #[arg(long = "apache.config", value_name = "PATH")]
    pub apache_config: Option<PathBuf>,

    /// A YAML file naming the logs to follow, each with its name, path or syslog tag, format
    /// and labels
    #[arg(long = "config.file", value_name = "PATH")]
    pub logs_file: Option<PathBuf>,

    /// Receive access logs as syslog messages: `udp://HOST:PORT`, `tcp://HOST:PORT` or
    /// `unixgram://PATH`; each message's tag is its log
    #[arg(long = "syslog.listen-address", value_name = "ADDR")]
    pub syslog_listen_address: Option<String>,

    /// The most files followed at once; files a glob matches beyond it are not followed.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_logs: usize,

    /// Read what the log already holds before following it (default: start at its end).
    #[arg(long)]
    pub from_beginning: bool,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub parse: ParseArgs,

    /// How often a log no file-system event tells of is checked (a directory without events,
    /// a linked path, a rotated file still written).
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,

    /// How long a rotated-away log is still read after it last grew (the server may write to it
    /// until it reopens its log).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub rotate_wait: Duration,
}

/// How lines are parsed and counted.
#[derive(Debug, Clone, Args)]
pub struct ParseArgs {
    /// Line format: `auto` (W3C after a `#Fields:` header, Common/Combined otherwise), `common`,
    /// `combined`, `w3c`, `nginx:<log_format string>`, `apache:<LogFormat string>`, or `json`
    /// (`json:FIELD=KEY,…` to name other keys).
    #[arg(long, value_name = "FORMAT", default_value = "auto")]
    pub format: String,

    /// Distinct sections counted under their own label; later ones are counted as `(other)`.
    #[arg(long, value_name = "N", default_value_t = SeriesLimits::default().sections)]
    pub max_sections: usize,

    /// Distinct status codes counted under their own label; later ones are counted under their
    /// class (`5xx`).
    #[arg(long, value_name = "N", default_value_t = SeriesLimits::default().statuses)]
    pub max_statuses: usize,

    /// Request series (section × method × status) kept; a request that would start one more
    /// is counted in the series of its status class with section and method `(other)`.
    #[arg(long, value_name = "N", default_value_t = SeriesLimits::default().series)]
    pub max_series: usize,

    /// Add a `host` label to the request counter and the histograms: the format's host field
    /// (nginx `$host`, Apache `%v`, W3C `cs-host`, JSON `host`) or else an absolute-form
    /// target's authority; lower-cased, without the default port.
    #[arg(long)]
    pub host_label: bool,

    /// With `--host-label`: hosts with a label value of their own, the first seen; later ones
    /// are `(other)`. Requests without a host carry `host=""`, which takes no slot.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_hosts: usize,

    /// Label sets (section × method × status class) kept per histogram; a request that would
    /// start one more is observed under section and method `(other)` of its class.
    #[arg(long, value_name = "N", default_value_t = SeriesLimits::default().histogram_series)]
    pub max_histogram_series: usize,

    /// Bucket bounds of both duration histograms, in seconds: comma-separated, strictly
    /// ascending, positive, at most 32 [default: 0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10,30]
    #[arg(long, value_name = "LIST")]
    pub duration_buckets: Option<String>,

    /// Bucket bounds of the response size histogram, in bytes: comma-separated, strictly
    /// ascending, positive, at most 32 [default: 100,1000,5000,10000,50000,100000,500000,
    /// 1000000,5000000,10000000]
    #[arg(long, value_name = "LIST")]
    pub size_buckets: Option<String>,

    /// Longest line kept, in bytes; longer lines are dropped and counted as parse errors.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_line_bytes: usize,
}

/// Where metrics are served.
#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Address to serve metrics on: `HOST:PORT`, or `:PORT` for every IPv4 address.
    #[arg(long = "web.listen-address", value_name = "ADDRESS", default_value_t = format!(":{DEFAULT_PORT}"))]
    pub listen_address: String,

    /// Path under which metrics are served.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// Connections open at once. Past it, the one that has done nothing for longest (idle, or
    /// stalled on a client not reading) is closed to make room; a new connection is answered
    /// 503 only when every one is answering a request.
    #[arg(long = "web.max-connections", value_name = "N", default_value_t = 64)]
    pub max_connections: usize,

    /// TLS and basic auth, in the exporter-toolkit format node_exporter reads.
    #[arg(long = "web.config.file", value_name = "PATH")]
    pub config_file: Option<PathBuf>,
}

/// What the monitor reports and when it alerts.
#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    /// Length of each stats report.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,

    /// Sections and clients listed in each report.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,

    /// The span the alert averages the request rate over.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = humantime::parse_duration)]
    pub window: Duration,

    /// Average requests per second over the window above which the alert fires.
    #[arg(
        long,
        value_name = "REQ/S",
        default_value_t = 10.0,
        allow_negative_numbers = true
    )]
    pub threshold: f64,

    /// Ring the terminal bell when the alert fires.
    #[arg(long)]
    pub bell: bool,

    /// Text for people, or one JSON object per line for programs.
    #[arg(long, value_enum, default_value_t = OutputArg::Text)]
    pub output: OutputArg,

    /// Show times in this machine's time zone instead of UTC.
    #[arg(long)]
    pub local_time: bool,
}

/// Flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub input: InputArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub web: WebArgs,

    /// Read the log from start to end, print the metrics to stdout and exit.
    #[arg(long)]
    pub one_shot: bool,

    /// Also print the monitor's stats and alerts to stdout while serving.
    #[arg(long)]
    pub console: bool,

    /// Keep where reading has got to (as of the last scrape) in this file, and resume from it
    /// after a restart.
    #[arg(long, value_name = "PATH")]
    pub position_file: Option<PathBuf>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub monitor: MonitorArgs,
}

/// Flags of `monitor`.
#[derive(Debug, Clone, Args)]
pub struct MonitorCommandArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub input: InputArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub monitor: MonitorArgs,

    /// Show a full-screen terminal dashboard instead of printing reports.
    #[arg(long, conflicts_with = "output")]
    pub tui: bool,
}

/// Flags of `replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The log to replay: one file, or its rotated files in any order (they are put in order
    /// by their first timestamp).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub parse: ParseArgs,

    /// How far out of time order a line may be and still be placed by its own timestamp.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub reorder_tolerance: Duration,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub monitor: MonitorArgs,

    /// Show a full-screen terminal dashboard, playing the log at `--speed`.
    #[arg(long, conflicts_with = "output")]
    pub tui: bool,

    /// With `--tui`: seconds of log time played a second.
    #[arg(long, value_name = "N", default_value_t = 60.0, requires = "tui")]
    pub speed: f64,
}

/// Flags of `backfill`.
#[derive(Debug, Clone, Args)]
pub struct BackfillArgs {
    /// The logs, as `--log-file` takes them (paths, globs, `NAME=PATH`); the files of one log
    /// (a path and its rotated files, a named glob) are put in order by their first timestamp.
    #[arg(value_name = "FILE", required_unless_present = "logs_file")]
    pub files: Vec<String>,

    /// A YAML file naming the logs, as `serve --config.file` reads it (paths only).
    #[arg(long = "config.file", value_name = "PATH")]
    pub logs_file: Option<PathBuf>,

    /// Where to write the OpenMetrics text; `-` for stdout.
    #[arg(long, value_name = "PATH")]
    pub output: PathBuf,

    /// Log time between two samples (whole seconds).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub step: Duration,

    /// The `job` label, as Prometheus would add it scraping the exporter.
    #[arg(long, value_name = "NAME", default_value = "accesslog")]
    pub job: String,

    /// The `instance` label [default: this host's name and the default port, HOST:10071].
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,

    /// How far out of time order a line may be and still count in its own step.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub reorder_tolerance: Duration,

    /// The alert threshold the backfilled `accesslog_alert_threshold_requests_per_second`
    /// holds, as `serve --threshold` would have served it.
    #[arg(long, value_name = "REQ/S", default_value_t = 10.0)]
    pub threshold: f64,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub parse: ParseArgs,
}

/// The traffic shape, shared by `generate` and `demo`.
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// `steady` writes `--rate` lines a second; `burst` repeats calm, burst, calm.
    #[arg(long, value_enum, default_value_t = ProfileArg::Burst)]
    pub profile: ProfileArg,

    /// Lines per second (steady), or during the burst.
    #[arg(
        long,
        value_name = "LINES/S",
        default_value_t = 20.0,
        allow_negative_numbers = true
    )]
    pub rate: f64,

    /// Lines per second while calm.
    #[arg(
        long,
        value_name = "LINES/S",
        default_value_t = 2.0,
        allow_negative_numbers = true
    )]
    pub calm_rate: f64,

    /// Calm before each burst.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub calm: Duration,

    /// Length of each burst.
    #[arg(long, value_name = "DURATION", default_value = "150s", value_parser = humantime::parse_duration)]
    pub burst: Duration,

    /// Calm after each burst, long enough for a 2-minute alert to recover.
    #[arg(long, value_name = "DURATION", default_value = "150s", value_parser = humantime::parse_duration)]
    pub recover: Duration,

    /// Seed of the random traffic, for a log that is the same every time.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

/// Flags of `generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// The log file to append to.
    #[arg(long, value_name = "PATH", default_value = "/var/log/access.log")]
    pub output: PathBuf,

    /// The line format to write.
    #[arg(long, value_enum, default_value_t = LineFormatArg::Combined)]
    pub format: LineFormatArg,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub profile: ProfileArgs,

    /// Write this many lines as fast as possible, timestamped as the profile would have
    /// spread them, and exit.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// With `--count`: the log time of the first line (RFC 3339); default now.
    #[arg(long, value_name = "TIME", requires = "count")]
    pub start: Option<String>,

    /// Without `--count`: stop after this long (default: run until interrupted).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, conflicts_with = "count")]
    pub duration: Option<Duration>,
}

/// Flags of `demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub web: WebArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub profile: ProfileArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub monitor: MonitorArgs,

    /// Show a full-screen terminal dashboard instead of printing reports.
    #[arg(long, conflicts_with = "output")]
    pub tui: bool,
}

/// `--output` values of the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// Aligned columns for a terminal.
    Text,
    /// One JSON object per line.
    Json,
}

/// `generate --format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LineFormatArg {
    /// NCSA Common Log Format.
    Common,
    /// NCSA Combined Log Format.
    Combined,
    /// W3C extended (IIS), with a `#Fields:` header.
    W3c,
    /// nginx `combined` with `$request_time $upstream_response_time` (read it with
    /// `--format 'nginx:…'`, docs/formats.md gives the string).
    Nginx,
    /// One JSON object a line, with the keys `--format json` reads by default.
    Json,
}

/// `--profile` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// The same rate all along.
    Steady,
    /// Calm, burst, calm, repeated.
    Burst,
}

/// A flag value that cannot be used. Displays as one line naming the flag.
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct ConfigError {
    flag: &'static str,
    message: String,
}

fn invalid(flag: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        flag,
        message: message.into(),
    }
}

impl TryFrom<Cli> for Config {
    type Error = ConfigError;

    fn try_from(cli: Cli) -> Result<Config, ConfigError> {
        match cli.command {
            None => serve_config(cli.serve).map(Config::Serve),
            Some(Command::Serve(args)) => serve_config(args).map(Config::Serve),
            Some(Command::Monitor(args)) => {
                let input = input_config(args.input)?;
                let mut monitor = monitor_settings(args.monitor, input.parse.limits.sections)?;
                monitor.tui = tui(args.tui)?;
                Ok(Config::Monitor(MonitorRun { input, monitor }))
            }
            Some(Command::Replay(args)) => {
                let parse = parse_config(args.parse)?;
                Ok(Config::Replay(ReplayRun {
                    files: args.files,
                    reorder_tolerance_seconds: whole_seconds(
                        "--reorder-tolerance",
                        args.reorder_tolerance,
                        0,
                    )?,
                    monitor: MonitorSettings {
                        tui: tui(args.tui)?,
                        ..monitor_settings(args.monitor, parse.limits.sections)?
                    },
                    speed: match args.speed {
                        speed if speed.is_finite() && (0.001..=1e6).contains(&speed) => speed,
                        speed => {
                            return Err(invalid(
                                "--speed",
                                format!("expected seconds of log time a second, 0.001 to 1000000, got {speed}"),
                            ))
                        }
                    },
                    parse,
                }))
            }
            Some(Command::Backfill(args)) => backfill_config(args).map(Config::Backfill),
            Some(Command::Generate(args)) => {
                let count = match (args.count, args.start) {
                    (Some(count), Some(start)) => Some((count, parse_start(&start)?)),
                    (Some(count), None) => Some((count, jiff::Timestamp::now().as_second())),
                    (None, _) => None,
                };
                Ok(Config::Generate(GenerateConfig {
                    output: args.output,
                    format: match args.format {
                        LineFormatArg::Common => LineFormat::Common,
                        LineFormatArg::Combined => LineFormat::Combined,
                        LineFormatArg::W3c => LineFormat::W3c,
                        LineFormatArg::Nginx => LineFormat::Nginx,
                        LineFormatArg::Json => LineFormat::Json,
                    },
                    seed: args.profile.seed.unwrap_or_else(|| fastrand::u64(..)),
                    profile: profile(&args.profile)?,
                    count,
                    duration: args.duration,
                }))
            }
            Some(Command::Demo(args)) => Ok(Config::Demo(DemoConfig {
                listen_address: parse_listen_address(&args.web.listen_address)?,
                telemetry_path: telemetry_path(args.web.telemetry_path)?,
                max_connections: max_connections(args.web.max_connections)?,
                web_config_file: args.web.config_file,
                seed: args.profile.seed.unwrap_or_else(|| fastrand::u64(..)),
                profile: profile(&args.profile)?,
                monitor: MonitorSettings {
                    tui: tui(args.tui)?,
                    ..monitor_settings(args.monitor, 100)?
                },
            })),
        }
    }
}

fn serve_config(args: ServeArgs) -> Result<ServeConfig, ConfigError> {
    let input = input_config(args.input)?;
    if args.one_shot && input.syslog.is_some() {
        return Err(invalid(
            "--syslog.listen-address",
            "syslog has no end to read to: not with --one-shot",
        ));
    }
    Ok(ServeConfig {
        listen_address: parse_listen_address(&args.web.listen_address)?,
        telemetry_path: telemetry_path(args.web.telemetry_path)?,
        max_connections: max_connections(args.web.max_connections)?,
        web_config_file: args.web.config_file,
        one_shot: args.one_shot,
        monitor: monitor_settings(args.monitor, input.parse.limits.sections)?,
        console: args.console,
        position_file: args.position_file,
        input,
    })
}

fn max_connections(n: usize) -> Result<usize, ConfigError> {
    if n == 0 {
        return Err(invalid("--web.max-connections", "expected at least 1"));
    }
    Ok(n)
}

fn input_config(args: InputArgs) -> Result<InputConfig, ConfigError> {
    if args.poll_interval.is_zero() || args.poll_interval > Duration::from_secs(60) {
        return Err(invalid(
            "--poll-interval",
            "expected a duration above 0 and at most 60s",
        ));
    }
    let parse = parse_config(args.parse)?;
    let syslog = (args.syslog_listen_address.as_deref())
        .map(crate::syslog::ListenAddress::parse)
        .transpose()
        .map_err(|message| invalid("--syslog.listen-address", message))?;
    let declares_logs = args.nginx_config.is_some()
        || args.apache_config.is_some()
        || args.logs_file.is_some()
        || syslog.is_some();
    let log_files = match &args.log_file[..] {
        [] if !declares_logs => &[DEFAULT_LOG_FILE.to_owned()][..],
        log_files => log_files,
    };
    if args.max_logs == 0 {
        return Err(invalid("--max-logs", "expected at least 1"));
    }
    let mut declared = Declared::default();
    for text in log_files {
        let source = LogSource::parse(text).map_err(|message| invalid("--log-file", message))?;
        if source.pattern != Path::new("-") {
            declared.add_source("--log-file", source, text)?;
        } else if !declared.streams.iter().any(|s| s.origin == Origin::Stdin) {
            let stdin = StreamSource {
                name: source.name,
                origin: Origin::Stdin,
                format: None,
                labels: Vec::new(),
            };
            declared.add_stream("--log-file", stdin, text, syslog.is_some())?;
        } else {
            return Err(invalid("--log-file", "- (stdin) is given twice"));
        }
    }
    if let Some(path) = &args.logs_file {
        const FLAG: &str = "--config.file";
        let logs =
            logs::config_file::read(path).map_err(|error| invalid(FLAG, error.to_string()))?;
        let file = path.display();
        for source in logs.sources {
            let what = format!("{file}: {}", source.pattern.display());
            declared.add_source(FLAG, source, what)?;
        }
        for stream in logs.streams {
            let what = format!("{file}: tag {}", stream.label());
            declared.add_stream(FLAG, stream, what, syslog.is_some())?;
        }
    }
    type Reader = fn(&Path) -> Result<logs::DeclaredLogs, logs::ConfigError>;
    let servers: [(&'static str, &Option<PathBuf>, Reader); 2] = [
        ("--nginx.config", &args.nginx_config, logs::nginx::read),
        ("--apache.config", &args.apache_config, logs::apache::read),
    ];
    for (flag, path, read) in servers {
        let Some(path) = path else {
            continue;
        };
        let server = read(path).map_err(|error| invalid(flag, error.to_string()))?;
        for source in server.sources {
            let what = source.pattern.display().to_string();
            declared.add_source(flag, source, what)?;
        }
        declared.notes.extend(server.notes);
        for (stream, what) in server.syslog {
            declared.add_stream(flag, stream, what, syslog.is_some())?;
        }
    }
    let nothing = declared.sources.is_empty() && declared.streams.is_empty() && syslog.is_none();
    let server = servers
        .iter()
        .find_map(|(flag, path, _)| Some((flag, path.as_ref()?)));
    if let Some((flag, path)) = server.filter(|_| nothing) {
        return Err(invalid(
            flag,
            format!(
                "{}: declares no access log that can be followed",
                path.display()
            ),
        ));
    }
    let Declared {
        sources,
        streams,
        notes,
    } = declared;
    Ok(InputConfig {
        notes,
        max_logs: args.max_logs,
        tail: TailConfig {
            path: (sources.first()).map_or_else(|| PathBuf::from("-"), |s| s.pattern.clone()),
            start_at: if args.from_beginning {
                StartAt::Beginning
            } else {
                StartAt::End
            },
            max_line_bytes: parse.max_line_bytes,
            rotate_wait: args.rotate_wait,
            resume: None,
        },
        sources,
        streams,
        syslog,
        parse,
        poll_interval: args.poll_interval,
    })
}

fn backfill_config(args: BackfillArgs) -> Result<BackfillRun, ConfigError> {
    let step = whole_seconds("--step", args.step, 1)?;
    let reorder_tolerance_seconds =
        whole_seconds("--reorder-tolerance", args.reorder_tolerance, 0)?;
    check_threshold(args.threshold)?;
    let parse = parse_config(args.parse)?;
    let mut declared = Declared::default();
    for text in &args.files {
        let source = LogSource::parse(text).map_err(|message| invalid("FILE", message))?;
        if source.pattern == Path::new("-") {
            return Err(invalid(
                "FILE",
                "stdin has no rotated files to order: give a path",
            ));
        }
        declared.add_source("FILE", source, text)?;
    }
    if let Some(path) = &args.logs_file {
        const FLAG: &str = "--config.file";
        let logs =
            logs::config_file::read(path).map_err(|error| invalid(FLAG, error.to_string()))?;
        for source in logs.sources {
            let what = format!("{}: {}", path.display(), source.pattern.display());
            declared.add_source(FLAG, source, what)?;
        }
    }
    let label = |name: &str, value: &str| format!("{name}=\"{}\"", crate::metrics::escape(value));
    let instance = args
        .instance
        .unwrap_or_else(|| format!("{}:{DEFAULT_PORT}", crate::backfill::host_name()));
    Ok(BackfillRun {
        sources: declared.sources,
        output: args.output,
        step,
        reorder_tolerance_seconds,
        target_labels: format!(
            "{},{}",
            label("job", &args.job),
            label("instance", &instance)
        ),
        threshold: args.threshold,
        parse,
    })
}

/// The logs the flags and files declare, no name given twice.
#[derive(Default)]
struct Declared {
    sources: Vec<LogSource>,
    streams: Vec<StreamSource>,
    notes: Vec<String>,
}

impl Declared {
    /// What already has the name `name`, if anything.
    fn holder_of(&self, name: &str) -> Option<String> {
        let file = (self.sources.iter())
            .find(|source| source.name.as_deref() == Some(name))
            .map(|source| source.pattern.display().to_string());
        let stream = (self.streams.iter())
            .filter(|stream| stream.name.is_some() || stream.origin != Origin::Stdin)
            .find(|stream| stream.label() == name)
            .map(|stream| match &stream.origin {
                Origin::Stdin => "stdin".to_owned(),
                Origin::Syslog { tag } => format!("syslog tag {tag}"),
            });
        file.or(stream)
    }

    /// Adds a file log that `what` declares (a flag's value, a file's entry), unless its path
    /// is followed already.
    fn add_source(
        &mut self,
        flag: &'static str,
        source: LogSource,
        what: impl std::fmt::Display,
    ) -> Result<(), ConfigError> {
        if let Some(name) = &source.name {
            if let Some(holder) = self.holder_of(name) {
                return Err(invalid(
                    flag,
                    format!("the name {name:?} is given to two logs: {holder} and {what}"),
                ));
            }
        }
        if !self
            .sources
            .iter()
            .any(|given| given.pattern == source.pattern)
        {
            self.sources.push(source);
        }
        Ok(())
    }

    /// Adds stdin or a syslog tag that `what` declares; a tag only if syslog is received,
    /// else it is said.
    fn add_stream(
        &mut self,
        flag: &'static str,
        stream: StreamSource,
        what: impl std::fmt::Display,
        syslog_received: bool,
    ) -> Result<(), ConfigError> {
        let is_tag = matches!(stream.origin, Origin::Syslog { .. });
        if is_tag && !syslog_received {
            self.notes.push(format!(
                "{what}: syslog is received with --syslog.listen-address; not counted"
            ));
            return Ok(());
        }
        if is_tag
            && self
                .streams
                .iter()
                .any(|given| given.origin == stream.origin)
        {
            // The first declaration of a tag gives its log.
            return Ok(());
        }
        if stream.name.is_some() || is_tag {
            if let Some(holder) = self.holder_of(stream.label()) {
                return Err(invalid(
                    flag,
                    format!(
                        "the name {:?} is given to two logs: {holder} and {what}",
                        stream.label()
                    ),
                ));
            }
        }
        self.streams.push(stream);
        Ok(())
    }
}

fn parse_config(args: ParseArgs) -> Result<ParseConfig, ConfigError> {
    for (flag, value) in [
        ("--max-sections", args.max_sections),
        ("--max-statuses", args.max_statuses),
        ("--max-series", args.max_series),
        ("--max-histogram-series", args.max_histogram_series),
        ("--max-hosts", args.max_hosts),
    ] {
        if value == 0 {
            return Err(invalid(flag, "expected at least 1"));
        }
    }
    if !(256..=64 << 20).contains(&args.max_line_bytes) {
        return Err(invalid(
            "--max-line-bytes",
            "expected a size from 256 to 67108864 bytes",
        ));
    }
    let format: LogFormat =
        (args.format.parse()).map_err(|message| invalid("--format", message))?;
    let defaults = HistogramBounds::default();
    Ok(ParseConfig {
        format,
        limits: SeriesLimits {
            sections: args.max_sections,
            statuses: args.max_statuses,
            series: args.max_series,
            histogram_series: args.max_histogram_series,
            hosts: args.host_label.then_some(args.max_hosts),
        },
        histogram_bounds: HistogramBounds {
            response_size: bounds(
                "--size-buckets",
                args.size_buckets,
                (defaults.response_size, 1.0),
                |text| text.parse().ok(),
            )?,
            duration: bounds(
                "--duration-buckets",
                args.duration_buckets,
                (defaults.duration, 1e9),
                crate::parse::seconds,
            )?,
        },
        max_line_bytes: args.max_line_bytes,
    })
}

/// The bounds `list` gives, each read by `number`, or `default` without one; observed in
/// `units` a unit.
fn bounds(
    flag: &'static str,
    list: Option<String>,
    (default, units): (Vec<f64>, f64),
    number: impl Fn(&str) -> Option<f64>,
) -> Result<Vec<f64>, ConfigError> {
    let Some(list) = list else {
        return Ok(default);
    };
    let bounds = parse_bounds(&list, number)
        .map_err(|problem| invalid(flag, format!("{list}: {problem}")))?;
    Buckets::new(&bounds, units).map_err(|problem| invalid(flag, format!("{list}: {problem}")))?;
    Ok(bounds)
}

/// `--threshold`: requests per second, finite and not negative.
fn check_threshold(threshold: f64) -> Result<(), ConfigError> {
    if !threshold.is_finite() || threshold < 0.0 {
        return Err(invalid(
            "--threshold",
            format!("expected requests per second, 0 or more, got {threshold}"),
        ));
    }
    Ok(())
}

/// `--tui`, if the program runs in a terminal.
fn tui(tui: bool) -> Result<bool, ConfigError> {
    if tui && !crate::dashboard::needs_terminal() {
        return Err(invalid(
            "--tui",
            "needs a terminal: stdin and stdout must both be one (--output text or json \
             writes to pipes and files)",
        ));
    }
    Ok(tui)
}

/// The monitor counts at most `max_sections` sections apart per interval.
fn monitor_settings(
    args: MonitorArgs,
    max_sections: usize,
) -> Result<MonitorSettings, ConfigError> {
    let interval_seconds = whole_seconds("--interval", args.interval, 1)?;
    let window_seconds = whole_seconds("--window", args.window, 1)?;
    check_threshold(args.threshold)?;
    if args.top == 0 {
        return Err(invalid("--top", "expected at least 1"));
    }
    Ok(MonitorSettings {
        config: MonitorConfig {
            interval_seconds,
            window_seconds,
            threshold: args.threshold,
            top: args.top,
            max_sections: max_sections.min(10_000),
        },
        renderer: Renderer {
            format: match args.output {
                OutputArg::Text => OutputFormat::Text,
                OutputArg::Json => OutputFormat::Json,
            },
            local_time: args.local_time,
            bell: args.bell,
        },
        tui: false,
    })
}

fn profile(args: &ProfileArgs) -> Result<Profile, ConfigError> {
    for (flag, rate) in [("--rate", args.rate), ("--calm-rate", args.calm_rate)] {
        if !rate.is_finite() || !(0.0..=10_000_000.0).contains(&rate) {
            return Err(invalid(
                flag,
                format!("expected lines per second from 0 to 10000000, got {rate}"),
            ));
        }
    }
    Ok(match args.profile {
        ProfileArg::Steady => Profile::Steady { rate: args.rate },
        ProfileArg::Burst => Profile::Burst {
            calm_rate: args.calm_rate,
            burst_rate: args.rate,
            calm_seconds: whole_seconds("--calm", args.calm, 0)?,
            burst_seconds: whole_seconds("--burst", args.burst, 1)?,
            recover_seconds: whole_seconds("--recover", args.recover, 0)?,
        },
    })
}

fn whole_seconds(flag: &'static str, duration: Duration, min: u32) -> Result<u32, ConfigError> {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() != 0 || seconds < u64::from(min) || seconds > 7 * 86_400 {
        return Err(invalid(
            flag,
            format!("expected whole seconds from {min}s to 7 days"),
        ));
    }
    Ok(seconds as u32)
}

fn telemetry_path(path: String) -> Result<String, ConfigError> {
    if !path.starts_with('/') || path == "/" {
        return Err(invalid(
            "--web.telemetry-path",
            format!("expected a path starting with / other than / itself, got {path:?}"),
        ));
    }
    Ok(path)
}

fn parse_start(text: &str) -> Result<i64, ConfigError> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| {
            invalid(
                "--start",
                format!("expected an RFC 3339 time such as 2026-11-24T10:00:00Z, got {text:?}"),
            )
        })
}

/// `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` (all IPv4 addresses), as exporters accept it.
fn parse_listen_address(text: &str) -> Result<SocketAddr, ConfigError> {
    const FLAG: &str = "--web.listen-address";
    let expected = || invalid(FLAG, format!("expected HOST:PORT or :PORT, got {text:?}"));
    let with_host = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    let (_, port) = with_host.rsplit_once(':').ok_or_else(expected)?;
    port.parse::<u16>().map_err(|_| expected())?;
    with_host
        .to_socket_addrs()
        .map_err(|error| invalid(FLAG, format!("cannot resolve {text:?}: {error}")))?
        .next()
        .ok_or_else(|| invalid(FLAG, format!("{text:?} resolves to no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("accesslog-exporter").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        Config::try_from(cli).map_err(|e| e.to_string())
    }

    fn serve(args: &[&str]) -> ServeConfig {
        match config(args).unwrap() {
            Config::Serve(serve) => serve,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = serve(&[]);
        assert_eq!(c.input.tail.path, PathBuf::from("/var/log/access.log"));
        assert_eq!(c.input.tail.start_at, StartAt::End);
        assert_eq!(c.listen_address, "0.0.0.0:10071".parse().unwrap());
        assert_eq!(c.telemetry_path, "/metrics");
        assert_eq!(
            (c.input.parse.format, c.one_shot, c.input.parse.limits),
            (
                LogFormat::Auto,
                false,
                SeriesLimits {
                    sections: 100,
                    statuses: 50,
                    series: 10_000,
                    histogram_series: 1_000,
                    hosts: None,
                }
            )
        );
        assert!(!c.console);
        assert_eq!(c.monitor.config.threshold, 10.0);
        assert!(serve(&["serve", "--one-shot"]).one_shot);
        assert_eq!(c.input.parse.histogram_bounds, HistogramBounds::default());
        let custom = serve(&[
            "--duration-buckets",
            "0.1, 1.118,30",
            "--size-buckets",
            "512,1e6",
        ]);
        assert_eq!(
            custom.input.parse.histogram_bounds,
            HistogramBounds {
                response_size: vec![512.0, 1e6],
                duration: vec![0.1, 1.118, 30.0],
            }
        );
    }

    #[test]
    fn monitor_defaults_are_the_specified_ones() {
        let Config::Monitor(run) = config(&["monitor"]).unwrap() else {
            panic!()
        };
        let c = run.monitor.config;
        assert_eq!(
            (c.interval_seconds, c.window_seconds, c.threshold, c.top),
            (10, 120, 10.0, 5)
        );
        assert_eq!(run.monitor.renderer.format, OutputFormat::Text);
        let console = serve(&["--console", "--threshold", "2.5", "--window", "30s"]).monitor;
        assert_eq!(
            (console.config.threshold, console.config.window_seconds),
            (2.5, 30)
        );
    }

    #[test]
    fn listen_addresses() {
        for (text, want) in [
            (":9000", "0.0.0.0:9000"),
            ("127.0.0.1:0", "127.0.0.1:0"),
            ("[::1]:8080", "[::1]:8080"),
        ] {
            assert_eq!(
                serve(&["--web.listen-address", text]).listen_address,
                want.parse().unwrap()
            );
        }
        for bad in ["9000", ":", ":http", "127.0.0.1:99999", ""] {
            let err = config(&["--web.listen-address", bad]).unwrap_err();
            assert!(err.starts_with("--web.listen-address: "), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, flag) in [
            (&["--max-sections", "0"][..], "--max-sections"),
            (&["--max-statuses", "0"], "--max-statuses"),
            (&["--max-series", "0"], "--max-series"),
            (&["--max-histogram-series", "0"], "--max-histogram-series"),
            (&["--duration-buckets", "0.1,0.05"], "--duration-buckets"),
            (&["--duration-buckets", "0.1,1e3"], "--duration-buckets"),
            (&["--duration-buckets", "0,1"], "--duration-buckets"),
            (&["--duration-buckets", ""], "--duration-buckets"),
            (&["--size-buckets", "100,,200"], "--size-buckets"),
            (&["--size-buckets=-5,10"], "--size-buckets"),
            (&["--size-buckets", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33"], "--size-buckets"),
            (&["--size-buckets", "1,inf"], "--size-buckets"),
            (&["--max-line-bytes", "10"], "--max-line-bytes"),
            (&["--web.telemetry-path", "metrics"], "--web.telemetry-path"),
            (&["--web.telemetry-path", "/"], "--web.telemetry-path"),
            (&["--poll-interval", "0s"], "--poll-interval"),
            (&["monitor", "--interval", "1500ms"], "--interval"),
            (&["monitor", "--window", "0s"], "--window"),
            (&["monitor", "--threshold", "-1"], "--threshold"),
            (&["monitor", "--threshold", "NaN"], "--threshold"),
            (&["monitor", "--top", "0"], "--top"),
            (&["generate", "--rate", "-3"], "--rate"),
            (
                &["generate", "--count", "5", "--start", "yesterday"],
                "--start",
            ),
            (
                &["replay", "x.log", "--reorder-tolerance", "1.5s"],
                "--reorder-tolerance",
            ),
        ] {
            let err = config(args).unwrap_err();
            assert!(err.starts_with(flag), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    #[test]
    fn generate_count_takes_a_start_time() {
        let Config::Generate(g) = config(&[
            "generate",
            "--count",
            "3",
            "--start",
            "2026-11-24T10:00:00Z",
            "--seed",
            "4",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!((g.count, g.seed), (Some((3, 1_795_514_400)), 4));
    }
}
