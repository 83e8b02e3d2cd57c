//! The pipeline: lines from the tailer → records → consumers (metrics, monitor), and what the
//! user is told about the file.
//!
//! One parser and one tailer serve every consumer: [`Ingest`] hands each record to a
//! [`RecordConsumer`], which may be a pair of them.

use prometheus::local::LocalIntCounter;

use crate::metrics::{ExporterMetrics, RequestRecorder, SeriesLimits};
use crate::parse::{Line, LineParser, LogFormat, Record};
use crate::tail::{TailEvent, TailSink};

/// Something that uses parsed records.
pub trait RecordConsumer {
    /// One record, borrowed from its line.
    fn record(&mut self, record: &Record<'_>);
    /// Called after every read of the log, at least every poll interval: time has passed.
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

/// Parses every line it is given and counts it: as a record handed to the consumer, a
/// directive, or a parse error. The exporter's health metrics are kept whatever the consumer.
pub struct Ingest<C> {
    parser: LineParser,
    consumer: C,
    metrics: ExporterMetrics,
    // Counted locally and folded in after the consumer's counts, so that a scrape showing N
    // lines read shows all N counted.
    lines_read: LocalIntCounter,
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

impl<C: RecordConsumer> Ingest<C> {
    /// A pipeline parsing `format`, handing records to `consumer`, with health in `metrics`.
    pub fn new(format: LogFormat, metrics: ExporterMetrics, consumer: C) -> Ingest<C> {
        let lines_read = metrics.lines_read.local();
        Ingest {
            parser: LineParser::new(format),
            consumer,
            metrics,
            lines_read,
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
            Ok(Line::Directive) => self.metrics.directives.inc(),
            Err(error) => self.metrics.count_parse_error(error.reason()),
        }
        self.lines_read.inc();
    }

    fn polled(&mut self) {
        let _whole = self.metrics.fold();
        self.consumer.tick();
        self.lines_read.flush();
    }

    fn event(&mut self, event: TailEvent<'_>) {
        match event {
            TailEvent::BytesRead(n) => self.metrics.bytes_read.inc_by(n),
            TailEvent::LineTooLong => {
                self.metrics.count_parse_error("too_long");
                self.lines_read.inc();
            }
            TailEvent::Opened { path, offset } => {
                self.metrics.file_open.set(1);
                eprintln!(
                    "accesslog-exporter: following {} from byte {offset}",
                    path.display()
                );
            }
            TailEvent::Missing { path } => {
                self.metrics.file_open.set(0);
                eprintln!(
                    "accesslog-exporter: warning: {}: no such file; waiting for it to appear",
                    path.display()
                );
            }
            TailEvent::Rotated { .. } => self.metrics.count_rotation("rename"),
            TailEvent::Truncated { path } => {
                self.metrics.count_rotation("truncate");
                eprintln!(
                    "accesslog-exporter: {} was truncated; reading from its start",
                    path.display()
                );
            }
            TailEvent::Released => {}
            TailEvent::Unreadable { path, error } => {
                self.metrics.file_open.set(0);
                eprintln!("accesslog-exporter: warning: {}: {error}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(text: &str, name: &str) -> f64 {
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
}
