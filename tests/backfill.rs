//! `backfill` end to end with real promtool and Prometheus: hours of generated traffic in a
//! live and a gzip-compressed rotated file, backfilled, turned into blocks, served; the
//! request counter's increase, the shipped alert and the dashboard's queries are read back over
//! the API and compared with what was written and with `replay`.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const STEP: i64 = 5;

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// nginx's `combined` with the request and upstream times: every histogram has values.
const FORMAT: &str = accesslog_exporter::generate::NGINX_TIMED_FORMAT;

fn generate(path: &Path, args: &[&str]) {
    run(Command::new(binary())
        .args(["generate", "--format", "nginx", "--output"])
        .arg(path)
        .args(args));
}

/// Prometheus on the blocks in `data`, answering on a free port.
fn prometheus(prometheus: &Path, dir: &Path, data: &Path) -> (Process, SocketAddr) {
    let address = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global: {}\n").unwrap();
    let process = Process(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get_safe(address, "/-/ready") != Some(200) {
        assert!(Instant::now() < deadline, "Prometheus did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    (process, address)
}

fn http_get_safe(address: SocketAddr, path: &str) -> Option<u16> {
    std::net::TcpStream::connect(address).ok()?;
    Some(http_get(address, path).0)
}

fn api(address: SocketAddr, path: &str) -> Value {
    let (status, body) = http_get(address, path);
    assert_eq!(status, 200, "{path}: {body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    json["data"]["result"].clone()
}

/// The first and last sample times of the series of `log` in the OpenMetrics text.
fn span_of(openmetrics: &str, log: &str) -> (i64, i64) {
    let times: Vec<i64> = (openmetrics.lines())
        .filter(|line| line.contains(&format!("log=\"{log}\"")))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    (*times.iter().min().unwrap(), *times.iter().max().unwrap())
}

fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[test]
fn backfilled_history_serves_the_counts_the_alert_and_the_dashboard() {
    let (Some(prometheus_binary), Some(promtool)) =
        (require_program("prometheus"), require_program("promtool"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);

    // Hours of bursts on the shop, cut into a rotated gzip file and the live one; a
    // quiet blog beside it on another host.
    let all = path("all.log");
    generate(
        &all,
        &[
            "--count",
            "30000",
            "--start",
            "2026-11-20T00:00:00Z",
            "--profile",
            "burst",
            "--rate",
            "30",
            "--calm-rate",
            "1",
            "--calm",
            "25m",
            "--burst",
            "2m",
            "--recover",
            "2m",
            "--seed",
            "7",
        ],
    );
    let text = std::fs::read_to_string(&all).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (older, newer) = lines.split_at(lines.len() / 2);
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path("shop.log.1.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all((older.join("\n") + "\n").as_bytes()).unwrap();
    gz.finish().unwrap();
    std::fs::write(path("shop.log"), newer.join("\n") + "\n").unwrap();
    // The blog's server logs its site first: the dashboard's row of sites reads it.
    generate(
        &path("blog.lines"),
        &[
            "--count",
            "3000",
            "--start",
            "2026-11-20T00:30:00Z",
            "--profile",
            "steady",
            "--rate",
            "1",
        ],
    );
    let blog_lines = std::fs::read_to_string(path("blog.lines")).unwrap();
    let with_host: String = blog_lines
        .lines()
        .map(|line| format!("blog.example {line}\n"))
        .collect();
    std::fs::write(path("blog.log"), with_host).unwrap();

    let backfill = |args: &[&str], output: &Path| {
        run(Command::new(binary())
            .arg("backfill")
            .args(args)
            .arg("--output")
            .arg(output));
        std::fs::read_to_string(output).unwrap()
    };
    let format = format!("nginx:{FORMAT}");
    let with_host = format!("nginx:$host {FORMAT}");
    let shop_files = [path("shop.log"), path("shop.log.1.gz")];
    let shop = backfill(
        &[
            &format!("shop={}", shop_files[0].display()),
            shop_files[1].to_str().unwrap(),
            "--instance",
            "web1:10071",
            "--format",
            &format,
        ],
        &path("shop.om"),
    );
    let blog = backfill(
        &[
            &format!("blog={}", path("blog.log").display()),
            "--instance",
            "web2:10071",
            "--format",
            &with_host,
            "--host-label",
        ],
        &path("blog.om"),
    );
    assert!(shop.ends_with("# EOF\n") && blog.ends_with("# EOF\n"));
    let both = path("both.om");
    std::fs::write(
        &both,
        shop.trim_end_matches("# EOF\n").to_owned() + blog.as_str(),
    )
    .unwrap();
    let data = path("data");
    run(Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&both)
        .arg(&data));

    let (prometheus, address) = prometheus(&prometheus_binary, dir.path(), &data);

    // Every line counted, per log: the increase over the whole span, read at its last sample.
    for (log, openmetrics, written) in [
        ("shop", &shop, lines.len()),
        ("blog", &blog, lines_in(&path("blog.log"))),
    ] {
        let (first, last) = span_of(openmetrics, log);
        let query = format!(
            "sum(increase(accesslog_http_requests_total{{log=\"{log}\"}}[{}s]))",
            last - first + 1
        );
        let result = api(
            address,
            &format!("/api/v1/query?query={}&time={last}", url_encode(&query)),
        );
        let value: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
        assert!(
            (value - written as f64).abs() < 1e-6,
            "{log}: increase {value}, {written} lines written"
        );
    }

    // The shipped alert, evaluated at the step over the shop's history, is true exactly where
    // replay on the same files fires, within two steps at each edge.
    let expr = alert_expr("AccessLogHighTraffic");
    let (first, last) = span_of(&shop, "shop");
    let result = api(
        address,
        &format!(
            "/api/v1/query_range?query={}&start={first}&end={last}&step={STEP}",
            url_encode(&expr)
        ),
    );
    let mut true_at: Vec<i64> = (result.as_array().unwrap().iter())
        .filter(|series| series["metric"]["instance"] == "web1:10071")
        .flat_map(|series| series["values"].as_array().unwrap().clone())
        .map(|pair| pair[0].as_f64().unwrap() as i64)
        .collect();
    true_at.sort_unstable();
    true_at.dedup();
    let mut spans: Vec<(i64, i64)> = Vec::new();
    for time in true_at {
        match spans.last_mut() {
            Some(span) if time - span.1 <= STEP => span.1 = time,
            _ => spans.push((time, time)),
        }
    }
    let replayed = run(Command::new(binary())
        .arg("replay")
        .args(&shop_files)
        .args(["--format", &format, "--output", "json"]));
    let mut fired = Vec::new();
    let mut resolved = Vec::new();
    for event in replayed
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
    {
        if event["type"] == "alert" {
            let time: jiff::Timestamp = event["time"].as_str().unwrap().parse().unwrap();
            match event["state"].as_str().unwrap() {
                "firing" => fired.push(time.as_second()),
                _ => resolved.push(time.as_second()),
            }
        }
    }
    assert!(fired.len() >= 3, "{replayed}");
    // The log may end while the alert fires: replay says no more, Prometheus' last samples
    // still hold the burst.
    let expected: Vec<(i64, Option<i64>)> = (fired.iter().enumerate())
        .map(|(i, &fire)| (fire, resolved.get(i).copied()))
        .collect();
    assert_eq!(
        spans.len(),
        expected.len(),
        "Prometheus {spans:?}, replay {expected:?}"
    );
    for ((start, end), (fire, resolve)) in spans.iter().zip(&expected) {
        let close = |a: i64, b: i64| (a - b).abs() <= 2 * STEP;
        assert!(
            close(*start, *fire) && resolve.map_or(true, |resolve| close(end + STEP, resolve)),
            "Prometheus {spans:?}, replay {expected:?}"
        );
    }
    drop(prometheus);

    // The recording rules, backfilled from the data: twice, as one rule reads another's
    // record and promtool does not chain them; each pass's blocks moved into the data.
    let rules = Path::new(REPO).join("rules/accesslog.rules.yml");
    let (first, last) = (
        first.min(span_of(&blog, "blog").0),
        last.max(span_of(&blog, "blog").1),
    );
    let mut prometheus = None;
    for pass in 0..2 {
        let (process, address) = self::prometheus(&prometheus_binary, dir.path(), &data);
        let blocks = path(&format!("rules{pass}"));
        run(Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "rules"])
            // promtool (2.42) writes nothing for a start off the evaluation grid: an hour's.
            .arg(format!("--start={}", first.div_euclid(3600) * 3600))
            .arg(format!("--end={last}"))
            .arg(format!("--url=http://{address}"))
            .arg(format!("--output-dir={}", blocks.display()))
            .arg("--eval-interval=10s")
            .arg(&rules));
        drop(process);
        for block in std::fs::read_dir(&blocks).unwrap() {
            let block = block.unwrap().path();
            std::fs::rename(&block, data.join(block.file_name().unwrap())).unwrap();
        }
        prometheus = Some(self::prometheus(&prometheus_binary, dir.path(), &data));
        if pass == 0 {
            prometheus = None;
        }
    }
    let (_prometheus, address) = prometheus.unwrap();
    for query in dashboard_queries() {
        if query.contains("up{") || query.contains("ALERTS") || query.starts_with("up") {
            continue;
        }
        let result = api(
            address,
            &format!(
                "/api/v1/query_range?query={}&start={first}&end={last}&step=60",
                url_encode(&query)
            ),
        );
        assert!(
            result.as_array().is_some_and(|series| !series.is_empty()),
            "no data over the backfilled range: {query}"
        );
    }
}

/// The expression of the shipped alert `name`.
fn alert_expr(name: &str) -> String {
    let text = std::fs::read_to_string(Path::new(REPO).join("rules/accesslog.alerts.yml")).unwrap();
    let rules: Value = yaml_serde::from_str(&text).unwrap();
    (rules["groups"].as_array().unwrap().iter())
        .flat_map(|group| group["rules"].as_array().unwrap())
        .find(|rule| rule["alert"] == name)
        .and_then(|rule| rule["expr"].as_str())
        .unwrap()
        .to_owned()
}

/// Bad input is one line: a file that is no log (exit 1), an output that cannot be written
/// (exit 1), a step under a second (exit 2).
#[test]
fn bad_backfill_input_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(
        &log,
        "10.0.0.1 - - [24/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5\n",
    )
    .unwrap();
    let binary_file = dir.path().join("image.log");
    std::fs::write(&binary_file, [0u8, 159, 146, 150, 10, 1, 2, 3]).unwrap();
    let output = dir.path().join("out.om");
    for (args, code, says) in [
        (
            vec![
                binary_file.to_str().unwrap(),
                "--output",
                output.to_str().unwrap(),
            ],
            1,
            "not an access log",
        ),
        (
            vec![log.to_str().unwrap(), "--output", "/nonexistent/dir/out.om"],
            1,
            "/nonexistent/dir/out.om",
        ),
        (
            vec![
                log.to_str().unwrap(),
                "--output",
                output.to_str().unwrap(),
                "--step",
                "500ms",
            ],
            2,
            "--step",
        ),
        (
            vec![
                log.to_str().unwrap(),
                "--output",
                output.to_str().unwrap(),
                "--step",
                "0s",
            ],
            2,
            "--step",
        ),
    ] {
        let err = one_line_error(Command::new(binary()).arg("backfill").args(&args), code);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    run(Command::new(binary()).args(["backfill", log.to_str().unwrap(), "--output", "-"]));
}
