//! The console's own writer: reports reach stdout from a thread of their own through a bounded
//! queue, so a stdout nobody reads (a paused pager, Ctrl-S, a stalled log shipper) holds up
//! that thread alone, never the pipeline, a scrape or a stop.
//!
//! A report is queued whole and written whole. When the queue is full the newest report is
//! dropped whole and counted; once output flows again the writer says, once, how many were
//! dropped. When the reader goes away (a closed pipe) the writer stops and says so through
//! the callback it was given: the monitor then ends, a server goes on serving.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use prometheus::IntCounter;

use crate::report;

/// Reports held while stdout is blocked before new ones are dropped.
pub const CONSOLE_QUEUE_REPORTS: usize = 64;

/// Where the live monitor sends its rendered reports.
pub struct Console {
    queue: SyncSender<Vec<u8>>,
    shared: Arc<Shared>,
}

struct Shared {
    dropped_unsaid: AtomicU64,
    dropped_metric: Option<IntCounter>,
    closed: AtomicBool,
}

impl Console {
    /// Starts the writer thread on `out`. `dropped_metric` counts the reports dropped while
    /// `out` was blocked; `on_closed` runs once if `out` stops taking bytes.
    pub fn start(
        out: impl Write + Send + 'static,
        dropped_metric: Option<IntCounter>,
        on_closed: impl FnOnce() + Send + 'static,
    ) -> io::Result<Console> {
        let (queue, reports) = mpsc::sync_channel(CONSOLE_QUEUE_REPORTS);
        let shared = Arc::new(Shared {
            dropped_unsaid: AtomicU64::new(0),
            dropped_metric,
            closed: AtomicBool::new(false),
        });
        let writer = Arc::clone(&shared);
        // Never joined: a writer blocked on a stdout nobody reads must not hold up the exit.
        std::thread::Builder::new()
            .name("console".into())
            .spawn(move || write_reports(out, reports, &writer, on_closed))?;
        Ok(Console { queue, shared })
    }

    /// Queues one whole report, or drops it (counted) if the queue is full.
    pub fn send(&self, report: Vec<u8>) {
        match self.queue.try_send(report) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.shared.dropped_unsaid.fetch_add(1, Ordering::Relaxed);
                if let Some(metric) = &self.shared.dropped_metric {
                    metric.inc();
                }
            }
            // Nobody reads the output any more: there is nothing to drop it for.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Whether the output has gone away.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Relaxed)
    }
}

fn write_reports(
    mut out: impl Write,
    reports: Receiver<Vec<u8>>,
    shared: &Shared,
    on_closed: impl FnOnce(),
) {
    for report in reports {
        if out.write_all(&report).and_then(|()| out.flush()).is_err() {
            shared.closed.store(true, Ordering::Relaxed);
            on_closed();
            return;
        }
        let dropped = shared.dropped_unsaid.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            report::warning(format_args!(
                "{dropped} console report(s) were dropped while stdout was not being read \
                 (accesslog_console_reports_dropped_total)"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};

    /// An output that blocks every write until it is opened, then records what it was given.
    #[derive(Clone, Default)]
    struct Gate {
        open: Arc<(Mutex<bool>, Condvar)>,
        written: Arc<(Mutex<Vec<u8>>, Condvar)>,
    }

    impl Gate {
        fn open(&self) {
            *self.open.0.lock().unwrap() = true;
            self.open.1.notify_all();
        }
    }

    impl Write for Gate {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let (open, opened) = &*self.open;
            let _open = opened
                .wait_while(open.lock().unwrap(), |open| !*open)
                .unwrap();
            self.written.0.lock().unwrap().extend_from_slice(bytes);
            self.written.1.notify_all();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_output_drops_whole_reports_and_never_blocks_the_sender() {
        let gate = Gate::default();
        let metric = IntCounter::new("dropped", "dropped").unwrap();
        let console = Console::start(gate.clone(), Some(metric.clone()), || {}).unwrap();
        let total = CONSOLE_QUEUE_REPORTS as u64 + 100;
        for i in 0..total {
            console.send(format!("report {i}\n").into_bytes());
        }
        // One report is with the blocked writer, the queue holds the next ones.
        let dropped = metric.get();
        assert!(
            (99..=100).contains(&dropped),
            "{dropped} dropped of {total}"
        );
        gate.open();
        let (tx, rx) = mpsc::channel();
        let closed = Console::start(FailingOutput, None, move || tx.send(()).unwrap()).unwrap();
        closed.send(b"x\n".to_vec());
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("a closed output is said");
        assert!(closed.is_closed());
        // The gated writer catches up: every report kept is whole and in order.
        let expected = (total - dropped) as usize;
        let (written, grew) = &*gate.written;
        let (written, _) = grew
            .wait_timeout_while(
                written.lock().unwrap(),
                std::time::Duration::from_secs(10),
                |written| written.iter().filter(|&&b| b == b'\n').count() < expected,
            )
            .unwrap();
        let written = String::from_utf8(written.clone()).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), expected, "{written}");
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(*line, format!("report {i}"));
        }
    }

    struct FailingOutput;

    impl Write for FailingOutput {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
