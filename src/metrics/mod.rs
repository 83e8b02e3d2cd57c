//! The metrics the exporter exposes, in an [`Exposition`] built per exporter (never a global
//! one): its own metrics in a client-library registry, and every log's counts in one table
//! written straight to text (see the `families` module for why).
//!
//! Label sets are bounded whatever the log holds ([`SeriesLimits`]):
//! - `section`: at most `sections` distinct values seen first, then [`OVERFLOW`]; requests
//!   the server could not read are [`INVALID`].
//! - `method`: the nine methods of RFC 9110 and RFC 5789, then [`OVERFLOW`]; [`INVALID`] as above.
//! - `status`: the three-digit code (100–999) for the first `statuses` codes seen, then the
//!   code's class (`5xx`). `status_class`: `1xx` … `9xx`.
//! - and at most `series` request series, then one overflow series a status class.
//!
//! [`RequestRecorder`] keeps a slot per series it has seen, so counting a record is indexing,
//! not a label lookup; and it counts locally (no atomic operation per line), folding its counts
//! into the log's on [`RequestRecorder::flush`], which the pipeline calls after every read of
//! the log.

mod families;
mod histogram;
mod hosts;
mod sections;
mod statuses;

pub use crate::labels::{INVALID, OVERFLOW};
pub use families::{escape, Family, Names, SeriesVisitor, SetId, Value};
pub use histogram::{parse_bounds, Buckets, MAX_BOUNDS};
pub use hosts::HostTable;
pub use sections::SectionTable;
pub use statuses::StatusTable;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::labels::{
    method_index, method_label, status_class_label, INVALID_METHOD, METHOD_COUNT, OTHER_METHOD,
};
use crate::parse::{nanoseconds, section, Record, Request};
use families::{
    Folded, HistogramBuckets, HistogramSeries, LogCounts, Logs, RequestSeries, PARSE_ERROR_REASONS,
    ROTATION_KINDS,
};
use histogram::{Counts, SetCounts};

/// The label naming the log a series was read from, when several are followed.
pub const LOG_LABEL: &str = "log";

/// Upper bounds of the response size histogram, in bytes.
pub static RESPONSE_SIZE_BUCKETS: [f64; 10] = [100.0, 1e3, 5e3, 1e4, 5e4, 1e5, 5e5, 1e6, 5e6, 1e7];
/// Upper bounds of the request duration histogram, in seconds.
pub static DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The bounds of the histograms' buckets (`--size-buckets`, `--duration-buckets`).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramBounds {
    /// Of `accesslog_http_response_size_bytes`, in bytes.
    pub response_size: Vec<f64>,
    /// Of both duration histograms, in seconds.
    pub duration: Vec<f64>,
}

impl Default for HistogramBounds {
    fn default() -> Self {
        HistogramBounds {
            response_size: RESPONSE_SIZE_BUCKETS.to_vec(),
            duration: DURATION_BUCKETS.to_vec(),
        }
    }
}

/// Durations are observed in nanoseconds: whole numbers, compared with the bounds exactly.
const NANOS_A_SECOND: f64 = 1e9;

/// Metric registration failed: a programming error (a duplicate name), or a log registered
/// twice under one name.
pub type RegistrationError = prometheus::Error;

/// What `/metrics` is encoded from: the exporter's own metrics and those of every log
/// followed, served together.
#[derive(Clone)]
pub struct Exposition {
    registry: Registry,
    /// The `--threshold` the high-traffic alert rule compares the request rate with.
    pub alert_threshold: Gauge,
    // Every log's counts. Its lock is the fold lock: held while a log's counts are folded in
    // and while a scrape writes them, so that a scrape sees all of a fold or none of it.
    logs: Arc<Mutex<Logs>>,
    buckets: Arc<HistogramBuckets>,
    // The length of the last text written: the next is made that large at once, where
    // growing it would copy the text of thousands of logs several times over.
    last_length: Arc<std::sync::atomic::AtomicUsize>,
}

impl Exposition {
    /// The exporter's own metrics, and no log's yet, with the default histogram buckets.
    pub fn new() -> Result<Exposition, RegistrationError> {
        Exposition::with_buckets(&HistogramBounds::default())
    }

    /// [`Exposition::new`], with histogram buckets up to `bounds`.
    pub fn with_buckets(bounds: &HistogramBounds) -> Result<Exposition, RegistrationError> {
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
        let buckets = |bounds: &[f64], units| {
            Buckets::new(bounds, units)
                .map(Arc::new)
                .map_err(|problem| {
                    prometheus::Error::Msg(format!("histogram bounds {bounds:?}: {problem}"))
                })
        };
        Ok(Exposition {
            registry,
            alert_threshold,
            logs: Arc::default(),
            last_length: Arc::default(),
            buckets: Arc::new(HistogramBuckets {
                response_size: buckets(&bounds.response_size, 1.0)?,
                duration: buckets(&bounds.duration, NANOS_A_SECOND)?,
            }),
        })
    }

    /// Adds the metrics of one log, whose series are labelled `log="name"` when it is named
    /// (as every log is when several are followed). Names are unique, and either every log
    /// of an exposition has one or it has one log without.
    pub fn log(&self, name: Option<&str>) -> Result<ExporterMetrics, RegistrationError> {
        self.log_with_labels(name, &[])
    }

    /// [`Exposition::log`] with `labels` on every series of the log too (checked by the
    /// caller: valid names, none of the exporter's own).
    pub fn log_with_labels(
        &self,
        name: Option<&str>,
        labels: &[(String, String)],
    ) -> Result<ExporterMetrics, RegistrationError> {
        let mut logs = self.fold();
        let labelled = *logs.labelled.get_or_insert(name.is_some());
        let key = name.unwrap_or_default().to_owned();
        if labelled != name.is_some() || logs.by_name.contains_key(&key) {
            return Err(prometheus::Error::AlreadyReg);
        }
        let counts = Arc::new(LogCounts::new(name.map(str::to_owned), labels.to_vec()));
        logs.by_name.insert(key, Arc::clone(&counts));
        Ok(ExporterMetrics {
            exposition: self.clone(),
            counts,
        })
    }

    fn fold(&self) -> MutexGuard<'_, Logs> {
        // Counts only; a panic elsewhere while holding it leaves nothing broken.
        self.logs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers one of the exporter's own metrics, and returns it.
    fn register<C: prometheus::core::Collector + Clone + 'static>(
        &self,
        collector: C,
    ) -> Result<C, RegistrationError> {
        self.registry.register(Box::new(collector.clone()))?;
        Ok(collector)
    }

    /// Registers the count of console reports dropped while stdout was not being read.
    pub fn console_reports_dropped(&self) -> Result<IntCounter, RegistrationError> {
        self.register(IntCounter::new(
            "accesslog_console_reports_dropped_total",
            "Console reports dropped whole because stdout was not being read (serve --console).",
        )?)
    }

    /// Registers the count of failed accepts of connections to `/metrics`.
    pub fn accept_errors(&self) -> Result<IntCounter, RegistrationError> {
        self.register(IntCounter::new(
            "accesslog_http_accept_errors_total",
            "Connections the HTTP server failed to accept (out of file descriptors and the like).",
        )?)
    }

    /// Registers the gauge of connections open to the HTTP server.
    pub fn connections_open(&self) -> Result<IntGauge, RegistrationError> {
        self.register(IntGauge::new(
            "accesslog_http_connections_open",
            "Connections open to the HTTP server.",
        )?)
    }

    /// Registers the count of connections answered 503 because every slot was answering.
    pub fn connections_refused(&self) -> Result<IntCounter, RegistrationError> {
        self.register(IntCounter::new(
            "accesslog_http_connections_refused_total",
            "Connections answered 503 because every connection slot was answering a request.",
        )?)
    }

    /// Registers the count of connections closed to make room, by `state`.
    pub fn connections_evicted(&self) -> Result<IntCounterVec, RegistrationError> {
        self.register(IntCounterVec::new(
            Opts::new(
                "accesslog_http_connections_evicted_total",
                "Connections closed to make room for a new one, by what they were doing: idle \
                 (between requests or not done sending one) or stalled (the client not reading \
                 its answer).",
            ),
            &["state"],
        )?)
    }

    /// Registers the count of connections closed at a deadline, by `phase`.
    pub fn connections_timed_out(&self) -> Result<IntCounterVec, RegistrationError> {
        self.register(IntCounterVec::new(
            Opts::new(
                "accesslog_http_connections_timed_out_total",
                "Connections closed because a deadline passed, by phase: handshake (TLS), \
                 request (its headers not sent in 10 s) or response (its answer not read in 30 s).",
            ),
            &["phase"],
        )?)
    }

    /// Registers the count of refused credentials by `reason`, each of `reasons` shown from the
    /// start.
    pub fn auth_failures(&self, reasons: &[&str]) -> Result<IntCounterVec, RegistrationError> {
        let failures = IntCounterVec::new(
            Opts::new(
                "accesslog_http_auth_failures_total",
                "Requests refused by basic auth, by reason.",
            ),
            &["reason"],
        )?;
        for reason in reasons {
            failures.with_label_values(&[reason]);
        }
        self.register(failures)
    }

    /// Registers the count of syslog messages not counted as lines, by `reason`, each of
    /// `reasons` shown from the start.
    pub fn syslog_errors(&self, reasons: &[&str]) -> Result<IntCounterVec, RegistrationError> {
        let errors = IntCounterVec::new(
            Opts::new(
                "accesslog_syslog_errors_total",
                "Syslog messages (or connections) not read as log lines, by reason: priority or \
                 header (not syslog), too_long (over --max-line-bytes), framing (a TCP octet \
                 count that is not one), tags (a tag past the most kept), connections (over the \
                 most served at once), idle (a TCP connection silent too long).",
            ),
            &["reason"],
        )?;
        for reason in reasons {
            errors.with_label_values(&[reason]);
        }
        self.register(errors)
    }

    /// Writes the exporter's own metrics (not the logs') in the text format.
    pub fn encode_own(&self, text: &mut String) {
        prometheus::TextEncoder::new()
            .encode_utf8(&self.registry.gather(), text)
            .expect("writing to a String cannot fail");
    }

    /// Shows `visitor` every series of the logs, as [`Exposition::encode`] writes them.
    pub fn walk_logs(&self, visitor: &mut impl SeriesVisitor) {
        self.fold().walk(&self.buckets, visitor);
    }

    /// Lines read and lines that were not records, in every log: counters read as they
    /// are, without walking the series (the dashboard asks at every frame).
    pub fn lines_and_parse_errors(&self) -> (u64, u64) {
        let logs = self.fold();
        let counts = logs.by_name.values();
        counts.fold((0, 0), |(lines, errors), log| {
            let log_errors = log.parse_errors.iter();
            (
                lines + log.lines_read.load(Ordering::Relaxed),
                errors + log_errors.map(|n| n.load(Ordering::Relaxed)).sum::<u64>(),
            )
        })
    }

    /// The text exposition of every metric, as served on `/metrics`.
    pub fn encode(&self) -> String {
        self.encode_marking(|| {})
    }

    /// [`Exposition::encode`], calling `mark` first while no log folds: what `mark` reads of
    /// the pipelines' progress is exactly what the text shows.
    pub fn encode_marking(&self, mark: impl FnOnce()) -> String {
        let mut text = String::with_capacity(self.last_length.load(Ordering::Relaxed) + 4096);
        self.encode_own(&mut text);
        let logs = self.fold();
        mark();
        logs.write(&mut text, &self.buckets);
        self.last_length.store(text.len(), Ordering::Relaxed);
        text
    }
}

/// The metrics of one log, in an [`Exposition`].
#[derive(Clone)]
pub struct ExporterMetrics {
    /// Where they are served from.
    pub exposition: Exposition,
    counts: Arc<LogCounts>,
}

impl ExporterMetrics {
    /// The metrics of one log without a label naming it, in an exposition of its own.
    pub fn new() -> Result<ExporterMetrics, RegistrationError> {
        Exposition::new()?.log(None)
    }

    /// Takes this log's series out of the exposition: its file is no longer followed.
    pub fn remove(&self) {
        let mut logs = self.exposition.fold();
        let key = self.counts.name.clone().unwrap_or_default();
        if logs
            .by_name
            .get(&key)
            .is_some_and(|counts| Arc::ptr_eq(counts, &self.counts))
        {
            logs.by_name.remove(&key);
        }
    }

    /// Counts lines read from the log, whatever they turned out to be.
    pub fn add_lines_read(&self, lines: u64) {
        self.counts.lines_read.fetch_add(lines, Ordering::Relaxed);
    }

    /// Counts bytes read from the log.
    pub fn add_bytes_read(&self, bytes: u64) {
        self.counts.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts a W3C directive line (`#Fields:` …), which is neither a hit nor an error.
    pub fn count_directive(&self) {
        self.counts.directives.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a line that is not a record, under one of the fixed reasons.
    pub fn count_parse_error(&self, reason: &'static str) {
        let index = PARSE_ERROR_REASONS.iter().position(|&r| r == reason);
        debug_assert!(index.is_some(), "unknown reason {reason}");
        let counter = &self.counts.parse_errors[index.unwrap_or(0)];
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a rotation: `rename` or `truncate`.
    pub fn count_rotation(&self, kind: &'static str) {
        let index = ROTATION_KINDS.iter().position(|&k| k == kind);
        debug_assert!(index.is_some(), "unknown rotation {kind}");
        let counter = &self.counts.rotations[index.unwrap_or(0)];
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the file at the log path is open for reading.
    pub fn set_file_open(&self, open: bool) {
        self.counts
            .file_open
            .store(i64::from(open), Ordering::Relaxed);
    }

    /// Keeps scrapes out until dropped: what is folded in meanwhile is seen whole by the next
    /// scrape.
    pub fn fold(&self) -> FoldGuard<'_> {
        FoldGuard(self.exposition.fold())
    }

    /// The text exposition of every metric served with these, as on `/metrics`.
    pub fn encode(&self) -> String {
        self.exposition.encode()
    }

    fn folded(&self) -> std::sync::MutexGuard<'_, Folded> {
        self.counts.folded()
    }
}

/// Scrapes wait while this is held ([`ExporterMetrics::fold`]).
pub struct FoldGuard<'a>(#[allow(dead_code)] MutexGuard<'a, Logs>);

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
    /// Label sets (section, method, status class) of each histogram; a request that would
    /// start one more is observed under section and method [`OVERFLOW`] of its class.
    pub histogram_series: usize,
    /// With `--host-label`: hosts with a `host` label value of their own; later ones are
    /// [`OVERFLOW`]. `None`: no `host` label.
    pub hosts: Option<usize>,
}

impl Default for SeriesLimits {
    fn default() -> Self {
        SeriesLimits {
            sections: 100,
            statuses: 50,
            series: 10_000,
            histogram_series: 1_000,
            hosts: None,
        }
    }
}

impl SeriesLimits {
    /// The most series `accesslog_http_requests_total` can have: the series cap and one
    /// overflow series per status class (and host), or every combination of the label values
    /// if fewer.
    pub fn max_request_series(&self) -> usize {
        let hosts = self.hosts.map_or(1, |hosts| hosts + 2);
        let combinations = hosts * (self.sections + 2) * METHOD_COUNT * (self.statuses + 9);
        combinations.min(self.series + 9 * hosts)
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
    /// Time taken to serve the request in nanoseconds, when the format has one.
    pub duration: Option<u64>,
    /// Time spent waiting for upstream servers in nanoseconds, when the format has one.
    pub upstream_duration: Option<u64>,
    /// When the request was logged, in seconds since the epoch.
    pub timestamp: i64,
    /// The host field of the line, when the format has one.
    pub host: Option<&'a [u8]>,
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
            duration: record.duration.map(nanoseconds),
            upstream_duration: record.upstream_duration.map(nanoseconds),
            timestamp: record.timestamp.unix_seconds,
            host: record.host,
        }
    }
}

/// Counts records into the metrics, keeping a local count per series seen.
///
/// # Performance
/// Counting is local (no atomic operation or lock per record); [`RequestRecorder::flush`]
/// folds the counts into the log's. Until then a scrape does not see them.
pub struct RequestRecorder {
    metrics: ExporterMetrics,
    sections: SectionTable,
    // What each host, section and method counts in, by their ids: indexing, where hashing
    // them or searching the statuses costs more than the counting.
    pairs: Vec<PairCounts>,
    statuses: StatusTable,
    series: usize,
    max_series: usize,
    // Counted in once `max_series` series exist, by host and status class (`host * 10 + class`).
    overflow: Vec<Option<SeriesCount>>,
    histograms: LocalHistograms,
    // With `--host-label`.
    hosts: Option<HostTable>,
    // Section ids there can be: the span of a host's in `pairs`.
    section_span: usize,
    last_record_timestamp: Option<i64>,
}

/// What a host, section and method count in.
#[derive(Default)]
struct PairCounts {
    // The series of `accesslog_http_requests_total`, by status id.
    series: Vec<Option<SeriesCount>>,
    // The histograms' label set of each status class: its id (an index into the sets, plus
    // one), 0 for none yet. Beside the series, in the line a request loads for them.
    sets: [u32; 10],
}

/// The histograms' label sets seen and their counts since the last flush.
struct LocalHistograms {
    buckets: Arc<HistogramBuckets>,
    // Where the log keeps each set's totals.
    totals: Vec<usize>,
    // Each set's counts since the last flush, `stride` numbers a set in the sets' order: its
    // response sizes', then its request and upstream durations' (see `Counts`). Together, a
    // request's counts are one index from its set's id, with no pointer between; flushed
    // whole: a list of those observed would cost a load a request, the flush a check a set.
    counts: Vec<u64>,
    stride: usize,
    // The overflow set's id of each host and status class (`host * 10 + class`).
    overflow: Vec<u32>,
    max_sets: usize,
}

/// A request series' count since the last flush, and where the log keeps its total.
#[derive(Debug, Clone, Copy)]
struct SeriesCount {
    total: usize,
    pending: u64,
}

impl RequestRecorder {
    /// A recorder into `metrics` that keeps within `limits`.
    pub fn new(metrics: ExporterMetrics, limits: SeriesLimits) -> RequestRecorder {
        let buckets = &metrics.exposition.buckets;
        let hosts = limits.hosts.map(HostTable::new);
        let host_span = hosts.as_ref().map_or(1, HostTable::span);
        RequestRecorder {
            sections: SectionTable::new(limits.sections),
            pairs: Vec::new(),
            statuses: StatusTable::new(limits.statuses),
            series: 0,
            max_series: limits.series,
            overflow: vec![None; host_span * 10],
            histograms: LocalHistograms {
                stride: buckets.response_size.width() + 2 * buckets.duration.width(),
                buckets: Arc::clone(buckets),
                totals: Vec::new(),
                counts: Vec::new(),
                overflow: vec![0; host_span * 10],
                max_sets: limits.histogram_series,
            },
            hosts,
            section_span: limits.sections + 2,
            last_record_timestamp: None,
            metrics,
        }
    }

    /// Folds what was counted since the last flush into the log's counts.
    pub fn flush(&mut self) {
        let mut folded = self.metrics.folded();
        for series in self
            .pairs
            .iter_mut()
            .flat_map(|pair| &mut pair.series)
            .chain(&mut self.overflow)
            .flatten()
            .filter(|series| series.pending > 0)
        {
            folded.requests[series.total].count += series.pending;
            series.pending = 0;
        }
        let histograms = &mut self.histograms;
        let sets = histograms.counts.chunks_exact_mut(histograms.stride);
        for (&total, counts) in histograms.totals.iter().zip(sets) {
            let totals = &mut folded.histograms[total].counts;
            let (size, durations) = counts.split_at_mut(histograms.buckets.response_size.width());
            let (duration, upstream) = durations.split_at_mut(durations.len() / 2);
            Counts::move_into(size, &mut totals.response_size);
            Counts::move_into(duration, &mut totals.duration);
            Counts::move_into(upstream, &mut totals.upstream_duration);
        }
        if let Some(seconds) = self.last_record_timestamp.take() {
            folded.last_record_timestamp = Some(seconds as f64);
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
        let host = match &mut self.hosts {
            Some(hosts) => hosts.id(hit.host, hit.target),
            None => HostTable::NONE,
        };
        let pair = (host as usize * self.section_span + section as usize) * METHOD_COUNT
            + usize::from(method);
        if pair >= self.pairs.len() {
            self.pairs.resize_with(pair + 1, PairCounts::default);
        }
        // The parser gives 100–999; anything else would be a bug, caught by the index.
        let status = self.statuses.id(hit.status);
        let series = &mut self.pairs[pair].series;
        if status >= series.len() {
            series.resize_with(status + 1, || None);
        }
        match &mut series[status] {
            Some(series) => series.pending += 1,
            None => self.count_in_new_series(pair, (host, section, method), status, hit.status),
        }

        // Not kept in the series: its lookup would wait for the series'. A series starts its
        // set, so there is one.
        let set = self.pairs[pair].sets[usize::from(hit.status / 100)] as usize - 1;
        let histograms = &mut self.histograms;
        let counts = &mut histograms.counts[set * histograms.stride..][..histograms.stride];
        let buckets = &*histograms.buckets;
        let (size, durations) = counts.split_at_mut(buckets.response_size.width());
        buckets.response_size.count_in(size, hit.bytes);
        if let Some(time) = hit.duration {
            buckets.duration.count_in(durations, time);
        }
        if let Some(time) = hit.upstream_duration {
            let upstream = &mut durations[buckets.duration.width()..];
            buckets.duration.count_in(upstream, time);
        }
        self.last_record_timestamp = Some(hit.timestamp);
    }

    /// Counts a request of a series not counted in yet, at `pair` of `pairs`, and starts
    /// its histograms' label set if new.
    #[cold]
    fn count_in_new_series(
        &mut self,
        pair: usize,
        (host, section, method): (u32, u32, u8),
        status_id: usize,
        status: u16,
    ) {
        let class = usize::from(status / 100);
        let host_label = self.hosts.as_ref().map(|hosts| hosts.label(host));
        self.histograms.start_set(
            &self.metrics,
            &mut self.pairs[pair].sets[class],
            (
                host_label,
                host,
                self.sections.label(section),
                section,
                method,
            ),
            class,
        );
        // Section and method past their caps, and a status past its cap (its class): the
        // labels of the overflow series, which must not be exposed twice.
        let is_overflow = section == SectionTable::OVERFLOW_ID
            && method == OTHER_METHOD
            && self.statuses.label(status_id) == status_class_label(status);
        if self.series >= self.max_series || is_overflow {
            let metrics = &self.metrics;
            let overflow = self.overflow[host as usize * 10 + class].get_or_insert_with(|| {
                let labels = (host_label, OVERFLOW, OVERFLOW, status_class_label(status));
                SeriesCount {
                    total: add_series(metrics, labels),
                    pending: 0,
                }
            });
            overflow.pending += 1;
            return;
        }
        self.series += 1;
        let labels = (
            host_label,
            self.sections.label(section),
            method_label(method),
            self.statuses.label(status_id),
        );
        let total = add_series(&self.metrics, labels);
        self.pairs[pair].series[status_id] = Some(SeriesCount { total, pending: 1 });
    }

    /// The section table, for inspection.
    pub fn sections(&self) -> &SectionTable {
        &self.sections
    }
}

impl LocalHistograms {
    /// Starts the set of a pair's `class` unless there is one (its id in `set`), in the log's
    /// totals; the overflow set of the host and class once `max_sets` sets exist. `labels`:
    /// the host's label (with `--host-label`) and id, the section's label and id, the method.
    fn start_set(
        &mut self,
        metrics: &ExporterMetrics,
        set: &mut u32,
        (host_label, host, section_label, section, method): (Option<&str>, u32, &str, u32, u8),
        class: usize,
    ) {
        if *set != 0 {
            return;
        }
        let overflow_sets = self.overflow.iter().filter(|&&id| id != 0).count();
        // Section and method both past their caps have the overflow set's labels.
        let full = self.totals.len() - overflow_sets >= self.max_sets
            || section == SectionTable::OVERFLOW_ID && method == OTHER_METHOD;
        let overflow = host as usize * 10 + class;
        let labels = if full {
            if self.overflow[overflow] != 0 {
                *set = self.overflow[overflow];
                return;
            }
            (OVERFLOW, OVERFLOW)
        } else {
            (section_label, method_label(method))
        };
        let total = {
            let mut folded = metrics.folded();
            folded.histograms.push(HistogramSeries {
                host: host_label.map(Into::into),
                section: labels.0.into(),
                method: labels.1,
                class: class as u16,
                counts: SetCounts::default(),
            });
            folded.histograms.len() - 1
        };
        self.totals.push(total);
        self.counts.resize(self.counts.len() + self.stride, 0);
        let id = self.totals.len() as u32;
        if full {
            self.overflow[overflow] = id;
        }
        *set = id;
    }
}

/// Starts a request series of the log, at 0 (so a scrape shows it before its first fold, as
/// the client library's vectors do); returns where its total is kept.
fn add_series(
    metrics: &ExporterMetrics,
    (host, section, method, status): (Option<&str>, &str, &'static str, &str),
) -> usize {
    let mut folded = metrics.folded();
    folded.requests.push(RequestSeries {
        host: host.map(Into::into),
        section: section.into(),
        method,
        status: status.into(),
        count: 0,
    });
    folded.requests.len() - 1
}

#[cfg(test)]
mod tests;
