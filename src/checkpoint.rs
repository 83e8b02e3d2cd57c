//! The read position kept between runs (`--position-file`): where reading had got to when the
//! metrics were last scraped.
//!
//! Prometheus sees counts only when it scrapes. Were the position saved as far as the log has
//! been read, a crash would lose whatever was read after the last scrape: counted by a process
//! nobody will scrape again, and not read again by the next one. So a scrape marks the
//! position first, then encodes, and the mark is what is saved. The pipeline publishes a
//! position only once the lines before it are folded into the registry, so a mark is never
//! ahead of the counts the scrape shows. After a restart the lines from the saved mark on are
//! read again: nothing unscraped is skipped, and what is counted twice is at most what was
//! read between the last save and the last scrape.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::tail::{position, Position};

/// Shared between the pipeline, the web server, and the thread that saves.
#[derive(Clone, Debug, Default)]
pub struct Checkpoints {
    marks: Arc<Mutex<Marks>>,
}

#[derive(Debug, Default)]
struct Marks {
    read: Option<Position>,
    scraped: Option<Position>,
    saved: Option<Position>,
}

impl Checkpoints {
    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        // Plain values: a panic elsewhere while holding the lock leaves nothing half-done.
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything before `position` has been counted and folded into the registry.
    pub fn read_to(&self, position: Position) {
        self.marks().read = Some(position);
    }

    /// A scrape is about to encode the metrics: what has been read so far is in them.
    pub fn mark_scraped(&self) {
        let mut marks = self.marks();
        marks.scraped = marks.read;
    }

    /// Saves the position of the last scrape to `path` if it moved since the last save.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let scraped = {
            let marks = self.marks();
            match marks.scraped {
                Some(scraped) if marks.saved != Some(scraped) => scraped,
                _ => return Ok(()),
            }
        };
        position::save(path, &scraped)?;
        self.marks().saved = Some(scraped);
        Ok(())
    }
}

/// Positions of logs, each with the path it is followed at.
type LogPositions = Vec<(PathBuf, Position)>;

/// The positions of several logs, one [`Checkpoints`] a log, saved together in one file.
#[derive(Clone, Debug, Default)]
pub struct CheckpointSet {
    logs: Arc<Mutex<Vec<(PathBuf, Checkpoints)>>>,
    saved: Arc<Mutex<Option<LogPositions>>>,
}

impl CheckpointSet {
    fn logs(&self) -> std::sync::MutexGuard<'_, Vec<(PathBuf, Checkpoints)>> {
        self.logs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The checkpoints of one more log, followed at `path`.
    pub fn add(&self, path: &Path) -> Checkpoints {
        let checkpoints = Checkpoints::default();
        self.logs().push((path.to_owned(), checkpoints.clone()));
        checkpoints
    }

    /// Forgets the log followed at `path`: it is let go, and its position with it.
    pub fn remove(&self, path: &Path) {
        self.logs().retain(|(log, _)| log != path);
    }

    /// A scrape is about to encode the metrics: what every log has read so far is in them.
    pub fn mark_scraped(&self) {
        for (_, checkpoints) in self.logs().iter() {
            checkpoints.mark_scraped();
        }
    }

    /// Saves the positions of the last scrape to `path` if any moved since the last save.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let scraped: LogPositions = self
            .logs()
            .iter()
            .filter_map(|(log, checkpoints)| Some((log.clone(), checkpoints.marks().scraped?)))
            .collect();
        let mut saved = self.saved.lock().unwrap_or_else(PoisonError::into_inner);
        if saved.as_ref() == Some(&scraped) {
            return Ok(());
        }
        position::save_many(path, &scraped)?;
        *saved = Some(scraped);
        Ok(())
    }
}

/// What a scrape marks and the saving thread saves: one log's position or several's.
#[derive(Clone, Debug)]
pub enum Positions {
    /// One log, saved in the one-log format.
    One(Checkpoints),
    /// Several, saved a line each.
    Many(CheckpointSet),
}

impl Positions {
    /// A scrape is about to encode the metrics.
    pub fn mark_scraped(&self) {
        match self {
            Positions::One(checkpoints) => checkpoints.mark_scraped(),
            Positions::Many(set) => set.mark_scraped(),
        }
    }

    fn save(&self, path: &Path) -> io::Result<()> {
        match self {
            Positions::One(checkpoints) => checkpoints.save(path),
            Positions::Many(set) => set.save(path),
        }
    }
}

/// The thread that saves the position of the last scrape every interval, and once more when
/// finished.
pub struct Saver {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Saver {
    /// Starts saving `checkpoints` to `path` every `interval`.
    pub fn start(checkpoints: Positions, path: PathBuf, interval: Duration) -> io::Result<Saver> {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || keep_saving(checkpoints, path, interval, stopped))?;
        Ok(Saver { stop, thread })
    }

    /// Saves once more, the position of the last scrape, and stops.
    pub fn finish(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn keep_saving(
    checkpoints: Positions,
    path: PathBuf,
    interval: Duration,
    stop: mpsc::Receiver<()>,
) {
    let mut reported = None;
    let mut save = || match checkpoints.save(&path) {
        Ok(()) => reported = None,
        Err(error) => {
            let message = error.to_string();
            if reported.as_ref() != Some(&message) {
                eprintln!(
                    "accesslog-exporter: warning: {}: saving the read position: {message}",
                    path.display()
                );
                reported = Some(message);
            }
        }
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        save();
    }
    save();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_saved_is_the_one_of_the_last_scrape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("position");
        let log = dir.path().join("log");
        std::fs::write(&log, "a\nb\n").unwrap();
        let identity = |offset| Position {
            identity: crate::tail::FileIdentity::of(&std::fs::metadata(&log).unwrap()),
            offset,
        };
        let checkpoints = Checkpoints::default();
        checkpoints.read_to(identity(2));
        checkpoints.save(&path).unwrap();
        assert_eq!(position::load(&path).unwrap(), None, "nothing scraped yet");

        checkpoints.mark_scraped();
        checkpoints.read_to(identity(4));
        checkpoints.save(&path).unwrap();
        assert_eq!(position::load(&path).unwrap(), Some(identity(2)));

        checkpoints.mark_scraped();
        checkpoints.save(&path).unwrap();
        assert_eq!(position::load(&path).unwrap(), Some(identity(4)));
    }
}
