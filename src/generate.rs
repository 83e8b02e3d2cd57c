//! Synthetic access-log traffic: realistic lines, at a rate that follows a profile.
//!
//! Realistic means: sections skewed like real sites (a few take most hits), sub-paths and query
//! strings, a status and method mix, about one client in five on IPv6, some absolute-form
//! targets as proxies log them, and the odd request the server could not read.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How many lines each second gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    /// The same rate all along.
    Steady {
        /// Lines per second.
        rate: f64,
    },
    /// Repeating: calm, then a burst, then calm long enough for the alert to recover.
    Burst {
        /// Lines per second while calm.
        calm_rate: f64,
        /// Lines per second during the burst.
        burst_rate: f64,
        /// Seconds of calm before the burst.
        calm_seconds: u32,
        /// Seconds of burst.
        burst_seconds: u32,
        /// Seconds of calm after the burst.
        recover_seconds: u32,
    },
}

impl Profile {
    /// Lines per second during second `t` (counted from the start).
    pub fn rate_at(&self, t: u64) -> f64 {
        match *self {
            Profile::Steady { rate } => rate,
            Profile::Burst {
                calm_rate,
                burst_rate,
                calm_seconds,
                burst_seconds,
                recover_seconds,
            } => {
                let cycle =
                    u64::from(calm_seconds) + u64::from(burst_seconds) + u64::from(recover_seconds);
                let at = t % cycle.max(1);
                let burst =
                    u64::from(calm_seconds)..u64::from(calm_seconds) + u64::from(burst_seconds);
                if burst.contains(&at) {
                    burst_rate
                } else {
                    calm_rate
                }
            }
        }
    }
}

/// The number of lines of each second, carrying fractions over so that a rate of 0.5 gives one
/// line every other second.
#[derive(Debug, Clone)]
pub struct Schedule {
    profile: Profile,
    second: u64,
    owed: f64,
}

impl Schedule {
    /// The schedule of `profile` from its start.
    pub fn new(profile: Profile) -> Schedule {
        Schedule {
            profile,
            second: 0,
            owed: 0.0,
        }
    }
}

impl Iterator for Schedule {
    type Item = u64;

    /// Lines in the next second.
    fn next(&mut self) -> Option<u64> {
        self.owed += self.profile.rate_at(self.second).max(0.0);
        self.second += 1;
        let whole = self.owed.floor();
        self.owed -= whole;
        Some(whole as u64)
    }
}

const SECTIONS: [(&str, u32, &[&str]); 10] = [
    (
        "/api",
        30,
        &["/users", "/orders", "/items", "/search", "/health"],
    ),
    (
        "/static",
        20,
        &["/css/site.css", "/js/app.js", "/fonts/inter.woff2"],
    ),
    (
        "/pages",
        15,
        &["/about", "/pricing", "/contact", "/docs/install"],
    ),
    (
        "/images",
        10,
        &["/logo.png", "/hero.jpg", "/avatars/42.png"],
    ),
    ("/login", 6, &[""]),
    ("/search", 6, &[""]),
    ("/report", 4, &["", "/daily", "/weekly"]),
    ("/admin", 4, &["/users", "/settings"]),
    ("/blog", 3, &["/2026/11/release", "/2026/10/hello"]),
    ("/", 2, &[""]),
];
const STATUSES: [(u16, u32); 10] = [
    (200, 800),
    (304, 60),
    (301, 15),
    (302, 15),
    (404, 60),
    (401, 10),
    (403, 10),
    (500, 20),
    (502, 5),
    (503, 5),
];
const METHODS: [(&str, u32); 6] = [
    ("GET", 850),
    ("POST", 100),
    ("PUT", 20),
    ("DELETE", 10),
    ("HEAD", 10),
    ("OPTIONS", 10),
];
const AGENTS: [&str; 5] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "curl/8.5.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Which line format the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineFormat {
    /// NCSA Common Log Format.
    Common,
    /// NCSA Combined: Common plus referer and user agent.
    #[default]
    Combined,
    /// W3C extended, as IIS writes it, with a `#Fields:` header and `time-taken`.
    W3c,
    /// nginx's `combined` with the request and upstream times: [`NGINX_TIMED_FORMAT`].
    Nginx,
    /// One JSON object a line, with the keys of nginx's `escape=json` examples (the `json`
    /// format's defaults).
    Json,
}

/// The nginx `log_format` [`LineFormat::Nginx`] writes: `combined`, then `$request_time` and
/// `$upstream_response_time`.
pub const NGINX_TIMED_FORMAT: &str = "$remote_addr - $remote_user [$time_local] \"$request\" \
    $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time \
    $upstream_response_time";

/// The directives IIS writes at the head of a log, naming the columns [`LineFormat::W3c`] writes.
const W3C_HEADER: &str = "#Software: accesslog-exporter generate\n#Version: 1.0\n\
    #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip \
    cs(User-Agent) cs(Referer) sc-status sc-bytes time-taken\n";

/// Writes lines of made-up but plausible traffic.
#[derive(Debug)]
pub struct TrafficGenerator {
    rng: fastrand::Rng,
    format: LineFormat,
    time_text: (i64, String),
}

impl TrafficGenerator {
    /// A generator of Combined lines, the same for the same `seed`.
    pub fn new(seed: u64) -> TrafficGenerator {
        TrafficGenerator::with_format(seed, LineFormat::Combined)
    }

    /// A generator of `format` lines, the same for the same `seed`.
    pub fn with_format(seed: u64, format: LineFormat) -> TrafficGenerator {
        TrafficGenerator {
            rng: fastrand::Rng::with_seed(seed),
            format,
            time_text: (i64::MIN, String::new()),
        }
    }

    /// Writes what a log of this format starts with: the `#Fields:` header for W3C, nothing
    /// otherwise.
    pub fn write_header(&self, out: &mut impl Write) -> io::Result<()> {
        match self.format {
            LineFormat::W3c => out.write_all(W3C_HEADER.as_bytes()),
            _ => Ok(()),
        }
    }

    /// Writes one line, with its newline, logged at `unix_seconds` (UTC).
    pub fn write_line(&mut self, out: &mut impl Write, unix_seconds: i64) -> io::Result<()> {
        if self.time_text.0 != unix_seconds {
            let text = match self.format {
                LineFormat::W3c => w3c_time(unix_seconds),
                _ => clf_time(unix_seconds),
            };
            self.time_text = (unix_seconds, text);
        }
        let rng = &mut self.rng;
        let client = client(rng);
        let time = &self.time_text.1;
        // About one in five hundred: a client that sent nothing readable (a 408 timeout).
        if rng.u32(..500) == 0 {
            return match self.format {
                LineFormat::Common => writeln!(out, "{client} - - [{time}] \"-\" 408 0"),
                LineFormat::Combined => {
                    writeln!(out, "{client} - - [{time}] \"-\" 408 0 \"-\" \"-\"")
                }
                LineFormat::W3c => {
                    writeln!(out, "{time} 192.0.2.10 - - - 443 - {client} - - 408 0 -")
                }
                LineFormat::Nginx => {
                    writeln!(
                        out,
                        "{client} - - [{time}] \"-\" 408 0 \"-\" \"-\" 60.000 -"
                    )
                }
                LineFormat::Json => writeln!(
                    out,
                    r#"{{"time_local":"{time}","remote_addr":"{client}","remote_user":"","request":"","status":"408","body_bytes_sent":"0","request_time":"60.000","http_referrer":"","http_user_agent":"","upstream_response_time":""}}"#
                ),
            };
        }
        let (section, _, subpaths) = SECTIONS[pick(rng, SECTIONS.iter().map(|s| s.1))];
        let subpath = subpaths[rng.usize(..subpaths.len())];
        let method = METHODS[pick(rng, METHODS.iter().map(|m| m.1))].0;
        let status = STATUSES[pick(rng, STATUSES.iter().map(|s| s.1))].0;
        let path = if section == "/" {
            "/".to_owned()
        } else {
            format!("{section}{subpath}")
        };
        let query = match rng.u32(..10) {
            0 => format!("?page={}", rng.u32(1..20)),
            1 => format!("?q=item{}&sort=desc", rng.u32(..1000)),
            _ => String::new(),
        };
        let host = if rng.u32(..50) == 0 {
            "http://www.example.com"
        } else {
            ""
        };
        let bytes = match status {
            304 | 301 | 302 => 0,
            _ => 200 + (rng.f64().powi(3) * 200_000.0) as u64,
        };
        if self.format == LineFormat::Common {
            return writeln!(
                out,
                "{client} - - [{time}] \"{method} {host}{path}{query} HTTP/1.1\" {status} {bytes}"
            );
        }
        let referer = if rng.bool() {
            "https://www.example.com/"
        } else {
            "-"
        };
        let agent = AGENTS[rng.usize(..AGENTS.len())];
        if self.format == LineFormat::W3c {
            let query = query.strip_prefix('?').unwrap_or("-");
            let agent = agent.replace(' ', "+");
            let millis = 1 + (rng.f64().powi(4) * 3000.0) as u32;
            return writeln!(
                out,
                "{time} 192.0.2.10 {method} {path} {query} 443 - {client} {agent} {referer} {status} {bytes} {millis}"
            );
        }
        let millis = 1 + (rng.f64().powi(4) * 3000.0) as u32;
        let seconds = format!("{}.{:03}", millis / 1000, millis % 1000);
        // Static files and cached answers have no upstream.
        let upstream = if rng.u32(..4) == 0 {
            "-".to_owned()
        } else {
            let upstream = millis.saturating_sub(1 + rng.u32(..3));
            format!("{}.{:03}", upstream / 1000, upstream % 1000)
        };
        match self.format {
            LineFormat::Nginx => writeln!(
                out,
                "{client} - - [{time}] \"{method} {host}{path}{query} HTTP/1.1\" {status} {bytes} \"{referer}\" \"{agent}\" {seconds} {upstream}"
            ),
            LineFormat::Json => {
                let referer = referer.trim_start_matches('-');
                let upstream = upstream.trim_start_matches('-');
                writeln!(
                    out,
                    r#"{{"time_local":"{time}","remote_addr":"{client}","remote_user":"","request":"{method} {host}{path}{query} HTTP/1.1","status":"{status}","body_bytes_sent":"{bytes}","request_time":"{seconds}","http_referrer":"{referer}","http_user_agent":"{agent}","upstream_response_time":"{upstream}"}}"#
                )
            }
            _ => writeln!(
                out,
                "{client} - - [{time}] \"{method} {host}{path}{query} HTTP/1.1\" {status} {bytes} \"{referer}\" \"{agent}\""
            ),
        }
    }
}

fn client(rng: &mut fastrand::Rng) -> String {
    // Skewed: a few clients send much of the traffic.
    let id = (rng.f64().powi(2) * 250.0) as u32;
    if id % 5 == 0 {
        format!("2001:db8::{:x}", id + 1)
    } else {
        format!("198.51.{}.{}", 100 + id / 250, id % 250 + 1)
    }
}

fn pick(rng: &mut fastrand::Rng, weights: impl Iterator<Item = u32> + Clone) -> usize {
    let total: u32 = weights.clone().sum();
    let mut at = rng.u32(..total);
    for (i, weight) in weights.enumerate() {
        if at < weight {
            return i;
        }
        at -= weight;
    }
    0
}

/// `24/Nov/2026:10:00:00 +0000`.
fn clf_time(unix_seconds: i64) -> String {
    match jiff::Timestamp::from_second(unix_seconds) {
        Ok(t) => {
            let utc = t.to_zoned(jiff::tz::TimeZone::UTC);
            format!(
                "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
                utc.day(),
                MONTHS[usize::from(utc.month() as u8 - 1)],
                utc.year(),
                utc.hour(),
                utc.minute(),
                utc.second()
            )
        }
        Err(_) => "01/Jan/1970:00:00:00 +0000".to_owned(),
    }
}

/// `2026-11-24 10:00:00`, the `date time` columns of W3C.
fn w3c_time(unix_seconds: i64) -> String {
    match jiff::Timestamp::from_second(unix_seconds) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => "1970-01-01 00:00:00".to_owned(),
    }
}

fn open_for_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Appends `count` lines to `path` as fast as it can, the first logged at `start` (Unix
/// seconds) and the rest spread over log time as `profile` would spread them.
pub fn write_count(
    path: &Path,
    profile: Profile,
    format: LineFormat,
    seed: u64,
    count: u64,
    start: i64,
) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, open_for_append(path)?);
    let mut generator = TrafficGenerator::with_format(seed, format);
    generator.write_header(&mut out)?;
    let mut written = 0;
    for (second, lines) in Schedule::new(profile).enumerate() {
        for _ in 0..lines.min(count - written) {
            generator.write_line(&mut out, start + second as i64)?;
        }
        written += lines.min(count - written);
        if written == count {
            break;
        }
    }
    out.flush()
}

/// Appends lines to `path` in real time, one `write` a line as a web server does, until
/// `duration` has passed or `stop` is set. Returns the number of lines written.
pub fn write_live(
    path: &Path,
    profile: Profile,
    format: LineFormat,
    seed: u64,
    duration: Option<Duration>,
    stop: &AtomicBool,
) -> io::Result<u64> {
    let mut file = open_for_append(path)?;
    let mut generator = TrafficGenerator::with_format(seed, format);
    generator.write_header(&mut file)?;
    let mut line = Vec::with_capacity(512);
    let started = Instant::now();
    let mut written = 0;
    for (second, lines) in Schedule::new(profile).enumerate() {
        let second_start = started + Duration::from_secs(second as u64);
        for i in 0..lines {
            let due = second_start + Duration::from_secs_f64(i as f64 / lines as f64);
            // Pacing: this is the rate the user asked for, not a wait for some event.
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if stop.load(Ordering::Relaxed) || duration.is_some_and(|d| started.elapsed() >= d) {
                return Ok(written);
            }
            line.clear();
            generator.write_line(&mut line, jiff::Timestamp::now().as_second())?;
            file.write_all(&line)?;
            written += 1;
        }
        if lines == 0 {
            std::thread::sleep(
                (second_start + Duration::from_secs(1)).saturating_duration_since(Instant::now()),
            );
        }
        if stop.load(Ordering::Relaxed) || duration.is_some_and(|d| started.elapsed() >= d) {
            return Ok(written);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Line, LineParser, LogFormat, Request};

    #[test]
    fn schedule_follows_the_profile_and_carries_fractions() {
        let burst = Profile::Burst {
            calm_rate: 2.0,
            burst_rate: 20.0,
            calm_seconds: 3,
            burst_seconds: 2,
            recover_seconds: 1,
        };
        let per_second: Vec<u64> = Schedule::new(burst).take(12).collect();
        assert_eq!(per_second, [2, 2, 2, 20, 20, 2, 2, 2, 2, 20, 20, 2]);
        let half: Vec<u64> = Schedule::new(Profile::Steady { rate: 0.5 })
            .take(4)
            .collect();
        assert_eq!(half, [0, 1, 0, 1]);
    }

    #[test]
    fn generated_lines_parse_and_look_like_real_traffic() {
        let mut generator = TrafficGenerator::new(1);
        let mut text = Vec::new();
        for i in 0..5000 {
            generator
                .write_line(&mut text, 1_795_500_000 + i / 100)
                .unwrap();
        }
        let mut parser = LineParser::new(LogFormat::Combined);
        let (mut ipv6, mut absolute, mut query, mut malformed, mut api) = (0, 0, 0, 0, 0);
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(Line::Record(record)) = parser.parse(line) else {
                panic!("{}", String::from_utf8_lossy(line))
            };
            assert!(record.timestamp.unix_seconds >= 1_795_500_000);
            ipv6 += usize::from(record.client.contains(&b':'));
            match record.request {
                Request::Line { target, .. } => {
                    absolute += usize::from(target.starts_with(b"http://"));
                    query += usize::from(target.contains(&b'?'));
                    api += usize::from(crate::parse::section(target) == b"/api");
                }
                Request::Malformed(_) => malformed += 1,
            }
        }
        assert!((500..2000).contains(&ipv6), "ipv6 {ipv6}");
        assert!((30..200).contains(&absolute), "absolute {absolute}");
        assert!((500..1500).contains(&query), "query {query}");
        assert!((1..40).contains(&malformed), "malformed {malformed}");
        assert!(
            (1000..2000).contains(&api),
            "the busiest section gets the most: {api}"
        );
    }

    #[test]
    fn nginx_and_json_lines_parse_with_their_formats_and_carry_times() {
        let nginx =
            crate::parse::Template::compile(crate::parse::Dialect::Nginx, NGINX_TIMED_FORMAT);
        for (written, read) in [
            (
                LineFormat::Nginx,
                LogFormat::Template(std::sync::Arc::new(nginx.unwrap())),
            ),
            (LineFormat::Json, LogFormat::Json(std::sync::Arc::default())),
        ] {
            let mut generator = TrafficGenerator::with_format(7, written);
            let mut text = Vec::new();
            for i in 0..2000 {
                generator.write_line(&mut text, 1_795_500_000 + i).unwrap();
            }
            let mut parser = LineParser::new(read);
            let (mut durations, mut upstreams, mut malformed) = (0, 0, 0);
            for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let Ok(Line::Record(record)) = parser.parse(line) else {
                    panic!("{written:?}: {}", String::from_utf8_lossy(line));
                };
                durations += usize::from(record.duration.is_some());
                upstreams += usize::from(record.upstream_duration.is_some());
                malformed += usize::from(matches!(record.request, Request::Malformed(_)));
            }
            assert_eq!(durations, 2000, "{written:?}");
            assert!(
                (1200..1800).contains(&upstreams),
                "{written:?}: {upstreams}"
            );
            assert!((1..30).contains(&malformed), "{written:?}: {malformed}");
        }
    }

    #[test]
    fn common_lines_parse_as_common_and_carry_no_referer_or_agent() {
        let mut generator = TrafficGenerator::with_format(7, LineFormat::Common);
        let mut text = Vec::new();
        for i in 0..1000 {
            generator.write_line(&mut text, 1_795_500_000 + i).unwrap();
        }
        let mut parser = LineParser::new(LogFormat::Common);
        let lines: Vec<&[u8]> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 1000);
        for line in lines {
            assert!(
                matches!(parser.parse(line), Ok(Line::Record(_))),
                "{}",
                String::from_utf8_lossy(line)
            );
            assert!(
                line.last().is_some_and(u8::is_ascii_digit),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn w3c_lines_parse_under_their_header() {
        let mut generator = TrafficGenerator::with_format(7, LineFormat::W3c);
        let mut text = Vec::new();
        generator.write_header(&mut text).unwrap();
        for i in 0..2000 {
            generator.write_line(&mut text, 1_795_500_000 + i).unwrap();
        }
        let mut parser = LineParser::new(LogFormat::Auto);
        let (mut records, mut timed, mut malformed) = (0, 0, 0);
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match parser.parse(line) {
                Ok(Line::Record(record)) => {
                    records += 1;
                    assert!(record.timestamp.unix_seconds >= 1_795_500_000);
                    timed += usize::from(record.duration.is_some());
                    malformed += usize::from(matches!(record.request, Request::Malformed(_)));
                }
                Ok(_) => {}
                Err(e) => panic!("{e:?}: {}", String::from_utf8_lossy(line)),
            }
        }
        assert_eq!(records, 2000);
        assert!(timed > 1950, "time-taken on every full request: {timed}");
        assert!((1..20).contains(&malformed), "malformed {malformed}");
    }

    #[test]
    fn clf_time_matches_the_parser() {
        let text = clf_time(1_795_510_920);
        let parsed = crate::parse::Timestamp::parse_clf(text.as_bytes()).unwrap();
        assert_eq!(parsed.unix_seconds, 1_795_510_920);
    }
}
