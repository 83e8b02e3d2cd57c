//! Following a log file the way web servers and logrotate treat it.
//!
//! A file is known by its identity (device + inode), not by its path, so:
//! - **rename + create** (logrotate `create`): the path names a new file. The old file is read to
//!   its end first, then kept open and read for [`TailConfig::rotate_wait`] more, because a
//!   server goes on writing to it until it reopens its log (nginx until it gets `USR1`).
//! - **truncate in place** (logrotate `copytruncate`): the open file is now shorter than what was
//!   read of it; reading starts again at offset 0.
//! - **delete, then create later** / **missing at start**: one [`TailEvent::Missing`], then the
//!   new file is read from its start once it appears.
//!
//! A file's identity is checked again by a fingerprint of its first bytes where it was last
//! seen in another run ([`Position`]): ext4 gives a freed inode to the next new file, so after
//! a restart the device and inode alone may name another log.
//!
//! The tailer knows nothing of formats or metrics: it hands lines (bytes) to a [`TailSink`] and
//! reports what happens as [`TailEvent`]s. [`Tailer::poll`] does the reading, into a buffer
//! the caller owns (one for every tailer of a thread); [`DirectoryWatcher`] says when the
//! files in a directory changed, for any number of tailers at once.
//!
//! Known limit: a truncated file that has grown past the old offset again before the next poll
//! looks like a file that only grew. With inotify the next poll comes within milliseconds of
//! the truncation, so this needs a writer faster than the wake-up.

mod identity;
mod lines;
pub mod position;
mod watch;

pub use identity::{FileIdentity, Fingerprint, FINGERPRINT_BYTES};
pub use lines::{LineSplitter, TailSink};
pub use position::Position;
pub use watch::{Changes, DirectoryWatcher, Waker};

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Size of the read buffer [`Tailer::poll`] reads into.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;
/// How much one poll reads before it returns, so a busy file cannot starve rotation checks.
const MAX_BYTES_PER_POLL: u64 = 16 * 1024 * 1024;

/// Where to start in the file that exists when following begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At its end: history must not look like a burst of new traffic.
    End,
    /// At its beginning.
    Beginning,
}

/// How to follow a file.
#[derive(Debug, Clone)]
pub struct TailConfig {
    /// The path the server writes to.
    pub path: PathBuf,
    /// Where to start in the file present at the first poll (files appearing later are read
    /// from their start).
    pub start_at: StartAt,
    /// The longest line held in memory; longer lines are dropped and reported.
    pub max_line_bytes: usize,
    /// How long a rotated-away file is still read after it last grew.
    pub rotate_wait: Duration,
    /// Where a previous run stopped: used instead of `start_at` when that file is still
    /// there, at the log path or rotated away beside it.
    pub resume: Option<Position>,
}

/// What happened to the followed file.
#[derive(Debug)]
pub enum TailEvent<'a> {
    /// The file at the path was opened; reading starts at `offset`.
    Opened {
        /// The path followed.
        path: &'a Path,
        /// Where reading starts.
        offset: u64,
    },
    /// Nothing is at the path. Reported once until something is there again.
    Missing {
        /// The path followed.
        path: &'a Path,
    },
    /// The path now names another file (rename rotation, or delete and create).
    Rotated {
        /// The path followed.
        path: &'a Path,
    },
    /// A rotated-away file has been read to its end and let go.
    Released,
    /// The position a previous run saved does not name a file that is still there as it was:
    /// the log is read from its start instead.
    PositionStale {
        /// The path followed.
        path: &'a Path,
        /// What was found instead.
        reason: &'static str,
    },
    /// The open file was truncated in place; reading starts again at its beginning.
    Truncated {
        /// The path followed.
        path: &'a Path,
    },
    /// A line longer than the cap was dropped.
    LineTooLong,
    /// Bytes read from any followed file.
    BytesRead(u64),
    /// The path cannot be opened or read. Reported once until the error changes or clears.
    Unreadable {
        /// The path followed.
        path: &'a Path,
        /// Why.
        error: &'a io::Error,
    },
}

/// One open file being read, with the unfinished line that belongs to it.
#[derive(Debug)]
struct OpenFile {
    file: File,
    identity: FileIdentity,
    offset: u64,
    lines: LineSplitter,
    last_growth: Instant,
    // The fingerprint of the last position, and the offset it was taken at: taken again
    // only while the file is shorter than FINGERPRINT_BYTES and has moved on.
    fingerprint: Option<(u64, Fingerprint)>,
}

impl OpenFile {
    /// Reads what has been appended since the last call, up to `budget` bytes. Returns the
    /// number of bytes read.
    fn read_appended(
        &mut self,
        chunk: &mut [u8],
        budget: u64,
        sink: &mut impl TailSink,
    ) -> io::Result<u64> {
        let mut total = 0;
        while total < budget {
            let n = match self.file.read(chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.offset += n as u64;
            total += n as u64;
            sink.event(TailEvent::BytesRead(n as u64));
            self.lines.push(&chunk[..n], sink);
        }
        if total > 0 {
            self.last_growth = Instant::now();
        }
        Ok(total)
    }

    /// Starts again from offset 0 if the file is now shorter than what was read of it.
    fn rewind_if_truncated(&mut self) -> io::Result<bool> {
        if self.file.metadata()?.len() >= self.offset {
            return Ok(false);
        }
        self.file.seek(SeekFrom::Start(0))?;
        self.offset = 0;
        self.lines.reset();
        self.fingerprint = None;
        Ok(true)
    }
}

/// Follows one path across rotations. Call [`Tailer::poll`] whenever the file may have changed.
#[derive(Debug)]
pub struct Tailer {
    config: TailConfig,
    current: Option<OpenFile>,
    rotated: Vec<OpenFile>,
    first_poll: bool,
    missing_reported: bool,
    unreadable_reported: Option<String>,
}

impl Tailer {
    /// A tailer that has opened nothing yet; the first [`Tailer::poll`] opens the file.
    pub fn new(config: TailConfig) -> Tailer {
        Tailer {
            config,
            current: None,
            rotated: Vec::new(),
            first_poll: true,
            missing_reported: false,
            unreadable_reported: None,
        }
    }

    /// The path followed.
    pub fn path(&self) -> &Path {
        &self.config.path
    }

    /// Whether a poll would find nothing, told by one `stat`: the path names the open file,
    /// which is as long as what was read of it, and no rotated-away file is being read.
    pub fn is_idle(&self) -> bool {
        let Some(current) = &self.current else {
            return false;
        };
        self.rotated.is_empty()
            && std::fs::metadata(&self.config.path).is_ok_and(|metadata| {
                FileIdentity::of(&metadata) == current.identity && metadata.len() == current.offset
            })
    }

    /// Whether a rotated-away file is still being read: the server may write to it under a
    /// name nobody watches, so it must be polled.
    pub fn has_rotated(&self) -> bool {
        !self.rotated.is_empty()
    }

    /// Reads everything appended since the last poll into `chunk` (any size; see
    /// [`READ_CHUNK_BYTES`]), noticing rotation and truncation. Returns `true` if it stopped
    /// early with more to read, so the caller polls again soon.
    pub fn poll(&mut self, chunk: &mut [u8], sink: &mut impl TailSink) -> bool {
        let mut budget = MAX_BYTES_PER_POLL;
        // Rotated files hold older lines than the current one: read them first.
        for old in &mut self.rotated {
            match old.read_appended(chunk, budget, sink) {
                Ok(n) => budget = budget.saturating_sub(n),
                Err(error) => sink.event(TailEvent::Unreadable {
                    path: &self.config.path,
                    error: &error,
                }),
            }
        }
        let rotate_wait = self.config.rotate_wait;
        self.rotated.retain_mut(|old| {
            let keep = old.last_growth.elapsed() < rotate_wait;
            if !keep {
                old.lines.finish(sink);
                sink.event(TailEvent::Released);
            }
            keep
        });

        if let Some(current) = &mut self.current {
            match current.rewind_if_truncated() {
                Ok(true) => sink.event(TailEvent::Truncated {
                    path: &self.config.path,
                }),
                Ok(false) => {}
                Err(error) => sink.event(TailEvent::Unreadable {
                    path: &self.config.path,
                    error: &error,
                }),
            }
            match current.read_appended(chunk, budget, sink) {
                Ok(n) => budget = budget.saturating_sub(n),
                Err(error) => sink.event(TailEvent::Unreadable {
                    path: &self.config.path,
                    error: &error,
                }),
            }
        }
        if budget > 0 {
            self.check_path(chunk, sink);
        }
        self.first_poll = false;
        budget == 0
    }

    /// Looks at what the path names now, and switches to it if it is another file.
    fn check_path(&mut self, chunk: &mut [u8], sink: &mut impl TailSink) {
        let metadata = match std::fs::metadata(&self.config.path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                if !self.missing_reported {
                    self.missing_reported = true;
                    self.unreadable_reported = None;
                    sink.event(TailEvent::Missing {
                        path: &self.config.path,
                    });
                }
                return;
            }
            Err(error) => return self.report_unreadable(error, sink),
        };
        self.missing_reported = false;
        let identity = FileIdentity::of(&metadata);
        if self.current.as_ref().map(|c| c.identity) == Some(identity) {
            return;
        }
        let start = match (self.first_poll, self.config.resume.take()) {
            (true, Some(resume)) => Some(self.resume(resume, identity, chunk, sink)),
            _ => self.start_offset_for_new_file(),
        };
        let path = &self.config.path;
        let mut opened = match open_at(path, start, self.config.max_line_bytes) {
            Ok(opened) => opened,
            Err(error) => return self.report_unreadable(error, sink),
        };
        self.unreadable_reported = None;
        if let Some(mut old) = self.current.take() {
            // Whatever reached the old file before the switch is read now; the rest within
            // the rotate wait.
            if let Err(error) = old.read_appended(chunk, u64::MAX, sink) {
                sink.event(TailEvent::Unreadable {
                    path,
                    error: &error,
                });
            }
            old.last_growth = Instant::now();
            self.rotated.push(old);
            sink.event(TailEvent::Rotated { path });
        }
        sink.event(TailEvent::Opened {
            path,
            offset: opened.offset,
        });
        if let Err(error) = opened.read_appended(chunk, MAX_BYTES_PER_POLL, sink) {
            sink.event(TailEvent::Unreadable {
                path,
                error: &error,
            });
        }
        self.current = Some(opened);
    }

    /// Where to start in the file at the log path, given where a previous run stopped. If
    /// that was another file still beside it (rotated while nobody was reading), what was
    /// appended to it is read first, and the log from its start. A position that matches no
    /// file, or a file whose first bytes are not the ones read before (its inode was given
    /// to a new file), is said, and the log is read from its start.
    fn resume(
        &mut self,
        resume: Position,
        identity: FileIdentity,
        chunk: &mut [u8],
        sink: &mut impl TailSink,
    ) -> u64 {
        let path = &self.config.path;
        if resume.identity == identity {
            return match open_log(path) {
                Ok((file, metadata)) if resume.fingerprint.matches(&file).unwrap_or(false) => {
                    // Shorter than where we stopped: truncated meanwhile, and all of it is new.
                    if metadata.len() >= resume.offset {
                        resume.offset
                    } else {
                        0
                    }
                }
                Ok(_) => {
                    sink.event(TailEvent::PositionStale {
                        path,
                        reason: "the file there now is another one with the same inode",
                    });
                    0
                }
                // Said when it is opened for reading, a moment later.
                Err(_) => 0,
            };
        }
        let mut reused = false;
        let rotated = std::fs::read_dir(directory_of(path))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| {
                use std::os::unix::fs::DirEntryExt;
                entry.ino() == resume.identity.inode
            })
            .map(|entry| entry.path())
            .find(|candidate| match open_log(candidate) {
                Ok((file, metadata)) if FileIdentity::of(&metadata) == resume.identity => {
                    let same = resume.fingerprint.matches(&file).unwrap_or(false);
                    reused |= !same;
                    same
                }
                _ => false,
            });
        let Some(rotated) = rotated else {
            sink.event(TailEvent::PositionStale {
                path,
                reason: if reused {
                    "the file it names beside the log is another one with the same inode"
                } else {
                    "the file it names is gone (rotated away and removed or compressed)"
                },
            });
            return 0;
        };
        match open_at(&rotated, Some(resume.offset), self.config.max_line_bytes) {
            Ok(mut old) => {
                sink.event(TailEvent::Opened {
                    path: &rotated,
                    offset: old.offset,
                });
                if let Err(error) = old.read_appended(chunk, u64::MAX, sink) {
                    sink.event(TailEvent::Unreadable {
                        path: &rotated,
                        error: &error,
                    });
                }
                self.rotated.push(old);
            }
            Err(error) => sink.event(TailEvent::Unreadable {
                path: &rotated,
                error: &error,
            }),
        }
        0
    }

    /// Where reading has got to in the file at the log path: after its last whole line.
    /// `None` while no file is open, or its first bytes cannot be read back.
    pub fn position(&mut self) -> Option<Position> {
        let current = self.current.as_mut()?;
        let offset = current.offset - current.lines.pending() as u64;
        let fingerprint = match current.fingerprint {
            Some((at, taken)) if at == offset || taken.bytes == FINGERPRINT_BYTES => taken,
            _ => {
                let taken = Fingerprint::of(&current.file, offset).ok()?;
                current.fingerprint = Some((offset, taken));
                taken
            }
        };
        Some(Position {
            identity: current.identity,
            offset,
            fingerprint,
        })
    }

    fn start_offset_for_new_file(&self) -> Option<u64> {
        match (self.first_poll, self.config.start_at) {
            (true, StartAt::End) => None,
            _ => Some(0),
        }
    }

    fn report_unreadable(&mut self, error: io::Error, sink: &mut impl TailSink) {
        let message = error.to_string();
        if self.unreadable_reported.as_ref() != Some(&message) {
            self.unreadable_reported = Some(message);
            sink.event(TailEvent::Unreadable {
                path: &self.config.path,
                error: &error,
            });
        }
    }
}

/// The directory `path` is in: its parent, or `.` for a bare file name.
pub fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Opens the log (or position file) at `path` for reading: a regular file, or an error saying
/// what else it is.
///
/// The open does not block: opening a FIFO for reading would wait for a writer, and the
/// follower with it.
pub fn open_log(path: &Path) -> io::Result<(File, Metadata)> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let metadata = file.metadata()?;
    let kind = metadata.file_type();
    let other = match () {
        () if kind.is_file() => return Ok((file, metadata)),
        () if kind.is_dir() => "a directory",
        () if kind.is_fifo() => "a FIFO",
        () if kind.is_socket() => "a socket",
        () if kind.is_char_device() || kind.is_block_device() => "a device",
        () => "not a file",
    };
    Err(io::Error::other(format!(
        "is {other}, expected a regular file"
    )))
}

/// Opens `path` at `offset`, or at its end for `None`, and takes the identity of what was
/// opened (not of what the path named a moment before).
fn open_at(path: &Path, offset: Option<u64>, max_line_bytes: usize) -> io::Result<OpenFile> {
    let (mut file, metadata) = open_log(path)?;
    let offset = offset.unwrap_or(metadata.len());
    file.seek(SeekFrom::Start(offset))?;
    Ok(OpenFile {
        file,
        identity: FileIdentity::of(&metadata),
        offset,
        lines: LineSplitter::new(max_line_bytes),
        last_growth: Instant::now(),
        fingerprint: None,
    })
}

/// Reads a whole file once, from start to end, handing an unfinished last line on as a line,
/// then tells the sink the read is over. A gzip file (a rotated log compressed by logrotate) is
/// read decompressed; it is told by its first two bytes, whatever its name.
pub fn read_whole_file(
    path: &Path,
    max_line_bytes: usize,
    sink: &mut impl TailSink,
) -> io::Result<()> {
    let mut file = open_at(path, Some(0), max_line_bytes)?;
    if is_gzip(&file.file)? {
        // Members one after another, as `cat a.gz b.gz` or a writer that appends them makes.
        let decompressed = flate2::read::MultiGzDecoder::new(&mut file.file);
        return read_stream(decompressed, max_line_bytes, sink);
    }
    let mut chunk = vec![0; READ_CHUNK_BYTES];
    file.read_appended(&mut chunk, u64::MAX, sink)?;
    file.lines.finish(sink);
    sink.polled();
    Ok(())
}

/// A file's bytes from its start, decompressed if it is gzip.
pub fn open_whole(path: &Path) -> io::Result<Box<dyn Read>> {
    let file = File::open(path)?;
    Ok(if is_gzip(&file)? {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

/// Reads a stream (stdin, a decompressed file) to its end: lines handed on as each read
/// completes them, whatever pieces the writer wrote, and the sink told after every read that
/// what was there has been read. An unfinished last line is a line: no `\n` will come.
pub fn read_stream(
    mut reader: impl Read,
    max_line_bytes: usize,
    sink: &mut impl TailSink,
) -> io::Result<()> {
    let mut lines = LineSplitter::new(max_line_bytes);
    let mut chunk = vec![0; READ_CHUNK_BYTES];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sink.event(TailEvent::BytesRead(n as u64));
        lines.push(&chunk[..n], sink);
        sink.polled();
    }
    lines.finish(sink);
    sink.polled();
    Ok(())
}

/// The first two bytes of every gzip stream (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `file` starts as a gzip stream, told by its first two bytes whatever its name; its
/// offset is left as it was.
fn is_gzip(file: &File) -> io::Result<bool> {
    let mut magic = [0; 2];
    Ok(std::os::unix::fs::FileExt::read_at(file, &mut magic, 0)? == 2 && magic == GZIP_MAGIC)
}

#[cfg(test)]
mod tests;
