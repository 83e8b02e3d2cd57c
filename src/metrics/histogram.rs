//! Histograms by status class, counted locally and folded into a log's totals, which the
//! exposition writes out.
//!
//! The client library's local histogram finds an observation's bucket by walking the bounds
//! until one is not below it: a loop whose exit depends on the value, so it mispredicts about
//! once an observation, and response sizes and durations are spread over every bucket. Here
//! the bucket is looked up by the value's binary exponent ([`Binades`]), without a branch: each
//! bound is at least twice the one before, so no two share a power-of-two range.

use std::sync::Arc;

use crate::labels::status_class_label;

/// The most bounds a histogram may have.
const MAX_BOUNDS: usize = 15;
/// Status classes are indexed by the status code's first digit, 1–9; 0 is never used.
const CLASSES: usize = 10;

/// The counts of one status class: per bucket (not cumulative; the last is above every
/// bound), how many, and their sum.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
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

/// The buckets of a histogram: its bounds and the table that finds a value's bucket. Made once
/// and shared by every log's counts.
#[derive(Debug)]
pub struct Buckets {
    bounds: &'static [f64],
    binades: Binades,
}

impl Buckets {
    /// Buckets up to each of `bounds`: at most 15, ascending, each at least twice the one
    /// before. `None` for any other bounds.
    pub fn new(bounds: &'static [f64]) -> Option<Buckets> {
        let binades = Binades::new(bounds).filter(|_| bounds.len() <= MAX_BOUNDS)?;
        Some(Buckets { bounds, binades })
    }

    /// The upper bounds, without `+Inf`.
    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }
}

/// One log's folded counts of a histogram, by status class; a class has counts once it has
/// been observed, and only such classes are exposed.
pub type ClassTotals = [Option<Box<Counts>>; CLASSES];

/// Counts observations by status class locally, until [`LocalClassHistogram::flush`] adds
/// them to a log's [`ClassTotals`].
///
/// # Memory
/// A class's counts are allocated when it is first observed, and the bucket table is shared:
/// a log followed among thousands costs only what it has seen.
pub struct LocalClassHistogram {
    buckets: Arc<Buckets>,
    counts: ClassTotals,
    // Bit `class` set when that class has counts not flushed yet.
    touched: u16,
}

impl LocalClassHistogram {
    /// Counts nothing yet, into `buckets`.
    pub fn new(buckets: Arc<Buckets>) -> LocalClassHistogram {
        LocalClassHistogram {
            buckets,
            counts: Default::default(),
            touched: 0,
        }
    }

    /// Counts `value` (a size or a duration: never negative) for the status `class` (the status
    /// code's first digit, 1–9).
    #[inline]
    pub fn observe(&mut self, class: usize, value: f64) {
        let bucket = self.buckets.binades.bucket(value);
        let counts = self.counts[class].get_or_insert_with(|| Box::new(Counts::ZERO));
        counts.buckets[bucket] += 1;
        counts.count += 1;
        counts.sum += value;
        self.touched |= 1 << class;
    }

    /// Adds what was counted since the last flush to `totals`.
    pub fn flush(&mut self, totals: &mut ClassTotals) {
        if self.touched == 0 {
            return;
        }
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

/// Writes `totals` as the series of histogram `name` (`_bucket`, `_sum`, `_count`), each
/// class's with `labels` (already written, without braces) and `status_class`.
pub fn write_series(
    out: &mut String,
    name: &str,
    labels: &str,
    buckets: &Buckets,
    totals: &ClassTotals,
) {
    use std::fmt::Write;
    let separator = if labels.is_empty() { "" } else { "," };
    for (class, counts) in totals.iter().enumerate() {
        let Some(counts) = counts else { continue };
        let class = status_class_label(class as u16 * 100);
        let mut cumulative = 0;
        for (bound, count) in buckets.bounds.iter().zip(counts.buckets) {
            cumulative += count;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}status_class=\"{class}\",le=\"{bound}\"}} {}",
                cumulative as f64
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{separator}status_class=\"{class}\",le=\"+Inf\"}} {}",
            counts.count as f64
        );
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}{separator}status_class=\"{class}\"}} {}",
            counts.sum
        );
        let _ = writeln!(
            out,
            "{name}_count{{{labels}{separator}status_class=\"{class}\"}} {}",
            counts.count as f64
        );
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

    fn exposition(totals: &ClassTotals) -> String {
        let mut text = String::new();
        write_series(&mut text, "h", "", &Buckets::new(&BOUNDS).unwrap(), totals);
        text
    }

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive_as_prometheus_reads_them() {
        let mut local = LocalClassHistogram::new(Arc::new(Buckets::new(&BOUNDS).unwrap()));
        let mut totals = ClassTotals::default();
        for value in [0.0, 1.0, 1.5, 10.0, 99.0, 100.0, 100.5, 1e9] {
            local.observe(2, value);
        }
        local.observe(5, 3.0);
        assert!(!exposition(&totals).contains("h_count"), "not flushed yet");
        local.flush(&mut totals);
        let text = exposition(&totals);
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
        local.flush(&mut totals);
        local.flush(&mut totals);
        let text = exposition(&totals);
        assert!(text.contains(r#"h_count{status_class="2xx"} 9"#), "{text}");
        assert!(text.contains(r#"h_bucket{status_class="2xx",le="10"} 5"#));
        let mut labelled = String::new();
        write_series(
            &mut labelled,
            "h",
            r#"log="a""#,
            &Buckets::new(&BOUNDS).unwrap(),
            &totals,
        );
        assert!(labelled.contains(r#"h_count{log="a",status_class="2xx"} 9"#));
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
            assert!(Buckets::new(bad).is_none(), "{bad:?}");
        }
        for good in [
            &crate::metrics::RESPONSE_SIZE_BUCKETS[..],
            &crate::metrics::DURATION_BUCKETS,
            &MANY[..15],
            &[],
        ] {
            assert!(Buckets::new(good).is_some());
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
