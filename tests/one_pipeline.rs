//! One pipeline for any number of logs (issue 14): a console that cannot hold anything up, a
//! monitor that ends with its reader, positions that never name another file, and many logs
//! on one watcher with exact counts each.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A pipe whose buffer is already full: whoever writes to the returned end blocks until the
/// kept read end is read. Returns (read end, write end).
fn full_pipe() -> (fs::File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into the array; each is owned once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read, write) = unsafe { (fs::File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // The smallest buffer the kernel allows (a page), filled with one write.
    let size = unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 4096) };
    assert!(size > 0);
    let mut writer = fs::File::from(write.try_clone().unwrap());
    writer.write_all(&vec![b'.'; size as usize]).unwrap();
    (read, write)
}

/// Waits until a thread of `pid` named `name` is blocked writing to its stdout.
fn wait_until_blocked_on_stdout(pid: u32, name: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let blocked = fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
            .any(|task| {
                let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
                let syscall = fs::read_to_string(task.path().join("syscall")).unwrap_or_default();
                // write(2) is system call 1 on x86_64; its first argument is the descriptor.
                comm.trim() == name && syscall.starts_with("1 0x1 ")
            });
        if blocked {
            return;
        }
        assert!(Instant::now() < deadline, "the {name} thread never blocked");
        // A thread's state can only be looked at, not awaited.
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_blocked_stdout_holds_up_neither_scrapes_nor_counts_nor_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, &lines("before", 10));
    let (_reader, stdout) = full_pipe();
    let mut exporter = Exporter::start_with_stdout(
        [
            "--log-file",
            log.to_str().unwrap(),
            "--from-beginning",
            "--console",
            "--interval",
            "1s",
        ],
        Stdio::from(stdout),
    );
    wait_until_blocked_on_stdout(exporter.pid(), "console");
    for round in 1..=5 {
        append(&log, &lines("while-blocked", 100));
        let asked = Instant::now();
        exporter.wait_for_value("accesslog_lines_read_total", 10.0 + 100.0 * round as f64);
        let waited = asked.elapsed();
        assert!(waited < Duration::from_secs(1), "round {round}: {waited:?}");
    }
    wait_until_blocked_on_stdout(exporter.pid(), "console");
    let (status, took) = exporter
        .signal_and_wait("TERM", Duration::from_secs(5))
        .expect("stopped on SIGTERM with stdout blocked");
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn monitor_ends_when_its_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let mut monitor = Command::new(binary())
        .args(["monitor", "--log-file", log.to_str().unwrap()])
        .args(["--interval", "1s", "--output", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // As `monitor | head -1`: one line read, then the pipe closed.
    let mut first = String::new();
    BufReader::new(monitor.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"hits\""), "{first}");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = monitor.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = monitor.kill();
            panic!("monitor went on with nobody reading");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

/// Runs the exporter with `--position-file position` until it exits, for at most
/// [`PATIENCE`]; returns its exit code and stderr.
fn run_with_position_file(log: &Path, position: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(binary())
        .args(["--log-file".as_ref(), log.as_os_str()])
        .args(["--position-file".as_ref(), position.as_os_str()])
        .args(["--web.listen-address", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running with {}", position.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (output.status.code(), stderr(&output))
}

#[test]
fn a_position_file_that_is_a_fifo_or_a_device_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let fifo = dir.path().join("fifo");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string and a mode.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let zero = dir.path().join("zero");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for (position, what) in [(&fifo, "a FIFO"), (&zero, "a device")] {
        let (code, err) = run_with_position_file(&log, position);
        assert_eq!(code, Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("--position-file")
                && err.contains(&format!("is {what}, expected a regular file")),
            "{err}"
        );
    }
}

#[test]
fn a_restart_after_inode_reuse_never_counts_another_files_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let (log, position) = (path("shop.log"), path("positions"));
    append(&log, &lines("shop-before", 10));
    let start = || {
        Exporter::start([
            "--log-file",
            log.to_str().unwrap(),
            "--from-beginning",
            "--position-file",
            position.to_str().unwrap(),
        ])
    };
    let mut first = start();
    first.wait_for_value("accesslog_lines_read_total", 10.0);
    first.signal_and_wait("TERM", PATIENCE).expect("stopped");
    let saved_inode = fs::metadata(&log).unwrap().ino();

    // While it is down: the log rotated, the rotated file compressed (gone), and another
    // vhost's new log given the freed inode, longer than where the shop's reading stopped.
    fs::rename(&log, path("shop.log.1")).unwrap();
    append(&log, &lines("shop-after", 3));
    fs::remove_file(path("shop.log.1")).unwrap();
    let other = (0..100)
        .map(|i| {
            let candidate = path(&format!("blog{i}.log"));
            append(&candidate, &lines("blog", 30));
            candidate
        })
        .find(|candidate| fs::metadata(candidate).unwrap().ino() == saved_inode)
        .expect("this file system gives a freed inode to a new file (ext4 does)");

    let mut second = start();
    let text = second.wait_for_value(&get_200("/shop-after"), 3.0);
    second.wait_for_stderr("no longer matches");
    assert_eq!(value(&text, &get_200("/blog")), None, "{text}");
    assert_eq!(
        value(&text, "accesslog_lines_read_total"),
        Some(3.0),
        "{text}"
    );
    assert!(other.exists());
}

/// The threads of process `pid`.
fn threads(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task")).unwrap().count()
}

/// The inotify instances process `pid` holds.
fn inotify_instances(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter(|fd| {
            fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == "anon_inode:inotify")
        })
        .count()
}

#[test]
fn many_logs_in_one_directory_are_counted_exactly_on_one_watcher() {
    const LOGS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let log = |i: usize| dir.path().join(format!("site{i}.access.log"));
    for i in 0..LOGS {
        append(&log(i), &lines(&format!("s{i}"), 1 + i % 3));
    }
    let glob = format!("{}/*.access.log", dir.path().display());
    let exporter = Exporter::start([
        "--log-file",
        &glob,
        "--from-beginning",
        "--max-logs",
        "1000",
    ]);
    let before: usize = (0..LOGS).map(|i| 1 + i % 3).sum();
    exporter.wait_for_value_sum("accesslog_lines_read_total", before as f64);

    // Live: lines in every log, half of them rotated (rename and create) in between, and
    // new logs appearing.
    for i in 0..LOGS {
        append(&log(i), &lines(&format!("s{i}"), 2));
        if i % 2 == 0 {
            fs::rename(log(i), dir.path().join(format!("site{i}.access.log.1"))).unwrap();
            append(&log(i), &lines(&format!("s{i}"), 1));
        }
    }
    for i in LOGS..LOGS + 10 {
        append(&log(i), &lines(&format!("s{i}"), 4));
    }
    let after = before + 2 * LOGS + LOGS / 2 + 40;
    let text = exporter.wait_for_value_sum("accesslog_lines_read_total", after as f64);
    for i in 0..LOGS + 10 {
        let want = if i < LOGS {
            1 + i % 3 + 2 + usize::from(i % 2 == 0)
        } else {
            4
        };
        let series = format!(
            r#"accesslog_http_requests_total{{log="site{i}.access",method="GET",section="/s{i}",status="200"}}"#
        );
        assert_eq!(value(&text, &series), Some(want as f64), "{series}");
    }
    // Every request is its own log's: no series with another log's section.
    let requests = sum(&text, "accesslog_http_requests_total");
    assert_eq!(requests, after as f64);

    let pid = exporter.pid();
    assert!(threads(pid) <= 8, "{} threads", threads(pid));
    assert_eq!(inotify_instances(pid), 1);
}

#[test]
fn a_stderr_nobody_reads_holds_up_no_counting() {
    const LOGS: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..LOGS {
        append(&dir.path().join(format!("s{i}.log")), &lines("x", 2));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_reader, stderr) = full_pipe();
    let mut child = Command::new(binary())
        .args(["--log-file", &format!("{}/*.log", dir.path().display())])
        .args(["--from-beginning", "--web.listen-address"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap();
    // Every file says it is followed, on a stderr that takes nothing: counting goes on.
    let address = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let counted = std::net::TcpStream::connect(address).ok().map(|_| {
            sum(
                &http_get(address, "/metrics").1,
                "accesslog_lines_read_total",
            )
        });
        if counted == Some(2.0 * LOGS as f64) {
            break;
        }
        assert!(Instant::now() < deadline, "counted {counted:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn no_more_logs_are_followed_than_the_open_files_limit_allows() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..200 {
        append(&dir.path().join(format!("s{i}.log")), &lines("x", 1));
    }
    // A hard limit of 200 open files: 128 are kept for what is not a log.
    let mut command = Command::new("sh");
    command.args(["-c", "ulimit -n 200 && exec \"$0\" \"$@\"", binary()]);
    let mut exporter = Exporter::start_command(
        command,
        [
            "--log-file",
            &format!("{}/*.log", dir.path().display()),
            "--from-beginning",
        ],
    );
    exporter.wait_for_stderr("the open-files limit leaves room for 72");
    let text = exporter.wait_for_value_sum("accesslog_lines_read_total", 72.0);
    let followed = text
        .lines()
        .filter(|l| l.starts_with("accesslog_lines_read_total{"))
        .count();
    assert_eq!(followed, 72, "{text}");
    assert!(
        !exporter
            .stderr_seen
            .iter()
            .any(|l| l.contains("Too many open files")),
        "{:#?}",
        exporter.stderr_seen
    );
}

#[test]
fn serve_goes_on_serving_when_its_console_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let (reader, stdout) = full_pipe();
    drop(reader);
    let mut exporter = Exporter::start_with_stdout(
        [
            "--log-file",
            log.to_str().unwrap(),
            "--console",
            "--interval",
            "1s",
        ],
        Stdio::from(stdout),
    );
    exporter.wait_for_stderr("stdout was closed: the console stops, serving goes on");
    append(&log, &lines("after", 3));
    exporter.wait_for_value("accesslog_lines_read_total", 3.0);
}
