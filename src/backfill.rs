//! `backfill`: finished logs to OpenMetrics text for `promtool tsdb create-blocks-from
//! openmetrics`, so that Prometheus, the dashboard and the alert rule see history a live
//! exporter never scraped.
//!
//! Each log is counted as the live exporter counts it, in log time, and its series are sampled
//! every step as a scrape would see them: a sample at `t` holds every line logged before `t`.
//! Lines are held for `--reorder-tolerance` seconds of log time so that one a little out of
//! order counts in its own step; one later than that counts in the next sample. Samples go on
//! for [`TRAIL_SECONDS`] after the last line of a burst, as a live exporter would be scraped, then stop
//! until the next line: a jump in log time costs no samples, and output is bounded by the
//! lines. A counter's first sample is 0, a step before its first count, so that `increase()`
//! sees every line; samples of a series are in increasing time, as promtool requires.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{self, Write};
use std::path::Path;

use crate::ingest::HitBatch;
use crate::metrics::{
    ExporterMetrics, Exposition, Family, Hit, Names, RequestRecorder, SeriesVisitor, SetId, Value,
};
use crate::parse::{Line, LineParser, LogFormat};
use crate::tail::{self, TailEvent, TailSink};

/// How long samples go on after the last line before a silence: Prometheus' lookback, so a
/// rate over the past minutes falls as it would have live.
pub const TRAIL_SECONDS: i64 = 300;

/// The families of the exporter's own, written once for every sample time, at the end.
const GLOBAL_FAMILIES: [&str; 2] = [
    "accesslog_exporter_build_info",
    "accesslog_alert_threshold_requests_per_second",
];

/// What to sample, and where samples go.
pub struct Sampling {
    /// Seconds between samples.
    pub step: i64,
    /// How late in log time a line may be and still count in its own step.
    pub tolerance: i64,
    /// `job="…",instance="…"`, the labels a scrape would add.
    pub target_labels: String,
}

/// Writes every sample of every log to `out` as OpenMetrics text, ending in `# EOF`.
pub struct Writer<W: Write> {
    out: W,
    sampling: Sampling,
    // Every time sampled, for the families every sample carries.
    times: BTreeSet<i64>,
    globals: String,
}

/// The longest a series goes without a sample while its log is sampled: under Prometheus'
/// 5-minute lookback, so an instant query always finds it.
pub const KEEPALIVE_SECONDS: i64 = 240;

impl<W: Write> Writer<W> {
    /// A writer of samples as `sampling` says, to `out`.
    pub fn new(out: W, sampling: Sampling) -> Writer<W> {
        Writer {
            out,
            sampling,
            times: BTreeSet::new(),
            globals: String::new(),
        }
    }

    /// Keeps the lines of the exporter's own metrics in `exposition` not kept yet.
    fn keep_globals(&mut self, exposition: &Exposition) {
        let mut text = String::new();
        exposition.encode_own(&mut text);
        for line in text.lines() {
            if !self.globals.lines().any(|kept| kept == line) {
                self.globals.push_str(line);
                self.globals.push('\n');
            }
        }
    }

    /// Writes the families every sample time carries, and `# EOF`; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        // Family by family, each series in time order.
        for family in GLOBAL_FAMILIES {
            let lines = self.globals.lines().filter(|line| line.contains(family));
            for line in lines.clone().filter(|line| line.starts_with("# ")) {
                writeln!(self.out, "{line}")?;
            }
            for line in lines.filter(|line| !line.starts_with("# ")) {
                let (series, value) = line.rsplit_once(' ').unwrap_or((line, ""));
                let start = sample_start(series, &self.sampling.target_labels);
                for &time in &self.times {
                    writeln!(self.out, "{start}{value} {time}")?;
                }
            }
        }
        writeln!(self.out, "# EOF")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The start of a sample line of `series` (`name{labels}` or `name`): the name, the `target`
/// labels before the series' own, and the space before the value.
fn sample_start(series: &str, target: &str) -> String {
    match series.split_once('{') {
        Some((name, "}")) => format!("{name}{{{target}}} "),
        Some((name, labels)) => format!("{name}{{{target},{labels} "),
        None => format!("{series}{{{target}}} "),
    }
}

/// What a label set of a log last wrote, and when.
struct WrittenSet {
    // Its series' sample line starts, one after another, and where each ends.
    starts: String,
    ends: Vec<usize>,
    values: Vec<Value>,
    written: i64,
    changed: i64,
}

impl WrittenSet {
    fn starts(&self) -> impl Iterator<Item = &str> {
        let begins = std::iter::once(0).chain(self.ends.iter().copied());
        begins
            .zip(&self.ends)
            .map(|(begin, &end)| &self.starts[begin..end])
    }
}

/// One sample of a log: every series of a label set that changed, or changed within
/// [`TRAIL_SECONDS`], or was last written [`KEEPALIVE_SECONDS`] ago; all of them if `full`. A
/// label set written after a pause is first written a step before with its old values (0 for a
/// new counter), so that the step's increase shows.
struct SampleVisitor<'a, W: Write> {
    out: &'a mut W,
    sampling: &'a Sampling,
    sets: &'a mut HashMap<(usize, SetId), WrittenSet, foldhash::fast::RandomState>,
    time: i64,
    full: bool,
    // The family's place in the walk, its header unless written, whether it counts.
    family: usize,
    header: Option<String>,
    is_counter: bool,
    names: String,
    failed: Option<io::Error>,
}

impl<W: Write> SampleVisitor<'_, W> {
    fn write_set(
        &mut self,
        key: (usize, SetId),
        values: &[Value],
        names: &Names<'_>,
    ) -> io::Result<()> {
        let (time, step) = (self.time, self.sampling.step);
        let last = self.sets.get(&key);
        let changed = last.map_or(true, |last| last.values != values);
        let write = self.full
            || changed
            || last.map_or(true, |last| {
                time - last.changed <= TRAIL_SECONDS || time - last.written >= KEEPALIVE_SECONDS
            });
        if !write {
            return Ok(());
        }
        if let Some(header) = self.header.take() {
            self.out.write_all(header.as_bytes())?;
        }
        let paused = last.map_or(true, |last| last.written < time - step);
        let set = match self.sets.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                self.names.clear();
                names(&mut self.names, None);
                let mut starts = String::new();
                let mut ends = Vec::with_capacity(values.len());
                for series in self.names.lines() {
                    starts.push_str(&sample_start(series, &self.sampling.target_labels));
                    ends.push(starts.len());
                }
                entry.insert(WrittenSet {
                    starts,
                    ends,
                    values: vec![Value::Count(0); values.len()],
                    written: i64::MIN,
                    changed: i64::MIN,
                })
            }
        };
        let is_new = set.written == i64::MIN;
        let mut numbers = itoa::Buffer::new();
        for ((start, &old), &value) in set.starts().zip(&set.values).zip(values) {
            if changed && paused && (!is_new || self.is_counter) {
                write_sample(self.out, start, old, time - step, &mut numbers)?;
            }
            write_sample(self.out, start, value, time, &mut numbers)?;
        }
        set.values.copy_from_slice(values);
        set.written = time;
        if changed {
            set.changed = time;
        }
        Ok(())
    }
}

impl<W: Write> SeriesVisitor for SampleVisitor<'_, W> {
    fn family(&mut self, family: &'static Family) {
        self.family += 1;
        self.is_counter = matches!(family.kind, "counter" | "histogram");
        // OpenMetrics names a counter's family without its `_total`.
        let name = match family.kind {
            "counter" => family.name.strip_suffix("_total").unwrap_or(family.name),
            _ => family.name,
        };
        let Family { help, kind, .. } = family;
        self.header = Some(format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
    }

    fn set(&mut self, id: SetId, values: &[Value], names: &Names<'_>) {
        if self.failed.is_none() {
            if let Err(error) = self.write_set((self.family, id), values, names) {
                self.failed = Some(error);
            }
        }
    }
}

/// Writes one sample line: its `start` (see [`sample_start`]), `value` and `time`.
fn write_sample(
    out: &mut impl Write,
    start: &str,
    value: Value,
    time: i64,
    numbers: &mut itoa::Buffer,
) -> io::Result<()> {
    out.write_all(start.as_bytes())?;
    match value {
        Value::Count(count) => out.write_all(numbers.format(count).as_bytes())?,
        Value::Real(real) => write!(out, "{real}")?,
    }
    out.write_all(b" ")?;
    out.write_all(numbers.format(time).as_bytes())?;
    out.write_all(b"\n")
}

/// What the lines of one second count, held until their step is sampled.
#[derive(Default)]
struct Held {
    hits: HitBatch,
    lines: u64,
    bytes: u64,
    directives: u64,
    errors: Vec<&'static str>,
}

impl Held {
    /// Adds what `other` holds but hits (lines read before any timed one have none).
    fn absorb_untimed(&mut self, other: Held) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.directives += other.directives;
        self.errors.extend(other.errors);
    }
}

/// One log, counted in log time and sampled every step.
///
/// # Performance
/// A line is parsed once: what it counts is held (a hit owning its target's bytes) until its
/// step is sampled, not the line.
pub struct Sampler<'w, W: Write> {
    writer: &'w mut Writer<W>,
    exposition: Exposition,
    metrics: ExporterMetrics,
    recorder: RequestRecorder,
    parser: LineParser,
    // Each label set's last sample, by its family's place in the walk and its id.
    written: HashMap<(usize, SetId), WrittenSet, foldhash::fast::RandomState>,
    // What lines not yet counted count, by their second.
    held: BTreeMap<i64, Held>,
    newest: Option<i64>,
    // The next time to sample, and the last one sampled.
    next: Option<i64>,
    last_sampled: Option<i64>,
    // The last time a step had lines: samples go on for TRAIL_SECONDS after it.
    last_busy: i64,
    // A write that failed while lines were read: reported when the file is done.
    failed: Option<io::Error>,
    too_long_said: bool,
}

impl<'w, W: Write> Sampler<'w, W> {
    /// A sampler of the log whose metrics are `metrics`, read with `format`.
    pub fn new(
        writer: &'w mut Writer<W>,
        metrics: ExporterMetrics,
        format: LogFormat,
        limits: crate::metrics::SeriesLimits,
    ) -> Sampler<'w, W> {
        metrics.set_file_open(true);
        Sampler {
            writer,
            exposition: metrics.exposition.clone(),
            recorder: RequestRecorder::new(metrics.clone(), limits),
            metrics,
            parser: LineParser::new(format),
            written: HashMap::default(),
            held: BTreeMap::new(),
            newest: None,
            next: None,
            last_sampled: None,
            last_busy: i64::MIN,
            failed: None,
            too_long_said: false,
        }
    }

    /// The step boundary at or before `second`.
    fn floor(&self, second: i64) -> i64 {
        second.div_euclid(self.writer.sampling.step) * self.writer.sampling.step
    }

    /// Counts every held line logged before `time`, then samples (every series if `full`).
    fn sample_at(&mut self, time: i64, full: bool) -> io::Result<()> {
        let later = self.held.split_off(&time);
        let due = std::mem::replace(&mut self.held, later);
        let busy = !due.is_empty();
        for held in due.into_values() {
            for hit in held.hits.hits() {
                self.recorder.count(hit);
            }
            self.metrics.add_lines_read(held.lines);
            self.metrics.add_bytes_read(held.bytes);
            for _ in 0..held.directives {
                self.metrics.count_directive();
            }
            for reason in held.errors {
                self.metrics.count_parse_error(reason);
            }
        }
        self.recorder.flush();
        if busy {
            self.last_busy = time;
        }
        if self.last_sampled.is_none() {
            self.writer.keep_globals(&self.exposition);
        }
        self.writer.times.insert(time);
        let mut sample = SampleVisitor {
            out: &mut self.writer.out,
            sampling: &self.writer.sampling,
            sets: &mut self.written,
            time,
            full,
            family: 0,
            header: None,
            is_counter: false,
            names: String::new(),
            failed: None,
        };
        self.exposition.walk_logs(&mut sample);
        if let Some(error) = sample.failed {
            return Err(error);
        }
        self.last_sampled = Some(time);
        Ok(())
    }

    /// Samples every step up to `until` whose lines can no longer be joined by a late one;
    /// after a silence longer than the trail, resumes a step before the next line.
    fn advance(&mut self, until: i64) -> io::Result<()> {
        let step = self.writer.sampling.step;
        while let Some(next) = self.next.filter(|&next| next <= until) {
            if next - self.last_busy > TRAIL_SECONDS {
                match self.held.keys().next().copied() {
                    Some(first) if self.floor(first) > next => {
                        // From the counts as they are, so that the next sample's increase
                        // holds its step's lines.
                        self.next = Some(self.floor(first));
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        self.next = None;
                        break;
                    }
                }
            }
            self.sample_at(next, false)?;
            self.next = Some(next + step);
        }
        Ok(())
    }

    /// Reads one file of the log, from start to end (decompressed if gzip).
    pub fn read_file(&mut self, path: &Path, max_line_bytes: usize) -> io::Result<()> {
        tail::read_whole_file(path, max_line_bytes, self)?;
        match self.failed.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Counts a rotation between two files of the log, as a live exporter would see it.
    pub fn rotated(&mut self) {
        self.metrics.count_rotation("rename");
    }

    /// Counts and samples what is left, then the trail, and last every series, so that an
    /// increase over the whole log ends on a sample of each.
    pub fn finish(mut self) -> io::Result<()> {
        let Some(newest) = self.newest else {
            return Ok(());
        };
        let step = self.writer.sampling.step;
        self.advance(self.floor(newest) + step)?;
        let last = self.last_busy + TRAIL_SECONDS;
        self.advance(last - step)?;
        self.sample_at(last, true)
    }
}

impl<W: Write> TailSink for Sampler<'_, W> {
    fn line(&mut self, line: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        let outcome = self.parser.parse(line);
        let parsed = match &outcome {
            Ok(Line::Record(record)) => Some(record.timestamp.unix_seconds),
            _ => None,
        };
        let key = match self.newest.max(parsed) {
            None => i64::MIN,
            Some(newest) => {
                let mut second = parsed.unwrap_or(newest);
                if let Some(last) = self.last_sampled {
                    // Too late for its step: counted in the next sample.
                    second = second.max(last);
                }
                if self.newest.is_none() {
                    self.last_busy = self.floor(second);
                }
                if self.next.is_none() {
                    // The first line, or the first after a silence.
                    self.next = Some(self.floor(second));
                }
                self.newest = Some(newest);
                second
            }
        };
        if key != i64::MIN {
            // Lines read before the first timed one count with it.
            if let Some(untimed) = self.held.remove(&i64::MIN) {
                self.held.entry(key).or_default().absorb_untimed(untimed);
            }
        }
        let held = self.held.entry(key).or_default();
        held.lines += 1;
        held.bytes += line.len() as u64 + 1;
        match outcome {
            Ok(Line::Record(record)) => held.hits.push(Hit::of(&record)),
            Ok(Line::Directive) => held.directives += 1,
            Err(error) => held.errors.push(error.reason()),
        }
        if key == i64::MIN {
            return;
        }
        let tolerance = self.writer.sampling.tolerance;
        let until = self.newest.unwrap_or(key) - tolerance;
        if let Err(error) = self.advance(until) {
            self.failed = Some(error);
        }
    }

    fn event(&mut self, event: TailEvent<'_>) {
        // Bytes are counted with their lines, when their step is sampled.
        if let TailEvent::LineTooLong = event {
            self.metrics.count_parse_error("too_long");
            self.metrics.add_lines_read(1);
            if !self.too_long_said {
                self.too_long_said = true;
                crate::report::warning(
                    "a line longer than --max-line-bytes was dropped and counted as \
                     reason=\"too_long\"; later ones are counted without a warning",
                );
            }
        }
    }
}

/// This host's name, for the default `instance`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// How many bytes of a file are read for its first timestamp before it is taken for no log.
const FIRST_TIMESTAMP_BYTES: u64 = 1 << 20;

/// The files of one log in the order they were written: by the time of their first record
/// (rotated and compressed ones alike). A file with no record in its first MiB is no log of
/// this format: an error of kind `InvalidData`, beside its path.
pub fn in_log_order(
    files: &[std::path::PathBuf],
    format: &LogFormat,
    max_line_bytes: usize,
) -> Result<Vec<std::path::PathBuf>, (std::path::PathBuf, io::Error)> {
    let mut timed = Vec::new();
    for path in files {
        match first_timestamp(path, format, max_line_bytes) {
            Ok(Some(time)) => timed.push((time, path.clone())),
            Ok(None) => {
                let problem = "no access-log line of this format in its first MiB";
                return Err((
                    path.clone(),
                    io::Error::new(io::ErrorKind::InvalidData, problem),
                ));
            }
            Err(error) => return Err((path.clone(), error)),
        }
    }
    timed.sort();
    Ok(timed.into_iter().map(|(_, path)| path).collect())
}

fn first_timestamp(
    path: &Path,
    format: &LogFormat,
    max_line_bytes: usize,
) -> io::Result<Option<i64>> {
    struct First {
        parser: LineParser,
        time: Option<i64>,
    }
    impl TailSink for First {
        fn line(&mut self, line: &[u8]) {
            if self.time.is_none() {
                if let Ok(Line::Record(record)) = self.parser.parse(line) {
                    self.time = Some(record.timestamp.unix_seconds);
                }
            }
        }
        fn event(&mut self, _event: TailEvent<'_>) {}
    }
    let mut first = First {
        parser: LineParser::new(format.clone()),
        time: None,
    };
    let reader = std::io::Read::take(tail::open_whole(path)?, FIRST_TIMESTAMP_BYTES);
    tail::read_stream(reader, max_line_bytes, &mut first)?;
    Ok(first.time)
}

/// A log to backfill: its `log` label value (if logs are labelled), its labels, and its files.
#[derive(Debug)]
pub struct BackfilledLog {
    /// Its `log` label value, if there are several logs or it is named.
    pub name: Option<String>,
    /// The labels its configuration gives it.
    pub labels: Vec<(String, String)>,
    /// Its files, live and rotated, in any order.
    pub files: Vec<std::path::PathBuf>,
}

/// The logs the files at `paths` make: a file and its rotated files (`access.log`,
/// `access.log.1`, `access.log.2.gz`, `access.log-20261201`) are one log, named as the live
/// file would be (`NAME=PATH` on it, else its file name without `.log`); so are the files of a
/// named glob.
pub fn logs_of(
    paths: &[std::path::PathBuf],
    sources: &[crate::logs::LogSource],
) -> Vec<BackfilledLog> {
    let mut groups: Vec<(std::path::PathBuf, Option<String>, BackfilledLog)> = Vec::new();
    for path in paths {
        let source = crate::logs::source_of(path, sources);
        let shared = source
            .filter(|source| source.is_glob)
            .and_then(|source| source.name.clone());
        let base = live_file(path);
        let found = groups
            .iter_mut()
            .find(|(group_base, group_shared, _)| match &shared {
                Some(name) => group_shared.as_ref() == Some(name),
                None => group_shared.is_none() && *group_base == base,
            });
        match found {
            Some((_, _, log)) => log.files.push(path.clone()),
            None => {
                let given = (sources.iter())
                    .find(|source| !source.is_glob && source.pattern == base)
                    .or(source)
                    .and_then(|source| source.name.clone());
                let labels = source
                    .map(|source| source.labels.clone())
                    .unwrap_or_default();
                groups.push((
                    base.clone(),
                    shared.clone(),
                    BackfilledLog {
                        name: shared.or(given),
                        labels,
                        files: vec![path.clone()],
                    },
                ));
            }
        }
    }
    let labelled = groups.len() > 1 || groups.iter().any(|(_, _, log)| log.name.is_some());
    let mut taken = HashSet::new();
    let mut logs = Vec::new();
    for (base, _, mut log) in groups {
        log.name = labelled.then(|| {
            let name = log
                .name
                .take()
                .unwrap_or_else(|| crate::logs::derived_name(&base));
            match taken.insert(name.clone()) {
                true => name,
                false => base.display().to_string(),
            }
        });
        logs.push(log);
    }
    logs
}

/// The live file a rotated one was: without a compression suffix, then without a rotation
/// number or date (`.1`, `-20261201`).
fn live_file(path: &Path) -> std::path::PathBuf {
    let text = path.to_string_lossy();
    let mut text: &str = &text;
    for compressed in [".gz", ".bz2", ".xz", ".zst"] {
        text = text.strip_suffix(compressed).unwrap_or(text);
    }
    if let Some((live, suffix)) = text.rsplit_once(['.', '-']) {
        let file_name_goes_on = !live.ends_with('/') && !live.is_empty();
        if file_name_goes_on && !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()) {
            text = live;
        }
    }
    std::path::PathBuf::from(text)
}

#[cfg(test)]
mod tests;
