//! How single values are written in every report: capture times, flags and
//! durations.

use std::cell::Cell;
use std::net::{IpAddr, Ipv6Addr};

use crate::model::{Endpoint, TcpFlags};
use crate::pipeline::Analysis;

/// Capture time as RFC 3339 UTC with nanoseconds,
/// `2026-01-01T00:00:00.000000000Z`; a time `time` cannot represent is
/// written as the raw count, `1234ns`.
pub(crate) fn rfc3339_ns(ts_ns: i64) -> String {
    let mut out = Vec::with_capacity(30);
    push_rfc3339_ns(&mut out, ts_ns);
    // Only ASCII digits and punctuation, or the general formatter's text.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends [`rfc3339_ns`] of `ts_ns` to `out`. Written digit by digit:
/// every row has two or more times, and the general-purpose formatter cost
/// more than the rest of a CSV row. Everything up to the second comes from
/// the last second this thread wrote (a connection's times mostly share
/// their second, and all share their day): only the nine fraction digits
/// are worked out again, and the calendar only when the day changes.
pub(crate) fn push_rfc3339_ns(out: &mut Vec<u8>, ts_ns: i64) {
    let sec = ts_ns.div_euclid(1_000_000_000);
    let frac = ts_ns.rem_euclid(1_000_000_000);
    let (last, mut text) = LAST_SECOND.get();
    if last != sec {
        let Some(prefix) = second_text(sec) else {
            out.extend_from_slice(rfc3339_ns_general(ts_ns).as_bytes());
            return;
        };
        text[..19].copy_from_slice(&prefix);
        LAST_SECOND.set((sec, text));
    }
    let frac = frac as u64;
    text[20] = b'0' + (frac / 100_000_000) as u8;
    text[21..29].copy_from_slice(&ascii_digits(frac % 100_000_000).to_le_bytes());
    out.extend_from_slice(&text);
}

thread_local! {
    /// The second [`push_rfc3339_ns`] wrote last on this thread, and the
    /// text of a time in it (the fraction digits stale).
    static LAST_SECOND: Cell<(i64, [u8; 30])> =
        const { Cell::new((i64::MIN, *b"0000-00-00T00:00:00.000000000Z")) };
    /// The day [`date_text`] gave last on this thread, and its text.
    static LAST_DATE: Cell<(i64, [u8; 10])> = const { Cell::new((i64::MIN, [0; 10])) };
}

/// `YYYY-MM-DDTHH:MM:SS` of a second counted from the epoch; `None` outside
/// years 0-9999.
fn second_text(sec: i64) -> Option<[u8; 19]> {
    const SECS_PER_DAY: i64 = 86_400;
    let date = date_text(sec.div_euclid(SECS_PER_DAY))?;
    let in_day = sec.rem_euclid(SECS_PER_DAY) as u64;
    let mut text = *b"0000-00-00T00:00:00";
    text[..10].copy_from_slice(&date);
    put_digits(&mut text[11..13], in_day / 3600);
    put_digits(&mut text[14..16], in_day / 60 % 60);
    put_digits(&mut text[17..19], in_day % 60);
    Some(text)
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01; `None` outside years
/// 0-9999 (which [`rfc3339_ns_general`] writes).
fn date_text(days: i64) -> Option<[u8; 10]> {
    let (last, text) = LAST_DATE.get();
    if last == days {
        return Some(text);
    }
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut text = *b"0000-00-00";
    put_digits(&mut text[0..4], year as u64);
    put_digits(&mut text[5..7], u64::from(month));
    put_digits(&mut text[8..10], u64::from(day));
    LAST_DATE.set((days, text));
    Some(text)
}

/// `00` to `99`, two bytes each.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
                                  2021222324252627282930313233343536373839\
                                  4041424344454647484950515253545556575859\
                                  6061626364656667686970717273747576777879\
                                  8081828384858687888990919293949596979899";

/// Writes `v` as decimal digits filling `dst`, zero-padded on the left
/// (digits beyond `dst` are dropped), two at a time. Inlined: the callers'
/// lengths are constants, and the loop then unrolls.
#[inline(always)]
fn put_digits(dst: &mut [u8], mut v: u64) {
    let mut end = dst.len();
    while end >= 2 {
        let p = (v % 100) as usize * 2;
        dst[end - 2..end].copy_from_slice(&DIGIT_PAIRS[p..p + 2]);
        v /= 100;
        end -= 2;
    }
    if end == 1 {
        dst[0] = b'0' + (v % 10) as u8;
    }
}

/// The eight decimal digits of `v` (under 10^8), zero-padded, as the
/// bytes 0-9 of a little-endian word, the first digit in the lowest byte
/// (so the zero bytes at the top are the trailing zeros, those at the
/// bottom the leading ones). Worked out in lanes of one word with
/// multiplications: two four-digit halves, then four pairs, then eight
/// digits, with no division and no loop. Each lane's products stay inside
/// it (under 2^30 in 32 bits, 2^14 in 16), and `x * 10_486 >> 20` is
/// `x / 100` below 10^4, `y * 103 >> 10` is `y / 10` below 100.
#[inline]
fn eight_digits(v: u64) -> u64 {
    debug_assert!(v < 100_000_000);
    let x = (v / 10_000) | ((v % 10_000) << 32);
    let hundreds = ((x * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let pairs = (x << 16) - hundreds * ((100 << 16) - 1);
    let tens = ((pairs * 103) >> 10) & 0x000f_000f_000f_000f;
    (pairs << 8) - tens * ((10 << 8) - 1)
}

/// [`eight_digits`] as ASCII.
#[inline]
fn ascii_digits(v: u64) -> u64 {
    eight_digits(v) | 0x3030_3030_3030_3030
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
    let mut out = Vec::with_capacity(9);
    push_flag_letters(&mut out, f);
    // Only ASCII letters.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends [`flag_letters`] of `f` to `out`.
pub(crate) fn push_flag_letters(out: &mut Vec<u8>, f: TcpFlags) {
    const LETTERS: [(u16, u8); 9] = [
        (TcpFlags::NS, b'N'),
        (TcpFlags::CWR, b'C'),
        (TcpFlags::ECE, b'E'),
        (TcpFlags::URG, b'U'),
        (TcpFlags::ACK, b'A'),
        (TcpFlags::PSH, b'P'),
        (TcpFlags::RST, b'R'),
        (TcpFlags::SYN, b'S'),
        (TcpFlags::FIN, b'F'),
    ];
    let start = out.len();
    out.extend(
        LETTERS
            .iter()
            .filter(|(b, _)| f.0 & b != 0)
            .map(|&(_, c)| c),
    );
    if out.len() == start {
        out.push(b'-');
    }
}

/// Nanoseconds as (fractional) seconds.
pub(crate) fn seconds(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// Appends `ns` nanoseconds as seconds, as the shortest decimal that reads
/// back as the f64 [`seconds`] of it: the text ryu (CSV) and serde_json
/// (JSON) print for that f64, worked out with integers instead. Returns
/// `false`, appending nothing, where the integers do not settle it (negative
/// or from 10^15 ns, ~11.6 days, on): the caller then prints the f64 with
/// its own formatter.
///
/// Why this is exact: below 10^15 the decimal `ns`/10^9 has at most 15
/// significant digits, so it is the only decimal of that many digits or
/// fewer that rounds to the f64 nearest to it (every such decimal has its
/// own f64), which `ns as f64 / 1e9` is (exact dividend and divisor, one
/// correctly rounded division); the shortest round-trip text is therefore
/// its digits with trailing zeros dropped. Both formatters lay the digits
/// out alike for 10^-5 <= x < 10^16 (`0.00001`, `12.5`, `3.0`) and below as
/// `1e-9`, `1.5e-6` (`exact_seconds_are_ryus_and_serde_jsons` checks it).
#[inline]
pub(crate) fn push_exact_seconds(out: &mut Vec<u8>, ns: i64) -> bool {
    if !(0..1_000_000_000_000_000).contains(&ns) {
        return false;
    }
    let (whole, frac) = ((ns / 1_000_000_000) as u64, (ns % 1_000_000_000) as u64);
    if whole == 0 && frac < 10_000 && frac != 0 {
        push_tiny_seconds(out, frac);
        return true;
    }
    // On the stack, then appended at once: the whole seconds (under 10^6:
    // six digits at most, the leading zeros of eight shifted out), the
    // point, and the nine fraction digits without their trailing zeros
    // (one at least). All 24 bytes are copied and the surplus cut: a
    // fixed-size copy is a few moves, a variable one a call to memcpy.
    let mut text = [b'0'; 24];
    let whole_len = if whole < 10 {
        text[0] = b'0' + whole as u8;
        1
    } else {
        let digits = eight_digits(whole);
        let leading = (digits.trailing_zeros() / 8) as usize;
        let ascii = (digits | 0x3030_3030_3030_3030) >> (8 * leading);
        text[..8].copy_from_slice(&ascii.to_le_bytes());
        8 - leading
    };
    text[whole_len] = b'.';
    let end = if frac == 0 {
        text[whole_len + 1] = b'0';
        whole_len + 2
    } else {
        let rest = eight_digits(frac % 100_000_000);
        text[whole_len + 1] = b'0' + (frac / 100_000_000) as u8;
        text[whole_len + 2..whole_len + 10]
            .copy_from_slice(&(rest | 0x3030_3030_3030_3030).to_le_bytes());
        let trailing = if rest == 0 {
            8
        } else {
            (rest.leading_zeros() / 8) as usize
        };
        whole_len + 10 - trailing
    };
    let start = out.len();
    out.extend_from_slice(&text);
    out.truncate(start + end);
    true
}

/// Appends `ns` (1 to 9,999) as seconds the way both float formatters
/// write numbers under 10^-5: `d.ddde-N` or `de-N`.
fn push_tiny_seconds(out: &mut Vec<u8>, ns: u64) {
    let mut digits = [b'0'; 9];
    put_digits(&mut digits, ns);
    let first = digits.iter().position(|&d| d != b'0').unwrap_or(8);
    let last = digits.iter().rposition(|&d| d != b'0').unwrap_or(8);
    out.push(digits[first]);
    if first < last {
        out.push(b'.');
        out.extend_from_slice(&digits[first + 1..=last]);
    }
    out.extend_from_slice(b"e-");
    push_u64(out, first as u64 + 1);
}

/// Appends `v` in decimal. Most counts in a row are under 100: those
/// are one or two fixed-size pushes.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    if v < 10 {
        out.push(b'0' + v as u8);
    } else if v < 100 {
        let p = v as usize * 2;
        out.extend_from_slice(&DIGIT_PAIRS[p..p + 2]);
    } else {
        push_long_u64(out, v);
    }
}

/// [`push_u64`] from 100 on: eight digits at a time ([`eight_digits`]),
/// the leading zeros shifted out, appended as a fixed-size copy and a cut
/// (itoa's text of varying length cost a call to memcpy).
fn push_long_u64(out: &mut Vec<u8>, v: u64) {
    let (high, low) = (v / 100_000_000, v % 100_000_000);
    let digits = eight_digits(low);
    let start = out.len();
    if high == 0 {
        let leading = (digits.trailing_zeros() / 8) as usize;
        let ascii = (digits | 0x3030_3030_3030_3030) >> (8 * leading);
        out.extend_from_slice(&ascii.to_le_bytes());
        out.truncate(start + 8 - leading);
    } else {
        push_u64(out, high);
        out.extend_from_slice(&(digits | 0x3030_3030_3030_3030).to_le_bytes());
    }
}

/// Whether any byte of `bytes` is one `byte` says, tested eight bytes at a
/// time by `word` (which says whether any byte of a little-endian word is
/// one): the whole words, then the last eight bytes (overlapping the words
/// before); a string under eight bytes byte by byte. For the tests of the
/// text a report must escape or quote, which mostly finds nothing.
#[inline]
pub(crate) fn any_byte(
    bytes: &[u8],
    word: impl Fn(u64) -> bool,
    byte: impl Fn(u8) -> bool,
) -> bool {
    if bytes.len() < 8 {
        return bytes.iter().any(|&b| byte(b));
    }
    let word_at = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let mut i = 0;
    while i + 8 <= bytes.len() {
        if word(word_at(i)) {
            return true;
        }
        i += 8;
    }
    i < bytes.len() && word(word_at(bytes.len() - 8))
}

/// `u64::MAX / 255`: a one in each byte of a word.
pub(crate) const BYTE_ONES: u64 = u64::MAX / 255;

/// Whether any byte of `w` is `b` (the classic has-zero test on `w ^ b`,
/// exact as a whole).
#[inline(always)]
pub(crate) fn has_byte(w: u64, b: u8) -> bool {
    let v = w ^ (BYTE_ONES * u64::from(b));
    v.wrapping_sub(BYTE_ONES) & !v & (BYTE_ONES * 0x80) != 0
}

/// A short text (up to 32 bytes) kept in a fixed-size array, so that
/// appending it is one fixed-size copy and a cut rather than a call to
/// memcpy: the names a report writes many times per connection (states,
/// causes, flags), with their quotes and punctuation.
#[derive(Clone, Copy)]
pub(crate) struct Short {
    bytes: [u8; 32],
    len: usize,
}

impl Short {
    /// The concatenation of `parts` (at most 32 bytes: more fails to compile
    /// in a constant).
    pub(crate) const fn of(parts: &[&str]) -> Short {
        let mut bytes = [0u8; 32];
        let mut len = 0;
        let mut i = 0;
        while i < parts.len() {
            let p = parts[i].as_bytes();
            let mut k = 0;
            while k < p.len() {
                bytes[len] = p[k];
                len += 1;
                k += 1;
            }
            i += 1;
        }
        Short { bytes, len }
    }

    /// Appends the text to `out`.
    #[inline(always)]
    pub(crate) fn push_to(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        out.truncate(start + self.len);
    }
}

/// Appends an endpoint as its `Display` writes it (`192.0.2.1:80`,
/// `[2001:db8::1]:443`), IPv4 digit by digit: two per row, and the `fmt`
/// machinery cost more than the rest of the row's integers.
pub(crate) fn push_endpoint(out: &mut Vec<u8>, e: &Endpoint) {
    if e.addr.is_ipv6() {
        out.push(b'[');
        push_ip(out, e.addr);
        out.push(b']');
    } else {
        push_ip(out, e.addr);
    }
    out.push(b':');
    push_u64(out, u64::from(e.port));
}

/// Appends an address as `IpAddr`'s `Display` writes it.
pub(crate) fn push_ip(out: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(a) => {
            // On the stack, each octet with its dot from a table, then one
            // fixed-size copy with the surplus (the last dot) cut.
            let mut text = [0u8; 16];
            let mut len = 0;
            for o in a.octets() {
                let (octet, octet_len) = OCTETS[usize::from(o)];
                text[len..len + 4].copy_from_slice(&octet);
                len += usize::from(octet_len);
            }
            let start = out.len();
            out.extend_from_slice(&text);
            out.truncate(start + len - 1);
        }
        IpAddr::V6(a) => push_ipv6(out, a),
    }
}

/// Each byte's decimal text and a dot (`"7.\0\0"`, `"192."`), and its
/// length with the dot.
const OCTETS: [([u8; 4], u8); 256] = {
    let mut t = [([0u8; 4], 0u8); 256];
    let mut o = 0;
    while o < 256 {
        let (text, len) = match o {
            0..=9 => ([b'0' + o as u8, b'.', 0, 0], 2),
            10..=99 => ([b'0' + (o / 10) as u8, b'0' + (o % 10) as u8, b'.', 0], 3),
            _ => (
                [
                    b'0' + (o / 100) as u8,
                    b'0' + (o / 10 % 10) as u8,
                    b'0' + (o % 10) as u8,
                    b'.',
                ],
                4,
            ),
        };
        t[o] = (text, len);
        o += 1;
    }
    t
};

/// Appends `a` as `Ipv6Addr`'s `Display` writes it (RFC 5952): an
/// IPv4-mapped address as `::ffff:a.b.c.d`; otherwise lowercase hex groups
/// without leading zeros, the longest run of two or more zero groups (the
/// first of equals) as `::`.
fn push_ipv6(out: &mut Vec<u8>, a: Ipv6Addr) {
    if let Some(v4) = a.to_ipv4_mapped() {
        out.extend_from_slice(b"::ffff:");
        push_ip(out, IpAddr::V4(v4));
        return;
    }
    let groups = a.segments();
    let (mut zeros_at, mut zeros_len, mut run) = (0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        run = if g == 0 { run + 1 } else { 0 };
        if run > zeros_len {
            (zeros_at, zeros_len) = (i + 1 - run, run);
        }
    }
    let push_groups = |out: &mut Vec<u8>, groups: &[u16]| {
        for (i, &g) in groups.iter().enumerate() {
            if i > 0 {
                out.push(b':');
            }
            push_hex(out, g);
        }
    };
    if zeros_len > 1 {
        push_groups(out, &groups[..zeros_at]);
        out.extend_from_slice(b"::");
        push_groups(out, &groups[zeros_at + zeros_len..]);
    } else {
        push_groups(out, &groups);
    }
}

/// Appends `v` in lowercase hex without leading zeros.
fn push_hex(out: &mut Vec<u8>, v: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (16 - v.leading_zeros()).div_ceil(4).max(1);
    for k in (0..digits).rev() {
        out.push(HEX[usize::from((v >> (4 * k)) & 0xf)]);
    }
}

/// Appends `x` as `format!("{x:.6}")` writes it (the exact binary value
/// rounded to six decimals, ties to even), with integers: `x` is m·2^e,
/// so x·10^6 is m·10^6 shifted right by -e, and the bits shifted out
/// decide the rounding. Zeek's TSV writes every time so; the general
/// formatter is left for what is not a finite number in [0, 2^53).
pub(crate) fn push_fixed6(out: &mut Vec<u8>, x: f64) {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exp) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    if x.is_sign_negative() || biased == 0x7ff || exp > 0 {
        use std::io::Write;
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{x:.6}");
        return;
    }
    let scaled = u128::from(mantissa) * 1_000_000; // < 2^73
    let shift = exp.unsigned_abs();
    let micros = if shift == 0 {
        scaled
    } else if shift > 100 {
        0 // under 2^-27: far below half a millionth
    } else {
        let (q, rest, half) = (
            scaled >> shift,
            scaled & ((1 << shift) - 1),
            1 << (shift - 1),
        );
        if rest > half || (rest == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    // At most 2^53 · 10^6 < 2^73: the whole part fits a u64.
    push_u64(out, (micros / 1_000_000) as u64);
    let mut frac = *b".000000";
    put_digits(&mut frac[1..], (micros % 1_000_000) as u64);
    out.extend_from_slice(&frac);
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

    /// Nanosecond counts across every layout and digit count: all of the
    /// first 100,000, each power of ten and its neighbours, and a spread of
    /// others with 0 to 9 trailing zeros, up to and past 10^15.
    fn nanosecond_samples() -> Vec<i64> {
        let mut v: Vec<i64> = (0..100_000).collect();
        let mut p = 1i64;
        for _ in 0..18 {
            v.extend([p - 1, p, p + 1, 5 * p, 15 * p, p * 9 + p / 2]);
            p *= 10;
        }
        v.extend([-1, -1_000_000_000, i64::MAX, i64::MIN, 999_999_999_999_999]);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ns = (x % 2_000_000_000_000_000) as i64;
            let zeros = 10i64.pow((i % 10) as u32);
            v.push(ns / zeros * zeros);
        }
        v
    }

    #[test]
    fn exact_seconds_are_ryus_and_serde_jsons() {
        let mut exact = 0;
        for ns in nanosecond_samples() {
            let mut out = Vec::new();
            if !push_exact_seconds(&mut out, ns) {
                assert!(out.is_empty(), "{ns}");
                assert!(!(0..1_000_000_000_000_000).contains(&ns), "{ns}");
                continue;
            }
            let text = String::from_utf8(out).unwrap();
            assert_eq!(text, ryu::Buffer::new().format(seconds(ns)), "{ns}");
            assert_eq!(text, serde_json::to_string(&seconds(ns)).unwrap(), "{ns}");
            exact += 1;
        }
        assert!(exact > 150_000, "{exact}");
    }

    #[test]
    fn fixed6_is_formats_text() {
        let mut samples: Vec<f64> = vec![
            0.0,
            -0.0,
            1.0,
            0.5,
            0.0000005,
            0.0000015,
            0.0000025,
            1.0 / 128.0,
            3.0 / 128.0,
            5e-324,
            1e-7,
            9_007_199_254_740_991.0,
            9_007_199_254_740_993.0,
            1e300,
            -1.5,
            f64::NAN,
            f64::INFINITY,
        ];
        for ns in nanosecond_samples() {
            samples.push(seconds(ns));
            // Capture times since the epoch, as Zeek's ts.
            samples.push(seconds(ns.wrapping_add(1_767_225_600_000_000_000)));
        }
        // Exact ties at the sixth decimal (k/128 with k odd: 0.0078125), and
        // binary fractions a little finer.
        for k in 0..10_000u32 {
            samples.push(f64::from(2 * k + 1) / 128.0);
            samples.push(f64::from(2 * k + 1) / 1_048_576.0);
        }
        for x in samples {
            let mut out = Vec::new();
            push_fixed6(&mut out, x);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{x:.6}"), "{x:e}");
        }
    }

    #[test]
    fn endpoints_are_displays_text() {
        let mut addrs: Vec<IpAddr> = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "192.168.100.20",
            "::",
            "::1",
            "::ffff:10.1.2.3",
            "2001:db8::1",
            "fe80::200:86ff:fe05:80da",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            addrs.push(IpAddr::from((x as u32).to_be_bytes()));
            // IPv6 with zero groups here and there, so runs of every length.
            let mut g = [0u16; 8];
            for (k, slot) in g.iter_mut().enumerate() {
                if (x >> (k + 40)) & 1 == 1 {
                    *slot = (x >> (4 * k)) as u16 >> (x as u32 % 13);
                }
            }
            addrs.push(IpAddr::from(g));
        }
        for (i, addr) in addrs.into_iter().enumerate() {
            let e = Endpoint {
                addr,
                port: (i * 7919 % 65_536) as u16,
            };
            let mut out = Vec::new();
            push_endpoint(&mut out, &e);
            assert_eq!(String::from_utf8(out).unwrap(), e.to_string());
        }
    }

    #[test]
    fn integers_are_displays_text() {
        let mut samples: Vec<u64> = (0..200_000).collect();
        let mut p = 1u64;
        for _ in 0..19 {
            samples.extend([p - 1, p, p + 1, 3 * p, p * 9 + p / 2]);
            p = p.saturating_mul(10);
        }
        samples.extend([u64::MAX, u64::MAX - 1, 1 << 63]);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(x >> (x % 64));
        }
        for v in samples {
            let mut out = b"x".to_vec();
            push_u64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), format!("x{v}"));
        }
    }

    #[test]
    fn eight_digits_are_the_decimal_digits() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let samples = (0..100_000).chain([99_999_999, 10_000_000, 12_345_678]);
        let random = (0..300_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % 100_000_000
        });
        for v in samples.chain(random) {
            let text = ascii_digits(v).to_le_bytes();
            assert_eq!(std::str::from_utf8(&text).unwrap(), format!("{v:08}"));
        }
    }

    #[test]
    fn flag_letters_follow_wireshark_order() {
        let f = TcpFlags(TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN | TcpFlags::PSH);
        assert_eq!(flag_letters(f), "APSF");
        assert_eq!(flag_letters(TcpFlags(0)), "-");
    }
}
