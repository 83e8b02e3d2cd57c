//! Syslog over TCP on arbitrary bytes: framed (newlines or octet counts) as a connection
//! delivers them in two reads, each message's header read.
//!
//! Nothing may panic; every message handed on is at most the bound; the frames' bytes held
//! between reads stay bounded; and framing does not depend on where the reads cut the stream.
//!
//! Run: `cargo fuzz run syslog`.
#![no_main]

use accesslog_exporter::syslog::{message, Frames, Messages};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64;

#[derive(Default)]
struct Seen {
    messages: Vec<Vec<u8>>,
    dropped: Vec<&'static str>,
}

impl Messages for Seen {
    fn message(&mut self, bytes: &[u8]) {
        assert!(bytes.len() <= MAX, "{} bytes handed on", bytes.len());
        if let Ok(message) = message::parse(bytes) {
            assert!(!message.tag.is_empty() && message.tag.len() <= message::MAX_TAG_BYTES);
        }
        self.messages.push(bytes.to_vec());
    }
    fn dropped(&mut self, reason: &'static str) {
        self.dropped.push(reason);
    }
    fn polled(&mut self) {}
}

fn frame(data: &[u8], cut: usize) -> (Seen, bool) {
    let (mut frames, mut seen) = (Frames::new(MAX), Seen::default());
    let intact = frames.push(&data[..cut], &mut seen) && frames.push(&data[cut..], &mut seen);
    if intact {
        frames.finish(&mut seen);
    }
    (seen, intact)
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let _ = message::parse(data);
    let cut = usize::from(selector) * data.len() / 255;
    let (whole, whole_intact) = frame(data, data.len());
    let (cut_up, cut_intact) = frame(data, cut);
    assert_eq!(whole_intact, cut_intact);
    if whole_intact {
        assert_eq!(whole.messages, cut_up.messages);
        assert_eq!(whole.dropped, cut_up.dropped);
    }
});
