//! Command-line flags, and the validated [`Config`] built from them.
//!
//! [`Cli`] mirrors the command line and does no more than clap does; [`Config::try_from`]
//! checks what clap cannot and is the only thing the rest of the program sees.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::parse::LogFormat;
use crate::tail::{StartAt, TailConfig};

/// The port served when `--web.listen-address` is not given. 9100–9999, the range Prometheus
/// keeps for exporters, is fully allocated; this one is clear of what runs beside web servers.
pub const DEFAULT_PORT: u16 = 10071;

/// Follows an HTTP access log and serves per-section request metrics to Prometheus.
#[derive(Debug, Parser)]
#[command(name = "accesslog-exporter", version, about, max_term_width = 100)]
pub struct Cli {
    /// The access log to follow.
    #[arg(long, value_name = "PATH", default_value = "/var/log/access.log")]
    pub log_file: PathBuf,

    /// Line format; `auto` reads W3C after a `#Fields:` header and Common/Combined otherwise.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,

    /// Read what the log already holds before following it (default: start at its end).
    #[arg(long)]
    pub from_beginning: bool,

    /// Read the log from start to end, print the metrics to stdout and exit.
    #[arg(long)]
    pub one_shot: bool,

    /// Distinct sections counted under their own label; later ones are counted as `(other)`.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_sections: usize,

    /// Longest line kept, in bytes; longer lines are dropped and counted as parse errors.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_line_bytes: usize,

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

    /// How often the log is checked when no file-system event says it changed.
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,

    /// How long a rotated-away log is still read after it last grew (the server may write to it
    /// until it reopens its log).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub rotate_wait: Duration,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// W3C after a `#Fields:` header, otherwise Common or Combined, per line.
    Auto,
    /// NCSA Common Log Format.
    Common,
    /// NCSA Combined Log Format (Common plus referer and user agent).
    Combined,
    /// W3C extended log format, as IIS writes it.
    W3c,
}

/// What the program runs with, every value checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// How to follow the log.
    pub tail: TailConfig,
    /// The line format.
    pub format: LogFormat,
    /// Read once and print instead of serving.
    pub one_shot: bool,
    /// Sections with a label value of their own.
    pub max_sections: usize,
    /// Where to serve.
    pub listen_address: SocketAddr,
    /// The metrics path.
    pub telemetry_path: String,
    /// The polling fallback's interval.
    pub poll_interval: Duration,
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
        if cli.max_sections == 0 {
            return Err(invalid("--max-sections", "expected at least 1"));
        }
        if !(256..=64 << 20).contains(&cli.max_line_bytes) {
            return Err(invalid(
                "--max-line-bytes",
                "expected a size from 256 to 67108864 bytes",
            ));
        }
        if !cli.telemetry_path.starts_with('/') || cli.telemetry_path == "/" {
            return Err(invalid(
                "--web.telemetry-path",
                format!(
                    "expected a path starting with / other than / itself, got {:?}",
                    cli.telemetry_path
                ),
            ));
        }
        if cli.poll_interval.is_zero() || cli.poll_interval > Duration::from_secs(60) {
            return Err(invalid(
                "--poll-interval",
                "expected a duration above 0 and at most 60s",
            ));
        }
        let format = match cli.format {
            FormatArg::Auto => LogFormat::Auto,
            FormatArg::Common => LogFormat::Common,
            FormatArg::Combined => LogFormat::Combined,
            FormatArg::W3c => LogFormat::W3c,
        };
        Ok(Config {
            tail: TailConfig {
                path: cli.log_file,
                start_at: if cli.from_beginning {
                    StartAt::Beginning
                } else {
                    StartAt::End
                },
                max_line_bytes: cli.max_line_bytes,
                rotate_wait: cli.rotate_wait,
            },
            format,
            one_shot: cli.one_shot,
            max_sections: cli.max_sections,
            listen_address: parse_listen_address(&cli.listen_address)?,
            telemetry_path: cli.telemetry_path,
            poll_interval: cli.poll_interval,
        })
    }
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

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.tail.path, PathBuf::from("/var/log/access.log"));
        assert_eq!(c.tail.start_at, StartAt::End);
        assert_eq!(c.listen_address, "0.0.0.0:10071".parse().unwrap());
        assert_eq!(c.telemetry_path, "/metrics");
        assert_eq!(
            (c.format, c.one_shot, c.max_sections),
            (LogFormat::Auto, false, 100)
        );
    }

    #[test]
    fn listen_addresses() {
        for (text, want) in [
            (":9000", "0.0.0.0:9000"),
            ("127.0.0.1:0", "127.0.0.1:0"),
            ("[::1]:8080", "[::1]:8080"),
        ] {
            let c = config(&["--web.listen-address", text]).unwrap();
            assert_eq!(c.listen_address, want.parse().unwrap());
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
            (&["--max-line-bytes", "10"], "--max-line-bytes"),
            (&["--web.telemetry-path", "metrics"], "--web.telemetry-path"),
            (&["--web.telemetry-path", "/"], "--web.telemetry-path"),
            (&["--poll-interval", "0s"], "--poll-interval"),
        ] {
            let err = config(args).unwrap_err();
            assert!(err.starts_with(flag), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
}
