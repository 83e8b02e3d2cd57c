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
                self.sections.add(section(target));
            }
            Request::Malformed(_) => {
                self.methods[usize::from(INVALID_METHOD)] += 1;
                self.sections.add_invalid();
            }
        }
        self.clients.add(record.client);
    }

    /// The summary of these counts for the interval `[start, end)`, listing `top` of each.
    pub fn report(&self, start: i64, end: i64, top: usize) -> IntervalReport {
        let mut methods: Vec<_> = (0..METHOD_COUNT as u8)
            .map(|i| (method_label(i), self.methods[usize::from(i)]))
            .filter(|&(_, n)| n > 0)
            .collect();
        methods.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let c = &self.status_classes;
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
            top_sections: self.sections.top(top),
            top_clients: self.clients.top(top),
        }
    }
}

/// Counts per key for at most `max` keys; further keys count as [`OVERFLOW`].
#[derive(Debug, Clone)]
struct BoundedCounts {
    counts: HashMap<Box<[u8]>, u64>,
    overflow: u64,
    invalid: u64,
    max: usize,
}

impl BoundedCounts {
    fn new(max: usize) -> BoundedCounts {
        BoundedCounts {
            counts: HashMap::default(),
            overflow: 0,
            invalid: 0,
            max,
        }
    }

    fn add(&mut self, key: &[u8]) {
        let key = label_key(key);
        if let Some(count) = self.counts.get_mut(key) {
            *count += 1;
        } else if self.counts.len() < self.max {
            self.counts.insert(key.into(), 1);
        } else {
            self.overflow += 1;
        }
    }

    fn add_invalid(&mut self) {
        self.invalid += 1;
    }

    fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = self
            .counts
            .iter()
            .map(|(key, &count)| (label_value(key), count))
            .chain([
                (OVERFLOW.to_owned(), self.overflow),
                (INVALID.to_owned(), self.invalid),
            ])
            .filter(|&(_, count)| count > 0)
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}
