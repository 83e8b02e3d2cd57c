//! Restarts lose nothing (`--position-file`): what the first run's last scrape showed plus
//! what the second run counts is every line written, with at most the lines read between the
//! last save of the position (every second) and the last scrape counted twice.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const LINES: &str = "accesslog_lines_read_total";
const REQUESTS: &str = "accesslog_http_requests_total";

fn exporter(log: &Path, position: &Path) -> Exporter {
    Exporter::start([
        "--log-file".as_ref(),
        log.as_os_str(),
        "--from-beginning".as_ref(),
        "--position-file".as_ref(),
        position.as_os_str(),
    ])
}

/// How many whole lines lie before `offset` in `log`.
fn lines_before(log: &Path, offset: u64) -> usize {
    let bytes = std::fs::read(log).unwrap();
    bytes[..offset as usize]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The offset saved for the one log: the third word of the line after the header.
fn saved_offset(position: &Path) -> u64 {
    let text = std::fs::read_to_string(position).unwrap();
    assert!(
        text.starts_with("accesslog-exporter positions 2\n"),
        "{text}"
    );
    text.lines()
        .nth(1)
        .and_then(|line| line.split(' ').nth(2))
        .unwrap()
        .parse()
        .unwrap()
}

/// Appends 20 lines every 10 ms (2,000 a second) until stopped; remembers when each batch
/// was written.
struct Writer {
    stop: Arc<AtomicBool>,
    written: Arc<Mutex<Vec<(Instant, usize)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(log: &Path) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let written: Arc<Mutex<Vec<(Instant, usize)>>> = Arc::default();
        let (log, stop_, written_) = (log.to_owned(), Arc::clone(&stop), Arc::clone(&written));
        let thread = std::thread::spawn(move || {
            let mut total = 0;
            while !stop_.load(Ordering::SeqCst) {
                append(&log, &lines(&format!("batch{}", total / 20 % 7), 20));
                total += 20;
                written_.lock().unwrap().push((Instant::now(), total));
                // The pace of a busy server, not a synchronisation.
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Writer {
            stop,
            written,
            thread: Some(thread),
        }
    }

    fn total(&self) -> usize {
        self.written.lock().unwrap().last().map_or(0, |&(_, n)| n)
    }

    /// Lines written in the `span` before `moment`.
    fn written_within(&self, span: Duration, moment: Instant) -> usize {
        let written = self.written.lock().unwrap();
        let at = |t: Instant| {
            written
                .iter()
                .take_while(|&&(when, _)| when <= t)
                .last()
                .map_or(0, |&(_, n)| n)
        };
        at(moment) - at(moment - span)
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.total()
    }
}

#[test]
fn killed_right_after_a_scrape_and_started_again_counts_every_line() {
    kill_and_restart(Duration::ZERO);
}

#[test]
fn killed_long_after_the_last_scrape_skips_nothing_it_did_not_show() {
    // Prometheus scrapes every 15 s or so, the position is saved every second: saves come
    // after the last scrape, and must not save lines nobody has seen counted.
    kill_and_restart(Duration::from_secs(2));
}

/// Scrapes a first run every 100 ms for 3 s, waits `quiet` without scraping, kills it with
/// SIGKILL while lines are written, starts a second run and compares.
fn kill_and_restart(quiet: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (log, position) = (dir.path().join("access.log"), dir.path().join("position"));
    append(&log, "");
    let writer = Writer::start(&log);

    let mut first = exporter(&log, &position);
    let started = Instant::now();
    let mut last = first.scrape();
    while !position.exists() || started.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        last = first.scrape();
    }
    let counted_by_first = sum(&last, REQUESTS) as usize;
    let last_scrape = Instant::now();
    std::thread::sleep(quiet);
    first.signal_and_wait("KILL", PATIENCE).expect("killed");

    // Down for a second while the server writes on.
    std::thread::sleep(Duration::from_secs(1));
    // Saves come every second and scrapes every 100 ms: what is counted twice was read between
    // the last save and the last scrape, so within the save interval, the scrape interval
    // and some slack for a loaded machine before the last scrape.
    let bound = writer.written_within(Duration::from_millis(1500), last_scrape);
    let total = writer.finish();
    let resume_at = lines_before(&log, saved_offset(&position));
    assert!(
        resume_at <= counted_by_first,
        "nothing unscraped is skipped"
    );

    let second = exporter(&log, &position);
    let text = second.wait_for_value(LINES, (total - resume_at) as f64);
    let counted_by_second = sum(&text, REQUESTS) as usize;
    let twice = counted_by_first + counted_by_second - total;
    eprintln!(
        "written {total}, first run's last scrape {counted_by_first}, second run \
         {counted_by_second}, counted twice {twice} (bound {bound})"
    );
    assert!(twice <= bound, "{twice} counted twice, bound {bound}");
    assert_eq!(counted_by_first + counted_by_second, total + twice);
}

#[test]
fn stopped_then_rotated_while_down_reads_the_rotated_file_from_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (log, position) = (dir.path().join("access.log"), dir.path().join("position"));
    append(&log, &lines("before", 5));
    let mut first = exporter(&log, &position);
    let text = first.wait_for_value(LINES, 5.0);
    assert_eq!(sum(&text, REQUESTS), 5.0);
    first
        .signal_and_wait("TERM", PATIENCE)
        .expect("stopped on SIGTERM");
    assert_eq!(lines_before(&log, saved_offset(&position)), 5);

    // While it is down: more lines, a rotation, lines in the new log.
    append(&log, &lines("late", 3));
    std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    append(&log, &lines("new", 4));

    let mut second = exporter(&log, &position);
    second.wait_for_stderr("access.log.1 from byte");
    let text = second.wait_for_value(LINES, 7.0);
    assert_eq!(value(&text, &get_200("/late")), Some(3.0));
    assert_eq!(value(&text, &get_200("/new")), Some(4.0));
    assert_eq!(value(&text, &get_200("/before")), None, "nothing twice");
}

#[test]
fn a_garbled_position_file_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let (log, position) = (dir.path().join("access.log"), dir.path().join("position"));
    append(&log, "");
    std::fs::write(&position, "offset 12\n").unwrap();
    let err = one_line_error(
        std::process::Command::new(binary())
            .args(["--log-file".as_ref(), log.as_os_str()])
            .args(["--position-file".as_ref(), position.as_os_str()])
            .args(["--web.listen-address", "127.0.0.1:0"]),
        1,
    );
    assert!(
        err.contains("--position-file") && err.contains("expected a position file"),
        "{err}"
    );
}
