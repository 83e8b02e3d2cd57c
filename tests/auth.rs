//! Basic auth under hostile clients (issue 15): unknown users take as long as known ones, a
//! repeated wrong password is refused without hashing, and a flood of wrong passwords takes one
//! bcrypt check at a time while the right password still gets in.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;

/// A serving exporter whose only user is `alice` with password `right`, hashed at `cost`.
fn exporter(dir: &std::path::Path, cost: u32) -> Exporter {
    let hash = bcrypt::hash("right", cost).unwrap();
    let config = dir.join("web.yml");
    std::fs::write(&config, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
    let log = dir.join("access.log");
    append(&log, "");
    Exporter::start([
        "--log-file",
        log.to_str().unwrap(),
        "--web.config.file",
        config.to_str().unwrap(),
    ])
}

/// GET /metrics as `user:password` over a new connection: the status and how long it took.
fn get_as(address: SocketAddr, user: &str, password: &str) -> (u16, Duration) {
    let (status, took, _) = fetch_as(address, user, password);
    (status, took)
}

/// [`get_as`], with the body.
fn fetch_as(address: SocketAddr, user: &str, password: &str) -> (u16, Duration, String) {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&address, PATIENCE).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.0\r\nHost: test\r\nAuthorization: Basic {credentials}\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("every request is answered");
    let took = started.elapsed();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .expect("an HTTP status line");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, took, body.to_owned())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[test]
fn unknown_users_take_as_long_as_known_ones_and_a_repeated_refusal_costs_no_hash() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = exporter(dir.path(), 10);
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for attempt in 0..8 {
        let (status, took) = get_as(exporter.address, "alice", &format!("wrong{attempt}"));
        assert_eq!(status, 401);
        known.push(took);
        let (status, took) = get_as(exporter.address, &format!("mallory{attempt}"), "right");
        assert_eq!(status, 401);
        unknown.push(took);
    }
    let (known, unknown) = (median(known), median(unknown));
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    eprintln!("wrong password {known:?}, unknown user {unknown:?}: ratio {ratio:.2}");
    assert!((0.5..2.0).contains(&ratio), "{known:?} against {unknown:?}");

    let repeated = median(
        (0..8)
            .map(|_| get_as(exporter.address, "alice", "wrong0").1)
            .collect(),
    );
    eprintln!("a repeated wrong password: {repeated:?}");
    assert!(repeated * 5 < known, "{repeated:?} against {known:?}");
    let (status, _, text) = fetch_as(exporter.address, "alice", "right");
    assert_eq!(status, 200);
    for (reason, at_least) in [("wrong_password", 16.0), ("unknown_user", 8.0)] {
        let series = format!(r#"accesslog_http_auth_failures_total{{reason="{reason}"}}"#);
        assert!(
            value(&text, &series).unwrap() >= at_least,
            "{series}\n{text}"
        );
    }
}

/// Threads of process `pid` running or waiting to run.
fn runnable_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('R'))
        })
        .count()
}

#[test]
fn a_wrong_password_flood_is_checked_one_at_a_time_and_the_right_password_gets_in() {
    const CLIENTS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let exporter = exporter(dir.path(), 8);
    let address = exporter.address;
    assert_eq!(get_as(address, "alice", "right").0, 200);
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let flooding = std::sync::Arc::clone(&flooding);
            std::thread::spawn(move || {
                let mut answered = 0;
                while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                    let (status, _) = get_as(address, "alice", &format!("{client}-{answered}"));
                    assert!(status == 401 || status == 503, "{status}");
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    let (mut most_runnable, mut scrapes) = (0, Vec::new());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        most_runnable = most_runnable.max(runnable_threads(exporter.pid()));
        let (status, took) = get_as(address, "alice", "right");
        assert_eq!(status, 200);
        scrapes.push(took);
    }
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let answered: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let scrape = median(scrapes);
    eprintln!(
        "{answered} wrong passwords answered; at most {most_runnable} runnable threads; \
         right-password scrape median {scrape:?}"
    );
    assert!(answered > CLIENTS, "the flood ran");
    // The bcrypt check and the thread serving, and others caught in passing (a flood checked
    // without a bound keeps one a client runnable).
    assert!(most_runnable <= 4, "{most_runnable} runnable threads");
    assert!(scrape < Duration::from_millis(500), "{scrape:?}");
}
