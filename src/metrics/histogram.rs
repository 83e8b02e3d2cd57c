//! Histograms by status class, counted locally and folded into a collector the registry
//! gathers.
//!
//! The client library's local histogram finds an observation's bucket by walking the bounds
//! until one is not below it: a loop whose exit depends on the value, so it mispredicts about
//! once an observation, and response sizes and durations are spread over every bucket. Here
//! the bucket is looked up by the value's binary exponent ([`Binades`]), without a branch: each
//! bound is at least twice the one before, so no two share a power-of-two range.

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
///
/// # Memory
/// A class's counts are allocated when it is first observed, and the bucket table is shared
/// with the local recorders: a log followed among thousands costs only what it has seen.
#[derive(Clone)]
pub struct ClassHistogram {
    desc: Desc,
    bounds: &'static [f64],
    binades: Arc<Binades>,
    // Only classes observed at least once are exposed, as the client library's vectors do.
    totals: Arc<Mutex<[Option<Box<Counts>>; CLASSES]>>,
}

impl ClassHistogram {
    /// A histogram named `name` with buckets up to each of `bounds` (at most 15, ascending, each
    /// at least twice the one before), its series carrying `const_labels` too.
    pub fn new(
        name: &str,
        help: &str,
        bounds: &'static [f64],
        const_labels: HashMap<String, String>,
    ) -> Result<ClassHistogram, prometheus::Error> {
        let binades = Binades::new(bounds).filter(|_| bounds.len() <= MAX_BOUNDS);
        let Some(binades) = binades else {
            return Err(prometheus::Error::Msg(format!(
                "{name}: at most {MAX_BOUNDS} positive bounds, each at least twice the one \
                 before, the last under 2^{} times the first",
                BINADES - 2
            )));
        };
        Ok(ClassHistogram {
            desc: Desc::new(
                name.into(),
                help.into(),
                vec!["status_class".into()],
                const_labels,
            )?,
            bounds,
            binades: Arc::new(binades),
            totals: Arc::default(),
        })
    }

    /// A recorder that counts into this histogram locally until flushed.
    pub fn local(&self) -> LocalClassHistogram {
        LocalClassHistogram {
            histogram: self.clone(),
            counts: Default::default(),
            touched: 0,
        }
    }
}

impl Collector for ClassHistogram {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let totals: [Option<Counts>; CLASSES] = {
            let totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
            std::array::from_fn(|class| totals[class].as_deref().copied())
        };
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
    // Allocated at a class's first observation.
    counts: [Option<Box<Counts>>; CLASSES],
    // Bit `class` set when that class has counts not flushed yet.
    touched: u16,
}

impl LocalClassHistogram {
    /// Counts `value` (a size or a duration: never negative) for the status `class` (the status
    /// code's first digit, 1–9).
    #[inline]
    pub fn observe(&mut self, class: usize, value: f64) {
        let bucket = self.histogram.binades.bucket(value);
        let counts = self.counts[class].get_or_insert_with(|| Box::new(Counts::ZERO));
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
            if let Some(counts) = &mut self.counts[class] {
                totals[class]
                    .get_or_insert_with(|| Box::new(Counts::ZERO))
                    .add(counts);
                **counts = Counts::ZERO;
            }
        }
        self.touched = 0;
    }
}

/// How many binary exponents a [`Binades`] tells apart: those of the bounds, one below them
/// and one above.
const BINADES: usize = 64;

/// The bucket of a value from its binary exponent, for bounds at least twice apart.
///
/// The values of one exponent, a binade (`[2^e, 2^(e+1))`), lie above the same bounds but at
/// most one: the one in that binade, if any. The bucket of a value, the number of bounds below
/// it (Prometheus' `le` is inclusive), is then what its binade says, plus one if it is above
/// that binade's own bound.
#[derive(Debug, Clone, Copy)]
struct Binades {
    /// The exponent field of the first entry's binade, one below the first bound's.
    lowest: usize,
    entries: [Binade; BINADES],
}

#[derive(Debug, Clone, Copy)]
struct Binade {
    /// Bounds in the binades below this one.
    bounds_below: u8,
    /// The bound in this binade; infinite if none.
    bound: f64,
}

impl Binades {
    /// `None` unless `bounds` are normal positive numbers, each at least twice the one before,
    /// spanning fewer than `BINADES - 1` exponents.
    fn new(bounds: &[f64]) -> Option<Binades> {
        let lowest = bounds.first().map_or(Some(1), |&first| {
            (first >= f64::MIN_POSITIVE).then(|| exponent(first) - 1)
        })?;
        let mut entries = [Binade {
            bounds_below: 0,
            bound: f64::INFINITY,
        }; BINADES];
        for (below, &bound) in bounds.iter().enumerate() {
            let at = exponent(bound).checked_sub(lowest)?;
            // The last entry also holds every binade above it: no bound may be there.
            let entry = entries.get_mut(at).filter(|_| at < BINADES - 1)?;
            if entry.bound.is_finite() || below > 0 && bound < 2.0 * bounds[below - 1] {
                return None;
            }
            entry.bound = bound;
            for later in &mut entries[at + 1..] {
                later.bounds_below = below as u8 + 1;
            }
        }
        Some(Binades { lowest, entries })
    }

    #[inline]
    fn bucket(&self, value: f64) -> usize {
        // Exponents beyond the table are below every bound or above them all, as its ends.
        let at = exponent(value).clamp(self.lowest, self.lowest + BINADES - 1) - self.lowest;
        let entry = self.entries[at];
        usize::from(entry.bounds_below) + usize::from(value > entry.bound)
    }
}

/// The biased exponent field of a non-negative `value`.
fn exponent(value: f64) -> usize {
    (value.to_bits() >> 52) as usize
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
    fn bounds_must_be_ascending_few_and_twice_apart() {
        static DESCENDING: [f64; 2] = [2.0, 1.0];
        static MANY: [f64; 16] = [
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
            8192.0, 16384.0, 32768.0,
        ];
        static CLOSE: [f64; 3] = [1.0, 2.5, 4.0];
        static ZERO: [f64; 2] = [0.0, 1.0];
        static WIDE: [f64; 2] = [1.0, 1e30];
        for bad in [&DESCENDING[..], &MANY, &CLOSE, &ZERO, &WIDE] {
            assert!(
                ClassHistogram::new("h", "Help.", bad, HashMap::new()).is_err(),
                "{bad:?}"
            );
        }
        for good in [
            &crate::metrics::RESPONSE_SIZE_BUCKETS[..],
            &crate::metrics::DURATION_BUCKETS,
            &MANY[..15],
            &[],
        ] {
            assert!(ClassHistogram::new("h", "Help.", good, HashMap::new()).is_ok());
        }
    }

    proptest::proptest! {
        /// The bucket is the number of bounds below the value, whatever the value.
        #[test]
        fn the_binade_finds_the_bucket_a_count_of_bounds_below_finds(
            first in 1e-6..1e3f64,
            ratios in proptest::collection::vec(2.0..8.0f64, 0..14),
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::num::f64::POSITIVE | proptest::num::f64::ZERO | proptest::num::f64::SUBNORMAL,
                    0.0..1e6f64,
                ],
                1..50,
            ),
            exact in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..5),
        ) {
            let mut bounds = vec![first];
            for ratio in ratios {
                bounds.push(bounds.last().unwrap() * ratio);
            }
            let binades = Binades::new(&bounds).unwrap();
            let on_bounds = exact.iter().map(|i| bounds[i.index(bounds.len())]);
            for value in values.into_iter().chain(on_bounds).chain([f64::INFINITY, f64::MAX]) {
                let below = bounds.iter().filter(|&&bound| value > bound).count();
                proptest::prop_assert_eq!(binades.bucket(value), below, "{} in {:?}", value, bounds);
            }
        }
    }
}
