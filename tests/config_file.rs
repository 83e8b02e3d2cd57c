//! `--config.file`: logs named in YAML, each with its format and labels; a named glob is one
//! log whatever its number of files; a tag entry is a syslog log; errors say where.

mod common;

use std::fs;
use std::net::UdpSocket;
use std::process::Command;

use common::*;

#[test]
fn a_named_glob_is_one_log_with_its_labels_through_files_coming_and_going() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    fs::write(path("shop.access.log"), "").unwrap();
    fs::write(path("blog.access.log"), "").unwrap();
    fs::write(path("timed.log"), "").unwrap();
    let config = path("logs.yml");
    fs::write(
        &config,
        format!(
            "logs:\n\
             \x20 - name: vhosts\n\
             \x20   path: {dir}/*.access.log\n\
             \x20   labels: {{team: web, tier: \"1\"}}\n\
             \x20 - path: {dir}/timed.log\n\
             \x20   format: 'nginx:$remote_addr [$time_local] \"$request\" $status $body_bytes_sent $request_time'\n\
             \x20 - name: feed\n\
             \x20   tag: shopfeed\n\
             \x20   format: combined\n\
             \x20   labels: {{team: shop}}\n",
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let mut exporter = Exporter::start([
        "--config.file".as_ref(),
        config.as_os_str(),
        "--syslog.listen-address".as_ref(),
        "udp://127.0.0.1:0".as_ref(),
        "--rotate-wait".as_ref(),
        "1s".as_ref(),
        "--poll-interval".as_ref(),
        "50ms".as_ref(),
    ]);
    let bound = exporter.wait_for_stderr("receiving syslog on ");
    let syslog = bound.rsplit("udp://").next().unwrap().to_owned();
    exporter.wait_for_stderr("shop.access.log from byte");
    exporter.wait_for_stderr("blog.access.log from byte");

    let vhosts = |section: &str| {
        format!(
            "accesslog_http_requests_total{{log=\"vhosts\",team=\"web\",tier=\"1\",method=\"GET\",section=\"/{section}\",status=\"200\"}}"
        )
    };
    append(&path("shop.access.log"), &lines("api", 30));
    append(&path("blog.access.log"), &lines("api", 12));
    exporter.wait_for_value(&vhosts("api"), 42.0);
    // A file that appears joins the log.
    fs::write(path("docs.access.log"), lines("api", 8)).unwrap();
    exporter.wait_for_value(&vhosts("api"), 50.0);
    // A file let go leaves the log and its counts to the others.
    fs::remove_file(path("blog.access.log")).unwrap();
    exporter.wait_for_stderr("blog.access.log matches --log-file no more; let go");
    append(&path("shop.access.log"), &lines("api", 1));
    exporter.wait_for_value(&vhosts("api"), 51.0);
    exporter.wait_for_value(
        r#"accesslog_lines_read_total{log="vhosts",team="web",tier="1"}"#,
        51.0,
    );

    append(
        &path("timed.log"),
        "10.0.0.1 [10/Oct/2000:13:55:36 -0700] \"GET /slow/x HTTP/1.1\" 200 5 1.500\n",
    );
    exporter.wait_for_value(
        r#"accesslog_http_request_duration_seconds_sum{log="timed",method="GET",section="/slow",status_class="2xx"}"#,
        1.5,
    );

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let line =
        "10.0.0.2 - - [10/Oct/2000:13:55:36 -0700] \"GET /cart/x HTTP/1.1\" 200 5 \"-\" \"curl\"";
    socket
        .send_to(
            format!("<190>Dec  3 06:00:00 web1 shopfeed: {line}").as_bytes(),
            &syslog,
        )
        .unwrap();
    let text = exporter.wait_for_value(
        r#"accesslog_http_requests_total{log="feed",team="shop",method="GET",section="/cart",status="200"}"#,
        1.0,
    );
    assert_eq!(sum(&text, "accesslog_parse_errors_total"), 0.0, "{text}");
    promtool_accepts(text.as_bytes());
}

#[test]
fn one_shot_counts_a_named_glob_as_one_log() {
    let dir = tempfile::tempdir().unwrap();
    for (name, count) in [("a", 3), ("b", 4)] {
        fs::write(
            dir.path().join(format!("{name}.access.log")),
            lines("api", count),
        )
        .unwrap();
    }
    let config = dir.path().join("logs.yml");
    fs::write(
        &config,
        format!(
            "logs:\n  - name: all\n    path: {}/*.access.log\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let output = Command::new(binary())
        .args(["--one-shot", "--config.file", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        value(
            &text,
            r#"accesslog_http_requests_total{log="all",method="GET",section="/api",status="200"}"#
        ),
        Some(7.0),
        "{text}"
    );
}

/// Errors are one line naming the file, line and column; a name the flags and the file both
/// give is refused.
#[test]
fn config_file_errors_are_one_line_with_where() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("logs.yml");
    fs::write(&config, "logs:\n  - path: /a.log\n    labels: {le: x}\n").unwrap();
    let err = one_line_error(
        Command::new(binary()).args(["--one-shot", "--config.file", config.to_str().unwrap()]),
        2,
    );
    assert!(
        err.starts_with(&format!(
            "accesslog-exporter: --config.file: {}:3:14: ",
            config.display()
        )),
        "{err}"
    );

    fs::write(&config, "logs:\n  - name: shop\n    path: /a.log\n").unwrap();
    let err = one_line_error(
        Command::new(binary()).args([
            "--one-shot",
            "--log-file",
            "shop=/b.log",
            "--config.file",
            config.to_str().unwrap(),
        ]),
        2,
    );
    assert!(err.contains("\"shop\" is given to two logs"), "{err}");
}
