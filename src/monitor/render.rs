//! Monitor events as a person reads them (text) or a program does (one JSON object a line).

use std::io::{self, Write};

use serde_json::json;

use super::{AlertChange, AlertState, Clock, ClockJump, IntervalReport, MonitorEvent};

/// `--output` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Aligned columns for a terminal.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Writes monitor events.
#[derive(Debug, Clone)]
pub struct Renderer {
    /// Text or JSON.
    pub format: OutputFormat,
    /// Times in the machine's time zone rather than UTC.
    pub local_time: bool,
    /// Ring the terminal bell when the alert fires (text only).
    pub bell: bool,
}

/// Widest a section or client is shown in text before it is shortened.
const NAME_WIDTH: usize = 28;

impl Renderer {
    /// Writes one event and flushes it.
    pub fn write(&self, event: &MonitorEvent, out: &mut impl Write) -> io::Result<()> {
        match (self.format, event) {
            (OutputFormat::Text, MonitorEvent::Stats(report)) => {
                self.write_stats_text(report, out)?
            }
            (OutputFormat::Text, MonitorEvent::Alert(change)) => {
                self.write_alert_text(change, out)?
            }
            (OutputFormat::Json, MonitorEvent::Stats(report)) => {
                writeln!(out, "{}", self.stats_json(report))?
            }
            (OutputFormat::Json, MonitorEvent::Alert(change)) => {
                writeln!(out, "{}", self.alert_json(change))?
            }
            (OutputFormat::Text, MonitorEvent::ClockJump(jump)) => writeln!(
                out,
                "Clock jump: {} went from {} to {}; the alert window starts again",
                match jump.clock {
                    Clock::Log => "log time",
                    Clock::System => "the system clock",
                },
                self.time(jump.from),
                self.time(jump.to)
            )?,
            (OutputFormat::Json, MonitorEvent::ClockJump(jump)) => {
                writeln!(out, "{}", self.clock_jump_json(jump))?
            }
            // For charts: neither a person reading nor a program wants a line a second.
            (_, MonitorEvent::Second(_)) => return Ok(()),
        }
        out.flush()
    }

    /// RFC 3339, in UTC (`2026-11-24T10:00:00Z`) or with the local offset.
    pub fn time(&self, unix_seconds: i64) -> String {
        let Ok(timestamp) = jiff::Timestamp::from_second(unix_seconds) else {
            return unix_seconds.to_string();
        };
        if self.local_time {
            timestamp
                .to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        } else {
            timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
        }
    }

    fn write_alert_text(&self, change: &AlertChange, out: &mut impl Write) -> io::Result<()> {
        let bell = match change.state {
            AlertState::Firing if self.bell => "\x07",
            _ => "",
        };
        writeln!(out, "{bell}{}", self.alert_sentence(change))
    }

    /// What the console says of an alert change, in one sentence.
    pub fn alert_sentence(&self, change: &AlertChange) -> String {
        let time = self.time(change.time);
        match change.state {
            AlertState::Firing => format!(
                "High traffic generated an alert - hits = {}, triggered at {time}",
                change.hits
            ),
            AlertState::Resolved => format!(
                "High traffic alert recovered - hits = {}, recovered at {time}",
                change.hits
            ),
        }
    }

    fn write_stats_text(&self, r: &IntervalReport, out: &mut impl Write) -> io::Result<()> {
        let span = format!("{} → {}", self.time(r.start), self.time(r.end));
        if r.hits == 0 {
            return writeln!(out, "{span}  no traffic");
        }
        // A blank line sets each full report apart from the one before.
        writeln!(out)?;
        writeln!(
            out,
            "{span}  {} hits  {:.1} req/s  {} sent  5xx {:.1}%",
            r.hits,
            r.rate(),
            human_bytes(r.bytes),
            r.error_ratio() * 100.0
        )?;
        writeln!(out, "  status   {}", r.status_counts().join("  "))?;
        writeln!(out, "  methods  {}", r.method_counts().join("  "))?;
        // Times taken, where the format records them: a column each for p50 and p99.
        let timed = r.section_times.iter().any(Option::is_some);
        let times_header = if timed {
            format!(" {:>7} {:>7}", "p50", "p99")
        } else {
            String::new()
        };
        writeln!(
            out,
            "  {:<w$} {:>7} {:>6}{times_header}   {:<w$} {:>7}",
            "section",
            "hits",
            "share",
            "client",
            "hits",
            w = NAME_WIDTH
        )?;
        for row in 0..r.top_sections.len().max(r.top_clients.len()) {
            let times = match r.section_times.get(row) {
                _ if !timed => String::new(),
                Some(Some([p50, p99])) => {
                    format!(" {:>7} {:>7}", human_seconds(*p50), human_seconds(*p99))
                }
                _ => " ".repeat(16),
            };
            let section = match r.top_sections.get(row) {
                Some((name, hits)) => format!(
                    "{:<w$} {:>7} {:>5.1}%{times}",
                    shorten(name, NAME_WIDTH),
                    hits,
                    *hits as f64 * 100.0 / r.hits as f64,
                    w = NAME_WIDTH
                ),
                None => " ".repeat(NAME_WIDTH + 15 + times.len()),
            };
            let client = match r.top_clients.get(row) {
                Some((name, hits)) => format!(
                    "{:<w$} {:>7}",
                    shorten(name, NAME_WIDTH),
                    hits,
                    w = NAME_WIDTH
                ),
                None => String::new(),
            };
            writeln!(out, "{}", format!("  {section}   {client}").trim_end())?;
        }
        Ok(())
    }

    fn stats_json(&self, r: &IntervalReport) -> serde_json::Value {
        let sections: Vec<_> = r
            .top_sections
            .iter()
            .zip(r.section_times.iter().chain(std::iter::repeat(&None)))
            .map(|((name, hits), times)| {
                let mut section = json!({"section": name, "hits": hits, "share": *hits as f64 / r.hits.max(1) as f64});
                if let Some([p50, p99]) = times {
                    section["p50_seconds"] = json!(p50);
                    section["p99_seconds"] = json!(p99);
                }
                section
            })
            .collect();
        let clients: Vec<_> = r
            .top_clients
            .iter()
            .map(|(name, hits)| json!({"client": name, "hits": hits}))
            .collect();
        let methods: serde_json::Map<String, serde_json::Value> = r
            .methods
            .iter()
            .map(|(m, n)| ((*m).to_owned(), json!(n)))
            .collect();
        json!({
            "type": "stats",
            "start": self.time(r.start),
            "end": self.time(r.end),
            "hits": r.hits,
            "rate": r.rate(),
            "bytes": r.bytes,
            "status": {
                "1xx": r.status_classes[1], "2xx": r.status_classes[2], "3xx": r.status_classes[3],
                "4xx": r.status_classes[4], "5xx": r.status_classes[5], "other": r.status_classes[0],
            },
            "error_ratio": r.error_ratio(),
            "methods": methods,
            "top_sections": sections,
            "top_clients": clients,
        })
    }

    fn clock_jump_json(&self, jump: &ClockJump) -> serde_json::Value {
        json!({
            "type": "clock_jump",
            "clock": match jump.clock { Clock::Log => "log", Clock::System => "system" },
            "from": self.time(jump.from),
            "to": self.time(jump.to),
        })
    }

    fn alert_json(&self, change: &AlertChange) -> serde_json::Value {
        json!({
            "type": "alert",
            "state": match change.state { AlertState::Firing => "firing", AlertState::Resolved => "resolved" },
            "hits": change.hits,
            "rate": change.rate,
            "time": self.time(change.time),
        })
    }
}

/// `name` in at most `width` characters, ending in `…` if shortened.
pub fn shorten(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        return name.to_owned();
    }
    let mut short: String = name.chars().take(width.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// A time in seconds as people write it: `850µs`, `75ms`, `1.2s`, with 2 significant digits.
pub fn human_seconds(seconds: f64) -> String {
    let (value, unit) = match seconds {
        s if s < 1e-3 => (s * 1e6, "µs"),
        s if s < 1.0 => (s * 1e3, "ms"),
        s => (s, "s"),
    };
    if value < 10.0 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.0}{unit}")
    }
}

/// A size in bytes as people write it: `512 B`, `1.2 MB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
