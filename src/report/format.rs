//! How single values are written in every report: capture times, flags and
//! durations.

use crate::model::TcpFlags;
use crate::pipeline::Analysis;

/// Capture time as RFC 3339 UTC with nanoseconds,
/// `2026-01-01T00:00:00.000000000Z`; a time `time` cannot represent is
/// written as the raw count, `1234ns`.
pub(crate) fn rfc3339_ns(ts_ns: i64) -> String {
    let mut out = String::with_capacity(30);
    push_rfc3339_ns(&mut out, ts_ns);
    out
}

/// Appends [`rfc3339_ns`] of `ts_ns` to `out`. Written digit by digit (the
/// calendar from the day number): every row has two or more times, and the
/// general-purpose formatter cost more than the rest of a CSV row.
pub(crate) fn push_rfc3339_ns(out: &mut String, ts_ns: i64) {
    const NS_PER_DAY: i64 = 86_400_000_000_000;
    let days = ts_ns.div_euclid(NS_PER_DAY);
    let in_day = ts_ns.rem_euclid(NS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        out.push_str(&rfc3339_ns_general(ts_ns));
        return;
    }
    let secs = in_day / 1_000_000_000;
    let frac = in_day % 1_000_000_000;
    let mut buf = *b"0000-00-00T00:00:00.000000000Z";
    put_digits(&mut buf[0..4], year as u64);
    put_digits(&mut buf[5..7], month as u64);
    put_digits(&mut buf[8..10], day as u64);
    put_digits(&mut buf[11..13], (secs / 3600) as u64);
    put_digits(&mut buf[14..16], (secs / 60 % 60) as u64);
    put_digits(&mut buf[17..19], (secs % 60) as u64);
    put_digits(&mut buf[20..29], frac as u64);
    // Only ASCII digits and punctuation were written.
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

/// Writes `v` as decimal digits filling `dst`, zero-padded on the left.
fn put_digits(dst: &mut [u8], mut v: u64) {
    for d in dst.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, public domain).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// [`rfc3339_ns`] through the `time` crate: the reference, and the path for
/// years outside 0-9999.
fn rfc3339_ns_general(ts_ns: i64) -> String {
    use time::macros::format_description;
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(ts_ns as i128)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| format!("{ts_ns}ns"))
}

/// Flags as Wireshark's one-letter codes in its order (N C E U A P R S F),
/// e.g. `APSF`; `-` when no flag is set.
pub(crate) fn flag_letters(f: TcpFlags) -> String {
    const LETTERS: [(u16, char); 9] = [
        (TcpFlags::NS, 'N'),
        (TcpFlags::CWR, 'C'),
        (TcpFlags::ECE, 'E'),
        (TcpFlags::URG, 'U'),
        (TcpFlags::ACK, 'A'),
        (TcpFlags::PSH, 'P'),
        (TcpFlags::RST, 'R'),
        (TcpFlags::SYN, 'S'),
        (TcpFlags::FIN, 'F'),
    ];
    let s: String = LETTERS
        .iter()
        .filter(|(b, _)| f.0 & b != 0)
        .map(|&(_, c)| c)
        .collect();
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// Nanoseconds as (fractional) seconds.
pub(crate) fn seconds(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// Seconds since the capture's first frame with six decimals, as
/// Wireshark's default time column.
pub(crate) fn relative(a: &Analysis, ts_ns: i64) -> String {
    format!("{:.6}", seconds(ts_ns - a.first_ts_ns.unwrap_or(ts_ns)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_nanoseconds() {
        assert_eq!(
            rfc3339_ns(1_767_225_600_000_000_001),
            "2026-01-01T00:00:00.000000001Z"
        );
    }

    #[test]
    fn the_fast_times_are_the_general_formatters_times() {
        use crate::capture::{MAX_TS_NS, MIN_TS_NS};
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut samples = vec![0, -1, 1, MIN_TS_NS, MAX_TS_NS, i64::MIN, i64::MAX];
        // Day, month, year and leap-year boundaries (1677 to 2262, what fits
        // in i64 nanoseconds), and a spread of others.
        for day in [
            -106_000i64,
            -1,
            0,
            59,
            60,
            365,
            10_957,
            11_016,
            20_454,
            106_000,
        ] {
            for off in [-1i64, 0, 1] {
                samples.push(day * 86_400_000_000_000 + off);
            }
        }
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(x as i64 >> (x % 8));
        }
        for ts in samples {
            assert_eq!(rfc3339_ns(ts), rfc3339_ns_general(ts), "{ts}");
        }
    }

    #[test]
    fn flag_letters_follow_wireshark_order() {
        let f = TcpFlags(TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN | TcpFlags::PSH);
        assert_eq!(flag_letters(f), "APSF");
        assert_eq!(flag_letters(TcpFlags(0)), "-");
    }
}
