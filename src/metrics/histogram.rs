//! Histograms by status class, counted locally and folded into a collector the registry
//! gathers.
//!
//! The client library's local histogram finds an observation's bucket by walking the bounds
//! until one is not below it: a loop whose exit depends on the value, so it mispredicts about
//! once an observation, and response sizes and durations are spread over every bucket. Here
//! the bucket is the number of bounds below the value, counted over a fixed sixteen bounds
//! (the unused ones infinite), which has no branch at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Bucket, Histogram, LabelPair, Metric, MetricFamily, MetricType};

use crate::labels::status_class_label;

/// The most bounds a histogram may have.
const MAX_BOUNDS: usize = 15;
/// Status classes are indexed by the status code's first digit, 1–9; 0 is never used.
const CLASSES: usize = 10;

/// The counts of one status class: per bucket (not cumulative; the last is above every
/// bound), how many, and their sum.
#[derive(Debug, Clone, Copy)]
struct Counts {
    buckets: [u64; MAX_BOUNDS + 1],
    count: u64,
    sum: f64,
}

impl Counts {
    const ZERO: Counts = Counts {
        buckets: [0; MAX_BOUNDS + 1],
        count: 0,
        sum: 0.0,
    };

    fn add(&mut self, other: &Counts) {
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
    }
}

/// A histogram with a `status_class` label, as registered and gathered.
#[derive(Clone)]
pub struct ClassHistogram {
    desc: Desc,
    bounds: &'static [f64],
    // Only classes observed at least once are exposed, as the client library's vectors do.
    totals: Arc<Mutex<[Option<Counts>; CLASSES]>>,
}

impl ClassHistogram {
    /// A histogram named `name` with buckets up to each of `bounds` (at most 15, ascending),
    /// its series carrying `const_labels` too.
    pub fn new(
        name: &str,
        help: &str,
        bounds: &'static [f64],
        const_labels: HashMap<String, String>,
    ) -> Result<ClassHistogram, prometheus::Error> {
        if bounds.len() > MAX_BOUNDS || !bounds.windows(2).all(|pair| pair[0] < pair[1]) {
            return Err(prometheus::Error::Msg(format!(
                "{name}: at most {MAX_BOUNDS} ascending bounds"
            )));
        }
        Ok(ClassHistogram {
            desc: Desc::new(
                name.into(),
                help.into(),
                vec!["status_class".into()],
                const_labels,
            )?,
            bounds,
            totals: Arc::new(Mutex::new([None; CLASSES])),
        })
    }

    /// A recorder that counts into this histogram locally until flushed.
    pub fn local(&self) -> LocalClassHistogram {
        let mut bounds = [f64::INFINITY; MAX_BOUNDS];
        bounds[..self.bounds.len()].copy_from_slice(self.bounds);
        LocalClassHistogram {
            histogram: self.clone(),
            bounds,
            counts: [Counts::ZERO; CLASSES],
            touched: 0,
        }
    }
}

impl Collector for ClassHistogram {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let totals = *self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        let metrics = (1..CLASSES)
            .filter_map(|class| Some((class, totals[class]?)))
            .map(|(class, counts)| {
                let mut cumulative = 0;
                let buckets = self
                    .bounds
                    .iter()
                    .zip(counts.buckets)
                    .map(|(&bound, count)| {
                        cumulative += count;
                        let mut bucket = Bucket::default();
                        bucket.set_upper_bound(bound);
                        bucket.set_cumulative_count(cumulative);
                        bucket
                    })
                    .collect();
                let mut histogram = Histogram::default();
                histogram.set_bucket(buckets);
                histogram.set_sample_count(counts.count);
                histogram.set_sample_sum(counts.sum);
                let mut label = LabelPair::default();
                label.set_name("status_class".into());
                label.set_value(status_class_label(class as u16 * 100).into());
                // Sorted by name, as the client library's own metrics have theirs.
                let mut labels = self.desc.const_label_pairs.clone();
                labels.push(label);
                labels.sort_by(|a, b| a.name().cmp(b.name()));
                let mut metric = Metric::default();
                metric.set_label(labels);
                metric.set_histogram(histogram);
                metric
            })
            .collect();
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(MetricType::HISTOGRAM);
        family.set_metric(metrics);
        vec![family]
    }
}

/// Counts observations for a [`ClassHistogram`] without sharing anything until
/// [`LocalClassHistogram::flush`].
pub struct LocalClassHistogram {
    histogram: ClassHistogram,
    // The bounds, padded with infinities: a value is never above those.
    bounds: [f64; MAX_BOUNDS],
    counts: [Counts; CLASSES],
    // Bit `class` set when that class has counts not flushed yet.
    touched: u16,
}

impl LocalClassHistogram {
    /// Counts `value` for the status `class` (the status code's first digit, 1–9).
    #[inline]
    pub fn observe(&mut self, class: usize, value: f64) {
        // The number of bounds below the value is the index of the first bucket whose bound
        // is not below it: Prometheus' `le`.
        let bucket = self
            .bounds
            .iter()
            .map(|&bound| usize::from(value > bound))
            .sum::<usize>();
        let counts = &mut self.counts[class];
        counts.buckets[bucket] += 1;
        counts.count += 1;
        counts.sum += value;
        self.touched |= 1 << class;
    }

    /// Adds what was counted since the last flush to the histogram.
    pub fn flush(&mut self) {
        if self.touched == 0 {
            return;
        }
        let mut totals = self
            .histogram
            .totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for class in (1..CLASSES).filter(|class| self.touched & 1 << class != 0) {
            totals[class]
                .get_or_insert(Counts::ZERO)
                .add(&self.counts[class]);
            self.counts[class] = Counts::ZERO;
        }
        self.touched = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static BOUNDS: [f64; 3] = [1.0, 10.0, 100.0];

    fn exposition(histogram: &ClassHistogram) -> String {
        let registry = prometheus::Registry::new();
        registry.register(Box::new(histogram.clone())).unwrap();
        let mut text = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&registry.gather(), &mut text)
            .unwrap();
        text
    }

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive_as_prometheus_reads_them() {
        let histogram = ClassHistogram::new("h", "Help.", &BOUNDS, HashMap::new()).unwrap();
        let mut local = histogram.local();
        for value in [0.0, 1.0, 1.5, 10.0, 99.0, 100.0, 100.5, 1e9] {
            local.observe(2, value);
        }
        local.observe(5, 3.0);
        assert!(
            !exposition(&histogram).contains("h_count"),
            "not flushed yet"
        );
        local.flush();
        let text = exposition(&histogram);
        for line in [
            r#"h_bucket{status_class="2xx",le="1"} 2"#,
            r#"h_bucket{status_class="2xx",le="10"} 4"#,
            r#"h_bucket{status_class="2xx",le="100"} 6"#,
            r#"h_bucket{status_class="2xx",le="+Inf"} 8"#,
            r#"h_count{status_class="2xx"} 8"#,
            r#"h_sum{status_class="2xx"} 1000000312"#,
            r#"h_bucket{status_class="5xx",le="1"} 0"#,
            r#"h_bucket{status_class="5xx",le="10"} 1"#,
            r#"h_count{status_class="5xx"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("4xx"), "a class never seen is not exposed");

        local.observe(2, 5.0);
        local.flush();
        local.flush();
        let text = exposition(&histogram);
        assert!(text.contains(r#"h_count{status_class="2xx"} 9"#), "{text}");
        assert!(text.contains(r#"h_bucket{status_class="2xx",le="10"} 5"#));
    }

    #[test]
    fn bounds_must_be_ascending_and_few() {
        static DESCENDING: [f64; 2] = [2.0, 1.0];
        static MANY: [f64; 16] = [
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0,
        ];
        assert!(ClassHistogram::new("h", "Help.", &DESCENDING, HashMap::new()).is_err());
        assert!(ClassHistogram::new("h", "Help.", &MANY, HashMap::new()).is_err());
    }
}
