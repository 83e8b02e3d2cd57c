use std::fs::{self, OpenOptions};
use std::io::Write;

use super::*;

#[derive(Default)]
struct Recorded {
    lines: Vec<String>,
    events: Vec<String>,
}

impl TailSink for Recorded {
    fn line(&mut self, line: &[u8]) {
        self.lines.push(String::from_utf8_lossy(line).into_owned());
    }
    fn event(&mut self, event: TailEvent<'_>) {
        let name = match event {
            TailEvent::Opened { offset, .. } => format!("opened@{offset}"),
            TailEvent::Missing { .. } => "missing".into(),
            TailEvent::Rotated { .. } => "rotated".into(),
            TailEvent::Released => "released".into(),
            TailEvent::Truncated { .. } => "truncated".into(),
            TailEvent::LineTooLong => "too-long".into(),
            TailEvent::BytesRead(_) => return,
            TailEvent::Unreadable { error, .. } => format!("unreadable: {error}"),
            TailEvent::PositionStale { reason, .. } => format!("stale: {reason}"),
        };
        self.events.push(name);
    }
}

impl Recorded {
    fn take_lines(&mut self) -> Vec<String> {
        std::mem::take(&mut self.lines)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    tailer: Tailer,
    seen: Recorded,
    chunk: Vec<u8>,
}

impl Fixture {
    fn new(start_at: StartAt, rotate_wait: Duration) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let tailer = Tailer::new(TailConfig {
            path: path.clone(),
            start_at,
            max_line_bytes: 1024,
            rotate_wait,
            resume: None,
        });
        Fixture {
            _dir: dir,
            path,
            tailer,
            seen: Recorded::default(),
            chunk: vec![0; READ_CHUNK_BYTES],
        }
    }

    fn poll(&mut self) -> Vec<String> {
        while self.tailer.poll(&mut self.chunk, &mut self.seen) {}
        self.seen.take_lines()
    }
}

fn append(path: &Path, bytes: &str) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes.as_bytes())
        .unwrap();
}

const LONG: Duration = Duration::from_secs(3600);

#[test]
fn starts_at_the_end_of_an_existing_file() {
    let mut f = Fixture::new(StartAt::End, LONG);
    append(&f.path, "old 1\nold 2\n");
    assert!(f.poll().is_empty());
    assert_eq!(f.seen.events, ["opened@12"]);
    append(&f.path, "new 1\n");
    assert_eq!(f.poll(), ["new 1"]);
}

#[test]
fn from_beginning_reads_what_is_there() {
    let mut f = Fixture::new(StartAt::Beginning, LONG);
    append(&f.path, "old 1\nold 2\n");
    assert_eq!(f.poll(), ["old 1", "old 2"]);
}

#[test]
fn partial_lines_wait_for_their_newline() {
    let mut f = Fixture::new(StartAt::End, LONG);
    append(&f.path, "");
    f.poll();
    append(&f.path, "GET /a");
    assert!(f.poll().is_empty());
    append(&f.path, "bc HTTP/1.1\nGET");
    assert_eq!(f.poll(), ["GET /abc HTTP/1.1"]);
    append(&f.path, " /d\n");
    assert_eq!(f.poll(), ["GET /d"]);
}

#[test]
fn rename_and_create_reads_old_file_to_its_end_then_the_new_one() {
    let mut f = Fixture::new(StartAt::End, LONG);
    append(&f.path, "");
    f.poll();
    append(&f.path, "before\n");
    let rotated = f.path.with_extension("log.1");
    fs::rename(&f.path, &rotated).unwrap();
    // The server has not reopened yet: it goes on writing to the renamed file.
    append(&rotated, "after rename\n");
    append(&f.path, "in new file\n");
    assert_eq!(f.poll(), ["before", "after rename", "in new file"]);
    assert_eq!(f.seen.events, ["opened@0", "rotated", "opened@0"]);
    // Still writing to the old file after the new one was picked up (nginx before USR1).
    append(&rotated, "late in old\n");
    append(&f.path, "new 2\n");
    assert_eq!(f.poll(), ["late in old", "new 2"]);
}

#[test]
fn rotated_file_is_let_go_after_the_wait_with_its_unfinished_line() {
    let mut f = Fixture::new(StartAt::End, Duration::ZERO);
    append(&f.path, "");
    f.poll();
    append(&f.path, "whole\ntorn");
    fs::rename(&f.path, f.path.with_extension("log.1")).unwrap();
    append(&f.path, "new\n");
    assert_eq!(f.poll(), ["whole", "new"]);
    assert_eq!(f.poll(), ["torn"]);
    assert_eq!(
        f.seen.events,
        ["opened@0", "rotated", "opened@0", "released"]
    );
}

#[test]
fn copytruncate_starts_again_at_offset_zero() {
    let mut f = Fixture::new(StartAt::Beginning, LONG);
    append(&f.path, "one\ntwo\n");
    assert_eq!(f.poll(), ["one", "two"]);
    OpenOptions::new()
        .write(true)
        .open(&f.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&f.path, "three\n");
    assert_eq!(f.poll(), ["three"]);
    assert_eq!(f.seen.events, ["opened@0", "truncated"]);
}

#[test]
fn missing_file_is_reported_once_and_read_from_its_start_when_it_appears() {
    let mut f = Fixture::new(StartAt::End, LONG);
    assert!(f.poll().is_empty());
    assert!(f.poll().is_empty());
    assert_eq!(f.seen.events, ["missing"]);
    append(&f.path, "first\n");
    assert_eq!(
        f.poll(),
        ["first"],
        "a file created after start is read from its start"
    );
}

#[test]
fn deleted_then_created_again() {
    let mut f = Fixture::new(StartAt::End, LONG);
    append(&f.path, "");
    f.poll();
    append(&f.path, "a\n");
    fs::remove_file(&f.path).unwrap();
    assert_eq!(f.poll(), ["a"]);
    assert!(f.poll().is_empty());
    append(&f.path, "b\n");
    assert_eq!(f.poll(), ["b"]);
    assert_eq!(
        f.seen.events,
        ["opened@0", "missing", "rotated", "opened@0"]
    );
}

#[test]
fn a_directory_at_the_path_is_reported_once() {
    let mut f = Fixture::new(StartAt::End, LONG);
    fs::create_dir(&f.path).unwrap();
    f.poll();
    f.poll();
    assert_eq!(
        f.seen.events,
        ["unreadable: is a directory, expected a regular file"]
    );
    fs::remove_dir(&f.path).unwrap();
    append(&f.path, "x\n");
    assert_eq!(f.poll(), ["x"]);
}

#[test]
fn invalid_utf8_passes_through_as_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    fs::write(&path, b"caf\xe9\n\xff\xfe\nlast").unwrap();
    struct Raw(Vec<Vec<u8>>);
    impl TailSink for Raw {
        fn line(&mut self, line: &[u8]) {
            self.0.push(line.to_vec());
        }
        fn event(&mut self, _: TailEvent<'_>) {}
    }
    let mut raw = Raw(Vec::new());
    read_whole_file(&path, 1024, &mut raw).unwrap();
    assert_eq!(raw.0, [&b"caf\xe9"[..], b"\xff\xfe", b"last"]);
}

/// Model-based test: random histories of what servers and logrotate do to a log, applied to
/// real files; every line written must come out exactly once.
mod model {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Action {
        /// The server appends whole lines to the log path.
        Write(u8),
        /// The server writes part of a line; the next write-type action finishes it.
        WriteHalf,
        /// The server, not yet reopened, writes to the file it had open before a rename.
        WriteToRotated(u8),
        /// The tailer wakes.
        Poll,
        /// logrotate `create`: rename, then a new empty file at the path.
        RenameAndCreate,
        /// logrotate `copytruncate` (the tailer is woken by the truncation, as inotify does).
        CopyTruncate,
        /// The log is deleted; the next write creates it again.
        Delete,
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            4 => (1u8..5).prop_map(Action::Write),
            1 => Just(Action::WriteHalf),
            2 => (1u8..4).prop_map(Action::WriteToRotated),
            3 => Just(Action::Poll),
            1 => Just(Action::RenameAndCreate),
            1 => Just(Action::CopyTruncate),
            1 => Just(Action::Delete),
        ]
    }

    struct World {
        fixture: Fixture,
        rotated: Vec<PathBuf>,
        next_id: usize,
        written: Vec<String>,
        half: Option<String>,
        /// Whether the tailer has looked at the path since the file there was created. A file
        /// renamed or deleted before that is one no tailer can know of: such actions wait.
        seen: bool,
    }

    impl World {
        fn line(&mut self) -> String {
            self.next_id += 1;
            format!("line {}", self.next_id)
        }

        /// Writes `count` lines to `path`, finishing a half-written line first if it is there.
        fn write(&mut self, path: &Path, count: u8) {
            let mut text = String::new();
            if let Some(rest) = self.half.take() {
                text.push_str(&rest);
            }
            for _ in 0..count {
                let line = self.line();
                text.push_str(&line);
                text.push('\n');
                self.written.push(line);
            }
            if !path.exists() {
                self.seen = false;
            }
            append(path, &text);
        }

        fn apply(&mut self, action: &Action) {
            let path = self.fixture.path.clone();
            match *action {
                Action::Write(n) => self.write(&path, n),
                Action::WriteHalf => {
                    if self.half.is_none() {
                        self.seen &= path.exists();
                        let line = self.line();
                        let (head, tail) = line.split_at(line.len() / 2);
                        append(&path, head);
                        self.half = Some(format!("{tail}\n"));
                        self.written.push(line);
                    }
                }
                Action::WriteToRotated(n) => {
                    // A server finishes its line in the file it started it in.
                    if self.half.is_none() {
                        if let Some(old) = self.rotated.last().cloned() {
                            self.write(&old, n);
                        }
                    }
                }
                Action::Poll => {
                    self.fixture
                        .tailer
                        .poll(&mut self.fixture.chunk, &mut self.fixture.seen);
                    self.seen = path.exists();
                }
                Action::RenameAndCreate => {
                    if self.half.is_none() && self.seen && path.exists() {
                        let old = path.with_extension(format!("log.{}", self.rotated.len() + 1));
                        fs::rename(&path, &old).unwrap();
                        append(&path, "");
                        self.rotated.push(old);
                        self.seen = false;
                    }
                }
                Action::CopyTruncate => {
                    if self.half.is_none() && path.exists() {
                        self.fixture.poll_all();
                        OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .unwrap()
                            .set_len(0)
                            .unwrap();
                        self.fixture.poll_all();
                    }
                }
                Action::Delete => {
                    if self.half.is_none() && self.seen && path.exists() {
                        fs::remove_file(&path).unwrap();
                    }
                }
            }
        }
    }

    impl Fixture {
        fn poll_all(&mut self) {
            while self.tailer.poll(&mut self.chunk, &mut self.seen) {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        #[test]
        fn every_line_written_is_read_exactly_once(actions in proptest::collection::vec(action(), 1..40)) {
            let mut world = World {
                fixture: Fixture::new(StartAt::Beginning, LONG),
                rotated: Vec::new(),
                next_id: 0,
                written: Vec::new(),
                half: None,
                seen: false,
            };
            for action in &actions {
                world.apply(action);
            }
            if let Some(rest) = world.half.take() {
                append(&world.fixture.path, &rest);
            }
            world.fixture.poll_all();
            let mut read = world.fixture.seen.take_lines();
            let mut written = world.written.clone();
            read.sort();
            written.sort();
            prop_assert_eq!(read, written);
        }
    }
}

#[test]
fn a_saved_position_resumes_only_in_the_file_it_was_taken_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    fs::write(&path, "one\ntwo\nthree\n").unwrap();
    let file = fs::File::open(&path).unwrap();
    let identity = FileIdentity::of(&file.metadata().unwrap());
    let tailer = |fingerprint| {
        Tailer::new(TailConfig {
            path: path.clone(),
            start_at: StartAt::End,
            max_line_bytes: 1024,
            rotate_wait: LONG,
            resume: Some(Position {
                identity,
                offset: 4,
                fingerprint,
            }),
        })
    };
    let mut chunk = vec![0; READ_CHUNK_BYTES];

    let mut same = tailer(Fingerprint::of(&file, 4).unwrap());
    let mut seen = Recorded::default();
    same.poll(&mut chunk, &mut seen);
    assert_eq!(seen.lines, ["two", "three"]);
    assert_eq!(seen.events, ["opened@4"]);

    // The same device and inode, but not the bytes read before: another file got the inode.
    let other = Fingerprint {
        bytes: 4,
        crc32: Fingerprint::of(&file, 4).unwrap().crc32 ^ 1,
    };
    let mut reused = tailer(other);
    let mut seen = Recorded::default();
    reused.poll(&mut chunk, &mut seen);
    assert_eq!(seen.lines, ["one", "two", "three"]);
    assert_eq!(
        seen.events,
        [
            "stale: the file there now is another one with the same inode",
            "opened@0"
        ]
    );
}
