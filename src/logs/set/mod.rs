//! Following every file the sources name, on one thread with one file-system watcher,
//! whatever their number: one plain file is a set of one.
//!
//! The thread owns a [`Tailer`] and a pipeline ([`Ingest`]) for each file, and one read
//! buffer for all. It reads a file when the watcher says its directory saw a change to it,
//! and polls only what events cannot tell about: files in directories without events, log
//! paths that are symbolic links, and rotated-away files the server may still write to under
//! a name nobody follows. Every [`SWEEP_INTERVAL`] it looks at every file, in case an event
//! was lost. What the sources match is looked at again when names change in a watched
//! directory, and at least every sweep; a file a glob found is let go once it has matched no
//! more for `--rotate-wait`.
//!
//! # Performance
//! An idle set costs a wake-up every poll interval and a sweep's `fstat`, `read` and `stat`
//! per file every [`SWEEP_INTERVAL`]; a change costs the reading of the files it names.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{matching_paths, LogNames};
use crate::checkpoint::CheckpointSet;
use crate::config::InputConfig;
use crate::ingest::{Ingest, LogRecorder, RecordConsumer};
use crate::metrics::{ExporterMetrics, Exposition, RequestRecorder};
use crate::monitor::LiveMonitor;
use crate::report;
use crate::syslog::Bound;
use crate::tail::position::SavedPosition;
use crate::tail::{
    directory_of, DirectoryWatcher, StartAt, TailSink, Tailer, Waker, READ_CHUNK_BYTES,
};

/// The console monitor, fed by every log: it shows their traffic together.
pub type SharedConsole = Arc<Mutex<LiveMonitor>>;

/// How often every file is looked at, events or not: the bound on how late a change is
/// noticed when the kernel drops events.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What every log of a [`LogSet`] is followed with.
pub struct LogContext {
    /// The sources, and how each file is followed and parsed.
    pub input: InputConfig,
    /// Where each log's metrics are registered.
    pub exposition: Exposition,
    /// The console monitor every log feeds, if any.
    pub console: Option<SharedConsole>,
    /// Where each log publishes its position, with `--position-file`.
    pub checkpoints: Option<CheckpointSet>,
    /// Where the last run stopped (`--position-file`).
    pub resumed: Vec<SavedPosition>,
    /// How many files may be open under the open-files limit: no more logs are followed.
    pub open_files_room: usize,
}

/// Follows every file the sources name, each into its own metrics, on one thread.
pub struct LogSet {
    stop: Arc<AtomicBool>,
    waker: Waker,
    thread: std::thread::JoinHandle<()>,
    syslog: Option<streams::SyslogThread>,
}

impl LogSet {
    /// Starts the thread that follows every file the context's sources name, the one that
    /// reads stdin if it is a source, and the one that receives syslog on `syslog`.
    pub fn start(context: LogContext, syslog: Option<Bound>) -> io::Result<LogSet> {
        let (watcher, error) = DirectoryWatcher::new();
        if let Some(error) = error {
            report::warning(format_args!(
                "no file-system events ({error}); checking every {}",
                humantime::format_duration(context.input.poll_interval)
            ));
        }
        let syslog = streams::start(&context, syslog)?;
        let stop = Arc::new(AtomicBool::new(false));
        let waker = watcher.waker();
        let mut following = Following::new(context, watcher);
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("logs".into())
                .spawn(move || following.run(&stop))?
        };
        Ok(LogSet {
            stop,
            waker,
            thread,
            syslog,
        })
    }

    /// Stops following every log after the read under way, and waits for it.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.waker.wake();
        let _ = self.thread.join();
        if let Some(syslog) = self.syslog {
            syslog.stop();
        }
    }
}

/// A served log's pipeline: its requests counted, and shown on the console if there is one.
type LogIngest = Ingest<(LogRecorder, Option<SharedConsole>)>;

/// A log's number while it is followed: cheaper to keep in sets than its path.
type LogId = u64;

struct FollowedLog {
    path: PathBuf,
    tailer: Tailer,
    ingest: LogIngest,
    metrics: ExporterMetrics,
    directory: PathBuf,
    // No events tell of it: its directory is not watched, or its path is a link.
    always_polled: bool,
    from_glob: bool,
    missing_since: Option<Instant>,
    // The log's name if its files share it (a named glob).
    shared_name: Option<String>,
}

/// A log whose files count as one (a named glob): its metrics and request counter, and how
/// many of its files are followed.
struct SharedLog {
    metrics: ExporterMetrics,
    recorder: Arc<Mutex<RequestRecorder>>,
    files: usize,
}

/// The state of the following thread.
struct Following {
    context: LogContext,
    watcher: DirectoryWatcher,
    // Boxed: a log's pipeline is kilobytes, and the table keeps spare room.
    logs: HashMap<LogId, Box<FollowedLog>>,
    next_id: LogId,
    by_path: HashMap<PathBuf, LogId>,
    // The path a change to each log is reported under (`directory/name`).
    by_event_path: HashMap<PathBuf, LogId>,
    // Logs read every poll interval: those no event tells of, and those reading a rotated-away
    // file the server may write to under a name no event maps to a log.
    always_polled: HashSet<LogId>,
    rotating: HashSet<LogId>,
    // Files a glob found that it matches no more: looked for every poll interval until they
    // are back or let go.
    vanished: HashSet<LogId>,
    names: LogNames,
    shared: HashMap<String, SharedLog>,
    chunk: Box<[u8]>,
    // The last failure said for each path that could not be followed: said again only when
    // it changes, not every look.
    failures: HashMap<PathBuf, String>,
    cap_said: bool,
    // A glob's new files can appear where no event tells (a directory not watched, or one a
    // wildcard matches): what the sources match is then looked at every sweep.
    discover_every_sweep: bool,
    unwatched_said: HashSet<PathBuf>,
}

impl Following {
    fn new(context: LogContext, mut watcher: DirectoryWatcher) -> Following {
        let mut discover_every_sweep = false;
        for source in context.input.sources.iter().filter(|source| source.is_glob) {
            let directory = fixed_directory(&source.pattern);
            let watched = watcher.watch(&directory).is_ok();
            discover_every_sweep |= !watched || directory != directory_of(&source.pattern);
        }
        Following {
            names: LogNames::new(context.input.labelled())
                .reserving(context.input.reserved_names()),
            shared: HashMap::new(),
            context,
            watcher,
            logs: HashMap::new(),
            next_id: 0,
            by_path: HashMap::new(),
            by_event_path: HashMap::new(),
            always_polled: HashSet::new(),
            rotating: HashSet::new(),
            vanished: HashSet::new(),
            chunk: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
            failures: HashMap::new(),
            cap_said: false,
            discover_every_sweep,
            unwatched_said: HashSet::new(),
        }
    }

    fn run(&mut self, stop: &AtomicBool) {
        let poll_interval = self.context.input.poll_interval;
        self.discover(true);
        let mut dirty: HashSet<LogId> = self.logs.keys().copied().collect();
        let (mut last_discovery, mut last_sweep, mut last_poll) =
            (Instant::now(), Instant::now(), Instant::now());
        let mut names_changed = false;
        while !stop.load(Ordering::SeqCst) {
            let mut more = HashSet::new();
            for id in dirty.drain() {
                if self.read(id) {
                    more.insert(id);
                }
            }
            dirty = more;
            self.tick_console();
            if dirty.is_empty() {
                self.watcher.wait(poll_interval);
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }

            let changes = self.watcher.take_changes();
            names_changed |= changes.names_changed;
            let now = Instant::now();
            let sweep = changes.everything || now.duration_since(last_sweep) >= SWEEP_INTERVAL;
            let polling_due = now.duration_since(last_poll) >= poll_interval;
            if now.duration_since(last_discovery) >= poll_interval
                && (names_changed
                    || changes.everything
                    || (sweep && self.discover_every_sweep)
                    || (polling_due && !self.vanished.is_empty()))
            {
                names_changed = false;
                last_discovery = now;
                dirty.extend(self.discover(false));
            }
            let mut unknown_change = false;
            for changed in &changes.paths {
                match self.by_event_path.get(changed) {
                    Some(&id) => {
                        dirty.insert(id);
                    }
                    None => unknown_change = true,
                }
            }
            if sweep {
                last_sweep = now;
                dirty.extend(self.busy());
                continue;
            }
            if polling_due || unknown_change {
                dirty.extend(self.rotating.iter().copied());
            }
            if polling_due {
                dirty.extend(self.always_polled.iter().copied());
                last_poll = now;
            }
        }
        // Their series and positions stay: the last scrape and the last save come after.
    }

    /// The logs a `stat` finds changed, or that must be read to know.
    fn busy(&self) -> Vec<LogId> {
        let busy = self.logs.iter().filter(|(_, log)| !log.tailer.is_idle());
        busy.map(|(&id, _)| id).collect()
    }

    /// Reads what was appended to log `id`. Returns whether more is left to read.
    fn read(&mut self, id: LogId) -> bool {
        let Some(log) = self.logs.get_mut(&id) else {
            return false;
        };
        let more = log.tailer.poll(&mut self.chunk, &mut log.ingest);
        if let Some(position) = log.tailer.position() {
            log.ingest.read_to(position);
        }
        log.ingest.polled();
        if log.tailer.has_rotated() {
            self.rotating.insert(id);
        } else {
            self.rotating.remove(&id);
        }
        more
    }

    fn tick_console(&mut self) {
        if let Some(console) = &mut self.context.console {
            console.tick();
        }
    }

    /// Starts following what the sources match that is not followed yet, and lets go of the
    /// glob's files gone for longer than `--rotate-wait`. Returns the logs started.
    fn discover(&mut self, at_start: bool) -> Vec<LogId> {
        let found = matching_paths(&self.context.input.sources);
        let found_set: HashSet<&PathBuf> = found.iter().collect();
        self.let_go(&found_set);
        let mut started = Vec::new();
        for path in &found {
            if self.by_path.contains_key(path) {
                continue;
            }
            let (max_logs, room) = (self.context.input.max_logs, self.context.open_files_room);
            if self.logs.len() >= max_logs.min(room) {
                if !self.cap_said {
                    self.cap_said = true;
                    let cap = if max_logs <= room {
                        format!("--max-logs {max_logs}")
                    } else {
                        format!(
                            "the open-files limit leaves room for {room}; raise it with \
                                 ulimit -n or LimitNOFILE="
                        )
                    };
                    report::warning(format_args!(
                        "more than {} files match --log-file; the rest are not followed ({cap})",
                        max_logs.min(room)
                    ));
                }
                break;
            }
            match self.follow(path, at_start) {
                Ok(log) => {
                    self.failures.remove(path);
                    let id = self.next_id;
                    self.next_id += 1;
                    self.by_path.insert(path.clone(), id);
                    self.by_event_path.insert(event_path(path), id);
                    if log.always_polled {
                        self.always_polled.insert(id);
                    }
                    self.logs.insert(id, Box::new(log));
                    started.push(id);
                }
                Err(error) => {
                    let message = error.to_string();
                    if self.failures.get(path) != Some(&message) {
                        report::warning(format_args!("{}: {message}", path.display()));
                        self.failures.insert(path.clone(), message);
                    }
                }
            }
        }
        started
    }

    /// Starts following `path`: from where the last run stopped if `--position-file` says,
    /// else from where `--from-beginning` says if it was there at start, from its beginning
    /// if it appeared since.
    fn follow(&mut self, path: &Path, at_start: bool) -> Result<FollowedLog, prometheus::Error> {
        let context = &self.context;
        let input = &context.input;
        let mut tail = input.tail.clone();
        tail.path = path.to_owned();
        if !at_start {
            tail.start_at = StartAt::Beginning;
        }
        let single = super::is_one_file(&input.sources).then(|| input.sources[0].pattern.clone());
        tail.resume = context
            .resumed
            .iter()
            .find(|saved| at_start && saved.path.as_ref().or(single.as_ref()) == Some(&tail.path))
            .map(|saved| saved.position);
        let source = super::source_of(path, &input.sources);
        let labels = source.map_or(&[][..], |source| &source.labels[..]);
        let shared_name = source
            .filter(|source| source.is_glob)
            .and_then(|source| source.name.clone());
        let (metrics, recorder) = match &shared_name {
            Some(name) => {
                let shared = match self.shared.entry(name.clone()) {
                    Entry::Occupied(shared) => shared.into_mut(),
                    Entry::Vacant(vacant) => {
                        let metrics = context.exposition.log_with_labels(Some(name), labels)?;
                        let recorder = RequestRecorder::new(metrics.clone(), input.parse.limits);
                        vacant.insert(SharedLog {
                            metrics,
                            recorder: Arc::new(Mutex::new(recorder)),
                            files: 0,
                        })
                    }
                };
                shared.files += 1;
                let recorder = LogRecorder::Shared(Arc::clone(&shared.recorder));
                (shared.metrics.clone(), recorder)
            }
            None => {
                let name = self.names.name(path, &input.sources);
                let metrics = match context.exposition.log_with_labels(name.as_deref(), labels) {
                    Ok(metrics) => metrics,
                    Err(error) => {
                        self.names.release(path);
                        return Err(error);
                    }
                };
                let recorder = RequestRecorder::new(metrics.clone(), input.parse.limits);
                (metrics, LogRecorder::Own(recorder))
            }
        };
        let format = super::format_of(path, &input.sources).unwrap_or(&input.parse.format);
        let ingest = Ingest::served(
            format.clone(),
            metrics.clone(),
            recorder,
            context.console.clone(),
            context
                .checkpoints
                .as_ref()
                .map(|checkpoints| checkpoints.add(path)),
        );
        let directory = directory_of(path).to_owned();
        let watched = match self.watcher.watch(&directory) {
            Ok(()) => true,
            Err(error) => {
                if self.unwatched_said.insert(directory.clone()) {
                    report::info(format_args!(
                        "no file-system events for {} ({error}); checking every {}",
                        directory.display(),
                        humantime::format_duration(input.poll_interval)
                    ));
                }
                false
            }
        };
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        let from_glob = !input
            .sources
            .iter()
            .any(|source| !source.is_glob && source.pattern == path);
        Ok(FollowedLog {
            path: path.to_owned(),
            tailer: Tailer::new(tail),
            ingest,
            metrics,
            directory,
            always_polled: !watched || is_link,
            from_glob,
            missing_since: None,
            shared_name,
        })
    }

    /// Lets go of the files a glob found that have matched no more for `--rotate-wait`: a
    /// rotation makes a file vanish only for a moment.
    fn let_go(&mut self, found: &HashSet<&PathBuf>) {
        let now = Instant::now();
        let rotate_wait = self.context.input.tail.rotate_wait;
        let mut gone = Vec::new();
        for (&id, log) in self.logs.iter_mut().filter(|(_, log)| log.from_glob) {
            if found.contains(&log.path) {
                log.missing_since = None;
                self.vanished.remove(&id);
            } else {
                self.vanished.insert(id);
                if now.duration_since(*log.missing_since.get_or_insert(now)) >= rotate_wait {
                    gone.push(id);
                }
            }
        }
        for id in gone {
            if let Some(log) = self.logs.remove(&id) {
                report::info(format_args!(
                    "{} matches --log-file no more; let go",
                    log.path.display()
                ));
                self.forget(id, log);
            }
        }
    }

    /// Takes a log's series, position, names and watch out: it is no longer followed.
    fn forget(&mut self, id: LogId, log: Box<FollowedLog>) {
        self.by_path.remove(&log.path);
        self.by_event_path.remove(&event_path(&log.path));
        self.always_polled.remove(&id);
        self.rotating.remove(&id);
        self.vanished.remove(&id);
        self.names.release(&log.path);
        self.watcher.unwatch(&log.directory);
        if let Some(name) = &log.shared_name {
            let shared = self.shared.get_mut(name).map(|shared| {
                shared.files -= 1;
                shared.files
            });
            // Its series go with its last file.
            if shared != Some(0) {
                return self.forget_position(&log);
            }
            self.shared.remove(name);
        }
        log.metrics.remove();
        self.forget_position(&log);
    }

    fn forget_position(&self, log: &FollowedLog) {
        if let Some(checkpoints) = &self.context.checkpoints {
            checkpoints.remove(log.tailer.path());
        }
    }
}

/// The path a change to `path` is reported under: the directory watched, joined with the
/// file's name.
fn event_path(path: &Path) -> PathBuf {
    match path.file_name() {
        Some(name) => directory_of(path).join(name),
        None => path.to_owned(),
    }
}

/// The directory of a glob before its first wildcard: `/var/log/nginx` for
/// `/var/log/nginx/*.log`, `/srv` for `/srv/*/access.log`.
fn fixed_directory(pattern: &Path) -> PathBuf {
    let mut fixed = PathBuf::new();
    for component in pattern.components() {
        if component
            .as_os_str()
            .to_string_lossy()
            .contains(['*', '?', '['])
        {
            break;
        }
        fixed.push(component);
    }
    if fixed.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        fixed
    }
}

mod streams;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn a_glob_is_watched_in_its_fixed_directory() {
        assert_eq!(
            fixed_directory(Path::new("/var/log/nginx/*.log")),
            Path::new("/var/log/nginx")
        );
        assert_eq!(
            fixed_directory(Path::new("/srv/*/logs/access.log")),
            Path::new("/srv")
        );
        assert_eq!(fixed_directory(Path::new("*.log")), Path::new("."));
        assert_eq!(
            event_path(Path::new("access.log")),
            Path::new("./access.log")
        );
        assert_eq!(
            event_path(Path::new("/var/log/access.log")),
            Path::new("/var/log/access.log")
        );
    }
}
