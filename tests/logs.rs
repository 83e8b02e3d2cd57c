//! Several logs at once: a glob of virtual hosts' logs, each counted under its own `log` label,
//! through rotation, a new file appearing and an old one removed.

mod common;

use std::fs;
use std::process::Command;

use common::*;

/// The lines-read series of one log.
fn lines_read(log: &str) -> String {
    format!(r#"accesslog_lines_read_total{{log="{log}"}}"#)
}

#[test]
fn a_glob_follows_every_file_with_exact_counts_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    // Three virtual hosts' logs, with history that is not counted (no --from-beginning).
    for name in ["shop", "blog", "api"] {
        fs::write(path(&format!("{name}.access.log")), lines("old", 7)).unwrap();
    }
    fs::write(path("error.log"), "not an access log\n").unwrap();
    let glob = format!("{}/*.access.log", dir.path().display());
    let mut exporter = Exporter::start([
        "--log-file",
        &glob,
        "--rotate-wait",
        "2s",
        "--poll-interval",
        "50ms",
    ]);
    for name in ["shop", "blog", "api"] {
        exporter.wait_for_stderr(&format!("{name}.access.log from byte"));
    }

    append(&path("shop.access.log"), &lines("cart", 100));
    append(&path("blog.access.log"), &lines("posts", 200));
    append(&path("api.access.log"), &lines("v1", 300));
    exporter.wait_for_value(&lines_read("api.access"), 300.0);

    // The blog's log rotated as logrotate's `create` does: renamed, a new file made, and the
    // server writing on to the renamed one until it reopens its log.
    fs::rename(path("blog.access.log"), path("blog.access.log.1")).unwrap();
    append(&path("blog.access.log.1"), &lines("posts", 20));
    fs::write(path("blog.access.log"), "").unwrap();
    append(&path("blog.access.log"), &lines("feed", 30));
    exporter.wait_for_value(&lines_read("blog.access"), 250.0);

    // A new virtual host: its log is read from its first line.
    fs::write(path("docs.access.log"), lines("guide", 40)).unwrap();
    exporter.wait_for_value(&lines_read("docs.access"), 40.0);

    // A host removed: its log is let go after --rotate-wait, and its series with it.
    fs::remove_file(path("api.access.log")).unwrap();
    exporter.wait_for_stderr("api.access.log matches --log-file no more; let go");

    let text = exporter.scrape();
    for (series, want) in [
        (
            r#"accesslog_http_requests_total{log="shop.access",method="GET",section="/cart",status="200"}"#,
            100.0,
        ),
        (
            r#"accesslog_http_requests_total{log="blog.access",method="GET",section="/posts",status="200"}"#,
            220.0,
        ),
        (
            r#"accesslog_http_requests_total{log="blog.access",method="GET",section="/feed",status="200"}"#,
            30.0,
        ),
        (
            r#"accesslog_http_requests_total{log="docs.access",method="GET",section="/guide",status="200"}"#,
            40.0,
        ),
        (
            r#"accesslog_log_rotations_total{kind="rename",log="blog.access"}"#,
            1.0,
        ),
        (
            r#"accesslog_log_rotations_total{kind="rename",log="shop.access"}"#,
            0.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series}\n{text}");
    }
    assert_eq!(sum(&text, "accesslog_http_requests_total"), 390.0, "{text}");
    assert!(!text.contains(r#"log="api.access""#), "{text}");
    assert!(
        !text.contains(r#"log="error""#),
        "error.log is not matched: {text}"
    );
    // One HELP and TYPE a family, whatever the number of logs.
    assert_eq!(
        text.matches("# TYPE accesslog_http_requests_total ")
            .count(),
        1,
        "{text}"
    );
    promtool_accepts(text.as_bytes());
}

#[test]
fn named_files_and_one_shot_over_a_glob_with_a_compressed_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    fs::write(path("access.log"), lines("now", 5)).unwrap();
    fs::write(path("access.log.1"), lines("before", 3)).unwrap();
    fs::write(path("access.log.2"), lines("earlier", 2)).unwrap();
    let gzip = Command::new("gzip")
        .arg(path("access.log.2"))
        .status()
        .unwrap();
    assert!(gzip.success());
    let glob = format!("{}/access.log*", dir.path().display());
    let output = Command::new(binary())
        .args(["--one-shot", "--log-file", &glob])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    for (log, want) in [
        ("access", 5.0),
        ("access.log.1", 3.0),
        ("access.log.2.gz", 2.0),
    ] {
        assert_eq!(value(&text, &lines_read(log)), Some(want), "{log}\n{text}");
    }

    // Named on the command line; two names alike are refused.
    let shop = path("access.log");
    let named = format!("shop={}", shop.display());
    let output = Command::new(binary())
        .args(["--one-shot", "--log-file", &named])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(value(&text, &lines_read("shop")), Some(5.0), "{text}");
    let err = one_line_error(
        Command::new(binary()).args(["--log-file", &named, "--log-file", &named]),
        2,
    );
    assert!(
        err.contains("the name \"shop\" is given to two logs"),
        "{err}"
    );
}

#[test]
fn a_restart_resumes_every_log_where_the_last_scrape_left_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let position = path("positions");
    append(&path("shop.access.log"), &lines("before", 5));
    append(&path("blog.access.log"), &lines("before", 3));
    let glob = format!("{}/*.access.log", dir.path().display());
    let start = || {
        Exporter::start([
            "--log-file",
            &glob,
            "--from-beginning",
            "--position-file",
            position.to_str().unwrap(),
        ])
    };
    let mut first = start();
    first.wait_for_value(&lines_read("shop.access"), 5.0);
    first.wait_for_value(&lines_read("blog.access"), 3.0);
    first
        .signal_and_wait("TERM", PATIENCE)
        .expect("stopped on SIGTERM");
    let saved = fs::read_to_string(&position).unwrap();
    assert!(
        saved.starts_with("accesslog-exporter positions 2\n"),
        "{saved}"
    );
    assert_eq!(saved.lines().count(), 3, "{saved}");

    // While it is down: more lines in the shop's log; the blog's rotated, with lines written
    // to it before and after.
    append(&path("shop.access.log"), &lines("late", 4));
    append(&path("blog.access.log"), &lines("late", 2));
    fs::rename(path("blog.access.log"), path("blog.access.log.1")).unwrap();
    append(&path("blog.access.log"), &lines("new", 6));

    let second = start();
    let text = second.wait_for_value(&lines_read("shop.access"), 4.0);
    let text = match value(&text, &lines_read("blog.access")) {
        Some(8.0) => text,
        _ => second.wait_for_value(&lines_read("blog.access"), 8.0),
    };
    for (series, want) in [
        (
            r#"accesslog_http_requests_total{log="shop.access",method="GET",section="/late",status="200"}"#,
            Some(4.0),
        ),
        (
            r#"accesslog_http_requests_total{log="blog.access",method="GET",section="/late",status="200"}"#,
            Some(2.0),
        ),
        (
            r#"accesslog_http_requests_total{log="blog.access",method="GET",section="/new",status="200"}"#,
            Some(6.0),
        ),
        (
            r#"accesslog_http_requests_total{log="shop.access",method="GET",section="/before",status="200"}"#,
            None,
        ),
        (
            r#"accesslog_http_requests_total{log="blog.access",method="GET",section="/before",status="200"}"#,
            None,
        ),
    ] {
        assert_eq!(value(&text, series), want, "{series}\n{text}");
    }
}
