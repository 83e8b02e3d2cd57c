//! The monitor as users run it: replay of a generated log with a known shape, live on a
//! followed log, inside `serve --console`, and the demo.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const START: i64 = 1_795_514_400; // 2026-11-24T10:00:00Z

/// Calm 2/s for 60 s, 20/s for 150 s, calm 2/s for 150 s: 3420 lines from 10:00:00.
fn known_shape(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("shape.log");
    let status = Command::new(binary())
        .args([
            "generate",
            "--output",
            path.to_str().unwrap(),
            "--count",
            "3420",
        ])
        .args([
            "--start",
            "2026-11-24T10:00:00Z",
            "--seed",
            "7",
            "--profile",
            "burst",
        ])
        .args([
            "--calm-rate",
            "2",
            "--rate",
            "20",
            "--calm",
            "60s",
            "--burst",
            "150s",
            "--recover",
            "150s",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    path
}

fn rfc3339(unix: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn replay_alerts_at_the_exact_seconds_and_its_stats_account_for_every_hit() {
    let dir = tempfile::tempdir().unwrap();
    let log = known_shape(dir.path());
    let output = Command::new(binary())
        .args(["replay", log.to_str().unwrap(), "--output", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    // The window [T-120, T) first holds more than 1200 hits at T = +115 s: 60 calm seconds
    // (120 hits) and 55 burst seconds (1100). At +114 it holds exactly 1200: no alert.
    // The burst's last second is +209. At T = +276 the window [156, 276) holds 54 burst seconds
    // and 66 calm ones (1212 hits); at +277 it holds 53 and 67 (1060 + 134 = 1194 ≤ 1200).
    let alerts: Vec<_> = events.iter().filter(|e| e["type"] == "alert").collect();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert_eq!(alerts[0]["state"], "firing");
    assert_eq!(alerts[0]["time"], rfc3339(START + 115));
    assert_eq!(alerts[0]["hits"], 1220);
    assert_eq!(alerts[0]["rate"], 1220.0 / 120.0);
    assert_eq!(alerts[1]["state"], "resolved");
    assert_eq!(alerts[1]["time"], rfc3339(START + 277));
    assert_eq!(alerts[1]["hits"], 1194);

    let stats: Vec<_> = events.iter().filter(|e| e["type"] == "stats").collect();
    assert_eq!(stats.len(), 36, "360 s of log in 10 s intervals");
    let hits: u64 = stats.iter().map(|s| s["hits"].as_u64().unwrap()).sum();
    assert_eq!(hits, 3420, "every line is in exactly one interval");
    for pair in stats.windows(2) {
        assert_eq!(pair[0]["end"], pair[1]["start"], "intervals are contiguous");
    }
    assert_eq!(stats[0]["start"], rfc3339(START));
    assert_eq!(stats[0]["hits"], 20);
    assert_eq!(stats[10]["hits"], 200, "10:01:40 is inside the burst");
    for s in &stats {
        let sections: u64 = s["top_sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["hits"].as_u64().unwrap())
            .sum();
        assert!(sections <= s["hits"].as_u64().unwrap());
        let status: u64 = s["status"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(status, s["hits"].as_u64().unwrap());
    }
}

#[test]
fn replay_prints_the_specified_alert_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = known_shape(dir.path());
    let output = Command::new(binary())
        .args(["replay", log.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let alerts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("High traffic"))
        .collect();
    assert_eq!(
        alerts,
        [
            format!(
                "High traffic generated an alert - hits = 1220, triggered at {}",
                rfc3339(START + 115)
            ),
            format!(
                "High traffic alert recovered - hits = 1194, recovered at {}",
                rfc3339(START + 277)
            ),
        ]
    );
}

#[test]
fn replay_places_lines_that_come_slightly_out_of_order_by_their_own_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("unordered.log");
    let mut text = String::new();
    // Seconds 0..=20, each line of second s written after the lines of s+3 (as a server that logs
    // at request end with the start time writes them).
    for s in 0..=20 {
        for late in [s + 3, s] {
            if late <= 20 {
                text.push_str(&format!(
                    "192.0.2.1 - - [24/Nov/2026:10:00:{late:02} +0000] \"GET /s{late} HTTP/1.1\" 200 1\n"
                ));
            }
        }
    }
    std::fs::write(&log, text).unwrap();
    let interval_hits = |tolerance: &str| -> Vec<u64> {
        let output = Command::new(binary())
            .args([
                "replay",
                log.to_str().unwrap(),
                "--output",
                "json",
                "--reorder-tolerance",
                tolerance,
            ])
            .output()
            .unwrap();
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["type"] == "stats")
            .map(|s| s["hits"].as_u64().unwrap())
            .collect()
    };
    // Seconds 0-2 have one line, 3-20 two (one written on time, one three seconds late).
    let lines_in = |range: std::ops::Range<u64>| range.map(|s| 1 + u64::from(s >= 3)).sum::<u64>();
    assert_eq!(
        interval_hits("5s"),
        [lines_in(0..10), lines_in(10..20), lines_in(20..21)]
    );
    // Without tolerance, the late lines of 7-9 land in the next interval: still counted once.
    let strict = interval_hits("0s");
    assert_eq!(
        strict,
        [lines_in(0..10) - 3, lines_in(10..20), lines_in(20..21) + 3]
    );
}

/// Runs the binary with stdout piped, handing its lines to a channel.
struct Running {
    child: std::process::Child,
    stdout: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        Running::start_command(Command::new(binary()), args)
    }

    fn start_command(mut command: Command, args: &[&str]) -> Running {
        let mut child = command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, stdout) = mpsc::channel();
        let pipe = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running { child, stdout }
    }

    /// `monitor` over `log_file` on a short clock: a 2 s window, an alert above 5 requests a
    /// second, a report every second; `extra` flags after those.
    fn quick_monitor(log_file: &str, extra: &[&str]) -> Running {
        Running::quick_monitor_command(Command::new(binary()), log_file, extra)
    }

    /// [`Running::quick_monitor`], run by `command`.
    fn quick_monitor_command(command: Command, log_file: &str, extra: &[&str]) -> Running {
        let quick = [
            "monitor",
            "--log-file",
            log_file,
            "--window",
            "2s",
            "--threshold",
            "5",
            "--interval",
            "1s",
        ];
        Running::start_command(command, &[&quick[..], extra].concat())
    }

    /// Waits for a stdout line containing `needle`, within `limit`.
    fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while let Ok(line) = self
            .stdout
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("no stdout line with {needle:?} within {limit:?}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn live_monitor_fires_and_recovers_on_the_wall_clock_with_no_more_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let monitor = Running::quick_monitor(log.to_str().unwrap(), &[]);
    // Wait for the monitor to be following: its first report comes after its first second.
    monitor.wait_for("no traffic", PATIENCE);
    append(&log, &lines("burst", 40));
    let fired = monitor.wait_for("High traffic generated an alert", PATIENCE);
    assert!(fired.contains("hits = 40,"), "{fired}");
    // Not one more line is written: only the clock can resolve it.
    let recovered = monitor.wait_for("High traffic alert recovered", PATIENCE);
    assert!(recovered.contains("hits = 0,"), "{recovered}");
}

#[test]
fn the_monitor_of_several_logs_counts_their_traffic_together() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, blog) = (dir.path().join("shop.log"), dir.path().join("blog.log"));
    append(&shop, "");
    append(&blog, "");
    let glob = format!("{}/*.log", dir.path().display());
    let monitor = Running::quick_monitor(&glob, &["--output", "json"]);
    monitor.wait_for("\"type\":\"stats\"", PATIENCE);
    // Each log alone stays under the threshold; together they are above it.
    append(&shop, &lines("cart", 7));
    append(&blog, &lines("posts", 8));
    let fired = monitor.wait_for("\"type\":\"alert\"", PATIENCE);
    let fired: Value = serde_json::from_str(&fired).unwrap();
    assert_eq!(fired["hits"], 15, "{fired}");
}

#[test]
fn serve_with_console_prints_stats_while_serving_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let server = Running::start(&[
        "--log-file",
        log.to_str().unwrap(),
        "--console",
        "--interval",
        "1s",
        "--output",
        "json",
        "--web.listen-address",
        "127.0.0.1:0",
    ]);
    server.wait_for("\"type\":\"stats\"", PATIENCE);
    append(&log, &lines("console", 3));
    let stats = server.wait_for("\"hits\":3", PATIENCE);
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["top_sections"][0]["section"], "/console");
}

#[test]
fn demo_fires_and_recovers_then_cleans_up_on_ctrl_c() {
    let mut demo = Running::start(&[
        "demo",
        "--web.listen-address",
        "127.0.0.1:0",
        "--window",
        "2s",
        "--interval",
        "1s",
        "--threshold",
        "10",
        "--calm",
        "1s",
        "--burst",
        "3s",
        "--recover",
        "4s",
        "--rate",
        "60",
        "--calm-rate",
        "1",
    ]);
    demo.wait_for("High traffic generated an alert", PATIENCE);
    demo.wait_for("High traffic alert recovered", PATIENCE);
    let directory =
        std::env::temp_dir().join(format!("accesslog-exporter-demo-{}", demo.child.id()));
    assert!(directory.join("access.log").exists());
    let pid = demo.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = demo.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "demo did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    assert!(!directory.exists(), "{} left behind", directory.display());
}

#[test]
fn local_time_shows_the_machines_zone_and_utc_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let log = known_shape(dir.path());
    let run = |extra: &[&str]| {
        let output = Command::new(binary())
            .args(["replay", log.to_str().unwrap()])
            .args(extra)
            .env("TZ", "Europe/Paris")
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    let utc = run(&[]);
    assert!(utc.contains("triggered at 2026-11-24T10:01:55Z"), "{utc}");
    let local = run(&["--local-time"]);
    assert!(
        local.contains("triggered at 2026-11-24T11:01:55+01:00"),
        "{local}"
    );
}

#[test]
fn generate_live_writes_at_the_rate_asked_and_stops_after_its_duration() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("live.log");
    let status = Command::new(binary())
        .args([
            "generate",
            "--output",
            log.to_str().unwrap(),
            "--profile",
            "steady",
            "--rate",
            "50",
        ])
        .args(["--duration", "2s"])
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let count = text.lines().count();
    // 2 s at 50 lines/s: at most 100, and a loaded machine may fall a little short.
    assert!((60..=100).contains(&count), "{count} lines");
    assert!(
        text.lines().all(|l| l.ends_with('"')),
        "whole Combined lines only"
    );
}

/// A host without a real-time clock logs 1970 until NTP syncs, then 2026: replay says the jump
/// in one line and skips the 56 years between, in time and memory bounded by the lines (issue
/// 15). It walked every second and held each: 5 GB after 20 s.
#[test]
fn replay_of_a_log_whose_clock_jumps_56_years_is_bounded_by_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let line = |time: &str, section: &str| {
        format!("192.0.2.1 - - [{time} +0000] \"GET /{section}/x HTTP/1.1\" 200 1\n")
    };
    let mut text = String::new();
    for second in 0..30 {
        text.push_str(&line(&format!("01/Jan/1970:00:00:{second:02}"), "boot"));
    }
    for second in 0..30 {
        text.push_str(&line(&format!("02/Dec/2026:10:00:{second:02}"), "synced"));
    }
    std::fs::write(&log, text).unwrap();
    let Some(time) = require_program("time") else {
        return;
    };
    let started = std::time::Instant::now();
    // Half a gigabyte of address space at most (walking the years would need ten times that),
    // and the peak resident set measured by time(1).
    let output = std::process::Command::new(time)
        .args(["--format", "peak RSS %M KiB", "sh", "-c"])
        .args(["ulimit -v 500000 && exec \"$0\" \"$@\"", binary()])
        .args(["replay", log.to_str().unwrap(), "--output", "json"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(took < PATIENCE, "{took:?}");
    let peak_kib: u64 = stderr(&output)
        .lines()
        .find_map(|line| {
            line.strip_prefix("peak RSS ")?
                .strip_suffix(" KiB")?
                .parse()
                .ok()
        })
        .expect("time(1) says the peak RSS");
    eprintln!("a 56-year jump replayed in {took:?}, peak RSS {peak_kib} KiB");
    assert!(peak_kib < 32 * 1024, "{peak_kib} KiB");
    let reports: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let hits: u64 = reports
        .iter()
        .filter_map(|report| report["hits"].as_u64())
        .sum();
    assert_eq!(hits, 60, "{reports:#?}");
    assert!(
        reports.len() < 20,
        "no report of the years between: {}",
        reports.len()
    );
    let jumps: Vec<_> = reports
        .iter()
        .filter(|report| report["type"] == "clock_jump")
        .collect();
    assert_eq!(jumps.len(), 1, "{reports:#?}");
    assert_eq!(jumps[0]["clock"], "log");
    assert_eq!(jumps[0]["from"], "1970-01-01T00:00:29Z");
    assert_eq!(jumps[0]["to"], "2026-12-02T10:00:00Z");
}

/// libfaketime, which lets a test move the wall clock of one process (Debian's `faketime`).
fn libfaketime() -> Option<std::path::PathBuf> {
    require_program("faketime")?;
    let found = glob::glob("/usr/lib/*/faketime/libfaketime.so.1")
        .unwrap()
        .flatten()
        .next();
    assert!(
        found.is_some(),
        "faketime is installed without libfaketime.so.1"
    );
    found
}

/// The wall clock jumps an hour forward under a live monitor, then back: each jump is said in
/// one line with the two times, and the reports go on at the new time (set back, the monitor
/// waited for its clock to come round again, an hour with no report and every hit in one
/// second).
#[test]
fn a_system_clock_jump_is_said_and_the_monitor_goes_on_at_the_new_time() {
    let Some(library) = libfaketime() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let offset = dir.path().join("offset");
    std::fs::write(&offset, "+0\n").unwrap();
    let mut command = Command::new(binary());
    command
        .env("LD_PRELOAD", &library)
        .env("FAKETIME_TIMESTAMP_FILE", &offset)
        .env("FAKETIME_NO_CACHE", "1")
        .env("DONT_FAKE_MONOTONIC", "1");
    let monitor =
        Running::quick_monitor_command(command, log.to_str().unwrap(), &["--output", "json"]);
    let time = |event: &Value, field: &str| {
        event[field]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second()
    };
    monitor.wait_for("\"type\":\"stats\"", PATIENCE);
    append(&log, &lines("busy", 30));
    monitor.wait_for("\"state\":\"firing\"", PATIENCE);

    std::fs::write(&offset, "+3600\n").unwrap();
    let forward: Value = serde_json::from_str(&monitor.wait_for("clock_jump", PATIENCE)).unwrap();
    assert_eq!(forward["clock"], "system");
    let ahead = time(&forward, "to") - time(&forward, "from");
    assert!((3595..=3605).contains(&ahead), "{forward}");
    // The window starts again, empty: the alert recovers.
    let recovered: Value =
        serde_json::from_str(&monitor.wait_for("\"state\":\"resolved\"", PATIENCE)).unwrap();
    assert!(
        time(&recovered, "time") >= time(&forward, "to"),
        "{recovered}"
    );

    std::fs::write(&offset, "+0\n").unwrap();
    let back: Value = serde_json::from_str(&monitor.wait_for("clock_jump", PATIENCE)).unwrap();
    let behind = time(&back, "from") - time(&back, "to");
    assert!((3595..=3605).contains(&behind), "{back}");
    append(&log, &lines("after", 3));
    let report: Value = serde_json::from_str(&monitor.wait_for("\"hits\":3", PATIENCE)).unwrap();
    assert!(time(&report, "start") < time(&back, "from"), "{report}");
}

/// Stdin is one more log to the monitor: its traffic and a file's count together.
#[test]
fn the_monitor_counts_stdin_beside_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop.log");
    append(&shop, "");
    let mut command = Command::new(binary());
    command.stdin(Stdio::piped());
    let mut monitor = Running::quick_monitor_command(
        command,
        shop.to_str().unwrap(),
        &["--log-file", "-", "--output", "json"],
    );
    let mut stdin = monitor.child.stdin.take().unwrap();
    monitor.wait_for("\"type\":\"stats\"", PATIENCE);
    append(&shop, &lines("cart", 7));
    std::io::Write::write_all(&mut stdin, lines("pipe", 8).as_bytes()).unwrap();
    let fired = monitor.wait_for("\"type\":\"alert\"", PATIENCE);
    let fired: Value = serde_json::from_str(&fired).unwrap();
    assert_eq!(fired["hits"], 15, "{fired}");
}
