//! End to end against the real thing: two exporters, Debian's Prometheus with the shipped rules
//! and `deploy/prometheus.yml`, Debian's Alertmanager with `deploy/alertmanager.yml`, and a
//! webhook receiver run here. ~20 req/s into one log must alert for that instance only, within
//! the same minute as the console monitor on the same log, and resolve after the traffic stops.
//! Every query of the Grafana dashboard must return data from that Prometheus.
//!
//! Needs `prometheus` and `prometheus-alertmanager` on PATH: in CI their absence fails the
//! test; elsewhere it is skipped with a message. Takes about three minutes.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn wait_ready(address: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::net::TcpStream::connect(address).is_ok() && http_get(address, "/-/ready").0 == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not become ready on {address}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Receives Alertmanager's webhook POSTs and hands each JSON body on, with when it came.
fn webhook_receiver() -> (SocketAddr, mpsc::Receiver<(Instant, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                if let Ok(json) = serde_json::from_slice(&body) {
                    let _ = tx.send((Instant::now(), json));
                }
            }
        }
    });
    (address, rx)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Appends W3C lines with `time-taken` and two sites' `cs-host` to `path`, a few a second,
/// until `stop`.
fn calm_w3c_writer(path: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        append(
            &path,
            "#Software: Microsoft Internet Information Services 10.0\n",
        );
        append(
            &path,
            "#Fields: date time c-ip cs-host cs-method cs-uri-stem sc-status sc-bytes time-taken\n",
        );
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let now = jiff_like_utc(unix_now() as i64);
            append(
                &path,
                &format!(
                    "{now} 192.0.2.9 {} GET /calm/{i} 200 {} {}\n",
                    ["Shop.example", "blog.example:8080"][i as usize % 2],
                    100 + i % 900,
                    5 + i % 200
                ),
            );
            i += 1;
            // Pacing a steady 2 lines a second, not waiting for an event.
            std::thread::sleep(Duration::from_millis(500));
        }
    })
}

/// `2026-11-24 10:00:00` for a Unix time, via date(1) to stay independent of the code tested.
fn jiff_like_utc(unix: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The shipped config with only addresses and paths changed.
fn prometheus_config(dir: &Path, exporters: [SocketAddr; 2], alertmanager: SocketAddr) -> PathBuf {
    let shipped = std::fs::read_to_string(Path::new(REPO).join("deploy/prometheus.yml")).unwrap();
    assert!(shipped.contains("scrape_interval: 2s") && shipped.contains("evaluation_interval: 2s"));
    let config = shipped
        .replace("../rules/", &format!("{REPO}/rules/"))
        .replace(
            r#"["alertmanager:9093"]"#,
            &format!(r#"["{alertmanager}"]"#),
        )
        .replace(
            r#"["exporter:10071"]"#,
            &format!(r#"["{}", "{}"]"#, exporters[0], exporters[1]),
        );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    path
}

fn alertmanager_config(dir: &Path, webhook: SocketAddr) -> PathBuf {
    let shipped = std::fs::read_to_string(Path::new(REPO).join("deploy/alertmanager.yml")).unwrap();
    assert!(shipped.contains("http://webhook:8080/alerts"));
    let path = dir.join("alertmanager.yml");
    std::fs::write(
        &path,
        shipped.replace(
            "http://webhook:8080/alerts",
            &format!("http://{webhook}/alerts"),
        ),
    )
    .unwrap();
    path
}

#[test]
fn high_traffic_alert_reaches_alertmanager_for_the_busy_instance_only() {
    let (Some(prometheus), Some(alertmanager)) = (
        require_program("prometheus"),
        require_program("prometheus-alertmanager"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let busy_log = dir.path().join("busy.log");
    let calm_log = dir.path().join("calm.log");
    append(&busy_log, "");
    append(&calm_log, "");
    let started = unix_now();

    let mut busy = Exporter::start(["--log-file", busy_log.to_str().unwrap()]);
    let mut calm = Exporter::start(["--log-file", calm_log.to_str().unwrap(), "--host-label"]);
    busy.wait_for_stderr("from byte");
    calm.wait_for_stderr("from byte");
    let stop_calm = Arc::new(AtomicBool::new(false));
    let calm_writer = calm_w3c_writer(calm_log.clone(), Arc::clone(&stop_calm));

    let (webhook, notifications) = webhook_receiver();
    let am_address = free_address();
    let _alertmanager = Process(
        Command::new(alertmanager)
            .arg(format!(
                "--config.file={}",
                alertmanager_config(dir.path(), webhook).display()
            ))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am").display()
            ))
            .arg(format!("--web.listen-address={am_address}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_ready(am_address, "Alertmanager");
    let prom_address = free_address();
    let _prometheus = Process(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                prometheus_config(dir.path(), [busy.address, calm.address], am_address).display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom_address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_ready(prom_address, "Prometheus");

    // The console monitor on the same log, with the same defaults (2 minutes, 10 req/s).
    let mut console = Process(
        Command::new(binary())
            .args([
                "monitor",
                "--log-file",
                busy_log.to_str().unwrap(),
                "--output",
                "json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (console_tx, console_alerts) = mpsc::channel();
    let console_out = console.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(console_out).lines().map_while(Result::ok) {
            let event: Value = serde_json::from_str(&line).unwrap();
            if event["type"] == "alert" {
                let _ = console_tx.send((Instant::now(), event));
            }
        }
    });

    // ~20 req/s into the busy log for 90 s: the 2-minute average passes 10 req/s after ~60 s.
    let traffic = Instant::now();
    let generated = Command::new(binary())
        .args([
            "generate",
            "--output",
            busy_log.to_str().unwrap(),
            "--profile",
            "steady",
            "--rate",
            "20",
        ])
        .args(["--duration", "90s", "--seed", "3"])
        .spawn()
        .unwrap();
    let mut generated = Process(generated);

    let console_fired = console_alerts
        .recv_timeout(Duration::from_secs(150))
        .expect("the console monitor fired");
    assert_eq!(console_fired.1["state"], "firing");

    let mut seen = Vec::new();
    let firing = loop {
        let (at, body) = notifications
            .recv_timeout(Duration::from_secs(150).saturating_sub(traffic.elapsed()))
            .expect("Alertmanager sent a firing notification within 150 s of the traffic starting");
        seen.push(body.clone());
        if body["status"] == "firing" {
            break (at, body);
        }
    };
    let alerts = firing.1["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{:#}", firing.1);
    assert_eq!(alerts[0]["labels"]["alertname"], "AccessLogHighTraffic");
    assert_eq!(
        alerts[0]["labels"]["instance"],
        busy.address.to_string(),
        "only the busy exporter alerts"
    );
    assert_eq!(alerts[0]["labels"]["severity"], "warning");
    let description = alerts[0]["annotations"]["description"].as_str().unwrap();
    assert!(
        description.starts_with("High traffic generated an alert - hits = "),
        "{description}"
    );

    let console_at = console_fired.0;
    let delay = firing.0.saturating_duration_since(console_at).as_secs_f64()
        - console_at.saturating_duration_since(firing.0).as_secs_f64();
    eprintln!(
        "console alert after {:.1} s of traffic; Alertmanager notification {delay:+.1} s after the console",
        console_at.duration_since(traffic).as_secs_f64()
    );
    assert!(
        delay.abs() < 60.0,
        "console and Alertmanager more than a minute apart: {delay} s"
    );

    assert!(generated.0.wait().unwrap().success());
    let stopped = Instant::now();
    let resolved = loop {
        let (at, body) = notifications
            .recv_timeout(Duration::from_secs(150).saturating_sub(stopped.elapsed()))
            .expect(
                "Alertmanager sent the resolved notification within 150 s of the traffic stopping",
            );
        seen.push(body.clone());
        if body["status"] == "resolved" {
            break (at, body);
        }
    };
    let resolved_alert = &resolved.1["alerts"][0];
    assert_eq!(
        resolved_alert["labels"]["instance"],
        busy.address.to_string()
    );
    assert_eq!(resolved_alert["status"], "resolved");
    let console_resolved = console_alerts
        .recv_timeout(Duration::from_secs(30))
        .expect("the console resolved too");
    assert_eq!(console_resolved.1["state"], "resolved");
    eprintln!(
        "resolved: console {:.1} s after the traffic stopped, Alertmanager {:.1} s",
        console_resolved
            .0
            .saturating_duration_since(stopped)
            .as_secs_f64(),
        resolved.0.saturating_duration_since(stopped).as_secs_f64()
    );
    for body in &seen {
        for alert in body["alerts"].as_array().unwrap() {
            assert_ne!(
                alert["labels"]["instance"],
                calm.address.to_string(),
                "the calm exporter alerted: {body:#}"
            );
        }
    }

    // Every dashboard query returns data over the run.
    stop_calm.store(true, Ordering::Relaxed);
    calm_writer.join().unwrap();
    let end = unix_now();
    let mut empty = Vec::new();
    for query in dashboard_queries() {
        let path = format!(
            "/api/v1/query_range?query={}&start={started:.0}&end={end:.0}&step=2",
            url_encode(&query)
        );
        let (status, body) = http_get(prom_address, &path);
        let result: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status != 200
            || result["data"]["result"]
                .as_array()
                .is_none_or(|r| r.is_empty())
        {
            empty.push(format!("{query}\n    -> {status} {body}"));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );

    // The calm exporter's sites, lower-cased, with the port that is not a default kept.
    let query = url_encode(r#"count by (host) (accesslog_http_requests_total{host!=""})"#);
    let (_, body) = http_get(prom_address, &format!("/api/v1/query?query={query}"));
    let result: Value = serde_json::from_str(&body).unwrap();
    let mut hosts: Vec<&str> = (result["data"]["result"].as_array().unwrap().iter())
        .map(|series| series["metric"]["host"].as_str().unwrap())
        .collect();
    hosts.sort_unstable();
    assert_eq!(hosts, ["blog.example:8080", "shop.example"], "{body}");
}
