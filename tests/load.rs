//! Under load, on loopback: fifty clients scrape for 30 s while 100,000 lines a second are
//! appended and ten more clients hold connections with half a request sent. Every scrape
//! succeeds, no line is lost, and stalled clients neither block scrapes nor the reading (the
//! connection cap under attack is in `connections.rs`).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const LINES: &str = "accesslog_lines_read_total";

/// A client that sends half a request and then nothing.
fn stall(address: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: stalled\r\n")
        .unwrap();
    stream
}

/// Appends 1,000 lines every 10 ms for `run`; returns how many.
fn write_at_100k_a_second(log: &Path, run: Duration) -> usize {
    let batch: String = (0..1_000)
        .map(|i| clf(&format!("/load/{}", i % 10)))
        .collect();
    let mut file = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    let started = Instant::now();
    let mut written = 0;
    for tick in 0.. {
        let due = started + Duration::from_millis(10 * tick);
        if due > started + run {
            break;
        }
        // The pace of a busy server, not a synchronisation.
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        file.write_all(batch.as_bytes()).unwrap();
        written += 1_000;
    }
    written
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn fifty_scrapers_for_30_s_while_100k_lines_a_second_are_appended() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let mut exporter = Exporter::start(["--log-file".as_ref(), log.as_os_str()]);
    exporter.wait_for_stderr("from byte");
    let address = exporter.address;
    let stalled: Vec<TcpStream> = (0..10).map(|_| stall(address)).collect();

    let writing = Arc::new(AtomicBool::new(true));
    let scrapers: Vec<_> = (0..50)
        .map(|_| {
            let writing = Arc::clone(&writing);
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                while writing.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let (status, body) = http_get(address, "/metrics");
                    latencies.push(started.elapsed());
                    assert_eq!(status, 200, "{body}");
                }
                latencies
            })
        })
        .collect();
    let started = Instant::now();
    let written = write_at_100k_a_second(&log, Duration::from_secs(30));
    let rate = written as f64 / started.elapsed().as_secs_f64();
    writing.store(false, Ordering::SeqCst);
    let mut latencies: Vec<Duration> = scrapers
        .into_iter()
        .flat_map(|scraper| scraper.join().expect("every scrape answered 200"))
        .collect();
    latencies.sort();

    // A debug build behind 3,000,000 lines may need a moment to catch up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = exporter.scrape();
        if value(&text, LINES) == Some(written as f64) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(value(&text, LINES), Some(written as f64), "no line lost");
    assert_eq!(sum(&text, "accesslog_http_requests_total"), written as f64);
    eprintln!(
        "{} scrapes by 50 clients in 30 s while {written} lines were written at {rate:.0}/s: \
         p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap(),
    );

    // Past the header read timeout (10 s), the stalled clients have been let go.
    for mut stream in stalled {
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        // Closed by the server: the end of the stream (after a 408, if hyper sent one).
        match stream.read_to_end(&mut Vec::new()) {
            Ok(_) => {}
            Err(error) => assert_eq!(
                error.kind(),
                std::io::ErrorKind::ConnectionReset,
                "a stalled connection still open: {error}"
            ),
        }
    }
}
