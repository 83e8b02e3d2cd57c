//! Logs that are not files: stdin (`--log-file -`) and syslog (`--syslog.listen-address`),
//! fed by `logger` (util-linux) in both RFC formats, over UDP, TCP and a Unix socket.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Command, Stdio};

use common::*;

/// Lines a pipe delivers in torn pieces count once each; the end of input is said once and
/// what was counted stays served.
#[test]
fn stdin_lines_torn_across_writes_count_once_and_stay_served_after_its_end() {
    let (mut exporter, mut stdin) = Exporter::start_with_stdin(["--log-file", "-"]);
    exporter.wait_for_stderr("reading stdin");
    let mut written = 0;
    // Each line cut in two, the exporter seen to have read the first piece before the
    // second is written: the tear is real, not merged by the pipe.
    for (i, line) in lines("torn", 3).lines().enumerate() {
        let (head, tail) = line.split_at(10 + i * 17);
        stdin.write_all(head.as_bytes()).unwrap();
        written += head.len();
        exporter.wait_for_value("accesslog_bytes_read_total", written as f64);
        stdin.write_all(format!("{tail}\n").as_bytes()).unwrap();
        written += tail.len() + 1;
        exporter.wait_for_value("accesslog_lines_read_total", (i + 1) as f64);
    }
    // Many lines in pieces of 7 bytes, and a last one without its newline.
    let bulk = lines("bulk", 1000) + &clf("/last/x")[..60];
    for piece in bulk.as_bytes().chunks(7) {
        stdin.write_all(piece).unwrap();
    }
    exporter.wait_for_value(
        r#"accesslog_http_requests_total{method="GET",section="/bulk",status="200"}"#,
        1000.0,
    );
    drop(stdin);
    exporter.wait_for_stderr("stdin ended");
    let text = exporter.wait_for_value("accesslog_lines_read_total", 1004.0);
    assert_eq!(
        value(
            &text,
            r#"accesslog_http_requests_total{method="GET",section="/torn",status="200"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(value(&text, "accesslog_log_file_open"), Some(0.0), "{text}");
    // The last line, cut short, is read as what it is: a line that does not parse.
    assert_eq!(sum(&text, "accesslog_parse_errors_total"), 1.0, "{text}");
    let said = exporter
        .stderr_seen
        .iter()
        .filter(|l| l.contains("stdin"))
        .count();
    assert_eq!(said, 2, "{:#?}", exporter.stderr_seen);
}

/// Stdin beside a file: each is a log of its own, stdin's named `stdin` unless given a name.
#[test]
fn stdin_beside_a_file_is_a_log_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stdin.log");
    std::fs::write(&file, lines("file", 2)).unwrap();
    let (exporter, mut stdin) = Exporter::start_with_stdin([
        "--log-file".as_ref(),
        "-".as_ref(),
        "--log-file".as_ref(),
        file.as_os_str(),
        "--from-beginning".as_ref(),
    ]);
    stdin.write_all(lines("pipe", 5).as_bytes()).unwrap();
    exporter.wait_for_value(
        r#"accesslog_http_requests_total{log="stdin",method="GET",section="/pipe",status="200"}"#,
        5.0,
    );
    // The file whose name would be `stdin` takes its path.
    let series = format!(
        "accesslog_http_requests_total{{log=\"{}\",method=\"GET\",section=\"/file\",status=\"200\"}}",
        file.display()
    );
    exporter.wait_for_value(&series, 2.0);
}

/// `--one-shot --log-file -` reads stdin to its end, as `zcat access.log.2.gz |` gives it.
#[test]
fn one_shot_reads_stdin_to_its_end() {
    let mut child = Command::new(binary())
        .args(["--one-shot", "--log-file", "web=-", "--format", "common"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let body = lines("api", 5000);
    let writer = std::thread::spawn(move || stdin.write_all(body.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        value(
            &text,
            r#"accesslog_http_requests_total{log="web",method="GET",section="/api",status="200"}"#
        ),
        Some(5000.0),
        "{text}"
    );
}

#[test]
fn stdin_given_twice_is_one_line() {
    let err = one_line_error(
        Command::new(binary()).args(["--one-shot", "--log-file", "-", "--log-file", "b=-"]),
        2,
    );
    assert!(err.contains("--log-file") && err.contains("twice"), "{err}");
}

/// An exporter receiving syslog on `address` (port 0 for a free one), and the address it
/// says it bound.
fn syslog_exporter(address: &str, more: &[&str]) -> (Exporter, String) {
    let mut args = vec!["--syslog.listen-address", address, "--format", "common"];
    args.extend_from_slice(more);
    let mut exporter = Exporter::start(args);
    let line = exporter.wait_for_stderr("receiving syslog on ");
    let bound = line
        .split("receiving syslog on ")
        .nth(1)
        .unwrap()
        .to_owned();
    (exporter, bound)
}

fn host_port(bound: &str) -> (String, String) {
    let address = bound.split("://").nth(1).unwrap();
    let (host, port) = address.rsplit_once(':').unwrap();
    (host.to_owned(), port.to_owned())
}

fn logger(args: &[&str], message: &str) {
    let output = Command::new("logger")
        .args(args)
        .arg(message)
        .output()
        .unwrap();
    assert!(output.status.success(), "logger {args:?}: {output:?}");
}

fn requests(log: &str, section: &str) -> String {
    format!(
        "accesslog_http_requests_total{{log=\"{log}\",method=\"GET\",section=\"{section}\",status=\"200\"}}"
    )
}

/// `logger` in both RFC formats, over UDP, TCP (newline and octet-counted framing) and a
/// Unix datagram socket in the local form: every message counts under its tag.
#[test]
fn logger_messages_count_under_their_tags_over_every_transport() {
    if require_program("logger").is_none() {
        return;
    }
    let line = clf("/from/logger").trim_end().to_owned();

    let (exporter, bound) = syslog_exporter("udp://127.0.0.1:0", &[]);
    let (host, port) = host_port(&bound);
    let remote = ["-n", &host, "-P", &port];
    for (format, tag) in [("--rfc3164", "bsd"), ("--rfc5424", "ietf")] {
        for _ in 0..3 {
            logger(&[&remote[..], &["-d", format, "-t", tag]].concat(), &line);
        }
        exporter.wait_for_value(&requests(tag, "/from"), 3.0);
    }

    let (exporter, bound) = syslog_exporter("tcp://127.0.0.1:0", &[]);
    let (host, port) = host_port(&bound);
    let remote = ["-n", &host, "-P", &port, "-T"];
    logger(
        &[&remote[..], &["--rfc5424", "-t", "framed"]].concat(),
        &line,
    );
    logger(
        &[
            &remote[..],
            &["--rfc3164", "--octet-count", "-t", "counted"],
        ]
        .concat(),
        &line,
    );
    logger(
        &[
            &remote[..],
            &["--rfc5424", "--octet-count", "-t", "counted"],
        ]
        .concat(),
        &line,
    );
    exporter.wait_for_value(&requests("framed", "/from"), 1.0);
    exporter.wait_for_value(&requests("counted", "/from"), 2.0);

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("log.sock");
    let (mut exporter, _) = syslog_exporter(&format!("unixgram://{}", socket.display()), &[]);
    for _ in 0..2 {
        logger(&["-u", socket.to_str().unwrap(), "-t", "local"], &line);
    }
    logger(
        &["-u", socket.to_str().unwrap(), "--rfc5424", "-t", "local"],
        &line,
    );
    let text = exporter.wait_for_value(&requests("local", "/from"), 3.0);
    assert_eq!(sum(&text, "accesslog_syslog_errors_total"), 0.0, "{text}");
    assert_eq!(sum(&text, "accesslog_parse_errors_total"), 0.0, "{text}");
    exporter.signal_and_wait("TERM", PATIENCE);
    assert!(!socket.exists(), "the socket is removed at stop");
}

/// What a hostile sender controls is bounded and counted: messages that are not syslog,
/// messages over --max-line-bytes, tags past the most kept, TCP counts that are not counts,
/// and connections past the most served at once.
#[test]
fn hostile_syslog_is_counted_by_reason_and_bounded() {
    let (exporter, bound) = syslog_exporter("udp://127.0.0.1:0", &["--max-line-bytes", "512"]);
    let (host, port) = host_port(&bound);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(format!("{host}:{port}")).unwrap();
    let line = clf("/ok/x");
    let send = |message: &str| socket.send(message.as_bytes()).unwrap();
    send("GET / HTTP/1.1");
    send("<13>Dec  3 06:00:00 no tag here");
    send(&format!("<13>big: {}", "x".repeat(600)));
    // 100 tags are logs; the 101st is not.
    for i in 0..101 {
        send(&format!("<13>Dec  3 06:00:00 host tag{i}: {line}"));
    }
    let text = exporter.wait_for_value(r#"accesslog_syslog_errors_total{reason="tags"}"#, 1.0);
    for (reason, want) in [("priority", 1.0), ("header", 1.0), ("too_long", 1.0)] {
        let series = format!("accesslog_syslog_errors_total{{reason=\"{reason}\"}}");
        assert_eq!(value(&text, &series), Some(want), "{series}\n{text}");
    }
    assert_eq!(sum(&text, "accesslog_http_requests_total"), 100.0, "{text}");
    assert_eq!(value(&text, &requests("tag99", "/ok")), Some(1.0), "{text}");

    let (exporter, bound) = syslog_exporter("tcp://127.0.0.1:0", &[]);
    let address = bound.trim_start_matches("tcp://").to_owned();
    let mut broken = TcpStream::connect(&address).unwrap();
    broken
        .write_all(b"12x<13>a: b\n<13>a: never read\n")
        .unwrap();
    let mut rest = Vec::new();
    broken.set_read_timeout(Some(PATIENCE)).unwrap();
    assert_eq!(
        broken.read_to_end(&mut rest).unwrap(),
        0,
        "closed after a broken count"
    );
    exporter.wait_for_value(r#"accesslog_syslog_errors_total{reason="framing"}"#, 1.0);

    let held: Vec<TcpStream> = (0..256)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    // Each held connection is served: a message on the last one counts.
    let mut last = held.last().unwrap();
    last.write_all(format!("<13>held: {line}").as_bytes())
        .unwrap();
    let mut one_more = TcpStream::connect(&address).unwrap();
    one_more.set_read_timeout(Some(PATIENCE)).unwrap();
    assert_eq!(
        one_more.read(&mut [0; 16]).unwrap(),
        0,
        "closed: no slot left"
    );
    exporter.wait_for_value(
        r#"accesslog_syslog_errors_total{reason="connections"}"#,
        1.0,
    );
    drop(held);
    exporter.wait_for_value(&requests("held", "/ok"), 1.0);
}

#[test]
fn bad_syslog_addresses_are_one_line() {
    for (address, code) in [
        ("udp://nohost", 2),
        ("ftp://x:1", 2),
        ("unixgram:///nonexistent/dir/s", 1),
    ] {
        let err = one_line_error(
            Command::new(binary()).args(["--syslog.listen-address", address]),
            code,
        );
        assert!(err.contains("--syslog.listen-address"), "{err}");
    }
    let err = one_line_error(
        Command::new(binary()).args(["--one-shot", "--syslog.listen-address", "udp://127.0.0.1:0"]),
        2,
    );
    assert!(err.contains("--one-shot"), "{err}");
}
