//! [`Timestamp`]: a point in time passed in by the publisher, shown and serialized as RFC 3339.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC point in time with nanosecond resolution, stored as nanoseconds since the Unix epoch.
///
/// Core types never read the clock: the publisher passes the time in (for example
/// `Timestamp::from_system_time(SystemTime::now())`, or
/// [`TraceHub::publish_now_with`](crate::TraceHub::publish_now_with), which reads the clock only
/// when somebody subscribes). The range is 1970-01-01 to 2554-07-21, the span of a `u64` of
/// nanoseconds; conversions from [`SystemTime`] saturate at both ends.
///
/// It displays, serializes and parses as RFC 3339 in UTC (`2026-11-29T00:21:32.125Z`): the
/// fraction is left out when it is zero, otherwise given in groups of 3 digits.
///
/// # Examples
///
/// ```
/// use kumo_trace::Timestamp;
///
/// let t: Timestamp = "2024-09-03T10:00:01.5Z".parse()?;
/// assert_eq!(t.to_string(), "2024-09-03T10:00:01.500Z");
/// assert_eq!(t.as_unix_nanos(), 1_725_357_601_500_000_000);
/// # Ok::<(), kumo_trace::ParseTimestampError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    nanos: u64,
}

/// The error of parsing a [`Timestamp`] from text (permanent: the text is wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseTimestampError {
    /// The text is not `YYYY-MM-DDTHH:MM:SS[.fraction]Z`; the byte offset of the problem.
    #[error("timestamp syntax error at byte {0}")]
    Syntax(usize),
    /// A field is out of range (month 13, day 31 of April) or the time is outside 1970..2554.
    #[error("timestamp out of range")]
    OutOfRange,
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Self = Self { nanos: 0 };

    /// The timestamp `nanos` nanoseconds after the Unix epoch.
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        Self { nanos }
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn as_unix_nanos(self) -> u64 {
        self.nanos
    }

    /// Converts a [`SystemTime`], saturating to the representable range.
    pub fn from_system_time(t: SystemTime) -> Self {
        let nanos = match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Err(_) => 0,
        };
        Self { nanos }
    }

    /// The same point as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.nanos)
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// `self + d`, saturating at the end of the range.
    pub fn saturating_add(self, d: Duration) -> Self {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Self {
            nanos: self.nanos.saturating_add(add),
        }
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        Self::from_system_time(t)
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a year; `days` is
    // never negative here, so unsigned arithmetic suffices.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// (year ≥ 1970, month, day) to days since 1970-01-01; the inverse of [`civil_from_days`].
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        _ => 28,
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.nanos / NANOS_PER_SEC;
        let frac = self.nanos % NANOS_PER_SEC;
        let (y, mo, d) = civil_from_days(secs / 86_400);
        let sod = secs % 86_400;
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        )?;
        if frac == 0 {
        } else if frac.is_multiple_of(1_000_000) {
            write!(f, ".{:03}", frac / 1_000_000)?;
        } else if frac.is_multiple_of(1000) {
            write!(f, ".{:06}", frac / 1000)?;
        } else {
            write!(f, ".{frac:09}")?;
        }
        f.write_str("Z")
    }
}

/// Reads exactly `n` ASCII digits at `*pos`.
fn digits(b: &[u8], pos: &mut usize, n: usize) -> Result<u64, ParseTimestampError> {
    let mut v = 0u64;
    for _ in 0..n {
        match b.get(*pos) {
            Some(c @ b'0'..=b'9') => v = v * 10 + u64::from(c - b'0'),
            _ => return Err(ParseTimestampError::Syntax(*pos)),
        }
        *pos += 1;
    }
    Ok(v)
}

fn expect(b: &[u8], pos: &mut usize, c: u8) -> Result<(), ParseTimestampError> {
    if b.get(*pos) == Some(&c) {
        *pos += 1;
        Ok(())
    } else {
        Err(ParseTimestampError::Syntax(*pos))
    }
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    /// Parses `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` (UTC only, as this crate writes it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let mut pos = 0;
        let y = digits(b, &mut pos, 4)?;
        expect(b, &mut pos, b'-')?;
        let mo = digits(b, &mut pos, 2)?;
        expect(b, &mut pos, b'-')?;
        let d = digits(b, &mut pos, 2)?;
        expect(b, &mut pos, b'T')?;
        let h = digits(b, &mut pos, 2)?;
        expect(b, &mut pos, b':')?;
        let mi = digits(b, &mut pos, 2)?;
        expect(b, &mut pos, b':')?;
        let sec = digits(b, &mut pos, 2)?;
        let mut frac = 0u64;
        if b.get(pos) == Some(&b'.') {
            pos += 1;
            let start = pos;
            while let Some(c @ b'0'..=b'9') = b.get(pos) {
                if pos - start == 9 {
                    return Err(ParseTimestampError::Syntax(pos));
                }
                frac = frac * 10 + u64::from(c - b'0');
                pos += 1;
            }
            if pos == start {
                return Err(ParseTimestampError::Syntax(pos));
            }
            for _ in pos - start..9 {
                frac *= 10;
            }
        }
        expect(b, &mut pos, b'Z')?;
        if pos != b.len() {
            return Err(ParseTimestampError::Syntax(pos));
        }
        if y < 1970
            || !(1..=12).contains(&mo)
            || d < 1
            || d > days_in_month(y, mo)
            || h > 23
            || mi > 59
            || sec > 59
        {
            return Err(ParseTimestampError::OutOfRange);
        }
        let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec;
        secs.checked_mul(NANOS_PER_SEC)
            .and_then(|n| n.checked_add(frac))
            .map(Self::from_unix_nanos)
            .ok_or(ParseTimestampError::OutOfRange)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 UTC timestamp")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_the_whole_range() {
        // Every 97th day across the range, plus the last representable day.
        let last = u64::MAX / NANOS_PER_SEC / 86_400;
        for days in (0..=last).step_by(97).chain([last, 59, 60, 365, 366]) {
            let (y, m, d) = civil_from_days(days);
            assert!(d <= days_in_month(y, m), "{y}-{m}-{d}");
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(Timestamp::UNIX_EPOCH.to_string(), "1970-01-01T00:00:00Z");
        let t = Timestamp::from_unix_nanos(951_782_400 * NANOS_PER_SEC + 1);
        assert_eq!(t.to_string(), "2000-02-29T00:00:00.000000001Z");
        let max = Timestamp::from_unix_nanos(u64::MAX);
        assert_eq!(max.to_string().parse::<Timestamp>(), Ok(max));
    }

    #[test]
    fn rejects_bad_text() {
        for bad in [
            "",
            "2024-02-30T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00.1234567890Z",
            "2024-01-01T00:00:00Zx",
            "9999-12-31T23:59:59Z",
            "2024-01-01 00:00:00Z",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad:?}");
        }
    }
}
