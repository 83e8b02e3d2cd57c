//! Where reading stopped, kept in a file so that a restart resumes there.
//!
//! The file is small text, written whole to a temporary file beside it, synced, and renamed
//! over the old one (then the directory synced), so a crash leaves the old position or the new
//! one, never a torn one:
//!
//! ```text
//! accesslog-exporter position 1
//! device 2049
//! inode 1835018
//! offset 91234
//! ```
//!
//! With several logs, a line a log: device, inode, offset, and the path it was followed at:
//!
//! ```text
//! accesslog-exporter positions 1
//! 2049 1835018 91234 /var/log/nginx/shop.access.log
//! ```

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::FileIdentity;

const HEADER: &str = "accesslog-exporter position 1";
const MANY_HEADER: &str = "accesslog-exporter positions 1";

/// A place in a file: which file, and the offset just after the last whole line read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The file, by device and inode.
    pub identity: FileIdentity,
    /// Bytes from the file's start to the end of the last whole line read.
    pub offset: u64,
}

/// Reads a position file; `Ok(None)` if there is none yet.
pub fn load(path: &Path) -> io::Result<Option<Position>> {
    load_with(path, parse, || format!("`{HEADER}`, device, inode, offset"))
}

/// The file at `path` read by `parse`; `Ok(None)` if there is no file, and an error saying
/// what was `expected` if `parse` finds none in it.
fn load_with<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Option<T>,
    expected: impl FnOnce() -> String,
) -> io::Result<Option<T>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    parse(&text).map(Some).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "expected a position file ({}); delete it to start afresh",
                expected()
            ),
        )
    })
}

fn parse(text: &str) -> Option<Position> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let mut field =
        |name: &str| -> Option<u64> { lines.next()?.strip_prefix(name)?.trim().parse().ok() };
    let (device, inode, offset) = (field("device ")?, field("inode ")?, field("offset ")?);
    Some(Position {
        identity: FileIdentity { device, inode },
        offset,
    })
}

/// Whether positions can be saved at `path`: creates and removes the temporary file [`save`]
/// writes first.
pub fn check_writable(path: &Path) -> io::Result<()> {
    let temporary = temporary_beside(path);
    File::create(&temporary)?;
    fs::remove_file(temporary)
}

fn temporary_beside(path: &Path) -> PathBuf {
    path.with_extension("tmp")
}

/// Writes `position` to `path` so that a crash at any moment leaves a whole file.
pub fn save(path: &Path, position: &Position) -> io::Result<()> {
    let text = format!(
        "{HEADER}\ndevice {}\ninode {}\noffset {}\n",
        position.identity.device, position.identity.inode, position.offset
    );
    write_whole(path, &text)
}

/// Writes the positions of several logs, each with the path it was followed at, as [`save`]
/// does one. A path with a line break in it cannot be written, and is left out.
pub fn save_many(path: &Path, positions: &[(PathBuf, Position)]) -> io::Result<()> {
    let mut text = format!("{MANY_HEADER}\n");
    for (log, position) in positions {
        let Some(log) = log.to_str().filter(|log| !log.contains('\n')) else {
            continue;
        };
        let (identity, offset) = (position.identity, position.offset);
        text.push_str(&format!(
            "{} {} {offset} {log}\n",
            identity.device, identity.inode
        ));
    }
    write_whole(path, &text)
}

/// Reads what [`save_many`] wrote; `Ok(None)` if there is no file yet.
pub fn load_many(path: &Path) -> io::Result<Option<Vec<(PathBuf, Position)>>> {
    load_with(path, parse_many, || {
        format!("`{MANY_HEADER}`, then device, inode, offset and path a line")
    })
}

fn parse_many(text: &str) -> Option<Vec<(PathBuf, Position)>> {
    let mut lines = text.lines();
    if lines.next()? != MANY_HEADER {
        return None;
    }
    lines
        .map(|line| {
            let mut words = line.splitn(4, ' ');
            let mut number = || words.next()?.parse().ok();
            let (device, inode, offset) = (number()?, number()?, number()?);
            let position = Position {
                identity: FileIdentity { device, inode },
                offset,
            };
            Some((PathBuf::from(words.next()?), position))
        })
        .collect()
}

fn write_whole(path: &Path, text: &str) -> io::Result<()> {
    let temporary = temporary_beside(path);
    let mut file = File::create(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&temporary, path)?;
    File::open(super::directory_of(path))?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_positions_load_back_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("position");
        assert_eq!(load(&path).unwrap(), None);
        let position = Position {
            identity: FileIdentity {
                device: 2049,
                inode: u64::MAX,
            },
            offset: 91_234,
        };
        save(&path, &position).unwrap();
        assert_eq!(load(&path).unwrap(), Some(position));
        assert!(!temporary_beside(&path).exists());

        fs::write(&path, "device 1\ninode 2\noffset 3\n").unwrap();
        let error = load(&path).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("expected a position file"));
    }

    #[test]
    fn several_logs_positions_load_back_with_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions");
        assert_eq!(load_many(&path).unwrap(), None);
        let at = |inode, offset| Position {
            identity: FileIdentity { device: 7, inode },
            offset,
        };
        let positions = vec![
            (PathBuf::from("/var/log/nginx/shop.access.log"), at(1, 10)),
            (PathBuf::from("/srv/with space/access.log"), at(2, 0)),
        ];
        let mut written = positions.clone();
        written.push((PathBuf::from("/bad\nname"), at(3, 5)));
        save_many(&path, &written).unwrap();
        assert_eq!(load_many(&path).unwrap(), Some(positions));
        save(&path, &at(1, 1)).unwrap();
        assert!(load_many(&path)
            .unwrap_err()
            .to_string()
            .contains("positions 1"));
    }
}
