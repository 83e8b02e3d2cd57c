//! Counting a whole log on two threads: the caller's thread reads and parses, a second one
//! counts into the metrics.
//!
//! Reading, splitting and parsing a line costs about three times what counting it does, so
//! handing the counting to another core lets a batch run (`--one-shot`) go at about the speed
//! of parsing alone. Hits cross in batches, in the order they were read, so the second thread
//! counts exactly what one thread would have, and the bounded label sets fill up with the
//! same first-seen values.
//!
//! Made for input read to its end before anything is scraped: until the counting thread has
//! caught up, the lines read are ahead of the requests counted.

use std::ops::Range;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

use super::{Ingest, RecordConsumer};
use crate::metrics::{ExporterMetrics, Hit, RequestRecorder, SeriesLimits};
use crate::parse::{LogFormat, Record};

/// Hits a batch holds before it is handed over. Each hand-over may wake the counting thread,
/// which in a virtual machine is an interrupt to another virtual CPU: measured here, batches of
/// 1,024 made the run slower than one thread, 16,384 (some 800 KB) 20% faster.
const BATCH_HITS: usize = 16384;
/// Target bytes a batch holds before it is handed over, whatever the hits: long targets must
/// not grow the batches. `--max-line-bytes` at its largest plus this fits in a `u32`.
const BATCH_TARGET_BYTES: usize = 1 << 20;
/// Batches read ahead of the counting thread before the reader waits for it: what bounds the
/// memory the hand-over takes.
const QUEUED_BATCHES: usize = 2;

/// Runs `read` with an exporter pipeline into `metrics` whose counting runs on a second
/// thread; returns once every hit handed on has been counted and flushed.
pub fn count_on_second_thread<T>(
    format: LogFormat,
    metrics: ExporterMetrics,
    limits: SeriesLimits,
    read: impl FnOnce(&mut Ingest<HitSender>) -> T,
) -> T {
    let (full, to_count) = mpsc::sync_channel(QUEUED_BATCHES);
    let (recycle, empty) = mpsc::channel();
    std::thread::scope(|scope| {
        let counter_metrics = metrics.clone();
        let counter = scope.spawn(move || {
            let mut recorder = RequestRecorder::new(counter_metrics, limits);
            count_batches(&mut recorder, to_count, recycle);
            recorder.flush();
        });
        let sender = HitSender {
            batch: HitBatch::default(),
            full,
            empty,
        };
        let mut ingest = Ingest::new(format, metrics, sender);
        let result = read(&mut ingest);
        ingest.into_consumer().finish();
        if let Err(panic) = counter.join() {
            std::panic::resume_unwind(panic);
        }
        result
    })
}

fn count_batches(
    recorder: &mut RequestRecorder,
    to_count: Receiver<HitBatch>,
    recycle: Sender<HitBatch>,
) {
    for mut batch in to_count {
        for hit in &batch.hits {
            recorder.count(hit.borrow(&batch.targets));
        }
        batch.clear();
        // The reader may be gone (it has sent its last batch): the batch is just dropped.
        let _ = recycle.send(batch);
    }
}

/// The reading side: collects hits into batches and hands each full one to the counting
/// thread.
pub struct HitSender {
    batch: HitBatch,
    full: SyncSender<HitBatch>,
    empty: Receiver<HitBatch>,
}

impl HitSender {
    fn hand_over(&mut self) {
        let next = self.empty.try_recv().unwrap_or_default();
        let batch = std::mem::replace(&mut self.batch, next);
        // Only a panic ends the counting thread early, and joining it reports that panic.
        let _ = self.full.send(batch);
    }

    /// Hands over what is left; the counting thread ends once it has counted it.
    fn finish(mut self) {
        if !self.batch.hits.is_empty() {
            self.hand_over();
        }
    }
}

impl RecordConsumer for HitSender {
    #[inline]
    fn record(&mut self, record: &Record<'_>) {
        self.batch.push(Hit::of(record));
        if self.batch.hits.len() == BATCH_HITS || self.batch.targets.len() >= BATCH_TARGET_BYTES {
            self.hand_over();
        }
    }
}

/// Hits that own their targets' bytes, so they can outlive the lines they came from.
#[derive(Default)]
struct HitBatch {
    hits: Vec<BatchedHit>,
    // Every hit's target, one after another.
    targets: Vec<u8>,
}

impl HitBatch {
    fn push(&mut self, hit: Hit<'_>) {
        let target = hit.target.map(|target| {
            let start = self.targets.len();
            self.targets.extend_from_slice(target);
            start as u32..self.targets.len() as u32
        });
        self.hits.push(BatchedHit {
            target,
            method: hit.method,
            status: hit.status,
            bytes: hit.bytes,
            duration: hit.duration,
            upstream_duration: hit.upstream_duration,
            timestamp: hit.timestamp,
        });
    }

    fn clear(&mut self) {
        self.hits.clear();
        self.targets.clear();
    }
}

/// A [`Hit`] whose target is a range of its batch's `targets`.
struct BatchedHit {
    target: Option<Range<u32>>,
    method: u8,
    status: u16,
    bytes: u64,
    duration: Option<std::time::Duration>,
    upstream_duration: Option<std::time::Duration>,
    timestamp: i64,
}

impl BatchedHit {
    #[inline]
    fn borrow<'a>(&self, targets: &'a [u8]) -> Hit<'a> {
        Hit {
            target: self
                .target
                .clone()
                .map(|range| &targets[range.start as usize..range.end as usize]),
            method: self.method,
            status: self.status,
            bytes: self.bytes,
            duration: self.duration,
            upstream_duration: self.upstream_duration,
            timestamp: self.timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{log_bytes, sum};
    use super::*;
    use crate::tail::{LineSplitter, TailSink};

    /// The exposition after `log` is read in two pieces cut at `cut`, counted on one thread
    /// or two.
    fn exposition(log: &[u8], cut: usize, format: LogFormat, two_threads: bool) -> String {
        let limits = SeriesLimits {
            sections: 4,
            statuses: 3,
            series: 10,
        };
        let metrics = ExporterMetrics::new().unwrap();
        if two_threads {
            count_on_second_thread(format, metrics.clone(), limits, |ingest| {
                read(log, cut, ingest)
            });
        } else {
            read(
                log,
                cut,
                &mut Ingest::exporter(format, metrics.clone(), limits),
            );
        }
        metrics.encode()
    }

    fn read(log: &[u8], cut: usize, sink: &mut impl TailSink) {
        let mut splitter = LineSplitter::new(1 << 20);
        splitter.push(&log[..cut], sink);
        splitter.push(&log[cut..], sink);
        splitter.finish(sink);
        sink.polled();
    }

    #[test]
    fn many_batches_count_as_one_thread_counts() {
        // More hits than a batch holds, several times over, with new sections, methods and
        // statuses arriving late, so which of them fill the bounded label sets depends on order.
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
        let one = exposition(&log, log.len() / 3, LogFormat::Common, false);
        let two = exposition(&log, log.len() / 3, LogFormat::Common, true);
        assert_eq!(sum(&two, "accesslog_http_requests_total"), 50_000.0);
        assert!(
            two.contains("section=\"(other)\""),
            "the section cap was reached"
        );
        assert_eq!(one, two);
    }

    #[test]
    fn long_targets_count_as_one_thread_counts() {
        // Handed over for their bytes long before the batch has its number of hits.
        let target = "/t".repeat(40_000);
        let line = format!("h - - [10/Oct/2000:13:55:36 +0000] \"GET {target} HTTP/1.1\" 200 1\n");
        let log = line.repeat(50).into_bytes();
        let two = exposition(&log, 0, LogFormat::Common, true);
        assert_eq!(two, exposition(&log, 0, LogFormat::Common, false));
        assert_eq!(sum(&two, "accesslog_http_requests_total"), 50.0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]
        /// Whatever the bytes, the format or where the reads cut them, two threads expose
        /// exactly what one does.
        #[test]
        fn two_threads_expose_what_one_does(
            log in log_bytes(),
            format in proptest::sample::select(
                crate::ingest::tests::every_format()
            ),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let cut = cut.index(log.len() + 1);
            proptest::prop_assert_eq!(
                exposition(&log, cut, format.clone(), false),
                exposition(&log, cut, format, true)
            );
        }
    }
}
