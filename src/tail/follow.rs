//! Running a [`Tailer`] as the file changes, until told to stop.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use super::{TailSink, Tailer};

/// A tailer with its wake-ups: file-system events on the log's directory, a poll interval as
/// the fallback (and for file systems without events), and a stop request.
pub struct Follower {
    tailer: Tailer,
    wake: Receiver<()>,
    waker: SyncSender<()>,
    stop: Arc<AtomicBool>,
    poll_interval: Duration,
    // Dropping the watcher ends its events, so it lives as long as the follower.
    _watcher: Option<RecommendedWatcher>,
}

/// Asks a running [`follow`] to return. Cheap to clone and send to other threads.
#[derive(Clone, Debug)]
pub struct StopHandle {
    stop: Arc<AtomicBool>,
    waker: SyncSender<()>,
}

impl StopHandle {
    /// Makes [`follow`] return after the poll under way, without waiting for the interval.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        wake(&self.waker);
    }
}

impl Follower {
    /// Prepares to follow; watches the log's directory where the OS allows it. Returns the
    /// follower and, if the directory cannot be watched, why (polling still works).
    pub fn new(tailer: Tailer, poll_interval: Duration) -> (Follower, Option<notify::Error>) {
        // One pending wake-up is enough: a poll reads everything there is, however many
        // events led to it.
        let (waker, wake_rx) = mpsc::sync_channel(1);
        let (watcher, watch_error) = match watch_directory_of(tailer.path(), waker.clone()) {
            Ok(watcher) => (Some(watcher), None),
            Err(error) => (None, Some(error)),
        };
        let follower = Follower {
            tailer,
            wake: wake_rx,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            poll_interval,
            _watcher: watcher,
        };
        (follower, watch_error)
    }

    /// A handle that stops [`follow`] from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            stop: Arc::clone(&self.stop),
            waker: self.waker.clone(),
        }
    }
}

/// Polls the tailer whenever woken, until [`StopHandle::stop`] is called.
pub fn follow(mut follower: Follower, sink: &mut impl TailSink) {
    while !follower.stop.load(Ordering::SeqCst) {
        let more = follower.tailer.poll(sink);
        sink.polled();
        if let Some(position) = follower.tailer.position() {
            sink.read_to(position);
        }
        if more {
            continue;
        }
        match follower.wake.recv_timeout(follower.poll_interval) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn wake(waker: &SyncSender<()>) {
    match waker.try_send(()) {
        Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
    }
}

fn watch_directory_of(path: &Path, waker: SyncSender<()>) -> notify::Result<RecommendedWatcher> {
    let directory = super::directory_of(path);
    // Every event in the directory wakes the tailer, not only those naming the log: the
    // server may be writing to the rotated file under its new name.
    let mut watcher = notify::recommended_watcher(move |_event| wake(&waker))?;
    watcher.watch(directory, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// A [`Follower`] running on a thread of its own.
pub struct FollowThread {
    stop: StopHandle,
    thread: std::thread::JoinHandle<()>,
}

impl FollowThread {
    /// Starts following the log `config` names on a thread of its own, feeding `sink`. A log
    /// whose directory gives no file-system events is said once on stderr, and polled.
    pub fn start<S: TailSink + Send + 'static>(
        config: super::TailConfig,
        poll_interval: Duration,
        mut sink: S,
    ) -> std::io::Result<FollowThread> {
        let path = config.path.clone();
        let (follower, watch_error) = Follower::new(Tailer::new(config), poll_interval);
        if let Some(error) = watch_error {
            eprintln!(
                "accesslog-exporter: no file-system events for {} ({error}); checking every {}",
                path.display(),
                humantime::format_duration(poll_interval)
            );
        }
        let stop = follower.stop_handle();
        let thread = std::thread::Builder::new()
            .name("follow".into())
            .spawn(move || follow(follower, &mut sink))?;
        Ok(FollowThread { stop, thread })
    }

    /// Stops following and waits for the thread to end.
    pub fn stop(self) {
        self.stop.stop();
        let _ = self.thread.join();
    }
}
