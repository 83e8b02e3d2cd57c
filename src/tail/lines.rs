//! Splitting a byte stream into lines, holding the unfinished one.

/// Receives what a tailer reads: whole lines and the events around them.
pub trait TailSink {
    /// One complete line, without its `\n`. The slice is only valid during the call.
    fn line(&mut self, line: &[u8]);
    /// Whole lines, each ended by its `\n`, as they lie in the bytes read: handed on as one
    /// run, so that a sink that passes lines on in bulk need not cut them.
    #[inline]
    fn lines(&mut self, lines: &[u8]) {
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', lines) {
            self.line(&lines[start..newline]);
            start = newline + 1;
        }
    }
    /// Something happened to the followed file.
    fn event(&mut self, event: super::TailEvent<'_>);
    /// A poll is over: what was there has been read. Called after every poll of the file,
    /// whether or not it found lines.
    fn polled(&mut self) {}
    /// Before [`TailSink::polled`]: every line before `position` in the file at the log path
    /// has been handed on.
    fn read_to(&mut self, _position: super::Position) {}
}

/// Cuts bytes into lines as they arrive, in whatever pieces the writer's `write`s made.
///
/// A line is handed on only once its `\n` has been read. Bytes of an unfinished line are held,
/// up to `max_line_bytes`; a longer line is dropped (its bytes skipped up to its `\n`) and
/// reported once as [`super::TailEvent::LineTooLong`], so memory stays bounded whatever the file holds.
///
/// # Performance
/// Lines that lie whole within one read are handed on as slices of the read buffer, without a
/// copy, in one run ([`TailSink::lines`]) when the read is no longer than the longest line
/// allowed. Only a line torn across two reads is copied, into one buffer reused for every line.
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    discarding: bool,
    max_line_bytes: usize,
}

impl LineSplitter {
    /// A splitter that holds at most `max_line_bytes` of an unfinished line.
    pub fn new(max_line_bytes: usize) -> Self {
        LineSplitter {
            partial: Vec::new(),
            discarding: false,
            max_line_bytes,
        }
    }

    /// Feeds the next bytes of the stream, handing every line they complete to `sink`.
    pub fn push(&mut self, data: &[u8], sink: &mut impl TailSink) {
        let start = if self.max_line_bytes >= data.len() {
            // No line lying whole within `data` can be too long: those between the first and
            // the last newline go on as one run.
            match memchr::memchr(b'\n', data) {
                Some(first) => {
                    self.complete(&data[..first], sink);
                    let last = memchr::memrchr(b'\n', data).unwrap_or(first);
                    if last > first {
                        sink.lines(&data[first + 1..=last]);
                    }
                    last + 1
                }
                None => 0,
            }
        } else {
            let mut start = 0;
            for newline in memchr::memchr_iter(b'\n', data) {
                self.complete(&data[start..newline], sink);
                start = newline + 1;
            }
            start
        };
        let data = &data[start..];
        if self.discarding || data.is_empty() {
            return;
        }
        if self.partial.len() + data.len() > self.max_line_bytes {
            self.partial = Vec::new();
            self.discarding = true;
            sink.event(super::TailEvent::LineTooLong);
        } else {
            self.partial.extend_from_slice(data);
        }
    }

    /// `piece` ends a line (its `\n` has been read): the line is handed on, unless too long.
    fn complete(&mut self, piece: &[u8], sink: &mut impl TailSink) {
        if self.discarding {
            self.discarding = false;
        } else if self.partial.len() + piece.len() > self.max_line_bytes {
            self.partial.clear();
            sink.event(super::TailEvent::LineTooLong);
        } else if self.partial.is_empty() {
            sink.line(piece);
        } else {
            self.partial.extend_from_slice(piece);
            sink.line(&self.partial);
            self.partial.clear();
        }
    }

    /// Hands on the unfinished line, if any: the stream has ended and no `\n` will come.
    pub fn finish(&mut self, sink: &mut impl TailSink) {
        if !self.partial.is_empty() {
            sink.line(&self.partial);
        }
        self.reset();
    }

    /// How many bytes of an unfinished line are held.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Forgets the unfinished line: the stream starts again (a truncated file).
    pub fn reset(&mut self) {
        self.partial.clear();
        self.discarding = false;
    }
}

#[cfg(test)]
mod tests {
    use super::super::TailEvent;
    use super::*;

    #[derive(Default)]
    struct Collected {
        lines: Vec<Vec<u8>>,
        too_long: usize,
    }

    impl TailSink for Collected {
        fn line(&mut self, line: &[u8]) {
            self.lines.push(line.to_vec());
        }
        fn event(&mut self, event: TailEvent<'_>) {
            if let TailEvent::LineTooLong = event {
                self.too_long += 1;
            }
        }
    }

    fn split(pieces: &[&[u8]], max: usize) -> Collected {
        let mut splitter = LineSplitter::new(max);
        let mut out = Collected::default();
        for piece in pieces {
            splitter.push(piece, &mut out);
        }
        out
    }

    #[test]
    fn lines_torn_across_writes_come_out_whole() {
        let out = split(&[b"GET /a", b"\nGET /b\nGE", b"T /c", b"\n"], 100);
        assert_eq!(out.lines, [&b"GET /a"[..], b"GET /b", b"GET /c"]);
    }

    #[test]
    fn unfinished_line_is_held_until_finish() {
        let mut splitter = LineSplitter::new(100);
        let mut out = Collected::default();
        splitter.push(b"one\ntwo", &mut out);
        assert_eq!(out.lines, [b"one"]);
        splitter.finish(&mut out);
        assert_eq!(out.lines, [&b"one"[..], b"two"]);
        splitter.finish(&mut out);
        assert_eq!(out.lines.len(), 2, "finish twice hands nothing twice");
    }

    #[test]
    fn over_long_lines_are_dropped_once_and_memory_stays_bounded() {
        let long = vec![b'x'; 50];
        // Whole in one piece.
        let out = split(&[&long, b"\nok\n"], 10);
        assert_eq!(
            (out.lines.as_slice(), out.too_long),
            (&[b"ok".to_vec()][..], 1)
        );
        // Torn over many pieces, none of which completes it.
        let mut splitter = LineSplitter::new(10);
        let mut out = Collected::default();
        for _ in 0..1000 {
            splitter.push(&long, &mut out);
            assert!(
                splitter.partial.capacity() <= 64,
                "held {}",
                splitter.partial.capacity()
            );
        }
        splitter.push(b"tail\nnext\n", &mut out);
        assert_eq!((out.lines, out.too_long), (vec![b"next".to_vec()], 1));
    }

    #[test]
    fn a_line_of_exactly_the_cap_is_kept() {
        let out = split(&[b"0123", b"456789\n"], 10);
        assert_eq!((out.lines, out.too_long), (vec![b"0123456789".to_vec()], 0));
    }

    #[test]
    fn empty_lines_are_lines() {
        let out = split(&[b"\n\na\n"], 10);
        assert_eq!(out.lines, [&b""[..], b"", b"a"]);
    }
}
