//! `cargo bench`: the cost per line of each pipeline step, on generated traffic.
//!
//! Prints the median of several rounds for: parsing each format, counting parsed records
//! into the metrics, the whole in-memory pipeline, and encoding a scrape with 1,000 request
//! series. The comparison with mtail and GoAccess is `scripts/bench`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use std::sync::Arc;

use accesslog_exporter::generate::{LineFormat, TrafficGenerator, NGINX_TIMED_FORMAT};
use accesslog_exporter::metrics::{ExporterMetrics, RequestRecorder, SeriesLimits};
use accesslog_exporter::parse::{
    Dialect, Line, LineParser, LogFormat, Record, Request, Template, Timestamp,
};

const LINES: i64 = 200_000;
const ROUNDS: usize = 9;
const START: i64 = 1_795_478_400;

fn generated(format: LineFormat) -> Vec<u8> {
    let mut generator = TrafficGenerator::with_format(1, format);
    let mut text = Vec::with_capacity(LINES as usize * 200);
    generator.write_header(&mut text).unwrap();
    for i in 0..LINES {
        // A few hundred lines a second, as the CLF file of scripts/bench has.
        generator.write_line(&mut text, START + i / 500).unwrap();
    }
    text
}

fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text).map(move |end| {
        let line = &text[start..end];
        start = end + 1;
        line
    })
}

/// The median time of `ROUNDS` runs of `round`.
fn median(mut round: impl FnMut()) -> Duration {
    round();
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            round();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[ROUNDS / 2]
}

fn report(what: &str, time: Duration, per: i64) {
    let ns = time.as_secs_f64() * 1e9 / per as f64;
    println!("{what:<44} {ns:>8.1} ns/line {:>8.2} M lines/s", 1e3 / ns);
}

fn parse_all(format: LogFormat, text: &[u8]) -> usize {
    let mut parser = LineParser::new(format);
    lines(text)
        .filter(|line| matches!(parser.parse(line), Ok(Line::Record(_))))
        .count()
}

fn main() {
    println!("{LINES} generated lines per round, median of {ROUNDS} rounds");
    let nginx = Template::compile(Dialect::Nginx, NGINX_TIMED_FORMAT).unwrap();
    let formats = [
        ("Common", LineFormat::Common, LogFormat::Common),
        ("Combined", LineFormat::Combined, LogFormat::Combined),
        ("W3C", LineFormat::W3c, LogFormat::W3c),
        (
            "nginx",
            LineFormat::Nginx,
            LogFormat::Template(Arc::new(nginx)),
        ),
        ("JSON", LineFormat::Json, LogFormat::Json(Arc::default())),
    ];
    for (name, written, read) in formats {
        let text = generated(written);
        assert_eq!(
            parse_all(read.clone(), &text),
            LINES as usize,
            "{name} lines all parse"
        );
        report(
            &format!("parse {name} (--format {})", name.to_lowercase()),
            median(|| {
                black_box(parse_all(read.clone(), black_box(&text)));
            }),
            LINES,
        );
        if matches!(read, LogFormat::Template(_) | LogFormat::Json(_)) {
            continue;
        }
        report(
            &format!("parse {name} (--format auto)"),
            median(|| {
                black_box(parse_all(LogFormat::Auto, black_box(&text)));
            }),
            LINES,
        );
    }

    let text = generated(LineFormat::Common);
    let mut parser = LineParser::new(LogFormat::Common);
    let records: Vec<Record<'_>> = lines(&text)
        .filter_map(|line| match parser.parse(line) {
            Ok(Line::Record(record)) => Some(record),
            _ => None,
        })
        .collect();
    let mut recorder =
        RequestRecorder::new(ExporterMetrics::new().unwrap(), SeriesLimits::default());
    report(
        "record -> metrics (counted locally)",
        median(|| {
            for record in &records {
                recorder.record(black_box(record));
            }
        }),
        LINES,
    );
    report(
        "record -> metrics, then fold into the log's counts",
        median(|| {
            for record in &records {
                recorder.record(black_box(record));
            }
            recorder.flush();
        }),
        LINES,
    );
    let mut parser = LineParser::new(LogFormat::Common);
    report(
        "parse Common + record",
        median(|| {
            for line in lines(&text) {
                if let Ok(Line::Record(record)) = parser.parse(line) {
                    recorder.record(&record);
                }
            }
            recorder.flush();
        }),
        LINES,
    );

    // 10 sections x 10 methods x 10 statuses: 1,000 request series.
    let metrics = ExporterMetrics::new().unwrap();
    let mut recorder = RequestRecorder::new(metrics.clone(), SeriesLimits::default());
    let (sections, methods, statuses) = (
        (0..10).map(|i| format!("/s{i}/x")).collect::<Vec<_>>(),
        [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY",
        ],
        [200, 201, 204, 301, 302, 304, 400, 404, 500, 503],
    );
    for section in &sections {
        for method in methods {
            for status in statuses {
                recorder.record(&Record {
                    client: b"192.0.2.1",
                    user: b"-",
                    timestamp: Timestamp {
                        unix_seconds: START,
                        utc_offset_minutes: 0,
                    },
                    request: Request::Line {
                        method: method.as_bytes(),
                        target: section.as_bytes(),
                        protocol: Some(b"HTTP/1.1"),
                    },
                    status,
                    bytes: 100,
                    referer: None,
                    user_agent: None,
                    duration: Some(Duration::from_millis(3)),
                    upstream_duration: None,
                    host: None,
                });
            }
        }
    }
    recorder.flush();
    let exposition = metrics.encode();
    let series = exposition
        .lines()
        .filter(|l| l.starts_with("accesslog_http_requests_total{"))
        .count();
    assert_eq!(series, 1000, "one series per section x method x status");
    let encode = median(|| {
        black_box(metrics.encode());
    });
    println!(
        "encode /metrics with {series} request series ({} KB)    {:>8.2} ms",
        exposition.len() / 1000,
        encode.as_secs_f64() * 1e3
    );
}
