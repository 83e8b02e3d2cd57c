//! Logs that are not files: stdin (`--log-file -`).

mod common;

use std::io::Write;
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
