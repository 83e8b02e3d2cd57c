//! One file-system watcher for every directory a log is in: one inotify instance (and the one
//! thread `notify` reads it on) however many logs are followed.
//!
//! The watcher only notes which paths changed and wakes whoever waits; the thread that follows
//! the logs takes the changes and reads what they name. Where a directory cannot be watched
//! (no inotify, a file system without events), its logs are polled instead.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

/// Paths held between two takes before the watcher gives up naming them and asks for a look
/// at everything: a burst of changes must not grow memory without bound.
const MAX_CHANGED_PATHS: usize = 100_000;

/// What changed since the last [`DirectoryWatcher::take_changes`].
#[derive(Debug, Default)]
pub struct Changes {
    /// Paths written to, created, removed or renamed, as `directory/name` with the directory
    /// as it was given to [`DirectoryWatcher::watch`].
    pub paths: HashSet<PathBuf>,
    /// A file was created, removed or renamed: what a glob matches may have changed.
    pub names_changed: bool,
    /// Events were lost (the kernel's queue overflowed, or too many paths): look at everything.
    pub everything: bool,
}

#[derive(Debug, Default)]
struct Shared {
    changes: Mutex<Changes>,
}

impl Shared {
    fn changes(&self) -> std::sync::MutexGuard<'_, Changes> {
        self.changes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Wakes a thread blocked in [`DirectoryWatcher::wait`]. Cheap to clone and send.
#[derive(Clone, Debug)]
pub struct Waker(SyncSender<()>);

impl Waker {
    /// Wakes the waiting thread, or makes its next wait return at once.
    pub fn wake(&self) {
        match self.0.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }
}

/// Watches directories, counting how many logs need each, and gathers what changed in them.
pub struct DirectoryWatcher {
    watcher: Option<RecommendedWatcher>,
    watched: HashMap<PathBuf, usize>,
    unwatched: HashMap<PathBuf, usize>,
    shared: Arc<Shared>,
    wake: Receiver<()>,
    waker: Waker,
}

impl DirectoryWatcher {
    /// A watcher with no directory yet. Without file-system events at all (the OS refused an
    /// inotify instance), every directory is polled, and the error says why.
    pub fn new() -> (DirectoryWatcher, Option<notify::Error>) {
        // One pending wake-up is enough: a wake reads all the changes gathered by then.
        let (waker, wake) = mpsc::sync_channel(1);
        let waker = Waker(waker);
        let shared = Arc::new(Shared::default());
        let (watcher, error) = {
            let (shared, waker) = (Arc::clone(&shared), waker.clone());
            match notify::recommended_watcher(move |event| note(&shared, &waker, event)) {
                Ok(watcher) => (Some(watcher), None),
                Err(error) => (None, Some(error)),
            }
        };
        let watcher = DirectoryWatcher {
            watcher,
            watched: HashMap::new(),
            unwatched: HashMap::new(),
            shared,
            wake,
            waker,
        };
        (watcher, error)
    }

    /// Watches `directory` for one more log. Returns why not if it cannot be watched: that
    /// log must then be polled.
    pub fn watch(&mut self, directory: &Path) -> Result<(), notify::Error> {
        if let Some(count) = self.watched.get_mut(directory) {
            *count += 1;
            return Ok(());
        }
        let result = match (&mut self.watcher, network_file_system(directory)) {
            (_, Some(kind)) => Err(notify::Error::generic(&format!(
                "on {kind}, whose changes made by other hosts give no events"
            ))),
            (Some(watcher), None) => watcher.watch(directory, RecursiveMode::NonRecursive),
            (None, None) => Err(notify::Error::generic(
                "no file-system events on this system",
            )),
        };
        let counts = match result {
            Ok(()) => &mut self.watched,
            Err(_) => &mut self.unwatched,
        };
        *counts.entry(directory.to_owned()).or_default() += 1;
        result
    }

    /// One log fewer needs `directory`; the last one to go stops the watch.
    pub fn unwatch(&mut self, directory: &Path) {
        for (counts, watched) in [(&mut self.watched, true), (&mut self.unwatched, false)] {
            if let Some(count) = counts.get_mut(directory) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(directory);
                    if let (true, Some(watcher)) = (watched, &mut self.watcher) {
                        // Gone already if the directory was removed: nothing to undo.
                        let _ = watcher.unwatch(directory);
                    }
                }
                return;
            }
        }
    }

    /// Whether events come for `directory`.
    pub fn is_watched(&self, directory: &Path) -> bool {
        self.watched.contains_key(directory)
    }

    /// Blocks until something changed, [`Waker::wake`] was called, or `timeout` passed.
    pub fn wait(&self, timeout: Duration) {
        match self.wake.recv_timeout(timeout) {
            Ok(()) | Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
        }
    }

    /// What changed since the last call.
    pub fn take_changes(&self) -> Changes {
        std::mem::take(&mut *self.shared.changes())
    }

    /// A handle that wakes [`DirectoryWatcher::wait`] from another thread.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }
}

/// The kind of network file system `directory` is on, if it is on one: inotify sees only the
/// changes this host makes there.
fn network_file_system(directory: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    const KINDS: [(i64, &str); 9] = [
        (0x6969, "NFS"),
        (0x517B, "SMB"),
        (0xFF53_4D42, "CIFS"),
        (0xFE53_4D42, "SMB2"),
        (0x6573_5546, "FUSE"),
        (0x0102_1997, "9P"),
        (0x00C3_6400, "Ceph"),
        (0x5346_414F, "AFS"),
        (0x7375_7245, "Coda"),
    ];
    let path = std::ffi::CString::new(directory.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs writes into the zeroed struct given, and reads the C string.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    let kind = stats.f_type as i64;
    KINDS
        .iter()
        .find(|(magic, _)| *magic == kind)
        .map(|(_, name)| *name)
}

/// Runs on `notify`'s thread for every event: notes it and wakes the follower.
fn note(shared: &Shared, waker: &Waker, event: notify::Result<notify::Event>) {
    {
        let mut changes = shared.changes();
        match event {
            Ok(event) if !event.need_rescan() => {
                if matches!(
                    event.kind,
                    EventKind::Create(_)
                        | EventKind::Remove(_)
                        | EventKind::Modify(notify::event::ModifyKind::Name(_))
                ) {
                    changes.names_changed = true;
                }
                if !changes.everything {
                    changes.paths.extend(event.paths);
                    if changes.paths.len() > MAX_CHANGED_PATHS {
                        changes.paths = HashSet::new();
                        changes.everything = true;
                    }
                }
            }
            Ok(_) | Err(_) => {
                changes.everything = true;
                changes.names_changed = true;
                changes.paths = HashSet::new();
            }
        }
    }
    waker.wake();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_in_a_watched_directory_wakes_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (mut watcher, error) = DirectoryWatcher::new();
        assert!(error.is_none(), "{error:?}");
        watcher.watch(dir.path()).unwrap();
        watcher.watch(dir.path()).unwrap();
        assert!(watcher.is_watched(dir.path()));
        let log = dir.path().join("access.log");
        std::fs::write(&log, "a\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut seen = Changes::default();
        while !seen.paths.contains(&log) {
            assert!(std::time::Instant::now() < deadline, "{seen:?}");
            watcher.wait(Duration::from_secs(10));
            let changes = watcher.take_changes();
            seen.paths.extend(changes.paths);
            seen.names_changed |= changes.names_changed;
        }
        assert!(seen.names_changed, "a created file changes names");

        // Still watched for the second log; the last one stops the watch.
        watcher.unwatch(dir.path());
        assert!(watcher.is_watched(dir.path()));
        watcher.unwatch(dir.path());
        assert!(!watcher.is_watched(dir.path()));

        let missing = dir.path().join("no such directory");
        assert!(watcher.watch(&missing).is_err());
        assert!(!watcher.is_watched(&missing));
        watcher.unwatch(&missing);
    }

    #[test]
    fn a_waker_ends_a_wait_from_another_thread() {
        let (watcher, _) = DirectoryWatcher::new();
        let waker = watcher.waker();
        let started = std::time::Instant::now();
        std::thread::spawn(move || waker.wake());
        watcher.wait(Duration::from_secs(3600));
        assert!(started.elapsed() < Duration::from_secs(600));
    }
}
