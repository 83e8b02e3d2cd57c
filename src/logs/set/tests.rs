//! Model-based test of many logs on one thread: random histories of what servers and
//! logrotate do to several logs in one directory, matched by one glob, applied to real files;
//! every line written must be counted exactly once, and under its own log.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::config::{InputConfig, ParseConfig};
use crate::logs::LogSource;
use crate::metrics::SeriesLimits;
use crate::parse::LogFormat;
use crate::tail::{StartAt, TailConfig};

/// Logs in the directory; more may appear.
const FILES: usize = 3;

#[derive(Debug, Clone)]
enum Action {
    /// A server appends whole lines to log `file`.
    Write(usize, u8),
    /// A server writes part of a line; its next write finishes it.
    WriteHalf(usize),
    /// A server, not yet reopened, writes to the file it had open before a rename.
    WriteToRotated(usize, u8),
    /// The set reads every log a `stat` finds changed, and looks for new files.
    Sweep,
    /// logrotate `create`: rename, then a new empty file at the path.
    RenameAndCreate(usize),
    /// logrotate `copytruncate` (the set reads the log just before and just after).
    CopyTruncate(usize),
    /// The log is deleted; the next write creates it again.
    Delete(usize),
}

fn action() -> impl Strategy<Value = Action> {
    let file = 0..FILES + 1;
    prop_oneof![
        6 => (file.clone(), 1u8..5).prop_map(|(f, n)| Action::Write(f, n)),
        1 => file.clone().prop_map(Action::WriteHalf),
        2 => (file.clone(), 1u8..4).prop_map(|(f, n)| Action::WriteToRotated(f, n)),
        4 => Just(Action::Sweep),
        1 => file.clone().prop_map(Action::RenameAndCreate),
        1 => file.clone().prop_map(Action::CopyTruncate),
        1 => file.prop_map(Action::Delete),
    ]
}

/// One log of the model: what was written to it, what is unfinished, and what the set has
/// had a chance to see.
#[derive(Default)]
struct Log {
    written: u64,
    half: Option<String>,
    rotated: Vec<PathBuf>,
    /// Whether the set has looked at the path since the file there was created. A file
    /// renamed or deleted before that is one nobody can know of: such actions wait.
    seen: bool,
}

struct World {
    _dir: tempfile::TempDir,
    directory: PathBuf,
    following: Following,
    exposition: Exposition,
    logs: Vec<Log>,
}

fn line(file: usize) -> String {
    format!("192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] \"GET /f{file}/x HTTP/1.1\" 200 1")
}

fn append(path: &Path, text: &str) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let directory = dir.path().to_owned();
        let pattern = directory.join("*.log");
        let input = InputConfig {
            sources: vec![LogSource::parse(pattern.to_str().unwrap()).unwrap()],
            max_logs: 100,
            tail: TailConfig {
                path: pattern,
                start_at: StartAt::Beginning,
                max_line_bytes: 1024,
                rotate_wait: Duration::from_secs(3600),
                resume: None,
            },
            parse: ParseConfig {
                format: LogFormat::Common,
                limits: SeriesLimits::default(),
                histogram_bounds: Default::default(),
                max_line_bytes: 1024,
            },
            poll_interval: Duration::from_secs(3600),
            notes: Vec::new(),
            streams: Vec::new(),
            syslog: None,
        };
        let exposition = Exposition::new().unwrap();
        let context = LogContext {
            input,
            exposition: exposition.clone(),
            console: None,
            checkpoints: None,
            resumed: Vec::new(),
            open_files_room: usize::MAX,
        };
        let (watcher, _) = DirectoryWatcher::new();
        World {
            _dir: dir,
            directory,
            following: Following::new(context, watcher),
            exposition,
            logs: (0..=FILES).map(|_| Log::default()).collect(),
        }
    }

    fn path(&self, file: usize) -> PathBuf {
        self.directory.join(format!("f{file}.log"))
    }

    /// What a sweep of the set's loop does, until nothing is left to read.
    fn sweep(&mut self) {
        let mut dirty: HashSet<LogId> = self.following.discover(false).into_iter().collect();
        dirty.extend(self.following.busy());
        while !dirty.is_empty() {
            dirty.retain(|&id| self.following.read(id));
        }
        for file in 0..self.logs.len() {
            self.logs[file].seen = self.path(file).exists();
        }
    }

    fn write(&mut self, file: usize, path: &Path, count: u8) {
        let log = &mut self.logs[file];
        let mut text = log.half.take().unwrap_or_default();
        for _ in 0..count {
            text.push_str(&line(file));
            text.push('\n');
        }
        log.written += u64::from(count);
        if !path.exists() {
            log.seen = false;
        }
        append(path, &text);
    }

    fn apply(&mut self, action: &Action) {
        match *action {
            Action::Write(file, count) => self.write(file, &self.path(file), count),
            Action::WriteHalf(file) => {
                let path = self.path(file);
                let log = &mut self.logs[file];
                if log.half.is_none() {
                    log.seen &= path.exists();
                    let line = line(file);
                    let (head, tail) = line.split_at(line.len() / 2);
                    append(&path, head);
                    log.half = Some(format!("{tail}\n"));
                    log.written += 1;
                }
            }
            Action::WriteToRotated(file, count) => {
                // A server finishes its line in the file it started it in.
                if self.logs[file].half.is_none() {
                    if let Some(old) = self.logs[file].rotated.last().cloned() {
                        self.write(file, &old, count);
                    }
                }
            }
            Action::Sweep => self.sweep(),
            Action::RenameAndCreate(file) => {
                let path = self.path(file);
                let log = &mut self.logs[file];
                if log.half.is_none() && log.seen && path.exists() {
                    let old = path.with_extension(format!("log.{}", log.rotated.len() + 1));
                    fs::rename(&path, &old).unwrap();
                    append(&path, "");
                    log.rotated.push(old);
                    log.seen = false;
                }
            }
            Action::CopyTruncate(file) => {
                let path = self.path(file);
                if self.logs[file].half.is_none() && path.exists() {
                    self.sweep();
                    OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .unwrap()
                        .set_len(0)
                        .unwrap();
                    self.sweep();
                }
            }
            Action::Delete(file) => {
                let path = self.path(file);
                let log = &self.logs[file];
                if log.half.is_none() && log.seen && path.exists() {
                    fs::remove_file(&path).unwrap();
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn every_line_is_counted_once_under_its_own_log(
        actions in proptest::collection::vec(action(), 1..40)
    ) {
        let mut world = World::new();
        for action in &actions {
            world.apply(action);
        }
        for file in 0..world.logs.len() {
            if let Some(rest) = world.logs[file].half.take() {
                append(&world.path(file), &rest);
            }
        }
        world.sweep();
        let text = world.exposition.encode();
        let mut total = 0;
        for (file, log) in world.logs.iter().enumerate() {
            let series = format!(
                "accesslog_http_requests_total{{log=\"f{file}\",method=\"GET\",section=\"/f{file}\",status=\"200\"}}"
            );
            let counted = text
                .lines()
                .find_map(|l| l.strip_prefix(&series)?.strip_prefix(' ')?.parse::<u64>().ok())
                .unwrap_or(0);
            prop_assert_eq!(counted, log.written, "f{}: {}", file, text);
            total += log.written;
        }
        let counted: f64 = text
            .lines()
            .filter(|l| l.starts_with("accesslog_http_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        prop_assert_eq!(counted, total as f64, "no line under another log: {}", text);
    }
}
