//! A real nginx (Debian's `nginx-light`), real traffic (`ab`, curl, raw sockets) and real
//! logrotate (issue 16). nginx writes every request to two logs in two formats, and to an
//! unrotated copy of each; the exporter follows the two logs through a `create` rotation and a
//! `copytruncate` one while traffic runs, and its counts per section, method and status, and
//! its histograms, are compared with `--one-shot` over the copies: equal after `create`, and
//! after `copytruncate` short by at most the lines written while logrotate ran.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::nginx::*;
use common::*;

/// nginx's `combined` with the request and upstream times.
const TIMED: &str = accesslog_exporter::generate::NGINX_TIMED_FORMAT;

/// The metric families a log's lines make, compared between the followed log and its copy.
const FAMILIES: [&str; 6] = [
    "accesslog_http_requests_total",
    "accesslog_http_request_duration_seconds",
    "accesslog_http_upstream_duration_seconds",
    "accesslog_http_response_size_bytes",
    "accesslog_parse_errors_total",
    "accesslog_lines_read_total",
];

/// nginx writing every request to two logs in two formats and to an unrotated copy of each.
fn start(nginx: &Path, prefix: &Path) -> Nginx {
    let (port, backend, refused) = (free_port(), free_port(), free_port());
    let p = prefix.display();
    let config = format!(
        "{main}http {{\n{temp}\
         log_format timed '{TIMED}';\n\
         access_log {p}/logs/access.log;\naccess_log {p}/logs/access.copy.log;\n\
         access_log {p}/logs/timed.log timed;\naccess_log {p}/logs/timed.copy.log timed;\n\
         upstream flaky {{ server 127.0.0.1:{refused}; server 127.0.0.1:{backend}; }}\n\
         server {{\n  listen 127.0.0.1:{port};\n  location / {{ return 200 \"ok\\n\"; }}\n\
           location /up/ {{ proxy_pass http://flaky; }}\n}}\n\
         server {{ listen 127.0.0.1:{backend}; access_log off; \
           location / {{ return 200 \"backend\\n\"; }} }}\n}}\n",
        main = main_directives(prefix),
        temp = temp_paths(prefix),
    );
    let config_path = prefix.join("nginx.conf");
    std::fs::write(&config_path, config).unwrap();
    Nginx::spawn(nginx, prefix, &config_path, port)
}

/// One round of what real clients send: keep-alive load, every common method, an
/// absolute-form target, percent-encoding, quotes and backslashes in the user agent, Basic
/// auth users with spaces and brackets, a failing upstream (a list of upstream times), a
/// request line with two spaces, a malformed one and a 414.
fn round_of_traffic(nginx: &Nginx) {
    ab(&["-k", "-n", "300", "-c", "4", &nginx.url("/api/users")]);
    ab(&[
        "-n",
        "50",
        "-c",
        "2",
        "-m",
        "DELETE",
        &nginx.url("/items/7"),
    ]);
    curl(&["-I", &nginx.url("/head/x")]);
    curl(&["-X", "POST", "-d", "a=1", &nginx.url("/api/orders")]);
    curl(&["-X", "PUT", "-d", "b=2", &nginx.url("/api/orders/1")]);
    curl(&[
        "--request-target",
        "http://my.site.com/pages/create",
        &nginx.url("/"),
    ]);
    curl(&[&nginx.url("/caf%C3%A9/menu?x=%22y%22")]);
    curl(&["-A", "agent \"quoted\" \\ slash", &nginx.url("/agents/x")]);
    curl(&["-u", "bob smith:pw", &nginx.url("/api/users")]);
    curl(&["-u", "x] [y:pw", &nginx.url("/secret/x")]);
    curl(&[&nginx.url("/up/stream")]);
    curl(&[&nginx.url(&format!("/{}", "a".repeat(9000)))]);
    let answer = nginx.raw(b"GET  /two-spaces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = nginx.raw(b"GARBAGE\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

/// The series of [`FAMILIES`] in an exposition, by name and labels.
fn series(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| FAMILIES.iter().any(|family| line.starts_with(family)))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// What `--one-shot` counts in `log` read with `format`.
fn one_shot(log: &Path, format: &str) -> BTreeMap<String, f64> {
    let output = Command::new(binary())
        .arg("--log-file")
        .arg(log)
        .args(["--one-shot", "--format", format])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    series(&String::from_utf8_lossy(&output.stdout))
}

fn lines_in(path: &Path) -> usize {
    std::fs::read(path)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Whether two sets of series are equal: counts exactly, sums within float rounding (the
/// followed log may be read in another order across a rotation).
fn same(live: &BTreeMap<String, f64>, copy: &BTreeMap<String, f64>) -> bool {
    live.len() == copy.len()
        && live
            .iter()
            .zip(copy)
            .all(|((a, x), (b, y))| a == b && (x - y).abs() <= 1e-9 * x.abs().max(1.0))
}

/// A followed log of nginx and the exporter following it.
struct Followed {
    name: &'static str,
    format: String,
    exporter: Exporter,
}

impl Followed {
    fn live(&self) -> BTreeMap<String, f64> {
        series(&self.exporter.scrape())
    }

    fn copy(&self, nginx: &Nginx) -> BTreeMap<String, f64> {
        one_shot(&nginx.log(&format!("{}.copy.log", self.name)), &self.format)
    }

    /// Waits until the exporter has counted what the copy holds.
    fn wait_equal(&self, nginx: &Nginx) {
        let copy = self.copy(nginx);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let live = self.live();
            if same(&live, &copy) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: live and copy differ:\nlive {live:#?}\ncopy {copy:#?}",
                self.name
            );
            std::thread::yield_now();
        }
    }
}

/// Runs logrotate with `config` while `ab` sends `requests` requests; returns how many lines
/// nginx wrote to the copy of the access log while logrotate ran.
fn rotate_under_traffic(nginx: &Nginx, logrotate: &Path, config: &Path, requests: usize) -> usize {
    let url = nginx.url("/during/rotation");
    let requests = requests.to_string();
    let traffic = std::thread::spawn(move || ab(&["-k", "-n", &requests, "-c", "2", &url]));
    // Rotate once the traffic is under way.
    let copy = nginx.log("access.copy.log");
    let before_start = lines_in(&copy);
    while lines_in(&copy) < before_start + 200 {
        std::thread::yield_now();
    }
    let before = lines_in(&copy);
    let state = nginx.prefix.join("logrotate.state");
    let output = Command::new(logrotate)
        .arg("--force")
        .arg("--state")
        .arg(&state)
        .arg(config)
        .output()
        .expect("logrotate");
    let during = lines_in(&copy) - before;
    assert!(output.status.success(), "logrotate: {output:?}");
    traffic.join().unwrap();
    during
}

#[test]
fn a_real_nginx_through_real_logrotate_is_counted_as_its_unrotated_copy() {
    let (Some(nginx_binary), Some(logrotate), Some(_), Some(_)) = (
        in_sbin("nginx"),
        in_sbin("logrotate"),
        require_program("ab"),
        require_program("curl"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nginx = start(&nginx_binary, dir.path());
    let follow = |name: &'static str, format: String| Followed {
        exporter: Exporter::start([
            "--log-file".as_ref(),
            nginx.log(&format!("{name}.log")).as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
        ]),
        name,
        format,
    };
    let logs = [
        follow("access", "combined".into()),
        follow("timed", format!("nginx:{TIMED}")),
    ];

    round_of_traffic(&nginx);
    for log in &logs {
        log.wait_equal(&nginx);
    }
    let copy = logs[1].copy(&nginx);
    // What nginx really wrote: the user with spaces and brackets, the two-space request, the
    // absolute-form target, the failing upstream's list of times, the 414's cut label.
    for section in [
        "/api",
        "/secret",
        "/two-spaces",
        "/pages",
        "/caf%C3%A9",
        "/up",
    ] {
        let series = format!(
            "accesslog_http_requests_total{{method=\"GET\",section=\"{section}\",status=\"200\"}}"
        );
        assert!(copy.contains_key(&series), "{series} in {copy:#?}");
    }
    // Every line nginx wrote is a request, in both formats.
    for log in &logs {
        let copy = log.copy(&nginx);
        let errors: f64 = (copy.iter())
            .filter(|(series, _)| series.starts_with("accesslog_parse_errors_total"))
            .map(|(_, value)| value)
            .sum();
        assert_eq!(errors, 0.0, "{}: {copy:#?}", log.name);
    }
    assert!(copy
        .keys()
        .any(|key| key.contains("status=\"414\"") && key.contains('…')));
    assert_eq!(
        copy[r#"accesslog_http_upstream_duration_seconds_count{method="GET",section="/up",status_class="2xx"}"#],
        1.0
    );

    // create: rename, then nginx reopens on USR1. Exact.
    let p = nginx.prefix.display();
    let create = nginx.prefix.join("create.conf");
    std::fs::write(
        &create,
        format!(
            "{p}/logs/access.log {p}/logs/timed.log {{\n  rotate 5\n  create\n  sharedscripts\n\
             prerotate\n    wc -l < {p}/logs/access.log > {p}/access.before\n  endscript\n\
             postrotate\n    kill -USR1 $(cat {p}/nginx.pid)\n  endscript\n}}\n"
        ),
    )
    .unwrap();
    rotate_under_traffic(&nginx, &logrotate, &create, 3000);
    round_of_traffic(&nginx);
    for log in &logs {
        log.wait_equal(&nginx);
    }
    let before: usize = std::fs::read_to_string(nginx.prefix.join("access.before"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let into_renamed = lines_in(&nginx.log("access.log.1")) - before;
    let requests = lines_in(&nginx.log("access.copy.log"));

    // copytruncate: copy, then truncate in place. Short by at most the lines written while
    // logrotate ran.
    let copytruncate = nginx.prefix.join("copytruncate.conf");
    std::fs::write(
        &copytruncate,
        format!("{p}/logs/access.log {p}/logs/timed.log {{\n  rotate 5\n  copytruncate\n}}\n"),
    )
    .unwrap();
    let during = rotate_under_traffic(&nginx, &logrotate, &copytruncate, 3000);
    // A last request marks the end: once it is counted, so is every line before it.
    curl(&[&nginx.url("/end/mark")]);
    let mut lost = Vec::new();
    for log in &logs {
        let marked = r#"accesslog_http_requests_total{method="GET",section="/end",status="200"}"#;
        log.exporter.wait_for_value(marked, 1.0);
        let (live, copy) = (log.live(), log.copy(&nginx));
        let short = copy["accesslog_lines_read_total"] - live["accesslog_lines_read_total"];
        assert!(
            (0.0..=during as f64).contains(&short),
            "{}: {short} lines lost, {during} written while logrotate ran",
            log.name
        );
        for (series, &value) in &live {
            let counted = copy.get(series).copied().unwrap_or_default();
            assert!(
                value <= counted + 1e-9 * counted.max(1.0),
                "{}: {series} {value} live, {counted} in the copy",
                log.name
            );
        }
        lost.push(short);
    }
    // The lines of the window are in no file at all, for any reader.
    let in_files: usize = ["access.log", "access.log.1", "access.log.2"]
        .iter()
        .map(|name| lines_in(&nginx.log(name)))
        .sum();
    let in_no_file = lines_in(&nginx.log("access.copy.log")) - in_files;
    eprintln!(
        "{requests} requests before copytruncate; {into_renamed} lines written into the renamed \
         file before USR1; copytruncate: {during} lines written while logrotate ran, \
         {in_no_file} of them in no file; lost by the exporter {lost:?} (access, timed)"
    );
}
