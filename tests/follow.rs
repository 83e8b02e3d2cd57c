//! The exporter follows a real file through every rotation and write pattern, and every line
//! written shows up in a real scrape exactly once.

mod common;

use std::fs;

use common::*;

const LINES: &str = "accesslog_lines_read_total";
const REQUESTS: &str = "accesslog_http_requests_total";

struct Log {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn log() -> Log {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    Log { _dir: dir, path }
}

fn start(log: &Log, extra: &[&str]) -> Exporter {
    let mut args = vec!["--log-file".to_owned(), log.path.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    Exporter::start(args)
}

/// After the expected total, one more line must make it exactly one more: nothing late,
/// nothing twice.
fn settle(exporter: &Exporter, log_path: &std::path::Path, expected_lines: f64) -> String {
    let before = exporter.wait_for_value(LINES, expected_lines);
    append(log_path, &clf("/sentinel"));
    let text = exporter.wait_for_value(LINES, expected_lines + 1.0);
    assert_eq!(sum(&text, REQUESTS), sum(&before, REQUESTS) + 1.0, "{text}");
    text
}

#[test]
fn starts_at_the_end_and_counts_what_is_appended() {
    let log = log();
    append(&log.path, &lines("history", 50));
    let mut exporter = start(&log, &[]);
    exporter.wait_for_stderr("from byte");
    append(&log.path, &lines("api", 7));
    let text = settle(&exporter, &log.path, 7.0);
    assert_eq!(value(&text, &get_200("/api")), Some(7.0));
    assert_eq!(
        value(&text, &get_200("/history")),
        None,
        "history must not count"
    );
    assert_eq!(value(&text, "accesslog_log_file_open"), Some(1.0));
}

#[test]
fn from_beginning_counts_what_is_there() {
    let log = log();
    append(&log.path, &lines("history", 50));
    let exporter = start(&log, &["--from-beginning"]);
    let text = settle(&exporter, &log.path, 50.0);
    assert_eq!(value(&text, &get_200("/history")), Some(50.0));
}

#[test]
fn rename_rotation_loses_nothing_while_the_server_writes_on_in_the_old_file() {
    let log = log();
    append(&log.path, "");
    let mut exporter = start(&log, &[]);
    exporter.wait_for_stderr("from byte");
    append(&log.path, &lines("before", 5));
    exporter.wait_for_value(LINES, 5.0);

    let rotated = log.path.with_extension("log.1");
    fs::rename(&log.path, &rotated).unwrap();
    append(&rotated, &lines("renamed", 3));
    append(&log.path, &lines("fresh", 4));
    exporter.wait_for_value("accesslog_log_rotations_total{kind=\"rename\"}", 1.0);
    // The server only reopens its log later (nginx on USR1): until then it writes the old file.
    append(&rotated, &lines("late", 2));
    append(&log.path, &lines("fresh2", 1));

    let text = settle(&exporter, &log.path, 15.0);
    for (section, count) in [
        ("/before", 5.0),
        ("/renamed", 3.0),
        ("/fresh", 4.0),
        ("/late", 2.0),
        ("/fresh2", 1.0),
    ] {
        assert_eq!(
            value(&text, &get_200(section)),
            Some(count),
            "{section}\n{text}"
        );
    }
    assert_eq!(
        value(&text, "accesslog_log_rotations_total{kind=\"rename\"}"),
        Some(1.0)
    );
}

#[test]
fn copytruncate_starts_again_from_the_beginning() {
    let log = log();
    append(&log.path, "");
    let exporter = start(&log, &["--from-beginning"]);
    append(&log.path, &lines("before", 6));
    exporter.wait_for_value(LINES, 6.0);
    // What logrotate's copytruncate does: copy, then truncate in place.
    fs::copy(&log.path, log.path.with_extension("log.1")).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&log.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log.path, &lines("after", 3));
    let text = settle(&exporter, &log.path, 9.0);
    assert_eq!(value(&text, &get_200("/after")), Some(3.0));
    assert_eq!(value(&text, &get_200("/before")), Some(6.0));
    assert_eq!(
        value(&text, "accesslog_log_rotations_total{kind=\"truncate\"}"),
        Some(1.0)
    );
}

#[test]
fn deleted_and_created_again_later() {
    let log = log();
    append(&log.path, "");
    let mut exporter = start(&log, &[]);
    exporter.wait_for_stderr("from byte");
    append(&log.path, &lines("first", 2));
    exporter.wait_for_value(LINES, 2.0);
    fs::remove_file(&log.path).unwrap();
    exporter.wait_for_stderr("no such file");
    exporter.wait_for_value("accesslog_log_file_open", 0.0);
    append(&log.path, &lines("second", 3));
    let text = settle(&exporter, &log.path, 5.0);
    assert_eq!(value(&text, &get_200("/second")), Some(3.0));
    assert_eq!(value(&text, "accesslog_log_file_open"), Some(1.0));
}

#[test]
fn a_missing_file_is_waited_for_while_metrics_are_served() {
    let log = log();
    let mut exporter = start(&log, &[]);
    let warning = exporter.wait_for_stderr("no such file");
    assert!(
        warning.contains(&log.path.display().to_string()),
        "{warning}"
    );
    let text = exporter.scrape();
    assert_eq!(value(&text, "accesslog_log_file_open"), Some(0.0));
    append(&log.path, &lines("created", 4));
    let text = settle(&exporter, &log.path, 4.0);
    assert_eq!(
        value(&text, &get_200("/created")),
        Some(4.0),
        "a new file is read from its start"
    );
    let warnings = exporter
        .stderr_seen
        .iter()
        .filter(|l| l.contains("no such file"))
        .count();
    assert_eq!(warnings, 1, "{:#?}", exporter.stderr_seen);
}

#[test]
fn a_line_written_in_pieces_counts_once_whole() {
    let log = log();
    append(&log.path, "");
    let mut exporter = start(&log, &[]);
    exporter.wait_for_stderr("from byte");
    let line = clf("/torn/line");
    let (head, tail) = line.split_at(30);
    append(&log.path, head);
    let text = exporter.wait_for_value("accesslog_bytes_read_total", head.len() as f64);
    assert_eq!(
        value(&text, LINES),
        Some(0.0),
        "a partial line must be held"
    );
    append(&log.path, tail);
    let text = settle(&exporter, &log.path, 1.0);
    assert_eq!(value(&text, &get_200("/torn")), Some(1.0));
    assert_eq!(sum(&text, "accesslog_parse_errors_total"), 0.0);
}

#[test]
fn an_absurdly_long_line_is_counted_as_an_error_and_following_goes_on() {
    let log = log();
    append(&log.path, "");
    let mut exporter = start(&log, &["--max-line-bytes", "4096"]);
    exporter.wait_for_stderr("from byte");
    let long = format!(
        "192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] \"GET /{} HTTP/1.1\" 200 1\n",
        "x".repeat(1 << 20)
    );
    append(&log.path, &long);
    append(&log.path, &clf("/after/long"));
    let text = exporter.wait_for_value(LINES, 2.0);
    assert_eq!(
        value(&text, "accesslog_parse_errors_total{reason=\"too_long\"}"),
        Some(1.0)
    );
    assert_eq!(value(&text, &get_200("/after")), Some(1.0));
}

#[test]
fn malformed_lines_are_counted_and_never_stop_the_exporter() {
    let log = log();
    append(&log.path, "");
    let mut exporter = start(&log, &[]);
    exporter.wait_for_stderr("from byte");
    append(
        &log.path,
        "garbage\n\n192.0.2.1 - - [99/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n",
    );
    append(
        &log.path,
        "192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] \"\\x16\\x03\\x01\" 400 0\n",
    );
    let text = settle(&exporter, &log.path, 4.0);
    assert_eq!(
        value(&text, "accesslog_parse_errors_total{reason=\"syntax\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "accesslog_parse_errors_total{reason=\"empty\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "accesslog_parse_errors_total{reason=\"timestamp\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"accesslog_http_requests_total{method="(invalid)",section="(invalid)",status="400"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn without_file_system_events_polling_still_finds_the_log() {
    let dir = tempfile::tempdir().unwrap();
    // The directory does not exist yet, so it cannot be watched: only polling can see the file.
    let path = dir.path().join("not-yet").join("access.log");
    let mut exporter = Exporter::start([
        "--log-file",
        path.to_str().unwrap(),
        "--poll-interval",
        "50ms",
    ]);
    exporter.wait_for_stderr("no file-system events");
    exporter.wait_for_stderr("no such file");
    fs::create_dir(path.parent().unwrap()).unwrap();
    append(&path, &lines("polled", 3));
    let text = settle(&exporter, &path, 3.0);
    assert_eq!(value(&text, &get_200("/polled")), Some(3.0));
}

fn run(program: &str, args: &[&std::ffi::OsStr]) {
    let status = std::process::Command::new(program)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "{program} {args:?}");
}

#[test]
fn a_fifo_or_a_directory_at_the_log_path_is_reported_and_following_goes_on() {
    let log = log();
    append(&log.path, &lines("before", 2));
    let mut exporter = start(&log, &["--from-beginning"]);
    exporter.wait_for_value(LINES, 2.0);

    // A FIFO must not be opened as a log: opening it would wait for a writer, forever.
    let rotated = log.path.with_extension("log.1");
    fs::rename(&log.path, &rotated).unwrap();
    run("mkfifo", &[log.path.as_os_str()]);
    exporter.wait_for_stderr("is a FIFO, expected a regular file");
    // The server goes on in the rotated file for a while: still read.
    append(&rotated, &lines("rotated", 1));
    let text = exporter.wait_for_value(LINES, 3.0);
    assert_eq!(value(&text, "accesslog_log_file_open"), Some(0.0));

    fs::remove_file(&log.path).unwrap();
    fs::create_dir(&log.path).unwrap();
    exporter.wait_for_stderr("is a directory, expected a regular file");

    fs::remove_dir(&log.path).unwrap();
    append(&log.path, &lines("after", 3));
    let text = settle(&exporter, &log.path, 6.0);
    assert_eq!(value(&text, &get_200("/after")), Some(3.0));
    assert_eq!(value(&text, "accesslog_log_file_open"), Some(1.0));
}

#[test]
fn a_symlink_that_changes_target_is_followed_like_a_rotation() {
    // logrotate's olddir, or a dated log with a stable link to it.
    let log = log();
    let dir = log.path.parent().unwrap();
    let (monday, tuesday) = (
        dir.join("access-monday.log"),
        dir.join("access-tuesday.log"),
    );
    append(&monday, &lines("monday", 2));
    std::os::unix::fs::symlink(&monday, &log.path).unwrap();
    let exporter = start(&log, &["--from-beginning"]);
    exporter.wait_for_value(LINES, 2.0);

    append(&tuesday, "");
    let link = dir.join("access.log.new");
    std::os::unix::fs::symlink(&tuesday, &link).unwrap();
    fs::rename(&link, &log.path).unwrap();
    append(&tuesday, &lines("tuesday", 3));
    // The server has not reopened its log yet.
    append(&monday, &lines("monday", 1));
    let text = settle(&exporter, &log.path, 6.0);
    assert_eq!(value(&text, &get_200("/monday")), Some(3.0));
    assert_eq!(value(&text, &get_200("/tuesday")), Some(3.0));
    assert_eq!(
        value(&text, "accesslog_log_rotations_total{kind=\"rename\"}"),
        Some(1.0)
    );
}

#[test]
fn nul_bytes_and_a_100_mb_line_without_newline_are_counted_and_following_goes_on() {
    let log = log();
    append(&log.path, "");
    let mut exporter = start(&log, &[]);
    exporter.wait_for_stderr("from byte");
    // What a crash leaves in a log on some file systems: a block of zeros.
    let mut zeros = vec![0u8; 4096];
    zeros.push(b'\n');
    fs::OpenOptions::new()
        .append(true)
        .open(&log.path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &zeros))
        .unwrap();
    // 100 MB with no newline yet: held up to --max-line-bytes, the rest skipped.
    {
        let mut file = fs::OpenOptions::new().append(true).open(&log.path).unwrap();
        let block = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            std::io::Write::write_all(&mut file, &block).unwrap();
        }
    }
    append(&log.path, "\n");
    exporter.wait_for_stderr("a line longer than --max-line-bytes was dropped");
    let text = settle(&exporter, &log.path, 2.0);
    assert_eq!(
        value(&text, "accesslog_parse_errors_total{reason=\"too_long\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "accesslog_parse_errors_total{reason=\"syntax\"}"),
        Some(1.0),
        "the zeros"
    );
    let peak_kib = peak_rss_kib(exporter.pid());
    assert!(
        peak_kib < 64 * 1024,
        "peak RSS {peak_kib} KiB after a 100 MB line"
    );
}

#[test]
fn read_permission_removed_while_followed() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap()
    };
    let log = log();
    mode(log.path.parent().unwrap(), 0o755);
    append(&log.path, &lines("first", 2));
    mode(&log.path, 0o644);
    let mut exporter = Exporter::start_unprivileged([
        "--log-file".as_ref(),
        log.path.as_os_str(),
        "--from-beginning".as_ref(),
    ]);
    exporter.wait_for_value(LINES, 2.0);

    // What is open stays readable: permissions are checked when a file is opened.
    mode(&log.path, 0o000);
    append(&log.path, &lines("first", 1));
    exporter.wait_for_value(LINES, 3.0);

    // A new log the exporter may not read: said once, and waited for.
    let rotated = log.path.with_extension("log.1");
    fs::rename(&log.path, &rotated).unwrap();
    // Made unreadable as it is made: created readable and then changed, it may be opened in
    // between (seen in CI).
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut new = fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o000)
            .open(&log.path)
            .unwrap();
        new.write_all(lines("second", 2).as_bytes()).unwrap();
    }
    let said = exporter.wait_for_stderr("ermission denied");
    assert!(said.contains(log.path.to_str().unwrap()), "{said}");
    let text = exporter.wait_for_value("accesslog_log_file_open", 0.0);
    assert_eq!(value(&text, LINES), Some(3.0));

    mode(&log.path, 0o644);
    let text = settle(&exporter, &log.path, 5.0);
    assert_eq!(value(&text, &get_200("/second")), Some(2.0));
    assert_eq!(value(&text, "accesslog_log_file_open"), Some(1.0));
    let denials = exporter
        .stderr_seen
        .iter()
        .filter(|l| l.contains("ermission denied"))
        .count();
    assert_eq!(denials, 1, "{:#?}", exporter.stderr_seen);
}
