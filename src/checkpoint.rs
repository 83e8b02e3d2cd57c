//! The read position kept between runs (`--position-file`): where reading had got to when the
//! metrics were last scraped.
//!
//! Prometheus sees counts only when it scrapes. Were the position saved as far as the log has
//! been read, a crash would lose whatever was read after the last scrape: counted by a process
//! nobody will scrape again, and not read again by the next one. So a scrape marks the
//! position, and the mark is what is saved. The pipeline publishes a position as it folds the
//! counts of the lines before it into the log's counts, under the lock a scrape marks and
//! writes under, so a mark is exactly as far as the counts the scrape shows. After a restart
//! the lines from the saved mark on are read again: nothing unscraped is skipped, and what is
//! counted twice is at most what was read between the last save and the last scrape.

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
        position::save(path, &scraped)?;
        *saved = Some(scraped);
        Ok(())
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
    pub fn start(
        checkpoints: CheckpointSet,
        path: PathBuf,
        interval: Duration,
    ) -> io::Result<Saver> {
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
    checkpoints: CheckpointSet,
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
                crate::report::warning(format_args!(
                    "{}: saving the read position: {message}",
                    path.display()
                ));
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
    fn the_positions_saved_are_those_of_the_last_scrape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("position");
        let log = dir.path().join("log");
        std::fs::write(&log, "a\nb\n").unwrap();
        let at = |offset| Position {
            identity: crate::tail::FileIdentity::of(&std::fs::metadata(&log).unwrap()),
            offset,
            fingerprint: crate::tail::Fingerprint::default(),
        };
        let saved = || -> Option<Vec<(PathBuf, Position)>> {
            let saved = position::load(&path).unwrap()?;
            Some(
                saved
                    .into_iter()
                    .map(|saved| (saved.path.unwrap(), saved.position))
                    .collect(),
            )
        };
        let set = CheckpointSet::default();
        let checkpoints = set.add(&log);
        checkpoints.read_to(at(2));
        set.save(&path).unwrap();
        assert_eq!(saved(), Some(vec![]), "nothing scraped yet");

        set.mark_scraped();
        checkpoints.read_to(at(4));
        set.save(&path).unwrap();
        assert_eq!(saved(), Some(vec![(log.clone(), at(2))]));

        set.mark_scraped();
        set.save(&path).unwrap();
        assert_eq!(saved(), Some(vec![(log.clone(), at(4))]));

        set.remove(&log);
        set.mark_scraped();
        set.save(&path).unwrap();
        assert_eq!(saved(), Some(vec![]), "a log let go is forgotten");
    }
}
