//! Timestamps as access logs write them.
//!
//! Both formats are fixed-width, so they are read by position rather than through a general
//! date-format parser: this runs once per line on the hot path.

/// A point in time with the UTC offset the server wrote it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (UTC).
    pub unix_seconds: i64,
    /// The writer's offset from UTC, in minutes (`-0700` is -420).
    pub utc_offset_minutes: i16,
}

/// The last time text parsed and its value. Lines written in the same second share their
/// time text, so most lines skip the date arithmetic. The text comes in two parts of fixed
/// widths `A` and `B` (W3C's date and time columns); texts of other widths are not cached.
#[derive(Debug, Clone)]
pub(super) struct TimeCache<const A: usize, const B: usize> {
    first: [u8; A],
    second: [u8; B],
    parsed: Option<Timestamp>,
}

impl<const A: usize, const B: usize> Default for TimeCache<A, B> {
    fn default() -> Self {
        TimeCache {
            first: [0; A],
            second: [0; B],
            parsed: None,
        }
    }
}

impl<const A: usize, const B: usize> TimeCache<A, B> {
    /// The timestamp `first` and `second` spell, from `parse` unless they are the text of the
    /// call before.
    pub(super) fn get_or_parse(
        &mut self,
        first: &[u8],
        second: &[u8],
        parse: impl FnOnce() -> Option<Timestamp>,
    ) -> Option<Timestamp> {
        // Compared as slices, and copied only on a miss: copying into arrays first and
        // comparing those reloads freshly stored bytes at another width (a store-forwarding
        // stall a line).
        if self.parsed.is_some() && first == self.first && second == self.second {
            return self.parsed;
        }
        let parsed = parse()?;
        if let (Ok(first), Ok(second)) = (<[u8; A]>::try_from(first), <[u8; B]>::try_from(second)) {
            (self.first, self.second, self.parsed) = (first, second, Some(parsed));
        }
        Some(parsed)
    }
}

/// CLF's `10/Oct/2000:13:55:36 -0700`.
pub(super) type ClfTimeCache = TimeCache<26, 0>;
/// W3C's `2000-10-10` and `13:55:36`.
pub(super) type W3cTimeCache = TimeCache<10, 8>;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

impl Timestamp {
    /// Parses CLF time, `10/Oct/2000:13:55:36 -0700` (the part between the brackets).
    pub fn parse_clf(s: &[u8]) -> Option<Timestamp> {
        if s.len() != 26 || s[2] != b'/' || s[6] != b'/' || s[11] != b':' || s[20] != b' ' {
            return None;
        }
        let day = digits(&s[0..2])?;
        let month = MONTHS.iter().position(|m| m[..] == s[3..6])? as u32 + 1;
        let year = digits(&s[7..11])?;
        let clock = clock(&s[12..20])?;
        let sign: i64 = match s[21] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (zone_hours, zone_minutes) = (digits(&s[22..24])?, digits(&s[24..26])?);
        if zone_hours > 23 || zone_minutes > 59 {
            return None;
        }
        let offset_minutes = sign * i64::from(zone_hours * 60 + zone_minutes);
        let local = epoch_seconds(year, month, day, clock)?;
        Some(Timestamp {
            unix_seconds: local - offset_minutes * 60,
            utc_offset_minutes: offset_minutes as i16,
        })
    }

    /// Parses W3C `date` and `time` fields (`2024-01-31`, `23:59:07`), always UTC.
    pub fn parse_w3c(date: &[u8], time: &[u8]) -> Option<Timestamp> {
        if date.len() != 10 || date[4] != b'-' || date[7] != b'-' {
            return None;
        }
        let year = digits(&date[0..4])?;
        let month = digits(&date[5..7])?;
        let day = digits(&date[8..10])?;
        // IIS writes whole seconds; other W3C writers may add a fraction, which is dropped.
        let clock = clock(time.get(..8)?)?;
        Some(Timestamp {
            unix_seconds: epoch_seconds(year, month, day, clock)?,
            utc_offset_minutes: 0,
        })
    }
}

impl Timestamp {
    /// Parses ISO 8601 / RFC 3339 as nginx's `$time_iso8601` writes it,
    /// `2000-10-10T13:55:36-07:00`; a fraction of a second is dropped, `Z` is UTC.
    pub fn parse_iso8601(s: &[u8]) -> Option<Timestamp> {
        if s.len() < 20 || s[10] != b'T' {
            return None;
        }
        let utc = Timestamp::parse_w3c(&s[..10], &s[11..19])?;
        let mut zone = &s[19..];
        if let Some(fraction) = zone.strip_prefix(b".") {
            let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
            zone = &fraction[digits..];
        }
        let offset_minutes: i64 = match zone {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let (hours, minutes) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let minutes = i64::from(hours * 60 + minutes);
                if *sign == b'-' {
                    -minutes
                } else {
                    minutes
                }
            }
            _ => return None,
        };
        Some(Timestamp {
            unix_seconds: utc.unix_seconds - offset_minutes * 60,
            utc_offset_minutes: offset_minutes as i16,
        })
    }

    /// Parses seconds since the epoch, as nginx's `$msec` writes them (`1700000000.123`); the
    /// fraction is dropped.
    pub fn parse_epoch(s: &[u8]) -> Option<Timestamp> {
        let whole = match s.iter().position(|&b| b == b'.') {
            Some(dot) if s[dot + 1..].iter().all(u8::is_ascii_digit) => &s[..dot],
            Some(_) => return None,
            None => s,
        };
        if whole.is_empty() || whole.len() > 12 {
            return None;
        }
        let seconds = whole.iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })?;
        Some(Timestamp {
            unix_seconds: seconds,
            utc_offset_minutes: 0,
        })
    }
}

fn digits(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// `HH:MM:SS` as seconds into the day; 60 is allowed for a leap second.
fn clock(s: &[u8]) -> Option<u32> {
    if s.len() != 8 || s[2] != b':' || s[5] != b':' {
        return None;
    }
    let (h, m, sec) = (digits(&s[0..2])?, digits(&s[3..5])?, digits(&s[6..8])?);
    (h < 24 && m < 60 && sec <= 60).then_some(h * 3600 + m * 60 + sec)
}

/// Seconds since the epoch of a civil date and time of day, after checking the date exists.
fn epoch_seconds(year: u32, month: u32, day: u32, seconds_of_day: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year as i64, month, day) * 86_400 + i64::from(seconds_of_day))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
