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

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::FileIdentity;

const HEADER: &str = "accesslog-exporter position 1";

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
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    parse(&text).map(Some).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("expected a position file (`{HEADER}`, device, inode, offset); delete it to start afresh"),
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
    let temporary = temporary_beside(path);
    let mut file = File::create(&temporary)?;
    write!(
        file,
        "{HEADER}\ndevice {}\ninode {}\noffset {}\n",
        position.identity.device, position.identity.inode, position.offset
    )?;
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
}
