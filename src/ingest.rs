//! The pipeline: lines from the tailer → records → consumers (metrics, monitor), and what the
//! user is told about the file.
//!
//! One parser and one tailer serve every consumer: [`Ingest`] hands each record to a
//! [`RecordConsumer`], which may be a pair of them.

mod parallel;

pub(crate) use parallel::HitBatch;
pub use parallel::{count_in_parallel, ChunkReader};

use crate::checkpoint::Checkpoints;
use crate::metrics::{ExporterMetrics, RequestRecorder, SeriesLimits};
use crate::parse::{Line, LineParser, LogFormat, Record};
use crate::report;
use crate::tail::{Position, TailEvent, TailSink};

/// Something that uses parsed records.
pub trait RecordConsumer {
    /// One record, borrowed from its line.
    fn record(&mut self, record: &Record<'_>);
    /// Called after every read of the log (and, for the console, at least every poll
    /// interval): time has passed.
    fn tick(&mut self) {}
}

impl RecordConsumer for RequestRecorder {
    fn record(&mut self, record: &Record<'_>) {
        RequestRecorder::record(self, record);
    }
    fn tick(&mut self) {
        self.flush();
    }
}

/// Nothing: a pipeline kept for its health metrics alone.
impl RecordConsumer for () {
    fn record(&mut self, _record: &Record<'_>) {}
}

impl<A: RecordConsumer, B: RecordConsumer> RecordConsumer for (A, B) {
    fn record(&mut self, record: &Record<'_>) {
        self.0.record(record);
        self.1.record(record);
    }
    fn tick(&mut self) {
        self.0.tick();
        self.1.tick();
    }
}

impl<C: RecordConsumer> RecordConsumer for Option<C> {
    fn record(&mut self, record: &Record<'_>) {
        if let Some(consumer) = self {
            consumer.record(record);
        }
    }
    fn tick(&mut self) {
        if let Some(consumer) = self {
            consumer.tick();
        }
    }
}

/// One consumer fed by several pipelines (one a log), each on its own thread: the monitor of
/// several logs sees their traffic together.
impl<C: RecordConsumer> RecordConsumer for std::sync::Arc<std::sync::Mutex<C>> {
    fn record(&mut self, record: &Record<'_>) {
        lock(self).record(record);
    }
    fn tick(&mut self) {
        lock(self).tick();
    }
}

fn lock<C>(shared: &std::sync::Mutex<C>) -> std::sync::MutexGuard<'_, C> {
    // A consumer that panicked mid-record has counted that record or not; either is fine.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Parses every line it is given and counts it: as a record handed to the consumer, a
/// directive, or a parse error. The exporter's health metrics are kept whatever the consumer.
pub struct Ingest<C> {
    parser: LineParser,
    consumer: C,
    metrics: ExporterMetrics,
    // Counted locally and added after the consumer's counts are folded in, so that a scrape
    // showing N lines read shows all N counted.
    lines_read: u64,
    checkpoints: Option<Checkpoints>,
    // How far the lines handed on go, published at the next poll's end.
    read_to: Option<Position>,
    // Said once: a log full of long lines must not fill the journal too.
    too_long_said: bool,
}

impl Ingest<RequestRecorder> {
    /// The exporter's pipeline: records counted into `metrics`.
    pub fn exporter(format: LogFormat, metrics: ExporterMetrics, limits: SeriesLimits) -> Self {
        Ingest::new(
            format,
            metrics.clone(),
            RequestRecorder::new(metrics, limits),
        )
    }
}

/// A served log's request counter: its own, or the one the files of a log share (a named
/// glob of `--config.file`: one log whatever the number of files).
// Unboxed: a pipeline lives in a box of its own already, and the recorder is read every record.
#[allow(clippy::large_enum_variant)]
pub enum LogRecorder {
    /// The pipeline's own.
    Own(RequestRecorder),
    /// Shared with the other files of the log.
    Shared(std::sync::Arc<std::sync::Mutex<RequestRecorder>>),
}

impl RecordConsumer for LogRecorder {
    #[inline]
    fn record(&mut self, record: &Record<'_>) {
        match self {
            LogRecorder::Own(recorder) => RecordConsumer::record(recorder, record),
            LogRecorder::Shared(recorder) => recorder.record(record),
        }
    }
    fn tick(&mut self) {
        match self {
            LogRecorder::Own(recorder) => recorder.tick(),
            LogRecorder::Shared(recorder) => recorder.tick(),
        }
    }
}

impl<C: RecordConsumer> Ingest<(LogRecorder, C)> {
    /// A served log's pipeline: records counted by `recorder` into `metrics` and handed to
    /// `beside` too (the console monitor), how far it has been read published to
    /// `checkpoints`.
    pub fn served(
        format: LogFormat,
        metrics: ExporterMetrics,
        recorder: LogRecorder,
        beside: C,
        checkpoints: Option<Checkpoints>,
    ) -> Self {
        Ingest {
            checkpoints,
            ..Ingest::new(format, metrics, (recorder, beside))
        }
    }
}

impl<C: RecordConsumer> Ingest<C> {
    /// A pipeline parsing `format`, handing records to `consumer`, with health in `metrics`.
    pub fn new(format: LogFormat, metrics: ExporterMetrics, consumer: C) -> Ingest<C> {
        Ingest {
            parser: LineParser::new(format),
            consumer,
            metrics,
            lines_read: 0,
            checkpoints: None,
            read_to: None,
            too_long_said: false,
        }
    }

    /// The consumer, once the input is done.
    pub fn into_consumer(self) -> C {
        self.consumer
    }
}

impl<C: RecordConsumer> TailSink for Ingest<C> {
    fn line(&mut self, line: &[u8]) {
        match self.parser.parse(line) {
            Ok(Line::Record(record)) => self.consumer.record(&record),
            Ok(Line::Directive) => self.metrics.count_directive(),
            Err(error) => self.metrics.count_parse_error(error.reason()),
        }
        self.lines_read += 1;
    }

    fn polled(&mut self) {
        let _whole = self.metrics.fold();
        self.consumer.tick();
        self.metrics
            .add_lines_read(std::mem::take(&mut self.lines_read));
        // Published with the counts of the lines before it, under the same lock a scrape
        // marks under.
        if let (Some(checkpoints), Some(position)) = (&self.checkpoints, self.read_to.take()) {
            checkpoints.read_to(position);
        }
    }

    fn read_to(&mut self, position: Position) {
        self.read_to = Some(position);
    }

    fn event(&mut self, event: TailEvent<'_>) {
        match event {
            TailEvent::BytesRead(n) => self.metrics.add_bytes_read(n),
            TailEvent::LineTooLong => {
                self.metrics.count_parse_error("too_long");
                self.lines_read += 1;
                if !self.too_long_said {
                    self.too_long_said = true;
                    report::warning(
                        "a line longer than --max-line-bytes was dropped and counted as \
                         reason=\"too_long\"; later ones are counted without a warning",
                    );
                }
            }
            TailEvent::Opened { path, offset } => {
                self.metrics.set_file_open(true);
                report::info(format_args!(
                    "following {} from byte {offset}",
                    path.display()
                ));
            }
            TailEvent::Missing { path } => {
                self.metrics.set_file_open(false);
                report::warning(format_args!(
                    "{}: no such file; waiting for it to appear",
                    path.display()
                ));
            }
            TailEvent::Rotated { .. } => self.metrics.count_rotation("rename"),
            TailEvent::Truncated { path } => {
                self.metrics.count_rotation("truncate");
                report::info(format_args!(
                    "{} was truncated; reading from its start",
                    path.display()
                ));
            }
            TailEvent::Released => {}
            TailEvent::PositionStale { path, reason } => report::warning(format_args!(
                "{}: the position saved in --position-file no longer matches: {reason}; \
                 reading the log from its start",
                path.display()
            )),
            TailEvent::Unreadable { path, error } => {
                self.metrics.set_file_open(false);
                report::warning(format_args!("{}: {error}", path.display()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn sum(text: &str, name: &str) -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    #[test]
    fn a_scrape_never_shows_a_line_read_without_its_request() {
        let metrics = ExporterMetrics::new().unwrap();
        let mut ingest =
            Ingest::exporter(LogFormat::Common, metrics.clone(), SeriesLimits::default());
        let reader = std::thread::spawn(move || {
            for i in 0..20_000 {
                let line = format!(
                    "h - - [10/Oct/2000:13:55:36 +0000] \"GET /s{} HTTP/1.1\" 200 1",
                    i % 50
                );
                ingest.line(line.as_bytes());
                ingest.polled();
            }
        });
        let mut scrapes = 0;
        while !reader.is_finished() || scrapes == 0 {
            let text = metrics.encode();
            let (lines, requests) = (
                sum(&text, "accesslog_lines_read_total"),
                sum(&text, "accesslog_http_requests_total"),
            );
            assert_eq!(lines, requests, "scrape {scrapes}");
            scrapes += 1;
        }
        reader.join().unwrap();
        assert_eq!(
            sum(&metrics.encode(), "accesslog_lines_read_total"),
            20_000.0
        );
    }

    /// One of each format, configurable ones with the nginx and JSON lines below.
    pub(super) fn every_format() -> Vec<LogFormat> {
        let nginx = crate::generate::NGINX_TIMED_FORMAT;
        let template = crate::parse::Template::compile(crate::parse::Dialect::Nginx, nginx);
        vec![
            LogFormat::Auto,
            LogFormat::Common,
            LogFormat::Combined,
            LogFormat::W3c,
            LogFormat::Template(std::sync::Arc::new(template.unwrap())),
            LogFormat::Json(std::sync::Arc::default()),
        ]
    }

    /// Lines of every shape the parsers know, for mutating.
    const REAL_LINES: [&[u8]; 11] = [
        b"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326",
        b"2001:db8::1 - - [24/Nov/2026:10:00:00 +0000] \"POST /api/v1?q=\\\"x\\\" HTTP/1.1\" 201 - \"https://r/\" \"Mozilla/5.0\"",
        b"h - - [24/Nov/2026:10:00:00 +0000] \"-\" 408 0",
        b"#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes time-taken",
        b"2026-11-24 10:00:00 192.0.2.1 GET /a/b 200 512 15",
        b"2026-11-24 10:00:01 192.0.2.1 - - 400 - -",
        b"#Software: Microsoft Internet Information Services 10.0",
        b"10.0.0.1 - - [24/Nov/2026:10:00:00 +0000] \"GET /a HTTP/1.1\" 200 5 \"-\" \"curl\" 0.010 0.004, 0.002",
        br#"{"time":"2026-11-24T10:00:00+00:00","remote_addr":"10.0.0.1","request":"GET /a/b HTTP/1.1","status":200,"bytes_sent":5,"request_time":0.01}"#,
        b"10.0.0.2 - - [24/Nov/2026:10:00:00 +0000] \"GET http://Shop.example:8080/a/b HTTP/1.1\" 200 7",
        br#"{"time":"2026-11-24T10:00:00+00:00","host":"b.example:443","request":"GET /c HTTP/1.1","status":404,"bytes_sent":3}"#,
    ];

    pub(super) fn log_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let mutated_line = (
            proptest::sample::select(&REAL_LINES[..]),
            proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..4),
            any::<proptest::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(|(line, edits, cut, cut_short)| {
                let mut line = line.to_vec();
                for (at, byte) in edits {
                    let at = at.index(line.len());
                    line[at] = byte;
                }
                if cut_short {
                    line.truncate(cut.index(line.len() + 1));
                }
                line.push(b'\n');
                line
            });
        prop_oneof![
            proptest::collection::vec(mutated_line, 0..30).prop_map(|lines| lines.concat()),
            proptest::collection::vec(any::<u8>(), 0..2_000),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2_000, ..Default::default() })]
        /// Every line read is exactly one of a request, a parse error or a directive, whatever
        /// the bytes, the format, or where the reads cut them; and nothing panics.
        #[test]
        fn every_line_is_counted_once_as_one_thing(
            log in log_bytes(),
            format in proptest::sample::select(
                crate::ingest::tests::every_format()
            ),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let metrics = ExporterMetrics::new().unwrap();
            let limits = SeriesLimits {
                sections: 4,
                statuses: 3,
                series: 10,
                histogram_series: 8,
                hosts: None,
            };
            let mut ingest = Ingest::exporter(format, metrics.clone(), limits);
            let mut splitter = crate::tail::LineSplitter::new(256);
            let cut = cut.index(log.len() + 1);
            splitter.push(&log[..cut], &mut ingest);
            splitter.push(&log[cut..], &mut ingest);
            splitter.finish(&mut ingest);
            ingest.polled();

            let text = metrics.encode();
            let lines_read = sum(&text, "accesslog_lines_read_total");
            proptest::prop_assert_eq!(
                lines_read,
                sum(&text, "accesslog_http_requests_total")
                    + sum(&text, "accesslog_parse_errors_total")
                    + sum(&text, "accesslog_directives_total")
            );
            let newlines = log.iter().filter(|&&b| b == b'\n').count();
            let unfinished = log.last().is_some_and(|&b| b != b'\n');
            proptest::prop_assert_eq!(lines_read, (newlines + usize::from(unfinished)) as f64);
        }
    }
}
