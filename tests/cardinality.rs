//! A log written to blow up the number of series: every request with a random first path
//! segment, a random method (real, odd, or invented) and a random status from 100 to 999.
//! Whatever it holds, the series stay within the documented bound, memory stays flat, and
//! every request is still counted.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use accesslog_exporter::metrics::SeriesLimits;
use common::{peak_rss_kib, sum, value, Exporter};

/// Long enough for a debug build under a loaded CI machine to read a million lines.
const READ_PATIENCE: Duration = Duration::from_secs(120);

fn write_hostile_log(path: &Path, lines: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let methods = accesslog_exporter::labels::KNOWN_METHODS;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for _ in 0..lines {
        let request = match rng.u8(..16) {
            // What servers log for a request they could not read.
            0 => "-".to_owned(),
            // An invented method: letters of a random length.
            1 => {
                let method: String = (0..rng.usize(1..12)).map(|_| rng.uppercase()).collect();
                format!("{method} /{:x}/page HTTP/1.1", rng.u64(..))
            }
            _ => format!(
                "{} /{:x}/page HTTP/1.1",
                methods[rng.usize(..methods.len())],
                rng.u64(..)
            ),
        };
        writeln!(
            out,
            "198.51.100.{} - - [24/Nov/2026:10:00:00 +0000] \"{request}\" {} {}",
            rng.u8(..),
            rng.u16(100..1000),
            rng.u32(..100_000),
        )
        .unwrap();
    }
}

/// Reads the log whole and returns the last scrape and the peak resident memory, in KiB.
fn read_whole(log: &Path, lines: usize) -> (String, u64) {
    let exporter = Exporter::start([
        "--log-file".as_ref(),
        log.as_os_str(),
        "--from-beginning".as_ref(),
    ]);
    let deadline = Instant::now() + READ_PATIENCE;
    let text = loop {
        let text = exporter.scrape();
        if value(&text, "accesslog_lines_read_total") == Some(lines as f64) {
            break text;
        }
        assert!(Instant::now() < deadline, "not all read:\n{text}");
        // A scrape is the only way to see progress: poll it.
        std::thread::sleep(Duration::from_millis(50));
    };
    (text, peak_rss_kib(exporter.pid()))
}

#[test]
fn a_million_hostile_requests_stay_within_the_series_bound_and_all_count() {
    let dir = tempfile::tempdir().unwrap();
    let limits = SeriesLimits::default();
    let mut peaks = Vec::new();
    for lines in [100_000, 1_000_000] {
        let log = dir.path().join(format!("hostile-{lines}.log"));
        write_hostile_log(&log, lines, lines as u64);
        let (text, peak_kib) = read_whole(&log, lines);

        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("accesslog_http_requests_total{"))
            .collect();
        assert!(
            series.len() <= limits.max_request_series(),
            "{lines} lines: {} series, bound {}",
            series.len(),
            limits.max_request_series()
        );
        let label_values = |label: &str| {
            let mut values: Vec<&str> = series
                .iter()
                .filter_map(|l| l.split(&format!("{label}=\"")).nth(1)?.split('"').next())
                .collect();
            values.sort();
            values.dedup();
            values.len()
        };
        // The log fills every label's cap exactly: the first 100 sections, (other) and
        // (invalid); the first 50 codes and the nine classes; nine methods, (other), (invalid).
        assert_eq!(label_values("section"), limits.sections + 2);
        assert_eq!(label_values("status"), limits.statuses + 9);
        assert_eq!(label_values("method"), 11);

        assert_eq!(
            sum(&text, "accesslog_http_requests_total"),
            lines as f64,
            "every request is counted"
        );
        assert_eq!(sum(&text, "accesslog_parse_errors_total"), 0.0);
        eprintln!(
            "{lines} hostile lines: {} request series, peak RSS {peak_kib} KiB",
            series.len()
        );
        peaks.push(peak_kib);
    }
    // Both logs fill every cap; ten times the lines must not mean more memory.
    assert!(
        peaks[1] * 4 <= peaks[0] * 5,
        "peak RSS grew from {} KiB to {} KiB",
        peaks[0],
        peaks[1]
    );
}

/// A scanner's 8 KB targets (what a 414 logs) fill the section slots with labels of at most
/// 128 bytes, cut at a character boundary and marked (issue 16).
#[test]
fn section_labels_are_at_most_128_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut text = String::new();
    for i in 0..20 {
        let target = format!("/{i}{}", "é".repeat(4096));
        text.push_str(&format!(
            "198.51.100.1 - - [24/Nov/2026:10:00:00 +0000] \"GET {target} HTTP/1.1\" 414 0\n"
        ));
    }
    text.push_str("198.51.100.1 - - [24/Nov/2026:10:00:00 +0000] \"GET /short HTTP/1.1\" 200 1\n");
    std::fs::write(&log, text).unwrap();
    let exporter = Exporter::start(["--log-file", log.to_str().unwrap(), "--from-beginning"]);
    let scrape = exporter.wait_for_value("accesslog_lines_read_total", 21.0);
    let sections: Vec<&str> = scrape
        .lines()
        .filter(|line| line.starts_with("accesslog_http_requests_total{"))
        .filter_map(|line| line.split("section=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(sections.len(), 21, "{scrape}");
    for section in &sections {
        assert!(section.len() <= 128, "{} bytes: {section}", section.len());
    }
    assert!(sections.contains(&"/short"));
    let cut = sections.iter().filter(|s| s.ends_with('…')).count();
    assert_eq!(cut, 20, "{sections:?}");
    assert_eq!(sum(&scrape, "accesslog_http_requests_total"), 21.0);
}
