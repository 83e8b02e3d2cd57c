//! Out of file descriptors (issue 15): failed accepts back off, are said at most once a minute
//! and counted, and scrapes are answered again once connections close.

mod common;

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn failed_accepts_back_off_and_are_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    // Few descriptors: the clients below take what is left, and accepting fails.
    let mut command = Command::new("sh");
    command.args(["-c", "ulimit -n 32 && exec \"$0\" \"$@\"", binary()]);
    let mut exporter = Exporter::start_command(command, ["--log-file", log.to_str().unwrap()]);
    let held: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(exporter.address).unwrap())
        .collect();
    exporter.wait_for_stderr("accepting connections:");
    // Two seconds of failing accepts: before, one line every 50 ms.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let _ = exporter.next_stderr_line(until - Instant::now());
    }
    let said = exporter
        .stderr_seen
        .iter()
        .filter(|line| line.contains("accepting connections:"))
        .count();
    assert_eq!(said, 1, "{:#?}", exporter.stderr_seen);
    drop(held);
    let text = exporter.scrape();
    let failed = value(&text, "accesslog_http_accept_errors_total").unwrap();
    assert!(failed >= 1.0, "{text}");
}
