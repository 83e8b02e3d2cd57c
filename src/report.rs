//! The one place that talks to the user: every line the program writes to stderr goes through
//! here, prefixed with the program's name, so that each message is one whole line and the
//! modules below report what happened without knowing where it is shown.
//!
//! Lines are written by a thread of their own from a bounded queue, so a stderr nobody reads
//! (a paused pager, a stalled pipe) never holds up the thread that reported: past
//! [`QUEUE_LINES`] waiting, lines are dropped and counted, and the count is said once stderr
//! takes lines again. [`finish`] waits a moment for the queue to be written before the
//! program exits; [`fatal`], the last line, is written directly.
//!
//! While the terminal dashboard is shown, lines go to its status line instead
//! ([`to_screen`]), and are written to stderr once it is gone ([`to_stderr`]).

use std::fmt::Display;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// The prefix of every line, as in `rg: PATH: message`.
const PROGRAM: &str = "accesslog-exporter";

/// Lines held while stderr is blocked before new ones are dropped.
pub const QUEUE_LINES: usize = 1024;

/// Something the user may want to know: `accesslog-exporter: MESSAGE`.
pub fn info(message: impl Display) {
    queue(format!("{PROGRAM}: {message}\n"));
}

/// Something that went wrong but not fatally: `accesslog-exporter: warning: MESSAGE`.
pub fn warning(message: impl Display) {
    queue(format!("{PROGRAM}: warning: {message}\n"));
}

/// Why the program stopped: `accesslog-exporter: MESSAGE`, its last line, written after what
/// is queued (for at most a second) and without a queue.
pub fn fatal(message: impl Display) {
    finish();
    write(&format!("{PROGRAM}: {message}\n"));
}

/// Waits until the lines queued so far are written, for at most a second: a stderr nobody
/// reads must not keep the program from exiting.
pub fn finish() {
    let Some(writer) = WRITER.get() else {
        return;
    };
    let (done, written) = mpsc::sync_channel(1);
    if writer.queue.send(Message::Flushed(done)).is_ok() {
        let _ = written.recv_timeout(Duration::from_secs(1));
    }
}

enum Message {
    Line(String),
    Flushed(SyncSender<()>),
}

struct Writer {
    queue: SyncSender<Message>,
    dropped: AtomicU64,
}

static WRITER: OnceLock<Writer> = OnceLock::new();

/// The screen's status line while it is shown, and the lines said meanwhile.
static SCREEN: Mutex<Option<(SyncSender<String>, Vec<String>)>> = Mutex::new(None);

/// Sends what is said to `status` (each line without the program's name) until
/// [`to_stderr`]; stderr is under the screen.
pub fn to_screen(status: SyncSender<String>) {
    *SCREEN.lock().unwrap_or_else(PoisonError::into_inner) = Some((status, Vec::new()));
}

/// Writes to stderr again, first the last [`QUEUE_LINES`] lines said while the screen was shown.
pub fn to_stderr() {
    let screen = SCREEN.lock().unwrap_or_else(PoisonError::into_inner).take();
    for line in screen.map(|(_, said)| said).unwrap_or_default() {
        queue(line);
    }
}

fn queue(line: String) {
    if let Some((status, said)) = SCREEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        let shown = line.strip_prefix(PROGRAM).unwrap_or(&line);
        // A status line nobody draws drops it; the line is kept for stderr.
        let _ = status.try_send(shown.trim_start_matches(": ").trim_end().to_owned());
        if said.len() == QUEUE_LINES {
            said.remove(0);
        }
        said.push(line);
        return;
    }
    let writer = WRITER.get_or_init(|| {
        let (queue, lines) = mpsc::sync_channel(QUEUE_LINES);
        // Without a thread to write with, the receiver is gone with the closure, and lines
        // are written where they are reported.
        let _ = std::thread::Builder::new()
            .name("report".into())
            .spawn(move || write_lines(lines));
        Writer {
            queue,
            dropped: AtomicU64::new(0),
        }
    });
    match writer.queue.try_send(Message::Line(line)) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            writer.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Err(TrySendError::Disconnected(Message::Line(line))) => write(&line),
        Err(TrySendError::Disconnected(_)) => {}
    }
}

fn write_lines(lines: Receiver<Message>) {
    for message in lines {
        match message {
            Message::Line(line) => write(&line),
            Message::Flushed(done) => {
                let _ = done.try_send(());
            }
        }
        let dropped = WRITER
            .get()
            .map_or(0, |writer| writer.dropped.swap(0, Ordering::Relaxed));
        if dropped > 0 {
            write(&format!(
                "{PROGRAM}: warning: {dropped} message(s) were dropped while stderr was not \
                 being read\n"
            ));
        }
    }
}

fn write(line: &str) {
    // One write of the whole line; a stderr that cannot be written to has nobody to tell.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
