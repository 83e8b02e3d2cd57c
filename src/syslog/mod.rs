//! Access logs sent over syslog (`--syslog.listen-address`): nginx's `access_log syslog:`,
//! rsyslog forwarding, `logger`. Each message's tag picks its log; its text is the log's line.
//!
//! Everything a sender controls is bounded: a message's size (`--max-line-bytes`), the number
//! of distinct tags ([`MAX_TAGS`]), TCP connections ([`MAX_CONNECTIONS`]) and how long one may
//! stay silent ([`IDLE_TIMEOUT`]). What cannot be read is counted by reason in
//! `accesslog_syslog_errors_total`, never fatal.

pub mod message;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The most distinct tags counted as logs; messages with more are counted as errors.
pub const MAX_TAGS: usize = 100;
/// The most TCP connections served at once; more are closed as they come.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a TCP connection may send nothing before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Where syslog messages are received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// `udp://HOST:PORT`: a message a datagram.
    Udp(SocketAddr),
    /// `tcp://HOST:PORT`: messages framed by newlines or by octet counting (RFC 6587).
    Tcp(SocketAddr),
    /// `unixgram://PATH`: a message a datagram, as `/dev/log` takes them.
    Unixgram(PathBuf),
}

impl ListenAddress {
    /// Reads `udp://HOST:PORT`, `tcp://HOST:PORT` or `unixgram://PATH`.
    pub fn parse(text: &str) -> Result<ListenAddress, String> {
        let expected = "expected udp://HOST:PORT, tcp://HOST:PORT or unixgram://PATH";
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("{text:?}: {expected}"))?;
        let socket = || {
            use std::net::ToSocketAddrs;
            (rest.to_socket_addrs().ok())
                .and_then(|mut addresses| addresses.next())
                .ok_or_else(|| format!("{text:?}: {rest:?} is not a HOST:PORT"))
        };
        match scheme {
            "udp" => Ok(ListenAddress::Udp(socket()?)),
            "tcp" => Ok(ListenAddress::Tcp(socket()?)),
            "unixgram" if rest.starts_with('/') => Ok(ListenAddress::Unixgram(rest.into())),
            "unixgram" => Err(format!("{text:?}: expected an absolute path")),
            _ => Err(format!("{text:?}: {expected}")),
        }
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Udp(address) => write!(f, "udp://{address}"),
            ListenAddress::Tcp(address) => write!(f, "tcp://{address}"),
            ListenAddress::Unixgram(path) => write!(f, "unixgram://{}", path.display()),
        }
    }
}

/// A socket bound at start, so that an address in use is said before anything runs.
#[derive(Debug)]
pub enum Bound {
    /// A UDP socket.
    Udp(std::net::UdpSocket),
    /// A TCP listener.
    Tcp(std::net::TcpListener),
    /// A Unix datagram socket, and its path, removed at stop.
    Unixgram(std::os::unix::net::UnixDatagram, PathBuf),
}

impl Bound {
    /// Binds `address`. A Unix socket left by an earlier run is replaced; any other file at
    /// its path is not.
    pub fn bind(address: &ListenAddress) -> io::Result<Bound> {
        let bound = match address {
            ListenAddress::Udp(address) => Bound::Udp(std::net::UdpSocket::bind(address)?),
            ListenAddress::Tcp(address) => Bound::Tcp(std::net::TcpListener::bind(address)?),
            ListenAddress::Unixgram(path) => {
                use std::os::unix::fs::FileTypeExt;
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                    std::fs::remove_file(path)?;
                }
                let socket = std::os::unix::net::UnixDatagram::bind(path)?;
                Bound::Unixgram(socket, path.clone())
            }
        };
        match &bound {
            Bound::Udp(socket) => socket.set_nonblocking(true)?,
            Bound::Tcp(listener) => listener.set_nonblocking(true)?,
            Bound::Unixgram(socket, _) => socket.set_nonblocking(true)?,
        }
        Ok(bound)
    }

    /// The address bound, with the port the system chose for port 0.
    pub fn local_address(&self) -> String {
        match self {
            Bound::Udp(socket) => socket
                .local_addr()
                .map_or_else(|_| "udp".into(), |a| format!("udp://{a}")),
            Bound::Tcp(listener) => listener
                .local_addr()
                .map_or_else(|_| "tcp".into(), |a| format!("tcp://{a}")),
            Bound::Unixgram(_, path) => format!("unixgram://{}", path.display()),
        }
    }
}

/// Where received messages go: one message at a time, then told a batch is over.
pub trait Messages: Send + 'static {
    /// One message, as received (a datagram, or a TCP frame without its framing).
    fn message(&mut self, message: &[u8]);
    /// A message was dropped before it could be read: `reason` says why.
    fn dropped(&mut self, reason: &'static str);
    /// What was received so far has been handed on.
    fn polled(&mut self);
}

/// Receives on `bound` until `stop` resolves, handing every message to `messages`.
pub async fn receive<M: Messages>(
    bound: Bound,
    messages: M,
    max_message_bytes: usize,
    stop: impl std::future::Future<Output = ()>,
) {
    let messages = Arc::new(Mutex::new(messages));
    let socket_file = match &bound {
        Bound::Unixgram(_, path) => Some(path.clone()),
        _ => None,
    };
    let serving = async {
        let result = match bound {
            Bound::Udp(socket) => match tokio::net::UdpSocket::from_std(socket) {
                Ok(socket) => datagrams(&socket, &messages, max_message_bytes).await,
                Err(error) => Err(error),
            },
            Bound::Unixgram(socket, _) => match tokio::net::UnixDatagram::from_std(socket) {
                Ok(socket) => datagrams(&socket, &messages, max_message_bytes).await,
                Err(error) => Err(error),
            },
            Bound::Tcp(listener) => match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => connections(listener, &messages, max_message_bytes).await,
                Err(error) => Err(error),
            },
        };
        if let Err(error) = result {
            crate::report::warning(format_args!(
                "syslog: {error}; no more messages are received"
            ));
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = serving => {}
        () = stop => {}
    }
    if let Some(path) = socket_file {
        let _ = std::fs::remove_file(path);
    }
}

fn lock<M>(messages: &Mutex<M>) -> std::sync::MutexGuard<'_, M> {
    // Counts only: a panic elsewhere while holding it leaves nothing broken.
    messages.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A datagram socket: UDP or Unix.
trait Datagrams {
    async fn receive(&self, buffer: &mut [u8]) -> io::Result<usize>;
    fn try_receive(&self, buffer: &mut [u8]) -> io::Result<usize>;
}

impl Datagrams for tokio::net::UdpSocket {
    async fn receive(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.recv(buffer).await
    }
    fn try_receive(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.try_recv(buffer)
    }
}

impl Datagrams for tokio::net::UnixDatagram {
    async fn receive(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.recv(buffer).await
    }
    fn try_receive(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.try_recv(buffer)
    }
}

/// How many datagrams are handed on before the batch is told over.
const DATAGRAM_BATCH: usize = 256;

/// One message a datagram. A datagram longer than `max_message_bytes` is dropped whole.
async fn datagrams<M: Messages>(
    socket: &impl Datagrams,
    messages: &Mutex<M>,
    max_message_bytes: usize,
) -> io::Result<()> {
    // One byte more than a message may hold tells a longer one, cut by the kernel.
    let mut buffer = vec![0; max_message_bytes + 1];
    loop {
        let first = socket.receive(&mut buffer).await;
        let mut messages = lock(messages);
        let mut received = first;
        for _ in 0..DATAGRAM_BATCH {
            match received {
                Ok(n) if n > max_message_bytes => messages.dropped("too_long"),
                Ok(n) => messages.message(&buffer[..n]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                // An ICMP error about an earlier datagram sent from this socket, or the like:
                // nothing about what is received.
                Err(error) if error.kind() != io::ErrorKind::ConnectionRefused => {
                    messages.polled();
                    return Err(error);
                }
                Err(_) => {}
            }
            received = socket.try_receive(&mut buffer);
        }
        messages.polled();
    }
}

/// Every connection on a task of its own, at most [`MAX_CONNECTIONS`] at once.
async fn connections<M: Messages>(
    listener: tokio::net::TcpListener,
    messages: &Arc<Mutex<M>>,
    max_message_bytes: usize,
) -> io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors and the like: the next accept may work.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            lock(messages).dropped("connections");
            continue;
        };
        let messages = Arc::clone(messages);
        tokio::spawn(async move {
            let _slot = slot;
            connection(stream, &messages, max_message_bytes).await;
        });
    }
}

/// Reads frames from one connection until it closes, falls silent for [`IDLE_TIMEOUT`], or
/// breaks its framing.
async fn connection<M: Messages>(
    stream: tokio::net::TcpStream,
    messages: &Mutex<M>,
    max_message_bytes: usize,
) {
    let mut frames = Frames::new(max_message_bytes);
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = match tokio::time::timeout(IDLE_TIMEOUT, read(&stream, &mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => 0,
            Ok(Ok(n)) => n,
            Err(_) => {
                lock(messages).dropped("idle");
                0
            }
        };
        let mut messages = lock(messages);
        if n == 0 {
            frames.finish(&mut *messages);
            messages.polled();
            return;
        }
        let intact = frames.push(&buffer[..n], &mut *messages);
        messages.polled();
        if !intact {
            return;
        }
    }
}

async fn read(stream: &tokio::net::TcpStream, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buffer) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            read => return read,
        }
    }
}

/// Cuts a TCP stream into messages: each frame is either `LENGTH SP MESSAGE` (octet counting)
/// or a message ended by `\n`, told apart by its first byte, as RFC 6587 lets receivers do.
#[derive(Debug)]
pub struct Frames {
    pending: Vec<u8>,
    max_message_bytes: usize,
    // Bytes still to skip of a counted frame too long to keep.
    skipping: usize,
    // Skipping to the next `\n`: a newline-framed message too long to keep.
    discarding: bool,
}

impl Frames {
    /// Frames of at most `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> Frames {
        Frames {
            pending: Vec::new(),
            max_message_bytes,
            skipping: 0,
            discarding: false,
        }
    }

    /// Hands on every message `data` completes. Returns false when the framing is broken (a
    /// count that is not one): nothing after it can be trusted.
    pub fn push(&mut self, mut data: &[u8], messages: &mut impl Messages) -> bool {
        if self.skipping > 0 {
            let skipped = self.skipping.min(data.len());
            self.skipping -= skipped;
            data = &data[skipped..];
        }
        if self.discarding {
            match memchr::memchr(b'\n', data) {
                Some(end) => {
                    self.discarding = false;
                    data = &data[end + 1..];
                }
                None => return true,
            }
        }
        self.pending.extend_from_slice(data);
        let mut start = 0;
        let intact = loop {
            let input = &self.pending[start..];
            if input.is_empty() {
                break true;
            }
            match next_frame(input, self.max_message_bytes) {
                Frame::Message(range, used) => {
                    // A bare `\n` between frames is a sender's habit, not a message.
                    if !range.is_empty() {
                        messages.message(&input[range]);
                    }
                    start += used;
                }
                Frame::TooLongCounted { header, count } => {
                    messages.dropped("too_long");
                    let available = input.len() - header;
                    if available >= count {
                        start += header + count;
                    } else {
                        self.skipping = count - available;
                        start = self.pending.len();
                    }
                }
                Frame::TooLongLine { used } => {
                    messages.dropped("too_long");
                    match used {
                        Some(used) => start += used,
                        None => {
                            self.discarding = true;
                            start = self.pending.len();
                        }
                    }
                }
                Frame::Incomplete => break true,
                Frame::Broken => {
                    messages.dropped("framing");
                    start = self.pending.len();
                    break false;
                }
            }
        };
        self.pending.drain(..start);
        intact
    }

    /// The connection closed: an unfinished newline-framed message is a message.
    pub fn finish(&mut self, messages: &mut impl Messages) {
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() && !pending[0].is_ascii_digit() {
            messages.message(&pending);
        }
    }
}

/// The next frame at the start of `input`.
enum Frame {
    /// The message's bytes, and how many bytes the frame took.
    Message(std::ops::Range<usize>, usize),
    /// A counted frame longer than a message may be: `count` bytes after a `header`.
    TooLongCounted { header: usize, count: usize },
    /// A newline-framed message longer than a message may be, ended `used` bytes in, or not
    /// ended yet.
    TooLongLine { used: Option<usize> },
    /// More bytes are needed.
    Incomplete,
    /// Not a frame: a count that is not one.
    Broken,
}

/// The most digits of an octet count: more than any message kept needs.
const MAX_COUNT_DIGITS: usize = 10;

fn next_frame(input: &[u8], max: usize) -> Frame {
    if input[0].is_ascii_digit() {
        let digits = input.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > MAX_COUNT_DIGITS {
            return Frame::Broken;
        }
        let Some(&after) = input.get(digits) else {
            return Frame::Incomplete;
        };
        if after != b' ' {
            return Frame::Broken;
        }
        // Ten digits fit in a u64.
        let count = input[..digits]
            .iter()
            .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
        let start = digits + 1;
        if count > max as u64 {
            return Frame::TooLongCounted {
                header: start,
                count: count as usize,
            };
        }
        let end = start + count as usize;
        if input.len() < end {
            return Frame::Incomplete;
        }
        return Frame::Message(start..end, end);
    }
    match memchr::memchr(b'\n', input) {
        Some(newline) if newline <= max => Frame::Message(0..newline, newline + 1),
        Some(newline) => Frame::TooLongLine {
            used: Some(newline + 1),
        },
        None if input.len() > max => Frame::TooLongLine { used: None },
        None => Frame::Incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;

    #[derive(Default)]
    struct Seen {
        messages: Vec<String>,
        dropped: Vec<&'static str>,
    }

    impl Messages for Seen {
        fn message(&mut self, message: &[u8]) {
            self.messages
                .push(String::from_utf8_lossy(message).into_owned());
        }
        fn dropped(&mut self, reason: &'static str) {
            self.dropped.push(reason);
        }
        fn polled(&mut self) {}
    }

    /// Feeds `stream` cut at every `cut`-th byte.
    fn frames(stream: &[u8], cut: usize, max: usize) -> (Seen, bool) {
        let (mut frames, mut seen) = (Frames::new(max), Seen::default());
        let mut intact = true;
        for piece in stream.chunks(cut) {
            intact = frames.push(piece, &mut seen);
            if !intact {
                return (seen, intact);
            }
        }
        frames.finish(&mut seen);
        (seen, intact)
    }

    #[test]
    fn both_framings_read_the_same_messages_however_the_stream_is_cut() {
        let counted = |message: &str| format!("{} {message}", message.len());
        let stream = format!(
            "<13>a: one\n{}<13>a: three\n{}\n\n<13>a: five",
            counted("<13>a: two"),
            counted("<13>a: four\n"),
        );
        let stream = stream.as_bytes();
        for cut in 1..stream.len() {
            let (seen, intact) = frames(stream, cut, 64);
            assert!(intact);
            assert_eq!(
                seen.messages,
                [
                    "<13>a: one",
                    "<13>a: two",
                    "<13>a: three",
                    "<13>a: four\n",
                    "<13>a: five"
                ],
                "cut every {cut}"
            );
            assert!(seen.dropped.is_empty());
        }
    }

    #[test]
    fn messages_over_the_bound_are_dropped_and_counted_and_the_next_is_read() {
        let long = "x".repeat(100);
        let stream = format!("<13>a: {long}\n<13>a: ok1\n107 <13>a: {long}10 <13>a: ok2");
        for cut in [1, 3, 7, 50, 1000] {
            let (seen, intact) = frames(stream.as_bytes(), cut, 32);
            assert!(intact);
            assert_eq!(
                seen.messages,
                ["<13>a: ok1", "<13>a: ok2"],
                "cut every {cut}"
            );
            assert_eq!(seen.dropped, ["too_long", "too_long"], "cut every {cut}");
        }
    }

    #[test]
    fn a_broken_count_ends_the_connection() {
        for stream in [&b"12x<13>a: x"[..], b"12345678901 <13>"] {
            let (seen, intact) = frames(stream, 4, 64);
            assert!(!intact);
            assert_eq!(seen.dropped, ["framing"]);
            assert!(seen.messages.is_empty());
        }
    }

    proptest::proptest! {
        /// Where the reads cut the stream changes nothing, and nothing handed on is over the
        /// bound.
        #[test]
        fn framing_does_not_depend_on_where_reads_cut(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::string::string_regex("<13>a: [a-z ]{0,80}\n").unwrap(),
                    proptest::string::string_regex("[a-z ]{0,80}").unwrap()
                        .prop_map(|m| format!("{} {m}", m.len())),
                    proptest::string::string_regex("[0-9 x\n]{0,4}").unwrap(),
                ],
                0..12,
            ),
            cut in 1..200usize,
        ) {
            let stream = pieces.concat();
            let (whole, whole_intact) = frames(stream.as_bytes(), stream.len().max(1), 48);
            let (cut_up, cut_intact) = frames(stream.as_bytes(), cut, 48);
            proptest::prop_assert_eq!(whole_intact, cut_intact);
            proptest::prop_assert_eq!(&whole.messages, &cut_up.messages);
            proptest::prop_assert_eq!(&whole.dropped, &cut_up.dropped);
            proptest::prop_assert!(whole.messages.iter().all(|m| m.len() <= 48));
        }
    }

    #[test]
    fn listen_addresses_are_udp_tcp_or_unixgram() {
        assert_eq!(
            ListenAddress::parse("udp://127.0.0.1:514"),
            Ok(ListenAddress::Udp("127.0.0.1:514".parse().unwrap()))
        );
        assert_eq!(
            ListenAddress::parse("tcp://[::1]:601").unwrap().to_string(),
            "tcp://[::1]:601"
        );
        assert_eq!(
            ListenAddress::parse("unixgram:///run/x.sock"),
            Ok(ListenAddress::Unixgram("/run/x.sock".into()))
        );
        for bad in [
            "127.0.0.1:514",
            "http://x:1",
            "udp://nohost",
            "unixgram://rel.sock",
        ] {
            assert!(ListenAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
