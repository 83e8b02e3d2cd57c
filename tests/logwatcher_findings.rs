//! Why the tailer is ours and not the `logwatcher` crate named in the design: these tests pin
//! down, against logwatcher 0.1.1 (the latest), the shortfalls that break our tailing contract.
//! If one of them starts failing, logwatcher has changed and the choice deserves a new look.

mod common;

use std::fs;
use std::sync::mpsc;
use std::time::Duration;

use common::append;
use logwatcher::{LogWatcher, LogWatcherAction};

/// Runs logwatcher on `path` in a thread of its own (its `watch` never returns) and hands the
/// lines it delivers to the returned channel.
fn watch(path: &std::path::Path) -> mpsc::Receiver<String> {
    let mut watcher = LogWatcher::register(path).expect("register");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        watcher.watch(&mut |line: String| {
            let _ = tx.send(line);
            LogWatcherAction::None
        })
    });
    rx
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn logwatcher_hands_on_a_torn_line_as_two_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    fs::write(&path, "").unwrap();
    let lines = watch(&path);
    append(&path, "GET /first-half");
    assert_eq!(
        lines.recv_timeout(WAIT).unwrap(),
        "GET /first-half",
        "delivered before its newline"
    );
    append(&path, "/second-half\n");
    assert_eq!(lines.recv_timeout(WAIT).unwrap(), "/second-half");
}

#[test]
fn logwatcher_misses_copytruncate_until_the_file_outgrows_the_old_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    fs::write(&path, "").unwrap();
    let lines = watch(&path);
    append(&path, "one\ntwo\n");
    assert_eq!(lines.recv_timeout(WAIT).unwrap(), "one");
    assert_eq!(lines.recv_timeout(WAIT).unwrap(), "two");
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, "three\nfour\n");
    // It goes on from byte 8 of the new content: "three" is lost and "four" arrives torn.
    assert_eq!(lines.recv_timeout(WAIT).unwrap(), "ur");
}

#[test]
fn logwatcher_cannot_start_on_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(LogWatcher::register(dir.path().join("not-yet.log")).is_err());
}
