//! What tells one file from another: device and inode while it exists, and a fingerprint of
//! its first bytes once it may have been deleted and its inode given to a new file.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

/// A file's identity: what stays the same across a rename and changes when the path is reused.
/// While the file is held open its inode cannot be reused, so this alone is enough live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    /// The device the file is on.
    pub device: u64,
    /// Its inode on that device.
    pub inode: u64,
}

impl FileIdentity {
    /// The identity of the file `metadata` describes.
    pub fn of(metadata: &Metadata) -> FileIdentity {
        FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }
}

/// How many of a file's first bytes its [`Fingerprint`] covers at most: enough for a line or
/// two of any access log, whose timestamps differ from file to file.
pub const FINGERPRINT_BYTES: u16 = 256;

/// A checksum (CRC-32) of a file's first bytes, with how many it covers.
///
/// It is taken over bytes already read (never past the position it goes with), which a server
/// only appends after; a file that got the inode of a deleted one starts with other bytes.
/// One over no bytes matches every file (a position at offset 0, or one saved before
/// fingerprints were kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fingerprint {
    /// How many bytes it covers.
    pub bytes: u16,
    /// Their CRC-32.
    pub crc32: u32,
}

impl Fingerprint {
    /// The fingerprint of the first `min(up_to, FINGERPRINT_BYTES)` bytes of `file`.
    pub fn of(file: &File, up_to: u64) -> io::Result<Fingerprint> {
        let bytes = up_to.min(u64::from(FINGERPRINT_BYTES)) as u16;
        let mut start = [0; FINGERPRINT_BYTES as usize];
        let start = &mut start[..usize::from(bytes)];
        file.read_exact_at(start, 0)?;
        Ok(Fingerprint {
            bytes,
            crc32: crc32(start),
        })
    }

    /// Whether `file` starts with the bytes this was taken of.
    pub fn matches(&self, file: &File) -> io::Result<bool> {
        match Fingerprint::of(file, u64::from(self.bytes)) {
            Ok(now) => Ok(now == *self),
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(error) => Err(error),
        }
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_fingerprint_matches_the_same_start_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut file = File::create(&path).unwrap();
        file.write_all(&[b'a'; 300]).unwrap();
        let file = File::open(&path).unwrap();
        let short = Fingerprint::of(&file, 10).unwrap();
        assert_eq!(short.bytes, 10);
        let full = Fingerprint::of(&file, 10_000).unwrap();
        assert_eq!(full.bytes, FINGERPRINT_BYTES);
        assert!(short.matches(&file).unwrap() && full.matches(&file).unwrap());
        assert!(Fingerprint::default().matches(&file).unwrap());

        std::fs::write(&path, [b'b'; 300]).unwrap();
        assert!(!full.matches(&file).unwrap());
        std::fs::write(&path, b"aaa").unwrap();
        assert!(
            !short.matches(&file).unwrap(),
            "shorter than the fingerprint"
        );
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926, "the CRC-32 check value");
    }
}
