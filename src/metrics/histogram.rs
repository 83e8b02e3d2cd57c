//! Histograms by section, method and status class, counted locally and folded into a log's
//! totals, which the exposition writes out.
//!
//! The client library's local histogram finds an observation's bucket by walking the bounds
//! until one is not below it: a loop whose exit depends on the value, so it mispredicts about
//! once an observation, and response sizes and durations are spread over every bucket. Here
//! the bucket is looked up by the value's binary exponent ([`Binades`]), without a branch,
//! when each bound is at least twice the one before (as the default bounds are), so that no
//! two share a power-of-two range; other bounds a user chooses are searched.

use super::families::{end_line, Value};
use crate::labels::status_class_label;

/// The most bounds a histogram may have.
pub const MAX_BOUNDS: usize = 32;

/// The counts of one label set of a histogram: per bucket (not cumulative; the last is above
/// every bound), and their sum in whole units of observation (bytes, nanoseconds: exact, and
/// added in a cycle where a float takes four). How many is the buckets' total, counted when
/// written rather than at each observation: requests in a row hit the same counts, and each
/// update of a field waits for the one before.
///
/// A recorder counts into a shorter form, [`Buckets::width`] numbers in a block with other
/// label sets' (no pointer to follow): the sum, then a count a bucket of the bounds there are.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    buckets: [u64; MAX_BOUNDS + 1],
    sum: u64,
}

impl Counts {
    /// No observations.
    pub const ZERO: Counts = Counts {
        buckets: [0; MAX_BOUNDS + 1],
        sum: 0,
    };

    /// How many observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Adds the recorder's `local` counts, if any, to `total` (allocated at need), and leaves
    /// them at zero.
    pub fn move_into(local: &mut [u64], total: &mut Option<Box<Counts>>) {
        let [sum, buckets @ ..] = local else {
            return;
        };
        if buckets.iter().all(|&count| count == 0) {
            return;
        }
        let total = total.get_or_insert_with(|| Box::new(Counts::ZERO));
        for (mine, theirs) in total.buckets.iter_mut().zip(&mut *buckets) {
            *mine += std::mem::take(theirs);
        }
        total.sum = total.sum.saturating_add(std::mem::take(sum));
    }
}

/// The buckets of a histogram: its bounds and how a value's bucket is found. Made once and
/// shared by every log's counts.
#[derive(Debug)]
pub struct Buckets {
    /// As written in `le`, in the exposed unit (bytes, seconds).
    bounds: Box<[f64]>,
    /// `bounds` as text, formatted once.
    bound_texts: Box<[String]>,
    /// In units of observation: `bounds` × `units`, whole.
    unit_bounds: Box<[f64]>,
    /// Units of observation in an exposed unit: 1 for bytes, 1e9 for seconds observed in
    /// nanoseconds.
    units: f64,
    /// `None` when the bounds are too close for the lookup by exponent: they are searched.
    binades: Option<Binades>,
}

impl Buckets {
    /// Buckets up to each of `bounds`, observed in `units` a unit (`1e9`: seconds observed in
    /// nanoseconds): at least one and at most [`MAX_BOUNDS`], positive, finite and strictly
    /// ascending, and apart in units; otherwise what is wrong with them.
    pub fn new(bounds: &[f64], units: f64) -> Result<Buckets, String> {
        if bounds.is_empty() || bounds.len() > MAX_BOUNDS {
            return Err(format!(
                "expected 1 to {MAX_BOUNDS} bounds, got {}",
                bounds.len()
            ));
        }
        if let Some(bad) = bounds.iter().find(|b| !(b.is_finite() && **b > 0.0)) {
            return Err(format!("{bad} is not a positive number"));
        }
        if let Some(pair) = bounds.windows(2).find(|pair| pair[1] <= pair[0]) {
            return Err(format!(
                "{} does not come after {} (bounds must be strictly ascending)",
                pair[1], pair[0]
            ));
        }
        // Values are whole units: a bound between two holds those up to the one below it. The
        // product of a decimal bound and 1e9 can fall a few ulps either side of the whole
        // number it means; a fixed relative nudge would push a large one past it.
        let unit_bounds: Box<[f64]> = (bounds.iter())
            .map(|bound| {
                let product = bound * units;
                let whole = product.round();
                if (product - whole).abs() <= product * 4.0 * f64::EPSILON {
                    whole
                } else {
                    product.floor()
                }
            })
            .collect();
        if let Some(pair) = unit_bounds.windows(2).find(|pair| pair[1] <= pair[0]) {
            return Err(format!(
                "{} and {} are within one {} of each other",
                pair[0] / units,
                pair[1] / units,
                if units == 1.0 { "unit" } else { "nanosecond" }
            ));
        }
        if unit_bounds[0] < 1.0 {
            return Err(format!(
                "{} is below one {}",
                bounds[0],
                if units == 1.0 { "unit" } else { "nanosecond" }
            ));
        }
        Ok(Buckets {
            bounds: bounds.into(),
            bound_texts: bounds.iter().map(f64::to_string).collect(),
            binades: Binades::new(&unit_bounds),
            unit_bounds,
            units,
        })
    }

    /// The upper bounds, without `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// How many numbers a recorder's counts take: the sum and a count a bucket.
    pub fn width(&self) -> usize {
        self.bounds.len() + 2
    }

    /// The bucket of `value`, in units of observation: how many bounds are below it
    /// (Prometheus' `le` is inclusive).
    #[inline(always)]
    pub fn bucket(&self, value: u64) -> usize {
        // Exact below 2^53 units: 104 days in nanoseconds. From a signed integer, the
        // conversion is one instruction where an unsigned one takes five.
        let value = value.min(i64::MAX as u64) as i64 as f64;
        match &self.binades {
            Some(binades) => binades.bucket(value),
            None => self.unit_bounds.partition_point(|&bound| bound < value),
        }
    }

    /// Counts `value` in a recorder's `counts` ([`Buckets::width`] numbers).
    // Inlined into the recorder's count, a call a request where there was none.
    #[inline(always)]
    pub fn count_in(&self, counts: &mut [u64], value: u64) {
        let bucket = self.bucket(value);
        counts[1 + bucket] += 1;
        counts[0] = counts[0].wrapping_add(value);
    }
}

/// Bounds as a user writes them: numbers separated by commas, `0.1,0.5,1`. Each is read by
/// `number`; the first that is not one is named.
pub fn parse_bounds(list: &str, number: impl Fn(&str) -> Option<f64>) -> Result<Vec<f64>, String> {
    list.split(',')
        .map(|text| {
            let text = text.trim();
            number(text).ok_or_else(|| format!("{text:?} is not a number"))
        })
        .collect()
}

/// The counts of one label set in each of the three histograms, each allocated at its first
/// observation.
#[derive(Debug, Default)]
pub struct SetCounts {
    pub response_size: Option<Box<Counts>>,
    pub duration: Option<Box<Counts>>,
    pub upstream_duration: Option<Box<Counts>>,
}

/// The numbers of `counts` as a histogram's series show them, in the order [`write_names`]
/// names them: each bucket's cumulative count, `+Inf`'s, the sum, the count.
pub fn values(buckets: &Buckets, counts: &Counts, values: &mut Vec<Value>) {
    let mut cumulative = 0;
    for count in &counts.buckets[..buckets.bound_texts.len()] {
        cumulative += count;
        values.push(Value::Count(cumulative));
    }
    let count = counts.count();
    values.push(Value::Count(count));
    values.push(Value::Real(counts.sum as f64 / buckets.units));
    values.push(Value::Count(count));
}

/// Writes the names of the series of histogram `name` (`_bucket`, `_sum`, `_count`) with
/// `labels` (already written, without braces) and the `status_class` of `class` (the status
/// code's first digit), one a line, each followed by its value if given the [`values`].
pub fn write_names(
    out: &mut String,
    name: &str,
    labels: &str,
    class: u16,
    buckets: &Buckets,
    values: Option<&[Value]>,
) {
    use std::fmt::Write;
    let separator = if labels.is_empty() { "" } else { "," };
    let class = status_class_label(class * 100);
    let mut values = values.map(<[Value]>::iter);
    let mut value = || values.as_mut().and_then(Iterator::next);
    for bound in buckets
        .bound_texts
        .iter()
        .map(String::as_str)
        .chain(["+Inf"])
    {
        let _ = write!(
            out,
            "{name}_bucket{{{labels}{separator}status_class=\"{class}\",le=\"{bound}\"}}"
        );
        end_line(out, value());
    }
    for suffix in ["_sum", "_count"] {
        let _ = write!(
            out,
            "{name}{suffix}{{{labels}{separator}status_class=\"{class}\"}}"
        );
        end_line(out, value());
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
    /// spanning fewer than `BINADES - 1` exponents, and at most 255.
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

    fn exposition(counts: &Counts, class: u16, labels: &str) -> String {
        let buckets = Buckets::new(&BOUNDS, 1.0).unwrap();
        let mut numbers = Vec::new();
        values(&buckets, counts, &mut numbers);
        let mut text = String::new();
        write_names(&mut text, "h", labels, class, &buckets, Some(&numbers));
        text
    }

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive_as_prometheus_reads_them() {
        let buckets = Buckets::new(&BOUNDS, 1.0).unwrap();
        let mut local = vec![0; buckets.width()];
        for value in [0, 1, 2, 10, 99, 100, 101, 1_000_000_000] {
            buckets.count_in(&mut local, value);
        }
        let mut totals = SetCounts::default();
        Counts::move_into(&mut local, &mut totals.response_size);
        Counts::move_into(&mut local, &mut totals.response_size);
        let text = exposition(totals.response_size.as_ref().unwrap(), 2, "");
        for line in [
            r#"h_bucket{status_class="2xx",le="1"} 2"#,
            r#"h_bucket{status_class="2xx",le="10"} 4"#,
            r#"h_bucket{status_class="2xx",le="100"} 6"#,
            r#"h_bucket{status_class="2xx",le="+Inf"} 8"#,
            r#"h_count{status_class="2xx"} 8"#,
            r#"h_sum{status_class="2xx"} 1000000313"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(
            totals.duration.is_none(),
            "a histogram never observed has no counts"
        );
        assert!(local.iter().all(|&count| count == 0), "moved");
        let labelled = exposition(
            totals.response_size.as_ref().unwrap(),
            5,
            r#"log="a",method="GET",section="/api""#,
        );
        assert!(labelled
            .contains(r#"h_count{log="a",method="GET",section="/api",status_class="5xx"} 8"#));
    }

    #[test]
    fn bounds_must_be_few_positive_and_ascending_and_close_ones_are_searched() {
        static MANY: [f64; 33] = [1.0; 33];
        for bad in [
            &[2.0, 1.0][..],
            &[1.0, 1.0],
            &MANY,
            &[0.0, 1.0],
            &[-1.0],
            &[f64::NAN],
            &[f64::INFINITY],
            &[],
        ] {
            assert!(Buckets::new(bad, 1.0).is_err(), "{bad:?}");
        }
        assert!(Buckets::new(&[1e-10], 1e9).is_err(), "below a nanosecond");
        assert!(
            Buckets::new(&[1.0, 1.0000000001], 1e9).is_err(),
            "within a nanosecond"
        );
        for (bounds, units, by_exponent) in [
            (&crate::metrics::RESPONSE_SIZE_BUCKETS[..], 1.0, true),
            (&crate::metrics::DURATION_BUCKETS, 1e9, true),
            (&[10.0, 15.0, 20.0], 1.0, false),
            (&[1.0, 1e30], 1.0, false),
        ] {
            let buckets = Buckets::new(bounds, units).unwrap();
            assert_eq!(buckets.binades.is_some(), by_exponent, "{bounds:?}");
        }
        assert_eq!(
            parse_bounds("0.1, 0.5,1", |t| t.parse().ok()),
            Ok(vec![0.1, 0.5, 1.0])
        );
        assert!(parse_bounds("0.1,x", |t| t.parse().ok())
            .unwrap_err()
            .contains("\"x\""));
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

        /// Any bounds a user may give, close ones included: the bucket is still the number
        /// of bounds below the value.
        #[test]
        fn any_bounds_find_the_bucket_a_count_of_bounds_below_finds(
            first in 1..1_000_000u64,
            steps in proptest::collection::vec(1..1_000_000u64, 0..31),
            values in proptest::collection::vec(0..100_000_000u64, 1..50),
            exact in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..5),
        ) {
            let mut bounds = vec![first];
            for step in steps {
                bounds.push(bounds.last().unwrap() + step);
            }
            let as_floats: Vec<f64> = bounds.iter().map(|&b| b as f64).collect();
            let buckets = Buckets::new(&as_floats, 1.0).unwrap();
            let on_bounds = exact.iter().map(|i| bounds[i.index(bounds.len())]);
            for value in values.into_iter().chain(on_bounds).chain([0, u64::MAX >> 11]) {
                let below = bounds.iter().filter(|&&bound| value > bound).count();
                proptest::prop_assert_eq!(buckets.bucket(value), below, "{} in {:?}", value, bounds);
            }
        }

        /// A time written as a bound is written counts in that bound's bucket, whatever its
        /// decimals.
        #[test]
        fn a_time_on_a_bound_counts_in_its_bucket(
            seconds in proptest::prop_oneof![0..1_000u64, 0..1_000_000u64, proptest::strategy::Just(999)],
            nanos in proptest::prop_oneof![1..1_000_000_000u64, proptest::strategy::Just(850_077_590)],
        ) {
            let text = format!("{seconds}.{nanos:09}");
            let bound = crate::parse::seconds(&text).unwrap();
            let buckets = Buckets::new(&[bound], 1e9).unwrap();
            let logged = seconds * 1_000_000_000 + nanos;
            proptest::prop_assert_eq!(buckets.bucket(logged), 0, "{}", text);
            proptest::prop_assert_eq!(buckets.bucket(logged + 1), 1, "{}", text);
        }
    }
}
