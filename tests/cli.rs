//! The binary as a user meets it: one-shot output, errors, the HTTP endpoints, shutdown.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

fn run(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A log with every kind of line the parser meets, in all three formats.
fn mixed_log() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.log");
    let mut body: Vec<u8> = Vec::new();
    body.extend_from_slice(b"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326\n");
    body.extend_from_slice(b"::1 - - [10/Oct/2000:13:55:37 -0700] \"POST /api/user?id=3 HTTP/1.1\" 201 - \"-\" \"curl/8\"\r\n");
    body.extend_from_slice(b"10.0.0.1 - - [10/Oct/2000:13:55:38 -0700] \"GET http://my.site.com/pages/create HTTP/1.1\" 404 12 \"-\" \"a \\\"b\\\"\"\n");
    body.extend_from_slice(b"10.0.0.2 - - [10/Oct/2000:13:55:39 -0700] \"-\" 408 0 \"-\" \"-\"\n");
    body.extend_from_slice(
        b"10.0.0.3 - - [10/Oct/2000:13:55:40 -0700] \"GET /caf\xe9\xff/x HTTP/1.1\" 200 1\n",
    );
    body.extend_from_slice(b"not an access log line\n");
    body.extend_from_slice(
        b"#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n",
    );
    body.extend_from_slice(
        b"#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes time-taken\n",
    );
    body.extend_from_slice(b"2000-10-10 20:55:41 10.0.0.4 GET /api/order 500 99 1500\n");
    body.extend_from_slice(b"2000-10-10 20:55:42 10.0.0.4 GET /api/order 200 1 40");
    fs::write(&path, body).unwrap();
    (dir, path)
}

#[test]
fn one_shot_prints_the_metrics_of_the_whole_file() {
    let (_dir, path) = mixed_log();
    let output = run(&[
        "--one-shot",
        "--log-file",
        path.to_str().unwrap(),
        "--threshold",
        "7.5",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text =
        String::from_utf8(output.stdout).expect("the exposition is UTF-8 whatever the log holds");
    for (series, want) in [
        (r#"accesslog_http_requests_total{method="GET",section="/apache_pb.gif",status="200"}"#, 1.0),
        (r#"accesslog_http_requests_total{method="POST",section="/api",status="201"}"#, 1.0),
        (r#"accesslog_http_requests_total{method="GET",section="/pages",status="404"}"#, 1.0),
        (r#"accesslog_http_requests_total{method="(invalid)",section="(invalid)",status="408"}"#, 1.0),
        ("accesslog_http_requests_total{method=\"GET\",section=\"/caf\u{fffd}\u{fffd}\",status=\"200\"}", 1.0),
        (r#"accesslog_http_requests_total{method="GET",section="/api",status="500"}"#, 1.0),
        (r#"accesslog_http_requests_total{method="GET",section="/api",status="200"}"#, 1.0),
        (r#"accesslog_http_request_duration_seconds_sum{method="GET",section="/api",status_class="5xx"}"#, 1.5),
        (r#"accesslog_http_request_duration_seconds_count{method="GET",section="/api",status_class="2xx"}"#, 1.0),
        (r#"accesslog_parse_errors_total{reason="syntax"}"#, 1.0),
        ("accesslog_directives_total", 3.0),
        ("accesslog_lines_read_total", 11.0),
        ("accesslog_alert_threshold_requests_per_second", 7.5),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series}\n{text}");
    }
    assert_eq!(sum(&text, "accesslog_http_requests_total"), 7.0);
    assert_eq!(
        value(&text, "accesslog_bytes_read_total"),
        Some(fs::metadata(&path).unwrap().len() as f64)
    );
}

#[test]
fn promtool_accepts_the_exposition() {
    let (_dir, path) = mixed_log();
    let named = format!("site={}", path.display());
    // Every label: with `--host-label` (hosts from absolute-form targets) and a named log.
    for args in [
        vec!["--one-shot", "--log-file", path.to_str().unwrap()],
        vec!["--one-shot", "--log-file", &named, "--host-label"],
    ] {
        let output = run(&args);
        if args.contains(&"--host-label") {
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(
                text.contains(r#"{host="my.site.com",log="site",method="GET",section="/pages""#),
                "{text}"
            );
            assert!(
                text.contains(r#"{host="",log="site",method="POST",section="/api""#),
                "{text}"
            );
        }
        promtool_accepts(&output.stdout);
    }
}

#[test]
fn one_shot_on_a_missing_file_is_one_clear_line() {
    let err = one_line_error(
        Command::new(binary()).args(["--one-shot", "--log-file", "/nonexistent/access.log"]),
        1,
    );
    assert!(
        err.starts_with("accesslog-exporter: /nonexistent/access.log: "),
        "{err}"
    );
}

#[test]
fn bad_flag_values_are_one_line_and_exit_2() {
    for args in [
        &["--max-sections", "abc"][..],
        &["--format", "xml"],
        &[
            "--format",
            "nginx:$remote_addr [$time_local] \"$request\" $status $bytes_sent $colour",
        ],
        &["--format", "apache:%h %t \\\"%r\\\" %>s"],
        &["--format", "json:status"],
        &["--max-sections", "0"],
        &["--web.telemetry-path", "metrics"],
        &["--poll-interval", "soon"],
        &["--web.listen-address", "nohost"],
        &["--no-such-flag"],
    ] {
        let output = run(args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("accesslog-exporter: "), "{args:?}: {err}");
        let flag = args[0];
        assert!(err.contains(flag), "{args:?} should name {flag}: {err}");
    }
}

#[test]
fn a_format_string_error_points_at_the_variable() {
    let output = run(&[
        "--format",
        "nginx:$remote_addr [$time_local] \"$request\" $status $bytes_sent $colour",
    ]);
    assert_eq!(
        stderr(&output).trim_end(),
        "accesslog-exporter: --format: $colour (byte 64) is not an nginx variable this exporter knows"
    );
}

#[test]
fn nginx_and_json_logs_are_followed_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let nginx_log = dir.path().join("nginx.log");
    let json_log = dir.path().join("json.log");
    fs::write(&nginx_log, "").unwrap();
    fs::write(&json_log, "").unwrap();
    let nginx = format!("nginx:{NGINX_TIMED}");
    let served = [
        (nginx.as_str(), &nginx_log),
        ("json:status=code,bytes=size", &json_log),
    ]
    .map(|(format, log)| {
        let mut exporter =
            Exporter::start(["--format", format, "--log-file", log.to_str().unwrap()]);
        exporter.wait_for_stderr("following");
        exporter
    });
    append(
        &nginx_log,
        "192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] \"GET /api/a HTTP/1.1\" 200 10 \"-\" \"curl\" 0.300 0.100, 0.150\n\
         192.0.2.1 - - [24/Nov/2026:10:00:01 +0000] \"GET /img/b.png HTTP/1.1\" 304 0 \"-\" \"curl\" 0.000 -\n\
         not a line of that format\n",
    );
    append(
        &json_log,
        "{\"time\":\"2026-11-24T10:00:00+00:00\",\"method\":\"POST\",\"path\":\"/api/b\",\"code\":503,\"size\":7,\"request_time\":2.5}\n",
    );
    let text = served[0].wait_for_value("accesslog_lines_read_total", 3.0);
    for (series, want) in [
        (
            r#"accesslog_http_requests_total{method="GET",section="/api",status="200"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_requests_total{method="GET",section="/img",status="304"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_request_duration_seconds_sum{method="GET",section="/api",status_class="2xx"}"#,
            0.3,
        ),
        (
            r#"accesslog_http_upstream_duration_seconds_sum{method="GET",section="/api",status_class="2xx"}"#,
            0.25,
        ),
        (
            r#"accesslog_http_upstream_duration_seconds_count{method="GET",section="/api",status_class="2xx"}"#,
            1.0,
        ),
        (r#"accesslog_parse_errors_total{reason="syntax"}"#, 1.0),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series}\n{text}");
    }
    let text = served[1].wait_for_value("accesslog_lines_read_total", 1.0);
    for (series, want) in [
        (
            r#"accesslog_http_requests_total{method="POST",section="/api",status="503"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_response_size_bytes_sum{method="POST",section="/api",status_class="5xx"}"#,
            7.0,
        ),
        (
            r#"accesslog_http_request_duration_seconds_sum{method="POST",section="/api",status_class="5xx"}"#,
            2.5,
        ),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series}\n{text}");
    }
}

#[test]
fn help_and_version_exit_0() {
    let help = run(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--log-file",
        "--format",
        "--web.listen-address",
        "--web.telemetry-path",
        "--one-shot",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
    assert!(run(&["--version"]).status.success());
}

#[test]
fn a_port_in_use_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let output = run(&[
        "--log-file",
        log.to_str().unwrap(),
        "--web.listen-address",
        &address,
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.contains(&format!("--web.listen-address {address}")) && last.contains("in use"),
        "{err}"
    );
}

#[test]
fn an_unreadable_log_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path().join("access.log");
    fs::write(&log, "").unwrap();
    fs::set_permissions(&log, fs::Permissions::from_mode(0o000)).unwrap();
    let err = one_line_error(
        unprivileged_command().args([
            "--log-file",
            log.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
        ]),
        1,
    );
    assert!(
        err.contains(log.to_str().unwrap()) && err.contains("ermission denied"),
        "{err}"
    );
}

#[test]
fn landing_page_links_to_metrics_and_unknown_paths_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let exporter = Exporter::start([
        "--log-file",
        log.to_str().unwrap(),
        "--web.telemetry-path",
        "/stats",
    ]);
    let (status, page) = exporter.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<a href=\"/stats\">"), "{page}");
    assert_eq!(exporter.get("/stats").0, 200);
    assert_eq!(exporter.get("/metrics").0, 404);
}

#[test]
fn sigterm_and_sigint_stop_it_within_a_second() {
    for signal in ["TERM", "INT"] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        let mut exporter = Exporter::start(["--log-file", log.to_str().unwrap()]);
        // An idle keep-alive connection must not hold up the shutdown.
        let mut idle = std::net::TcpStream::connect(exporter.address).unwrap();
        write!(idle, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let (status, elapsed) = exporter
            .signal_and_wait(signal, Duration::from_secs(1))
            .unwrap_or_else(|| panic!("still running a second after SIG{signal}"));
        assert!(
            status.success(),
            "SIG{signal}: {status:?} after {elapsed:?}"
        );
    }
}

#[test]
fn generated_logs_of_every_format_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = format!("nginx:{NGINX_TIMED}");
    for (format, read_as, directives) in [
        ("common", "auto", 0.0),
        ("combined", "auto", 0.0),
        ("w3c", "auto", 3.0),
        ("nginx", nginx.as_str(), 0.0),
        ("json", "json", 0.0),
    ] {
        let path = dir.path().join(format!("{format}.log"));
        let path = path.to_str().unwrap();
        let generated = run(&[
            "generate",
            "--format",
            format,
            "--output",
            path,
            "--count",
            "500",
            "--seed",
            "3",
            "--profile",
            "steady",
            "--rate",
            "50",
        ]);
        assert!(generated.status.success(), "{}", stderr(&generated));
        let output = run(&["--one-shot", "--format", read_as, "--log-file", path]);
        assert!(output.status.success(), "{}", stderr(&output));
        let text = String::from_utf8(output.stdout).unwrap();
        assert_eq!(
            sum(&text, "accesslog_http_requests_total"),
            500.0,
            "{format}"
        );
        assert_eq!(sum(&text, "accesslog_parse_errors_total"), 0.0, "{format}");
        assert_eq!(
            sum(&text, "accesslog_directives_total"),
            directives,
            "{format}"
        );
        let timed = sum(&text, "accesslog_http_request_duration_seconds_count");
        assert_eq!(
            timed > 490.0,
            ["w3c", "nginx", "json"].contains(&format),
            "{format}: {timed} with a duration"
        );
    }
}

/// nginx's `combined` with the request and upstream times, as `generate --format nginx` writes.
const NGINX_TIMED: &str = accesslog_exporter::generate::NGINX_TIMED_FORMAT;

#[test]
fn rotated_gzip_logs_are_read_by_one_shot_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("access.log.1");
    let generated = run(&[
        "generate",
        "--format",
        "combined",
        "--output",
        plain.to_str().unwrap(),
        "--count",
        "3000",
        "--seed",
        "5",
        "--profile",
        "steady",
        "--rate",
        "20",
    ]);
    assert!(generated.status.success(), "{}", stderr(&generated));
    // As logrotate's `compress` does: gzip replaces access.log.1 with access.log.1.gz.
    fs::copy(&plain, dir.path().join("kept.log")).unwrap();
    let gzip = Command::new("gzip")
        .arg(&plain)
        .status()
        .expect("gzip is installed");
    assert!(gzip.success());
    let (kept, compressed) = (
        dir.path().join("kept.log"),
        dir.path().join("access.log.1.gz"),
    );
    let read = |args: &[&str], path: &std::path::Path| {
        let output = run(&[args, &[path.to_str().unwrap()]].concat());
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        String::from_utf8(output.stdout).unwrap()
    };
    let one_shot = read(&["--one-shot", "--log-file"], &compressed);
    assert_eq!(sum(&one_shot, "accesslog_http_requests_total"), 3000.0);
    assert_eq!(one_shot, read(&["--one-shot", "--log-file"], &kept));
    let replayed = read(&["replay"], &compressed);
    assert!(
        replayed.contains("High traffic generated an alert"),
        "{replayed}"
    );
    assert_eq!(replayed, read(&["replay"], &kept));

    // Cut short, as a copy interrupted mid-way leaves it.
    let bytes = fs::read(&compressed).unwrap();
    let truncated = dir.path().join("truncated.log.gz");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = one_line_error(
        Command::new(binary()).args(["--one-shot", "--log-file", truncated.to_str().unwrap()]),
        1,
    );
    assert!(
        err.contains("truncated.log.gz: cannot read the log file"),
        "{err}"
    );
}

/// Two logs an nginx configuration declares in different formats count under their servers'
/// names, each read with its own `log_format`; what cannot be followed is said, not skipped
/// silently.
#[test]
fn nginx_config_logs_count_under_their_servers_with_their_own_formats() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let shop = root.join("shop.log");
    let blog = root.join("blog.log");
    fs::write(
        root.join("nginx.conf"),
        format!(
            r#"events {{}}
http {{
    log_format timed '$remote_addr - $remote_user [$time_local] '
                     '"$request" $status $body_bytes_sent $request_time';
    server {{
        server_name _ shop.example;
        access_log {} timed;
        access_log syslog:server=127.0.0.1:5514;
    }}
    server {{
        server_name blog.example;
        access_log {};
        location /private {{ access_log off; }}
    }}
}}
"#,
            shop.display(),
            blog.display()
        ),
    )
    .unwrap();
    fs::write(
        &shop,
        "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /cart/1 HTTP/1.1\" 200 10 0.250\n\
         10.0.0.1 - - [10/Oct/2000:13:55:37 -0700] \"GET /cart/2 HTTP/1.1\" 200 10 0.750\n",
    )
    .unwrap();
    fs::write(
        &blog,
        "10.0.0.2 - - [10/Oct/2000:13:55:36 -0700] \"GET /posts/1 HTTP/1.1\" 404 5 \"-\" \"curl/8\"\n",
    )
    .unwrap();
    let config = root.join("nginx.conf");
    let output = run(&["--one-shot", "--nginx.config", config.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    for (series, want) in [
        (
            r#"accesslog_http_requests_total{log="shop.example",method="GET",section="/cart",status="200"}"#,
            2.0,
        ),
        (
            r#"accesslog_http_requests_total{log="blog.example",method="GET",section="/posts",status="404"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_request_duration_seconds_sum{log="shop.example",method="GET",section="/cart",status_class="2xx"}"#,
            1.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series}\n{text}");
    }
    assert_eq!(sum(&text, "accesslog_parse_errors_total"), 0.0, "{text}");
    let said = stderr(&output);
    assert!(
        said.contains("nginx.conf:8") && said.contains("syslog:server=127.0.0.1:5514"),
        "{said}"
    );
}

/// A configuration nginx would refuse is one line naming the file, line and column.
#[test]
fn a_bad_nginx_config_is_one_line_naming_where() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nginx.conf");
    fs::write(&config, "http {\n    access_log /var/log/x.log\n}\n").unwrap();
    let err = one_line_error(
        Command::new(binary()).args(["--one-shot", "--nginx.config", config.to_str().unwrap()]),
        2,
    );
    assert!(err.contains("--nginx.config"), "{err}");
    assert!(err.contains(&format!("{}:2:5", config.display())), "{err}");
    assert!(err.contains("without \";\""), "{err}");

    fs::write(&config, "http { access_log off; }\n").unwrap();
    let err = one_line_error(
        Command::new(binary()).args(["--one-shot", "--nginx.config", config.to_str().unwrap()]),
        2,
    );
    assert!(err.contains("declares no access log"), "{err}");

    let err = one_line_error(
        Command::new(binary()).args(["--one-shot", "--nginx.config", "/nonexistent/nginx.conf"]),
        2,
    );
    assert!(err.contains("/nonexistent/nginx.conf"), "{err}");
}
