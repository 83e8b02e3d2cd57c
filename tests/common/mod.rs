//! A small harness that runs the built binary and scrapes it over real HTTP.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

pub mod nginx;

/// How long a test waits for something the exporter should do well within a second.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_accesslog-exporter")
}

/// A running exporter, killed when dropped.
pub struct Exporter {
    child: Child,
    pub address: SocketAddr,
    stderr: Receiver<String>,
    pub stderr_seen: Vec<String>,
}

impl Exporter {
    /// Starts the exporter on a free loopback port and waits until it says it is listening.
    pub fn start<I, S>(args: I) -> Exporter
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Exporter::start_command(Command::new(binary()), args)
    }

    /// [`Exporter::start`] as an unprivileged user (nobody) when the tests run as root, who
    /// reads every file whatever its mode, as a packaged service would run.
    pub fn start_unprivileged<I, S>(args: I) -> Exporter
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Exporter::start_command(unprivileged_command(), args)
    }

    /// [`Exporter::start`] with its stdout going to `stdout`.
    pub fn start_with_stdout<I, S>(args: I, stdout: Stdio) -> Exporter
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(binary());
        command.stdin(Stdio::null());
        Exporter::start_command_with(command, args, stdout)
    }

    pub fn start_command<I, S>(mut command: Command, args: I) -> Exporter
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        command.stdin(Stdio::null());
        Exporter::start_command_with(command, args, Stdio::null())
    }

    /// [`Exporter::start`] reading what is written to the pipe returned beside it.
    pub fn start_with_stdin<I, S>(args: I) -> (Exporter, std::process::ChildStdin)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(binary());
        command.stdin(Stdio::piped());
        let mut exporter = Exporter::start_command_with(command, args, Stdio::null());
        let stdin = exporter.child.stdin.take().unwrap();
        (exporter, stdin)
    }

    /// Starts `command` with `args`; its stdin is the caller's to set.
    fn start_command_with<I, S>(mut command: Command, args: I, stdout: Stdio) -> Exporter
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = command
            .args(args)
            .args(["--web.listen-address", "127.0.0.1:0"])
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the exporter");
        let (tx, stderr) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut exporter = Exporter {
            child,
            address: "0.0.0.0:0".parse().unwrap(),
            stderr,
            stderr_seen: Vec::new(),
        };
        let line = exporter.wait_for_stderr("listening on http");
        let address = line.split("://").nth(1).unwrap().split('/').next().unwrap();
        exporter.address = address.parse().unwrap();
        exporter
    }

    /// Waits for a stderr line containing `needle` (and returns it), keeping all lines seen.
    pub fn wait_for_stderr(&mut self, needle: &str) -> String {
        if let Some(line) = self.stderr_seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.stderr_seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no stderr line with {needle:?}; saw {:#?}",
                    self.stderr_seen
                ),
            }
        }
    }

    /// The next stderr line within `limit`, kept with the others seen.
    pub fn next_stderr_line(&mut self, limit: Duration) -> Option<String> {
        let line = self.stderr.recv_timeout(limit).ok()?;
        self.stderr_seen.push(line.clone());
        Some(line)
    }

    /// GET `path` over a fresh connection; returns status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.address, path)
    }

    /// The metrics text of one scrape.
    pub fn scrape(&self) -> String {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Scrapes until `series` reads `want`; fails with the last scrape after [`PATIENCE`].
    pub fn wait_for_value(&self, series: &str, want: f64) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.scrape();
            if value(&text, series) == Some(want) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("{series} never reached {want}; last scrape:\n{text}");
            }
            // Nothing can be awaited over HTTP: re-scrape until the value shows or time is up.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Scrapes until the sum of every series of `name` reads `want`; fails with the last
    /// scrape after [`PATIENCE`].
    pub fn wait_for_value_sum(&self, name: &str, want: f64) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.scrape();
            if sum(&text, name) == want {
                return text;
            }
            if Instant::now() > deadline {
                panic!("{name} never summed to {want}; last scrape:\n{text}");
            }
            // Nothing can be awaited over HTTP: re-scrape until the value shows or time is up.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` and waits up to `limit` for the process to exit.
    pub fn signal_and_wait(
        &mut self,
        signal: &str,
        limit: Duration,
    ) -> Option<(ExitStatus, Duration)> {
        let sent = Instant::now();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status();
        assert!(status.unwrap().success());
        while sent.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some((status, sent.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.0 GET (so no server answers in chunks); the server closes the connection.
pub fn http_get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&address, PATIENCE).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// The value of one series (name with labels, exactly as exposed) in a scrape.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The sum of every series of `name`.
pub fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// The requests counter series for a GET of `section` answered 200.
pub fn get_200(section: &str) -> String {
    format!(r#"accesslog_http_requests_total{{method="GET",section="{section}",status="200"}}"#)
}

/// A Common Log Format line for a GET of `target` answered 200, with its newline.
pub fn clf(target: &str) -> String {
    format!("192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] \"GET {target} HTTP/1.1\" 200 512\n")
}

/// Appends `text` in one write, as a server does.
pub fn append(path: &Path, text: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// `count` CLF lines for targets `/{section}/{i}`.
pub fn lines(section: &str, count: usize) -> String {
    (0..count)
        .map(|i| clf(&format!("/{section}/{i}")))
        .collect()
}

/// Whether the tests run in CI, where every real component they use must be there.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// The path of `program` on PATH: in CI it must exist; elsewhere `None` skips with a reason.
pub fn require_program(program: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !in_ci(),
            "{program} is required in CI (install it in .ci/run)"
        );
        eprintln!("skipping: {program} is not installed");
    }
    found
}

/// The binary, run as nobody when the tests run as root (who reads every file whatever its
/// mode), as a packaged service would run.
pub fn unprivileged_command() -> Command {
    let id = Command::new("id").arg("-u").output().expect("id -u");
    if String::from_utf8_lossy(&id.stdout).trim() == "0" {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups", binary()]);
        command
    } else {
        Command::new(binary())
    }
}

/// What a finished process wrote to stderr.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `command` to its end, checks that it exited with `code` having said exactly one line
/// on stderr, and returns that line.
pub fn one_line_error(command: &mut Command, code: i32) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("run the binary");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(code), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

/// The peak resident memory of process `pid` so far, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// Checks `exposition` with `promtool check metrics`, where promtool is installed (in CI it
/// must be).
pub fn promtool_accepts(exposition: &[u8]) {
    let Some(promtool) = require_program("promtool") else {
        return;
    };
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(exposition).unwrap();
    let result = check.wait_with_output().unwrap();
    assert!(
        result.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

/// Every PromQL expression of the dashboard (panel targets and annotations), with Grafana's
/// variables replaced the way Grafana would for "All".
pub fn dashboard_queries() -> Vec<String> {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/accesslog.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for annotation in dashboard["annotations"]["list"].as_array().unwrap() {
        if let Some(expr) = annotation["expr"].as_str() {
            queries.push(expr.to_owned());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            // `label_values(SELECTOR, LABEL)`: the selector may hold commas of its own.
            let (metric, _label) = query
                .trim_start_matches("label_values(")
                .rsplit_once(',')
                .unwrap();
            queries.push(metric.to_owned());
        }
    }
    queries
        .into_iter()
        .map(|q| {
            q.replace("$job", ".*")
                .replace("$instance", ".*")
                .replace("$log", ".*")
                .replace("$section", ".*")
                .replace("$host", ".*")
                .replace("$__rate_interval", "1m")
        })
        .collect()
}

/// `text` percent-encoded for a URL's query.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
