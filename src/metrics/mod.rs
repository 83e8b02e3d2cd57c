//! The metrics the exporter exposes, in a registry built per exporter (never a global one).
//!
//! Label sets are bounded whatever the log holds ([`SeriesLimits`]):
//! - `section`: at most `sections` distinct values seen first, then [`OVERFLOW`]; requests
//!   the server could not read are [`INVALID`].
//! - `method`: the nine methods of RFC 9110 and RFC 5789, then [`OVERFLOW`]; [`INVALID`] as above.
//! - `status`: the three-digit code (100–999) for the first `statuses` codes seen, then the
//!   code's class (`5xx`). `status_class`: `1xx` … `9xx`.
//! - and at most `series` request series, then one overflow series a status class.
//!
//! [`RequestRecorder`] keeps a handle per series it has seen, so counting a record is indexing,
//! not a label lookup in the client library; and it counts locally (no atomic
//! operation per line), folding its counts into the registry on [`RequestRecorder::flush`],
//! which the pipeline calls after every read of the log.

mod histogram;
mod sections;
mod statuses;

pub use crate::labels::{INVALID, OVERFLOW};
pub use histogram::{ClassHistogram, LocalClassHistogram};
pub use sections::SectionTable;
pub use statuses::StatusTable;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus::local::LocalIntCounter;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::labels::{method_index, method_label, status_class_label, INVALID_METHOD, METHOD_COUNT};
use crate::parse::{section, Record, Request};

/// The label naming the log a series was read from, when several are followed.
pub const LOG_LABEL: &str = "log";

/// Upper bounds of the response size histogram, in bytes.
pub static RESPONSE_SIZE_BUCKETS: [f64; 10] = [100.0, 1e3, 5e3, 1e4, 5e4, 1e5, 5e5, 1e6, 5e6, 1e7];
/// Upper bounds of the request duration histogram, in seconds.
pub static DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The metrics of one log, registered in an [`Exposition`].
#[derive(Clone)]
pub struct ExporterMetrics {
    /// Where they are registered and served from.
    pub exposition: Exposition,
    requests: IntCounterVec,
    response_size: ClassHistogram,
    duration: ClassHistogram,
    upstream_duration: ClassHistogram,
    parse_errors: IntCounterVec,
    /// Lines read from the log, whatever they turned out to be.
    pub lines_read: IntCounter,
    /// Bytes read from the log.
    pub bytes_read: IntCounter,
    /// W3C directive lines (`#Fields:` …), which are neither hits nor errors.
    pub directives: IntCounter,
    rotations: IntCounterVec,
    /// 1 while the file at the log path is open, 0 while it is missing or unreadable.
    pub file_open: IntGauge,
    /// The log timestamp of the last record read.
    pub last_record_timestamp: Gauge,
}

/// Metric registration failed; only a programming error (a duplicate name) causes this.
pub type RegistrationError = prometheus::Error;

/// What `/metrics` is encoded from: one registry, with the exporter's own metrics and those
/// of every log followed, served together.
#[derive(Clone)]
pub struct Exposition {
    registry: Registry,
    /// The `--threshold` the high-traffic alert rule compares the request rate with.
    pub alert_threshold: Gauge,
    // Held while a log's counts are folded in and while a scrape gathers, so that a scrape
    // sees all of a fold or none of it: one lock for every log's folds.
    folding: Arc<Mutex<()>>,
}

impl Exposition {
    /// A registry with the exporter's own metrics and no log's yet.
    pub fn new() -> Result<Exposition, RegistrationError> {
        let registry = Registry::new();
        let alert_threshold = Gauge::new(
            "accesslog_alert_threshold_requests_per_second",
            "Average request rate above which the high-traffic alert fires (--threshold).",
        )?;
        let build_info = IntGauge::with_opts(
            Opts::new(
                "accesslog_exporter_build_info",
                "Version of the exporter; always 1.",
            )
            .const_label("version", env!("CARGO_PKG_VERSION")),
        )?;
        build_info.set(1);
        registry.register(Box::new(alert_threshold.clone()))?;
        registry.register(Box::new(build_info))?;
        Ok(Exposition {
            registry,
            alert_threshold,
            folding: Arc::default(),
        })
    }

    /// Registers the metrics of one log, whose series are labelled `log="name"` when it is
    /// named (as every log is when several are followed).
    pub fn log(&self, name: Option<&str>) -> Result<ExporterMetrics, RegistrationError> {
        ExporterMetrics::register(self.clone(), name)
    }

    fn fold(&self) -> MutexGuard<'_, ()> {
        // The guarded data is (); a panic elsewhere while holding it leaves nothing broken.
        self.folding.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers the count of console reports dropped while stdout was not being read.
    pub fn console_reports_dropped(&self) -> Result<IntCounter, RegistrationError> {
        let dropped = IntCounter::new(
            "accesslog_console_reports_dropped_total",
            "Console reports dropped whole because stdout was not being read (serve --console).",
        )?;
        self.registry.register(Box::new(dropped.clone()))?;
        Ok(dropped)
    }

    /// The text exposition of every metric, as served on `/metrics`.
    pub fn encode(&self) -> String {
        self.encode_marking(|| {})
    }

    /// [`Exposition::encode`], calling `mark` first while no log folds: what `mark` reads of
    /// the pipelines' progress is exactly what the text shows.
    pub fn encode_marking(&self, mark: impl FnOnce()) -> String {
        let families = {
            let _whole = self.fold();
            mark();
            self.registry.gather()
        };
        let mut text = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&families, &mut text)
            .expect("writing to a String cannot fail");
        text
    }
}

impl ExporterMetrics {
    /// Builds and registers every metric in a new registry, for one log and no label naming it.
    pub fn new() -> Result<ExporterMetrics, RegistrationError> {
        Exposition::new()?.log(None)
    }

    /// Takes this log's series out of the registry: its file is no longer followed.
    pub fn remove(&self) {
        for collector in self.log_collectors() {
            // Only what was registered is unregistered; nothing else can fail.
            let _ = self.exposition.registry.unregister(collector);
        }
    }

    fn log_collectors(&self) -> [Box<dyn prometheus::core::Collector>; 11] {
        [
            Box::new(self.requests.clone()),
            Box::new(self.response_size.clone()),
            Box::new(self.duration.clone()),
            Box::new(self.upstream_duration.clone()),
            Box::new(self.parse_errors.clone()),
            Box::new(self.lines_read.clone()),
            Box::new(self.bytes_read.clone()),
            Box::new(self.directives.clone()),
            Box::new(self.rotations.clone()),
            Box::new(self.file_open.clone()),
            Box::new(self.last_record_timestamp.clone()),
        ]
    }

    fn register(
        exposition: Exposition,
        name: Option<&str>,
    ) -> Result<ExporterMetrics, RegistrationError> {
        let log_label: HashMap<String, String> = name
            .map(|name| (LOG_LABEL.to_owned(), name.to_owned()))
            .into_iter()
            .collect();
        let opts = |name: &str, help: &str| Opts::new(name, help).const_labels(log_label.clone());
        let requests = IntCounterVec::new(
            opts(
                "accesslog_http_requests_total",
                "HTTP requests read from the access log.",
            ),
            &["section", "method", "status"],
        )?;
        let histogram = |name: &str, help: &str, bounds: &'static [f64]| {
            ClassHistogram::new(name, help, bounds, log_label.clone())
        };
        let response_size = histogram(
            "accesslog_http_response_size_bytes",
            "Size of HTTP responses read from the access log.",
            &RESPONSE_SIZE_BUCKETS,
        )?;
        let duration = histogram(
            "accesslog_http_request_duration_seconds",
            "Time taken to serve HTTP requests, for log formats that record it.",
            &DURATION_BUCKETS,
        )?;
        let upstream_duration = histogram(
            "accesslog_http_upstream_duration_seconds",
            "Time spent waiting for upstream servers, summed over those tried, for log formats \
             that record it.",
            &DURATION_BUCKETS,
        )?;
        let parse_errors = IntCounterVec::new(
            opts(
                "accesslog_parse_errors_total",
                "Log lines that are not access-log records.",
            ),
            &["reason"],
        )?;
        let lines_read = IntCounter::with_opts(opts(
            "accesslog_lines_read_total",
            "Lines read from the log.",
        ))?;
        let bytes_read = IntCounter::with_opts(opts(
            "accesslog_bytes_read_total",
            "Bytes read from the log.",
        ))?;
        let directives = IntCounter::with_opts(opts(
            "accesslog_directives_total",
            "W3C directive lines (#Fields and others) read from the log.",
        ))?;
        let rotations = IntCounterVec::new(
            opts(
                "accesslog_log_rotations_total",
                "Rotations of the log file seen.",
            ),
            &["kind"],
        )?;
        let file_open = IntGauge::with_opts(opts(
            "accesslog_log_file_open",
            "1 while the file at the log path is open for reading, 0 otherwise.",
        ))?;
        let last_record_timestamp = Gauge::with_opts(opts(
            "accesslog_last_record_timestamp_seconds",
            "Log timestamp of the last record read, in seconds since the epoch.",
        ))?;
        // Series that should read 0 rather than be absent before the first event.
        for reason in [
            "empty",
            "syntax",
            "timestamp",
            "status",
            "bytes",
            "w3c_layout",
            "too_long",
        ] {
            parse_errors.with_label_values(&[reason]);
        }
        for kind in ["rename", "truncate"] {
            rotations.with_label_values(&[kind]);
        }

        let metrics = ExporterMetrics {
            exposition,
            requests,
            response_size,
            duration,
            upstream_duration,
            parse_errors,
            lines_read,
            bytes_read,
            directives,
            rotations,
            file_open,
            last_record_timestamp,
        };
        for collector in metrics.log_collectors() {
            metrics.exposition.registry.register(collector)?;
        }
        Ok(metrics)
    }

    /// Counts a line that is not a record, under a fixed reason.
    pub fn count_parse_error(&self, reason: &'static str) {
        self.parse_errors.with_label_values(&[reason]).inc();
    }

    /// Counts a rotation: `rename` or `truncate`.
    pub fn count_rotation(&self, kind: &'static str) {
        self.rotations.with_label_values(&[kind]).inc();
    }

    /// Keeps scrapes out until dropped: what is folded into the registry meanwhile is seen
    /// whole by the next scrape. Held while counts are folded in and while a scrape gathers:
    /// the registry gathers family by family, and requests come before lines read.
    pub fn fold(&self) -> MutexGuard<'_, ()> {
        self.exposition.fold()
    }

    /// The text exposition of every metric served with these, as on `/metrics`.
    pub fn encode(&self) -> String {
        self.exposition.encode()
    }
}

/// Bounds on the label values and series of `accesslog_http_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesLimits {
    /// Sections with a label value of their own; later ones are [`OVERFLOW`].
    pub sections: usize,
    /// Status codes with a label value of their own; later ones are their class, `5xx`.
    pub statuses: usize,
    /// Request series; a record that would start one more counts in the series of its status
    /// class with section and method [`OVERFLOW`].
    pub series: usize,
}

impl Default for SeriesLimits {
    fn default() -> Self {
        SeriesLimits {
            sections: 100,
            statuses: 50,
            series: 10_000,
        }
    }
}

impl SeriesLimits {
    /// The most series `accesslog_http_requests_total` can have: the series cap and one
    /// overflow series per status class, or every combination of the label values if fewer.
    pub fn max_request_series(&self) -> usize {
        let combinations = (self.sections + 2) * METHOD_COUNT * (self.statuses + 9);
        combinations.min(self.series + 9)
    }
}

/// What counting a record takes from it: a request reduced to its labels and numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit<'a> {
    /// The request target; `None` when the server could not read the request.
    pub target: Option<&'a [u8]>,
    /// The method's index among the bounded methods ([`crate::labels::method_index`]).
    pub method: u8,
    /// The three-digit status code (100–999).
    pub status: u16,
    /// Response bytes.
    pub bytes: u64,
    /// Time taken to serve the request, when the format has one.
    pub duration: Option<std::time::Duration>,
    /// Time spent waiting for upstream servers, when the format has one.
    pub upstream_duration: Option<std::time::Duration>,
    /// When the request was logged, in seconds since the epoch.
    pub timestamp: i64,
}

impl<'a> Hit<'a> {
    /// What `record` counts as.
    #[inline]
    pub fn of(record: &Record<'a>) -> Hit<'a> {
        let (target, method) = match record.request {
            Request::Line { method, target, .. } => (Some(target), method_index(method)),
            Request::Malformed(_) => (None, INVALID_METHOD),
        };
        Hit {
            target,
            method,
            status: record.status,
            bytes: record.bytes,
            duration: record.duration,
            upstream_duration: record.upstream_duration,
            timestamp: record.timestamp.unix_seconds,
        }
    }
}

/// Counts records into the metrics, keeping a local counter per series seen.
///
/// # Performance
/// Counting is local (no atomic operation per record); [`RequestRecorder::flush`] folds the
/// counts into the registry. Until then a scrape does not see them.
pub struct RequestRecorder {
    metrics: ExporterMetrics,
    sections: SectionTable,
    // The series of `accesslog_http_requests_total`, by section id and method index
    // (`section * METHOD_COUNT + method`), then by status id: indexing, where hashing the
    // three or searching the statuses costs more than the counting.
    requests: Vec<Vec<Option<LocalIntCounter>>>,
    statuses: StatusTable,
    series: usize,
    max_series: usize,
    // Counted in once `max_series` series exist, by status class.
    overflow: [Option<LocalIntCounter>; 10],
    response_size: LocalClassHistogram,
    duration: LocalClassHistogram,
    upstream_duration: LocalClassHistogram,
    last_record_timestamp: Option<i64>,
}

impl RequestRecorder {
    /// A recorder into `metrics` that keeps within `limits`.
    pub fn new(metrics: ExporterMetrics, limits: SeriesLimits) -> RequestRecorder {
        RequestRecorder {
            sections: SectionTable::new(limits.sections),
            requests: Vec::new(),
            statuses: StatusTable::new(limits.statuses),
            series: 0,
            max_series: limits.series,
            overflow: Default::default(),
            response_size: metrics.response_size.local(),
            duration: metrics.duration.local(),
            upstream_duration: metrics.upstream_duration.local(),
            last_record_timestamp: None,
            metrics,
        }
    }

    /// Folds what was counted since the last flush into the registry.
    pub fn flush(&mut self) {
        for counter in self
            .requests
            .iter()
            .flatten()
            .chain(&self.overflow)
            .flatten()
        {
            counter.flush();
        }
        self.response_size.flush();
        self.duration.flush();
        self.upstream_duration.flush();
        if let Some(seconds) = self.last_record_timestamp.take() {
            self.metrics.last_record_timestamp.set(seconds as f64);
        }
    }

    /// Counts one record.
    #[inline]
    pub fn record(&mut self, record: &Record<'_>) {
        self.count(Hit::of(record));
    }

    /// Counts one request.
    pub fn count(&mut self, hit: Hit<'_>) {
        let method = hit.method;
        let section = match hit.target {
            Some(target) => self.sections.id(section(target)),
            None => SectionTable::INVALID_ID,
        };
        let pair = section as usize * METHOD_COUNT + usize::from(method);
        if pair >= self.requests.len() {
            self.requests.resize_with(pair + 1, Vec::new);
        }
        // The parser gives 100–999; anything else would be a bug, caught by the index.
        let status = self.statuses.id(hit.status);
        let counters = &mut self.requests[pair];
        if status >= counters.len() {
            counters.resize_with(status + 1, || None);
        }
        match &mut counters[status] {
            Some(counter) => counter.inc(),
            None => self.count_in_new_series(section, method, status, hit.status),
        }

        let class = usize::from(hit.status / 100);
        self.response_size.observe(class, hit.bytes as f64);
        if let Some(duration) = hit.duration {
            self.duration.observe(class, duration.as_secs_f64());
        }
        if let Some(duration) = hit.upstream_duration {
            self.upstream_duration
                .observe(class, duration.as_secs_f64());
        }
        self.last_record_timestamp = Some(hit.timestamp);
    }

    #[cold]
    fn count_in_new_series(&mut self, section: u32, method: u8, status_id: usize, status: u16) {
        let metrics = &self.metrics;
        if self.series >= self.max_series {
            let class = status_class_label(status);
            self.overflow[usize::from(status / 100)]
                .get_or_insert_with(|| {
                    let labels = [OVERFLOW, OVERFLOW, class];
                    metrics.requests.with_label_values(&labels).local()
                })
                .inc();
            return;
        }
        self.series += 1;
        let labels = [
            self.sections.label(section),
            method_label(method),
            self.statuses.label(status_id),
        ];
        let counter = metrics.requests.with_label_values(&labels).local();
        counter.inc();
        let pair = section as usize * METHOD_COUNT + usize::from(method);
        self.requests[pair][status_id] = Some(counter);
    }

    /// The section table, for inspection.
    pub fn sections(&self) -> &SectionTable {
        &self.sections
    }
}

#[cfg(test)]
mod tests;
