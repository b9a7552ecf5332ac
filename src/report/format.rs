//! How single values are written in every report: capture times, flags and
//! durations.

use crate::model::TcpFlags;
use crate::pipeline::Analysis;

/// Capture time as RFC 3339 UTC with nanoseconds,
/// `2026-01-01T00:00:00.000000000Z`; a time `time` cannot represent is
/// written as the raw count, `1234ns`.
pub(crate) fn rfc3339_ns(ts_ns: i64) -> String {
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
    fn flag_letters_follow_wireshark_order() {
        let f = TcpFlags(TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN | TcpFlags::PSH);
        assert_eq!(flag_letters(f), "APSF");
        assert_eq!(flag_letters(TcpFlags(0)), "-");
    }
}
