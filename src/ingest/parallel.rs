//! Counting a whole log on every core: the lines are read in order, parsed in parallel, and
//! counted in order.
//!
//! The calling thread reads the log and cuts it into chunks of whole lines. Worker threads, one
//! a core up to four, parse chunks as they come, each into a batch of hits, and count the batches in the
//! order their chunks were read: whichever worker finishes the next batch to count counts it,
//! and every batch after it that is ready, while the other parses. Counting costs about half
//! what parsing does, so no core waits on another for long, where a thread that parsed
//! everything for one that counted would hold the run to the speed of parsing alone.
//!
//! Counted in read order, the bounded label sets fill with the same first-seen values as on one
//! thread. The parser's only state, a W3C `#Fields:` layout, is followed by the reader through
//! the `#` lines and given to each chunk as it stands before the chunk's first line.
//!
//! Made for input read to its end before anything is scraped (`--one-shot`): until the last
//! batch is counted, the lines read are ahead of the requests counted.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::{Ingest, RecordConsumer};
use crate::metrics::{ExporterMetrics, Hit, RequestRecorder, SeriesLimits};
use crate::parse::{LineParser, LogFormat, Record};
use crate::tail::{TailEvent, TailSink};

/// Bytes of lines a chunk holds before it is handed to a worker. Measured here, 64 KiB to
/// 512 KiB run equally fast; a chunk and its hits take about twice its bytes, so the smaller
/// the less memory.
const CHUNK_BYTES: usize = 128 << 10;
/// Chunks in existence for each worker: being filled or waiting for a worker, being parsed,
/// and parsed and waiting to be counted. The reader waits for a counted one to come back: what
/// bounds memory when counting falls behind parsing.
const CHUNKS_PER_WORKER: usize = 3;
/// Workers at most. Counting is done by one at a time and costs about a third of a line's
/// work, so past three or four workers it sets the pace and more would only hold chunks.
const MAX_WORKERS: usize = 4;

/// Runs `read` with a sink whose lines are parsed on `workers` threads (at most four) and
/// counted into `metrics`, in the order read; returns once every line is counted and flushed.
pub fn count_in_parallel<T>(
    format: LogFormat,
    metrics: ExporterMetrics,
    limits: SeriesLimits,
    workers: usize,
    read: impl FnOnce(&mut ChunkReader) -> T,
) -> T {
    count_in_chunks(format, metrics, limits, workers, CHUNK_BYTES, read)
}

fn count_in_chunks<T>(
    format: LogFormat,
    metrics: ExporterMetrics,
    limits: SeriesLimits,
    workers: usize,
    chunk_bytes: usize,
    read: impl FnOnce(&mut ChunkReader) -> T,
) -> T {
    let workers = workers.clamp(1, MAX_WORKERS);
    let shared = Shared {
        state: Mutex::new(State {
            free: (0..workers * CHUNKS_PER_WORKER)
                .map(|_| Chunk::default())
                .collect(),
            ready: BTreeMap::new(),
            next_to_count: 0,
            counting: false,
            failed: false,
        }),
        freed: Condvar::new(),
        recorder: Mutex::new(RequestRecorder::new(metrics.clone(), limits)),
    };
    let (to_parse, chunks) = mpsc::channel();
    let chunks = Mutex::new(chunks);
    let result = std::thread::scope(|scope| {
        for _ in 0..workers {
            let (shared, chunks, format, metrics) = (&shared, &chunks, &format, &metrics);
            scope.spawn(move || {
                let _failure = FailureGuard(shared);
                parse_and_count(shared, chunks, format.clone(), metrics.clone());
            });
        }
        let mut reader = ChunkReader {
            events: Ingest::new(format.clone(), metrics.clone(), ()),
            parser: LineParser::new(format.clone()),
            chunk: None,
            chunk_bytes,
            torn: Vec::new(),
            read: 0,
            to_parse,
            shared: &shared,
        };
        let result = read(&mut reader);
        reader.hand_over();
        reader.events.polled();
        // Dropping the reader closes the channel: each worker ends once it has none left.
        result
    });
    lock(&shared.recorder).flush();
    result
}

/// What the workers share: the chunks and the counting.
struct Shared {
    state: Mutex<State>,
    /// Signalled when a chunk is back in [`State::free`], or a worker failed.
    freed: Condvar,
    /// Taken only by the worker whose turn it is to count (`State::counting`).
    recorder: Mutex<RequestRecorder>,
}

struct State {
    /// Chunks waiting to be filled by the reader.
    free: Vec<Chunk>,
    /// Parsed chunks waiting to be counted, by the order they were read in.
    ready: BTreeMap<u64, Chunk>,
    /// The read order of the chunk to count next.
    next_to_count: u64,
    /// A worker is counting: the others leave what they parsed in `ready` for it.
    counting: bool,
    /// A worker panicked: its chunk will never be counted, so nobody may wait for one.
    failed: bool,
}

/// Lines read, in order, and the hits parsed from them.
#[derive(Default)]
struct Chunk {
    read: u64,
    /// The lines, each ended by its `\n`.
    lines: Vec<u8>,
    /// The parser as it stands before the first line: where a W3C layout carries over.
    parser: Option<LineParser>,
    hits: HitBatch,
}

impl Chunk {
    fn clear(&mut self) {
        self.lines.clear();
        self.parser = None;
        self.hits.clear();
    }
}

/// The reading side: cuts the lines it is given into chunks for the workers.
pub struct ChunkReader<'a> {
    /// Counts what the reader sees itself: bytes read, lines too long.
    events: Ingest<()>,
    /// Fed the `#` lines only, to know the W3C layout each chunk starts with.
    parser: LineParser,
    chunk: Option<Chunk>,
    chunk_bytes: usize,
    /// A line handed on alone (torn across reads), with its `\n`.
    torn: Vec<u8>,
    read: u64,
    to_parse: Sender<Chunk>,
    shared: &'a Shared,
}

impl ChunkReader<'_> {
    fn hand_over(&mut self) {
        if let Some(chunk) = self.chunk.take() {
            // The workers end only when this sender is dropped, or by a panic, which the
            // scope reports once they are joined.
            let _ = self.to_parse.send(chunk);
        }
    }

    /// A free chunk to fill; `None` once a worker has failed.
    fn take_free(&mut self) -> Option<Chunk> {
        let mut state = lock(&self.shared.state);
        loop {
            if state.failed {
                return None;
            }
            if let Some(mut chunk) = state.free.pop() {
                chunk.read = self.read;
                chunk.parser = Some(self.parser.clone());
                self.read += 1;
                return Some(chunk);
            }
            state = self
                .shared
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Adds `lines`, each ended by its `\n`, to the chunk being filled, and hands the chunk
    /// over once it is full.
    fn append(&mut self, lines: &[u8]) {
        if self.chunk.is_none() {
            self.chunk = self.take_free();
        }
        let Some(chunk) = &mut self.chunk else {
            return;
        };
        chunk.lines.extend_from_slice(lines);
        if chunk.lines.len() >= self.chunk_bytes {
            self.hand_over();
        }
    }
}

impl TailSink for ChunkReader<'_> {
    fn line(&mut self, line: &[u8]) {
        let mut lines = std::mem::take(&mut self.torn);
        lines.extend_from_slice(line);
        lines.push(b'\n');
        self.lines(&lines);
        lines.clear();
        self.torn = lines;
    }

    fn lines(&mut self, mut lines: &[u8]) {
        // A directive (a line starting with `#`) may change how the lines after it are read:
        // it is the last line of a run appended, and the parser the next chunk starts with
        // has seen it. `#` is rare elsewhere in access logs, so this is mostly one search.
        let mut from = 0;
        while let Some(at) = memchr::memchr(b'#', &lines[from..]).map(|at| from + at) {
            let end = memchr::memchr(b'\n', &lines[at..]).map_or(lines.len(), |end| at + end + 1);
            if at == 0 || lines[at - 1] == b'\n' {
                self.append(&lines[..end]);
                let directive = &lines[at..end];
                let _ = self
                    .parser
                    .parse(directive.strip_suffix(b"\n").unwrap_or(directive));
                lines = &lines[end..];
                from = 0;
            } else {
                from = at + 1;
            }
        }
        if !lines.is_empty() {
            self.append(lines);
        }
    }

    fn event(&mut self, event: TailEvent<'_>) {
        self.events.event(event);
    }

    fn polled(&mut self) {
        self.hand_over();
        self.events.polled();
    }
}

/// A worker: parses the chunks it is given, and counts every parsed chunk whose turn it is.
fn parse_and_count(
    shared: &Shared,
    chunks: &Mutex<Receiver<Chunk>>,
    format: LogFormat,
    metrics: ExporterMetrics,
) {
    let mut ingest = Ingest::new(format, metrics, HitBatch::default());
    loop {
        let next = lock(chunks).recv();
        let Ok(mut chunk) = next else {
            break;
        };
        if let Some(parser) = chunk.parser.take() {
            ingest.parser = parser;
        }
        ingest.consumer = std::mem::take(&mut chunk.hits);
        ingest.lines(&chunk.lines);
        chunk.hits = std::mem::take(&mut ingest.consumer);
        count_in_turn(shared, chunk);
    }
    ingest.polled();
}

/// Leaves `chunk` to be counted in its turn, and counts every chunk whose turn it is, unless
/// another worker is already counting.
fn count_in_turn(shared: &Shared, chunk: Chunk) {
    let mut state = lock(&shared.state);
    state.ready.insert(chunk.read, chunk);
    if state.counting {
        return;
    }
    state.counting = true;
    loop {
        let next = state.next_to_count;
        let Some(mut chunk) = state.ready.remove(&next) else {
            state.counting = false;
            return;
        };
        state.next_to_count += 1;
        drop(state);
        {
            let mut recorder = lock(&shared.recorder);
            for hit in &chunk.hits.hits {
                recorder.count(hit.borrow(&chunk.hits.targets));
            }
        }
        chunk.clear();
        state = lock(&shared.state);
        state.free.push(chunk);
        shared.freed.notify_one();
    }
}

/// Tells the reader when a worker panics, so that it stops waiting for chunks to come back.
struct FailureGuard<'a>(&'a Shared);

impl Drop for FailureGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(&self.0.state).failed = true;
            self.0.freed.notify_all();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only a panic poisons these, and the scope reports it once the workers are joined.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RecordConsumer for HitBatch {
    #[inline]
    fn record(&mut self, record: &Record<'_>) {
        self.push(Hit::of(record));
    }
}

/// Hits that own their targets' and hosts' bytes, so they can outlive the lines they came
/// from.
#[derive(Default)]
pub(crate) struct HitBatch {
    hits: Vec<BatchedHit>,
    // Every hit's target and host, one after another.
    targets: Vec<u8>,
}

impl HitBatch {
    pub(crate) fn push(&mut self, hit: Hit<'_>) {
        let mut keep = |bytes: Option<&[u8]>| match bytes {
            Some(bytes) => {
                let start = self.targets.len();
                self.targets.extend_from_slice(bytes);
                [start as u32, self.targets.len() as u32]
            }
            None => BatchedHit::NO_BYTES,
        };
        let target = keep(hit.target);
        let host = keep(hit.host);
        let time = |time: Option<u64>| time.map_or(BatchedHit::NO_TIME, |t| t.min(u64::MAX - 1));
        self.hits.push(BatchedHit {
            target,
            host,
            method: hit.method,
            status: hit.status,
            bytes: hit.bytes,
            durations: [time(hit.duration), time(hit.upstream_duration)],
            timestamp: hit.timestamp,
        });
    }

    fn clear(&mut self) {
        self.hits.clear();
        self.targets.clear();
    }

    /// Each hit, in the order pushed.
    pub(crate) fn hits(&self) -> impl Iterator<Item = Hit<'_>> {
        self.hits.iter().map(|hit| hit.borrow(&self.targets))
    }
}

/// A [`Hit`] whose target and host are ranges of its batch's `targets`, in a cache line
/// (with `Option`s, a line and a quarter).
struct BatchedHit {
    // Start and end, or `NO_BYTES`.
    target: [u32; 2],
    host: [u32; 2],
    method: u8,
    status: u16,
    bytes: u64,
    // Request and upstream, in nanoseconds, or `NO_TIME`.
    durations: [u64; 2],
    timestamp: i64,
}

const _: () = assert!(std::mem::size_of::<BatchedHit>() <= 64);

impl BatchedHit {
    const NO_BYTES: [u32; 2] = [u32::MAX, 0];
    const NO_TIME: u64 = u64::MAX;

    #[inline]
    fn borrow<'a>(&self, targets: &'a [u8]) -> Hit<'a> {
        let slice = |range: [u32; 2]| {
            (range != Self::NO_BYTES).then(|| &targets[range[0] as usize..range[1] as usize])
        };
        let time = |time: u64| (time != Self::NO_TIME).then_some(time);
        Hit {
            target: slice(self.target),
            host: slice(self.host),
            method: self.method,
            status: self.status,
            bytes: self.bytes,
            duration: time(self.durations[0]),
            upstream_duration: time(self.durations[1]),
            timestamp: self.timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{every_format, log_bytes, sum};
    use super::*;
    use crate::tail::LineSplitter;

    /// How a log is read in a test: in reads of `read_bytes`, lines of at most `max_line` kept.
    #[derive(Debug, Clone, Copy)]
    struct Reads {
        read_bytes: usize,
        max_line: usize,
    }

    /// The exposition after `log` is read and counted on one thread, or parsed by `workers`
    /// in chunks of `chunk_bytes`; with a host label when `hosts` are kept.
    fn exposition(
        log: &[u8],
        reads: Reads,
        format: LogFormat,
        chunks: Option<(usize, usize)>,
        hosts: Option<usize>,
    ) -> String {
        let limits = SeriesLimits {
            sections: 4,
            statuses: 3,
            series: 10,
            histogram_series: 8,
            hosts,
        };
        let metrics = ExporterMetrics::new().unwrap();
        match chunks {
            Some((workers, chunk_bytes)) => count_in_chunks(
                format,
                metrics.clone(),
                limits,
                workers,
                chunk_bytes,
                |sink| read(log, reads, sink),
            ),
            None => read(
                log,
                reads,
                &mut Ingest::exporter(format, metrics.clone(), limits),
            ),
        }
        metrics.encode()
    }

    fn read(log: &[u8], reads: Reads, sink: &mut impl TailSink) {
        let mut splitter = LineSplitter::new(reads.max_line);
        for piece in log.chunks(reads.read_bytes.max(1)) {
            sink.event(TailEvent::BytesRead(piece.len() as u64));
            splitter.push(piece, sink);
        }
        splitter.finish(sink);
        sink.polled();
    }

    const WHOLE: Reads = Reads {
        read_bytes: 64 << 10,
        max_line: 64 << 10,
    };

    #[test]
    fn many_chunks_count_as_one_thread_counts() {
        // Many chunks, with new sections, methods and statuses arriving late, so which of
        // them fill the bounded label sets depends on the order they are counted in.
        let mut log = Vec::new();
        for i in 0..50_000 {
            let method = ["GET", "POST", "BREW", "PUT"][i % 4];
            log.extend_from_slice(
                format!(
                    "h - - [10/Oct/2000:13:55:36 +0000] \"{method} /s{}/x HTTP/1.1\" {} {i}\n",
                    i * 7 % 13,
                    200 + i % 7,
                )
                .as_bytes(),
            );
        }
        let one = exposition(&log, WHOLE, LogFormat::Common, None, None);
        assert_eq!(sum(&one, "accesslog_http_requests_total"), 50_000.0);
        assert!(
            one.contains("section=\"(other)\""),
            "the section cap was reached"
        );
        for chunks in [(2, 4096), (3, 100), (4, CHUNK_BYTES)] {
            let parallel = exposition(&log, WHOLE, LogFormat::Common, Some(chunks), None);
            assert_eq!(one, parallel, "{chunks:?}");
        }
    }

    #[test]
    fn a_w3c_layout_carries_over_to_the_chunks_after_it() {
        // Each header changes which column is the status; chunks of a few lines each start
        // after headers that other workers parse.
        let mut log = Vec::new();
        for i in 0..2_000 {
            if i % 37 == 0 {
                let header = if i % 2 == 0 {
                    "#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes\n"
                } else {
                    "#Fields: date time c-ip cs-method cs-uri-stem sc-bytes sc-status\n"
                };
                log.extend_from_slice(header.as_bytes());
            }
            let line = format!("2026-11-24 10:00:00 192.0.2.1 GET /s{}/x 404 200\n", i % 3);
            log.extend_from_slice(line.as_bytes());
        }
        let one = exposition(&log, WHOLE, LogFormat::Auto, None, None);
        assert!(
            one.contains("status=\"404\"") && one.contains("status=\"200\""),
            "{one}"
        );
        assert_eq!(sum(&one, "accesslog_directives_total"), 55.0);
        for read_bytes in [1, 50, 4096] {
            let reads = Reads {
                read_bytes,
                ..WHOLE
            };
            for format in [LogFormat::Auto, LogFormat::W3c] {
                let parallel = exposition(&log, reads, format.clone(), Some((2, 200)), None);
                assert_eq!(exposition(&log, reads, format, None, None), parallel);
            }
        }
    }

    #[test]
    fn long_lines_count_as_one_thread_counts() {
        // Lines longer than a chunk, and longer than the lines kept.
        let line = |n| {
            let target = "/t".repeat(n);
            format!("h - - [10/Oct/2000:13:55:36 +0000] \"GET {target} HTTP/1.1\" 200 1\n")
        };
        let log = [line(40_000), line(10), line(70_000)]
            .concat()
            .repeat(20)
            .into_bytes();
        let reads = Reads {
            read_bytes: 64 << 10,
            max_line: 100_000,
        };
        let one = exposition(&log, reads, LogFormat::Common, None, None);
        assert_eq!(sum(&one, "accesslog_http_requests_total"), 40.0);
        assert_eq!(
            one,
            exposition(&log, reads, LogFormat::Common, Some((2, 1000)), None)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]
        /// Whatever the bytes, the format, the reads, the chunks or the workers, counting in
        /// parallel exposes exactly what one thread does.
        #[test]
        fn parallel_exposes_what_one_thread_does(
            log in log_bytes(),
            format in proptest::sample::select(every_format()),
            read_bytes in 1..300usize,
            max_line in 40..300usize,
            chunk_bytes in 1..400usize,
            workers in 1..4usize,
            hosts in proptest::option::of(0..3usize),
        ) {
            let reads = Reads { read_bytes, max_line };
            proptest::prop_assert_eq!(
                exposition(&log, reads, format.clone(), None, hosts),
                exposition(&log, reads, format, Some((workers, chunk_bytes)), hosts)
            );
        }
    }
}
