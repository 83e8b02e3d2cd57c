//! Where reading stopped, kept in a file so that a restart resumes there.
//!
//! One format for any number of logs, versioned by its first line; a line a log: device,
//! inode, offset, the fingerprint of the file's first bytes (`BYTES:CRC32` in hex) and the path
//! it was followed at:
//!
//! ```text
//! accesslog-exporter positions 2
//! 2049 1835018 91234 256:9a0364b9 /var/log/nginx/shop.access.log
//! ```
//!
//! The two formats of earlier versions are still read: `accesslog-exporter position 1` (one
//! log: `device`, `inode` and `offset` lines, for whichever single log is followed) and
//! `accesslog-exporter positions 1` (the lines above without the fingerprint). Their
//! positions carry no fingerprint, and are trusted on device and inode alone, as then.
//!
//! The file is written whole to a temporary file beside it, synced, and renamed over the old
//! one (then the directory synced), so a crash leaves the old positions or the new ones, never
//! torn ones. It must be a regular file of at most [`MAX_POSITION_FILE_BYTES`]: anything else
//! (a FIFO, a device, a link to one) is refused, never waited on or read without end.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{FileIdentity, Fingerprint};

const HEADER: &str = "accesslog-exporter positions 2";
const HEADER_V1_ONE: &str = "accesslog-exporter position 1";
const HEADER_V1_MANY: &str = "accesslog-exporter positions 1";

/// The largest position file read: a line a log is under 4 KiB even with the longest path,
/// and far fewer logs than this allows are followed.
pub const MAX_POSITION_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A place in a file: which file, and the offset just after the last whole line read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The file, by device and inode.
    pub identity: FileIdentity,
    /// Bytes from the file's start to the end of the last whole line read.
    pub offset: u64,
    /// The file's first bytes (at most as many as `offset`), to tell it from a file that got
    /// its inode later.
    pub fingerprint: Fingerprint,
}

/// One log's saved position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPosition {
    /// The path the log was followed at; `None` in a one-log file of version 1, which is the
    /// position of whichever single log is followed.
    pub path: Option<PathBuf>,
    /// Where reading stopped.
    pub position: Position,
}

/// Reads a position file of any version; `Ok(None)` if there is none yet.
pub fn load(path: &Path) -> io::Result<Option<Vec<SavedPosition>>> {
    let mut file = match open_regular(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut text = String::new();
    Read::by_ref(&mut file)
        .take(MAX_POSITION_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|error| invalid(format!("not text: {error}")))?;
    if text.len() as u64 > MAX_POSITION_FILE_BYTES {
        return Err(invalid(format!(
            "larger than {MAX_POSITION_FILE_BYTES} bytes"
        )));
    }
    parse(&text).map(Some).ok_or_else(|| {
        invalid(format!(
            "expected a position file (`{HEADER}`, then device, inode, offset, fingerprint \
             and path a line)"
        ))
    })
}

fn invalid(message: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{message}; delete it to start afresh"),
    )
}

/// Opens `path` for reading if it is a regular file, without waiting (a FIFO would block),
/// as a log is opened.
fn open_regular(path: &Path) -> io::Result<File> {
    super::open_log(path).map(|(file, _)| file)
}

fn parse(text: &str) -> Option<Vec<SavedPosition>> {
    let mut lines = text.lines();
    match lines.next()? {
        HEADER => lines.map(|line| parse_line(line, true)).collect(),
        HEADER_V1_MANY => lines.map(|line| parse_line(line, false)).collect(),
        HEADER_V1_ONE => {
            let mut field = |name: &str| -> Option<u64> {
                lines.next()?.strip_prefix(name)?.trim().parse().ok()
            };
            let (device, inode, offset) = (field("device ")?, field("inode ")?, field("offset ")?);
            Some(vec![SavedPosition {
                path: None,
                position: Position {
                    identity: FileIdentity { device, inode },
                    offset,
                    fingerprint: Fingerprint::default(),
                },
            }])
        }
        _ => None,
    }
}

fn parse_line(line: &str, with_fingerprint: bool) -> Option<SavedPosition> {
    let words = if with_fingerprint { 5 } else { 4 };
    let mut words = line.splitn(words, ' ');
    let mut number = || words.next()?.parse().ok();
    let (device, inode, offset) = (number()?, number()?, number()?);
    let fingerprint = if with_fingerprint {
        let (bytes, crc32) = words.next()?.split_once(':')?;
        let fingerprint = Fingerprint {
            bytes: bytes.parse().ok()?,
            crc32: u32::from_str_radix(crc32, 16).ok()?,
        };
        (fingerprint.bytes <= super::FINGERPRINT_BYTES).then_some(fingerprint)?
    } else {
        Fingerprint::default()
    };
    let path = words.next().filter(|path| !path.is_empty())?;
    Some(SavedPosition {
        path: Some(PathBuf::from(path)),
        position: Position {
            identity: FileIdentity { device, inode },
            offset,
            fingerprint,
        },
    })
}

/// Whether positions can be saved at `path`: refuses what [`load`] would not read, then
/// creates and removes the temporary file [`save`] writes first.
pub fn check_writable(path: &Path) -> io::Result<()> {
    match open_regular(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let temporary = temporary_beside(path);
    File::create(&temporary)?;
    fs::remove_file(temporary)
}

fn temporary_beside(path: &Path) -> PathBuf {
    path.with_extension("tmp")
}

/// Writes the positions of the logs, each with the path it was followed at, so that a crash
/// at any moment leaves a whole file. A path with a line break in it cannot be written, and
/// is left out.
pub fn save(path: &Path, positions: &[(PathBuf, Position)]) -> io::Result<()> {
    let mut text = format!("{HEADER}\n");
    for (log, position) in positions {
        let Some(log) = log.to_str().filter(|log| !log.contains('\n')) else {
            continue;
        };
        let Position {
            identity,
            offset,
            fingerprint,
        } = position;
        text.push_str(&format!(
            "{} {} {offset} {}:{:08x} {log}\n",
            identity.device, identity.inode, fingerprint.bytes, fingerprint.crc32
        ));
    }
    write_whole(path, &text)
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

    fn at(inode: u64, offset: u64) -> Position {
        Position {
            identity: FileIdentity { device: 7, inode },
            offset,
            fingerprint: Fingerprint {
                bytes: 12,
                crc32: 0xfeed_beef,
            },
        }
    }

    #[test]
    fn saved_positions_load_back_with_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions");
        assert_eq!(load(&path).unwrap(), None);
        let positions = vec![
            (PathBuf::from("/var/log/nginx/shop.access.log"), at(1, 10)),
            (PathBuf::from("/srv/with space/access.log"), at(u64::MAX, 0)),
        ];
        let mut written = positions.clone();
        written.push((PathBuf::from("/bad\nname"), at(3, 5)));
        save(&path, &written).unwrap();
        let loaded: Vec<_> = load(&path)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|saved| (saved.path.unwrap(), saved.position))
            .collect();
        assert_eq!(loaded, positions);
        assert!(!temporary_beside(&path).exists());
    }

    #[test]
    fn both_formats_of_version_1_are_read_without_fingerprints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("position");
        fs::write(
            &path,
            "accesslog-exporter position 1\ndevice 2049\ninode 1835018\noffset 91234\n",
        )
        .unwrap();
        let one = load(&path).unwrap().unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].path, None);
        assert_eq!(one[0].position.offset, 91_234);
        assert_eq!(one[0].position.fingerprint, Fingerprint::default());

        fs::write(
            &path,
            "accesslog-exporter positions 1\n2049 1835018 91234 /var/log/a b.log\n",
        )
        .unwrap();
        let many = load(&path).unwrap().unwrap();
        assert_eq!(many[0].path.as_deref(), Some(Path::new("/var/log/a b.log")));
        assert_eq!(many[0].position.identity.inode, 1_835_018);
    }

    #[test]
    fn garbage_fifos_devices_and_huge_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("position");
        for garbage in [
            "device 1\ninode 2\noffset 3\n",
            "accesslog-exporter positions 2\n1 2 3 /no/fingerprint\n",
            "accesslog-exporter positions 2\n1 2 3 999:0 /too/long/a/fingerprint\n",
            "accesslog-exporter positions 9\n",
        ] {
            fs::write(&path, garbage).unwrap();
            let error = load(&path).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{garbage}");
            assert!(error
                .to_string()
                .contains("expected a position file (`accesslog-exporter positions 2`"));
        }

        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let error = load(&fifo).unwrap_err().to_string();
        assert!(
            error.contains("is a FIFO, expected a regular file"),
            "{error}"
        );
        assert!(check_writable(&fifo).is_err());

        let device = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &device).unwrap();
        let error = load(&device).unwrap_err().to_string();
        assert!(
            error.contains("is a device, expected a regular file"),
            "{error}"
        );

        let huge = File::create(&path).unwrap();
        huge.set_len(MAX_POSITION_FILE_BYTES + 1).unwrap();
        let error = load(&path).unwrap_err().to_string();
        assert!(error.contains("larger than"), "{error}");
    }
}
