//! What one interval's traffic looked like.

use foldhash::HashMap;

use crate::labels::{
    label_key, label_value, method_index, method_label, INVALID, INVALID_METHOD, METHOD_COUNT,
    OVERFLOW,
};
use crate::parse::{section, Record, Request};

/// Counts of one interval. Memory is bounded: at most `max_sections` sections and
/// `MAX_CLIENTS` (10,000) clients are counted apart, the rest together as `(other)`.
#[derive(Debug, Clone)]
pub struct IntervalStats {
    hits: u64,
    bytes: u64,
    status_classes: [u64; 10],
    methods: [u64; METHOD_COUNT],
    sections: BoundedCounts,
    clients: BoundedCounts,
}

/// A summary of one interval, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalReport {
    /// First second of the interval (Unix seconds).
    pub start: i64,
    /// The second after its last (Unix seconds).
    pub end: i64,
    /// Requests in the interval.
    pub hits: u64,
    /// Response bytes sent.
    pub bytes: u64,
    /// Requests by status class `1xx` … `5xx` (index 1 to 5); index 0 counts 6xx–9xx.
    pub status_classes: [u64; 6],
    /// Requests by method, busiest first.
    pub methods: Vec<(&'static str, u64)>,
    /// The busiest sections, busiest first.
    pub top_sections: Vec<(String, u64)>,
    /// The median and 99th percentile time taken of each of `top_sections`, in seconds, where
    /// the format records times: each rounded up to within 9%.
    pub section_times: Vec<Option<[f64; 2]>>,
    /// The busiest clients, busiest first.
    pub top_clients: Vec<(String, u64)>,
}

impl IntervalReport {
    /// Requests per second over the interval.
    pub fn rate(&self) -> f64 {
        self.hits as f64 / (self.end - self.start).max(1) as f64
    }

    /// Share of requests answered with a server error (5xx).
    pub fn error_ratio(&self) -> f64 {
        if self.hits == 0 {
            0.0
        } else {
            self.status_classes[5] as f64 / self.hits as f64
        }
    }

    /// Each status class and its hits, as the reports write them (`2xx 174`): 2xx to 5xx
    /// always, 1xx and other statuses when there were some.
    pub fn status_counts(&self) -> Vec<String> {
        let classes = ["other", "1xx", "2xx", "3xx", "4xx", "5xx"];
        (1..6)
            .chain([0])
            .filter(|&i| self.status_classes[i] > 0 || (2..=5).contains(&i))
            .map(|i| format!("{} {}", classes[i], self.status_classes[i]))
            .collect()
    }

    /// Each method and its hits (`GET 180`), busiest first.
    pub fn method_counts(&self) -> Vec<String> {
        (self.methods.iter())
            .map(|(method, hits)| format!("{method} {hits}"))
            .collect()
    }
}

/// Distinct clients counted apart within one interval.
pub const MAX_CLIENTS: usize = 10_000;

impl IntervalStats {
    /// Empty counts keeping at most `max_sections` sections apart.
    pub fn new(max_sections: usize) -> IntervalStats {
        IntervalStats {
            hits: 0,
            bytes: 0,
            status_classes: [0; 10],
            methods: [0; METHOD_COUNT],
            sections: BoundedCounts::new(max_sections),
            clients: BoundedCounts::new(MAX_CLIENTS),
        }
    }

    /// Counts one record.
    pub fn add(&mut self, record: &Record<'_>) {
        self.hits += 1;
        self.bytes += record.bytes;
        self.status_classes[usize::from(record.status / 100 % 10)] += 1;
        match record.request {
            Request::Line { method, target, .. } => {
                self.methods[usize::from(method_index(method))] += 1;
                self.sections.add(section(target), record.duration);
            }
            Request::Malformed(_) => {
                self.methods[usize::from(INVALID_METHOD)] += 1;
                self.sections.add_invalid(record.duration);
            }
        }
        self.clients.add(record.client, None);
    }

    /// The summary of these counts for the interval `[start, end)`, listing `top` of each.
    pub fn report(&self, start: i64, end: i64, top: usize) -> IntervalReport {
        let mut methods: Vec<_> = (0..METHOD_COUNT as u8)
            .map(|i| (method_label(i), self.methods[usize::from(i)]))
            .filter(|&(_, n)| n > 0)
            .collect();
        methods.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let c = &self.status_classes;
        let (sections, clients) = (self.sections.top(top), self.clients.top(top));
        IntervalReport {
            start,
            end,
            hits: self.hits,
            bytes: self.bytes,
            status_classes: [
                c[0] + c[6] + c[7] + c[8] + c[9],
                c[1],
                c[2],
                c[3],
                c[4],
                c[5],
            ],
            methods,
            top_sections: sections
                .iter()
                .map(|(name, hits, _)| (name.clone(), *hits))
                .collect(),
            section_times: sections.iter().map(|(_, _, times)| *times).collect(),
            top_clients: clients
                .into_iter()
                .map(|(name, hits, _)| (name, hits))
                .collect(),
        }
    }
}

/// Counts per key for at most `max` keys; further keys count as [`OVERFLOW`]. Each count
/// keeps the times taken of its requests, where there are any.
#[derive(Debug, Clone)]
struct BoundedCounts {
    counts: HashMap<Box<[u8]>, Tally>,
    overflow: Tally,
    invalid: Tally,
    max: usize,
}

/// Requests of one key, and their times.
#[derive(Debug, Clone, Default)]
struct Tally {
    hits: u64,
    times: Option<Box<Times>>,
}

impl Tally {
    fn add(&mut self, duration: Option<std::time::Duration>) {
        self.hits += 1;
        if let Some(duration) = duration {
            self.times
                .get_or_insert_with(Default::default)
                .add(duration);
        }
    }
}

impl BoundedCounts {
    fn new(max: usize) -> BoundedCounts {
        BoundedCounts {
            counts: HashMap::default(),
            overflow: Tally::default(),
            invalid: Tally::default(),
            max,
        }
    }

    fn add(&mut self, key: &[u8], duration: Option<std::time::Duration>) {
        let key = label_key(key);
        if let Some(tally) = self.counts.get_mut(key) {
            tally.add(duration);
        } else if self.counts.len() < self.max {
            self.counts.entry(key.into()).or_default().add(duration);
        } else {
            self.overflow.add(duration);
        }
    }

    fn add_invalid(&mut self, duration: Option<std::time::Duration>) {
        self.invalid.add(duration);
    }

    /// The `n` busiest keys, busiest first: name, hits, and median and 99th percentile time.
    fn top(&self, n: usize) -> Vec<(String, u64, Option<[f64; 2]>)> {
        let mut all: Vec<(String, &Tally)> = self
            .counts
            .iter()
            .map(|(key, tally)| (label_value(key), tally))
            .chain([
                (OVERFLOW.to_owned(), &self.overflow),
                (INVALID.to_owned(), &self.invalid),
            ])
            .filter(|(_, tally)| tally.hits > 0)
            .collect();
        all.sort_by(|a, b| b.1.hits.cmp(&a.1.hits).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all.into_iter()
            .map(|(name, tally)| {
                let times = tally
                    .times
                    .as_ref()
                    .map(|t| [t.quantile(0.5), t.quantile(0.99)]);
                (name, tally.hits, times)
            })
            .collect()
    }
}

/// Bucket widths: an eighth of a power of two, so a quantile is within 9% of the truth.
const TIME_STEPS: u32 = 3;
/// Buckets of times from 1 ns up to 2^48 ns (three days); longer ones count in the last.
const TIME_BUCKETS: usize = 48 << TIME_STEPS;

/// The times taken of one key's requests within an interval, in buckets by the leading bits
/// of the nanoseconds as a float (its exponent and first mantissa bits).
#[derive(Debug, Clone)]
struct Times {
    counts: Box<[u32; TIME_BUCKETS]>,
    total: u32,
}

impl Default for Times {
    fn default() -> Self {
        Times {
            counts: Box::new([0; TIME_BUCKETS]),
            total: 0,
        }
    }
}

impl Times {
    fn add(&mut self, duration: std::time::Duration) {
        let nanos = crate::parse::nanoseconds(duration);
        let bucket = match nanos {
            0 => 0,
            nanos => {
                let leading = ((nanos as f64).to_bits() >> (52 - TIME_STEPS)) as usize;
                (leading - (1023 << TIME_STEPS)).min(TIME_BUCKETS - 1)
            }
        };
        self.counts[bucket] = self.counts[bucket].saturating_add(1);
        self.total = self.total.saturating_add(1);
    }

    /// The time below which a share `q` of the requests took, in seconds: the upper edge of
    /// its bucket.
    fn quantile(&self, q: f64) -> f64 {
        let rank = ((q * f64::from(self.total)).ceil() as u32).max(1);
        let mut seen = 0;
        let bucket = (self.counts.iter())
            .position(|&count| {
                seen += count;
                seen >= rank
            })
            .unwrap_or(TIME_BUCKETS - 1);
        let upper = ((bucket + 1 + (1023 << TIME_STEPS)) as u64) << (52 - TIME_STEPS);
        f64::from_bits(upper) / 1e9
    }
}
