//! Following every file the sources name, each into metrics of its own (see the module
//! above): a thread looks for new matches every poll interval, starts a follower for each,
//! and lets go of a file a glob found once it has been gone for `--rotate-wait`.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{matching_paths, LogNames};
use crate::checkpoint::CheckpointSet;
use crate::cli::InputConfig;
use crate::ingest::Ingest;
use crate::metrics::{ExporterMetrics, Exposition};
use crate::monitor::LiveMonitor;
use crate::tail::{FollowThread, Position, StartAt};

/// The console monitor, fed by every log's follower: it shows their traffic together.
pub type SharedConsole = Arc<Mutex<LiveMonitor<io::Stdout>>>;

/// Follows every file `--log-file` names, each into its own `log`-labelled metrics: a thread
/// looks for new matches every poll interval, starts a follower for each, and lets go of a
/// file a glob found once it has been gone for `--rotate-wait` (its series with it).
pub struct LogSet {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

struct FollowedLog {
    metrics: ExporterMetrics,
    follower: FollowThread,
    from_glob: bool,
    missing_since: Option<Instant>,
}

impl LogSet {
    /// Starts the thread that follows every file the context's sources name.
    pub fn start(context: LogContext) -> io::Result<LogSet> {
        let (stop, stopped) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("logs".into())
            .spawn(move || {
                let mut followed = BTreeMap::new();
                let mut names = LogNames::default();
                let mut cap_said = false;
                // The last failure said for each path that could not be followed: said again
                // only when it changes, not every poll.
                let mut failures: HashMap<PathBuf, String> = HashMap::new();
                let mut at_start = true;
                let input = &context.input;
                loop {
                    let found = matching_paths(&input.sources);
                    let_go(&context, &found, &mut followed, &mut names);
                    for path in found {
                        if followed.contains_key(&path) {
                            continue;
                        }
                        if followed.len() >= input.max_logs {
                            if !cap_said {
                                cap_said = true;
                                eprintln!(
                                    "accesslog-exporter: warning: more than {} files match \
                                     --log-file; the rest are not followed (--max-logs)",
                                    input.max_logs
                                );
                            }
                            break;
                        }
                        let name = names.name(&path, &input.sources);
                        match follow_log(&context, &path, &name, at_start) {
                            Ok(log) => {
                                failures.remove(&path);
                                followed.insert(path, log);
                            }
                            Err(error) => {
                                names.release(&path);
                                let message = error.to_string();
                                if failures.get(&path) != Some(&message) {
                                    eprintln!(
                                        "accesslog-exporter: warning: {}: {message}",
                                        path.display()
                                    );
                                    failures.insert(path, message);
                                }
                            }
                        }
                    }
                    at_start = false;
                    if !matches!(
                        stopped.recv_timeout(input.poll_interval),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    ) {
                        break;
                    }
                }
                for (_, log) in followed {
                    log.follower.stop();
                }
            })?;
        Ok(LogSet { stop, thread })
    }

    /// Stops following every log, and waits for it.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

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
    /// Where the last run stopped, a log path each (`--position-file`).
    pub resumed: Vec<(PathBuf, Position)>,
}

/// Starts following `path`: from where the last run stopped if `--position-file` says, else
/// from where `--from-beginning` says if it was there at start, from its beginning if it
/// appeared since.
fn follow_log(
    context: &LogContext,
    path: &Path,
    name: &str,
    at_start: bool,
) -> Result<FollowedLog, Box<dyn std::error::Error>> {
    let input = &context.input;
    let mut tail = input.tail.clone();
    tail.path = path.to_owned();
    if !at_start {
        tail.start_at = StartAt::Beginning;
    }
    tail.resume = context
        .resumed
        .iter()
        .find(|(log, _)| at_start && log == path)
        .map(|(_, position)| *position);
    let metrics = context.exposition.log(Some(name))?;
    let ingest = Ingest::served(
        input.parse.format.clone(),
        metrics.clone(),
        input.parse.limits,
        context.console.clone(),
        context
            .checkpoints
            .as_ref()
            .map(|checkpoints| checkpoints.add(path)),
    );
    let follower = match FollowThread::start(tail, input.poll_interval, ingest) {
        Ok(follower) => follower,
        Err(error) => {
            // Undone, so that the next poll can try again from nothing.
            forget(context, path, &metrics);
            return Err(error.into());
        }
    };
    let from_glob = !input
        .sources
        .iter()
        .any(|source| !source.is_glob && source.pattern == path);
    Ok(FollowedLog {
        metrics,
        follower,
        from_glob,
        missing_since: None,
    })
}

/// Lets go of the files a glob found that have matched no more for `--rotate-wait`: a
/// rotation makes a file vanish only for a moment.
fn let_go(
    context: &LogContext,
    found: &[PathBuf],
    followed: &mut BTreeMap<PathBuf, FollowedLog>,
    names: &mut LogNames,
) {
    let now = Instant::now();
    let mut gone = Vec::new();
    for (path, log) in followed.iter_mut().filter(|(_, log)| log.from_glob) {
        if found.contains(path) {
            log.missing_since = None;
        } else if now.duration_since(*log.missing_since.get_or_insert(now))
            >= context.input.tail.rotate_wait
        {
            gone.push(path.clone());
        }
    }
    for path in gone {
        if let Some(log) = followed.remove(&path) {
            log.follower.stop();
            forget(context, &path, &log.metrics);
            names.release(&path);
            eprintln!(
                "accesslog-exporter: {} matches --log-file no more; let go",
                path.display()
            );
        }
    }
}

/// Takes a log's series and position out: it is no longer followed.
fn forget(context: &LogContext, path: &Path, metrics: &ExporterMetrics) {
    metrics.remove();
    if let Some(checkpoints) = &context.checkpoints {
        checkpoints.remove(path);
    }
}
