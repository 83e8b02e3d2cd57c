//! The pipeline: lines from the tailer → records → metrics, and what the user is told.

use crate::metrics::{ExporterMetrics, RequestRecorder};
use crate::parse::{Line, LineParser, LogFormat};
use crate::tail::{TailEvent, TailSink};

/// Parses every line it is given and counts it: as a request, a directive or a parse error.
pub struct Ingest {
    parser: LineParser,
    recorder: RequestRecorder,
    metrics: ExporterMetrics,
}

impl Ingest {
    /// A pipeline parsing `format` into `metrics`, keeping at most `max_sections` sections.
    pub fn new(format: LogFormat, metrics: ExporterMetrics, max_sections: usize) -> Ingest {
        Ingest {
            parser: LineParser::new(format),
            recorder: RequestRecorder::new(metrics.clone(), max_sections),
            metrics,
        }
    }
}

impl TailSink for Ingest {
    fn line(&mut self, line: &[u8]) {
        match self.parser.parse(line) {
            Ok(Line::Record(record)) => self.recorder.record(&record),
            Ok(Line::Directive) => self.metrics.directives.inc(),
            Err(error) => self.metrics.count_parse_error(error.reason()),
        }
        // Last, so that a scrape showing N lines read shows all N counted.
        self.metrics.lines_read.inc();
    }

    fn event(&mut self, event: TailEvent<'_>) {
        match event {
            TailEvent::BytesRead(n) => self.metrics.bytes_read.inc_by(n),
            TailEvent::LineTooLong => {
                self.metrics.count_parse_error("too_long");
                self.metrics.lines_read.inc();
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
