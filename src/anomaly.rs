//! The catalogue of abnormal sequences: stable snake_case codes a CI job can
//! match on, a severity, and a one-line meaning each. Detection lives with the
//! state machines; this module only names and describes.

use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::model::{SeqNum, Side};

/// How bad an anomaly is: `info` is worth knowing, `warning` usually means
/// trouble on the wire or in the capture, `error` means a broken peer or stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing went wrong.
    Info,
    /// Usually trouble on the wire or in the capture.
    Warning,
    /// A broken peer or stack.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

macro_rules! catalogue {
    ($($variant:ident => $code:literal, $sev:ident, $meaning:literal;)*) => {
        /// Every anomaly tcpstate reports. The code strings are a stable contract.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AnomalyCode { $(#[doc = $meaning] $variant,)* }

        impl AnomalyCode {
            /// All codes, in catalogue order.
            pub const ALL: &'static [AnomalyCode] = &[$(AnomalyCode::$variant,)*];

            /// The stable snake_case code.
            pub fn code(self) -> &'static str {
                match self { $(AnomalyCode::$variant => $code,)* }
            }

            /// How bad an occurrence of this code is.
            pub fn severity(self) -> Severity {
                match self { $(AnomalyCode::$variant => Severity::$sev,)* }
            }

            /// One line saying what it means.
            pub fn meaning(self) -> &'static str {
                match self { $(AnomalyCode::$variant => $meaning,)* }
            }

            /// Looks a code up by its string; a retired code finds the code
            /// that replaced it (see [`RETIRED_CODES`]).
            pub fn from_code(s: &str) -> Option<AnomalyCode> {
                match s {
                    $($code => Some(AnomalyCode::$variant),)*
                    _ => RETIRED_CODES.iter().find(|(old, _)| *old == s).map(|&(_, new)| new),
                }
            }
        }
    };
}

catalogue! {
    SynUnanswered => "syn_unanswered", Warning,
        "the client's SYN got no answer at all (host down, filtered, or SYN lost)";
    Refused => "refused", Warning,
        "the server answered the SYN (or a scan probe) with RST: nothing listens on that port";
    HalfOpen => "half_open", Warning,
        "the server sent SYN-ACK but the handshake never completed (it stayed in SYN_RCVD)";
    HandshakeReset => "handshake_reset", Warning,
        "a RST ended the connection during the handshake (after the SYN-ACK)";
    SynAckBadAck => "syn_ack_bad_ack", Error,
        "a SYN-ACK the client could not accept: it acknowledged something other than its SYN, or echoed a timestamp it never sent; the client stays in SYN_SENT";
    SynWithData => "syn_with_data", Info,
        "a SYN carried data (TCP Fast Open or not); the detail says how many bytes and whether the SYN-ACK acknowledged them";
    DataBeforeHandshake => "data_before_handshake", Warning,
        "payload was sent before the sender had completed the handshake";
    Midstream => "midstream", Info,
        "the capture started after the handshake; the first states are inferred";
    OneSided => "one_sided", Warning,
        "only one direction of the connection was captured (asymmetric routing, a one-way tap); the silent side's states are inferred";
    SimultaneousOpen => "simultaneous_open", Info,
        "both sides sent a SYN and the SYNs crossed (both SYN_SENT -> SYN_RCVD)";
    SimultaneousClose => "simultaneous_close", Info,
        "both sides sent a FIN before receiving the other's (both FIN_WAIT_1 -> CLOSING)";
    Reset => "reset", Warning,
        "a side aborted the connection with RST (detail: which side, in which state)";
    OutOfWindowRst => "out_of_window_rst", Warning,
        "a RST the receiver could not accept was ignored: outside its window or below what it had received (RFC 5961), or in SYN_SENT not acknowledging its SYN or echoing a timestamp it never sent";
    RstChallenged => "rst_challenged", Warning,
        "a RST inside the window but not at the expected number got a challenge ACK and was ignored (RFC 5961)";
    OutOfWindowSegment => "out_of_window_segment", Warning,
        "a segment beyond the right edge of the receiver's advertised window was ignored: it changed no state (RFC 9293 3.10.7.4)";
    DataAfterFin => "data_after_fin", Error,
        "a side sent new payload beyond its own FIN";
    SegmentAfterClose => "segment_after_close", Warning,
        "a segment was sent by or to a side that had already closed";
    FinRetransmittedInTimeWait => "fin_retransmitted_in_time_wait", Warning,
        "the passive closer retransmitted its FIN while the peer was in TIME_WAIT: the last ACK was lost";
    PortReuseInTimeWait => "port_reuse_in_time_wait", Warning,
        "a new connection reused the address/port pair while the previous one was in TIME_WAIT";
    CloseWaitStuck => "close_wait_stuck", Error,
        "a side stayed in CLOSE_WAIT past the threshold: the application never closed its socket (leak)";
    FinWait2Stuck => "fin_wait_2_stuck", Warning,
        "a side stayed in FIN_WAIT_2 past the threshold: the peer never sent its FIN";
    InvalidFlags => "invalid_flags", Error,
        "an invalid flag combination: SYN+FIN, SYN+RST, no flags, FIN without ACK, or XMAS";
    NoClose => "no_close", Info,
        "the connection was still open when the capture ended";
    Retransmission => "retransmission", Warning,
        "sequence analysis (Wireshark tcp.analysis.retransmission): a segment resent data or a SYN/FIN already sent";
    FastRetransmission => "fast_retransmission", Warning,
        "sequence analysis: a retransmission right after two or more duplicate ACKs asking for it";
    SpuriousRetransmission => "spurious_retransmission", Info,
        "sequence analysis: a retransmission of data the receiver had already acknowledged";
    OutOfOrder => "out_of_order", Warning,
        "sequence analysis: a segment below the next expected sequence number, arriving within the handshake RTT";
    LostSegment => "lost_segment", Warning,
        "sequence analysis (previous segment not captured): a gap in the sequence numbers";
    AckLostSegment => "ack_lost_segment", Warning,
        "sequence analysis (ACKed unseen segment): an ACK for data the capture never saw";
    DuplicateAck => "duplicate_ack", Info,
        "sequence analysis: an ACK repeating the previous one, window and all (detail: its count)";
    ZeroWindow => "zero_window", Warning,
        "sequence analysis: the receiver advertised a zero window: it cannot take more data";
    ZeroWindowProbe => "zero_window_probe", Info,
        "sequence analysis: one byte sent into a zero window to see whether it opened";
    ZeroWindowProbeAck => "zero_window_probe_ack", Info,
        "sequence analysis: the answer to a zero-window probe, window still zero";
    WindowFull => "window_full", Warning,
        "sequence analysis: a segment filled the receiver's advertised window to its edge";
    WindowUpdate => "window_update", Info,
        "sequence analysis: a pure ACK that only changes the advertised window";
    KeepAlive => "keep_alive", Info,
        "sequence analysis: a keep-alive (0 or 1 byte one below the next sequence number)";
    KeepAliveAck => "keep_alive_ack", Info,
        "sequence analysis: the ACK answering a keep-alive";
    ReusedPorts => "reused_ports", Info,
        "sequence analysis: a SYN on an address/port pair already used by an earlier connection";
}

/// Codes no longer reported, and the code that reports the same event now,
/// so policies and filters written with them keep working.
pub const RETIRED_CODES: &[(&str, AnomalyCode)] = &[
    // The machines' own "ACK of a segment the capture never saw" fired on the
    // same frames as Wireshark's ACKed-unseen flag: one event, one anomaly.
    ("ack_unseen_segment", AnomalyCode::AckLostSegment),
];

impl fmt::Display for AnomalyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for AnomalyCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// One occurrence: which code, at which frame, on which side, and what exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// Which abnormal sequence.
    pub code: AnomalyCode,
    /// The frame that showed it; `None` for conditions seen at capture end.
    pub frame: Option<u64>,
    /// The side it concerns; `None` when it concerns the connection as a whole.
    pub side: Option<Side>,
    /// What exactly happened, in one line, sequence numbers as on the wire.
    pub detail: String,
    /// The sequence and acknowledgement numbers `detail` mentions, so a
    /// report can show them relative, as Wireshark does by default
    /// ([`Anomaly::detail_relative`]).
    #[serde(skip)]
    pub seq_numbers: Vec<SeqMention>,
}

/// A sequence number in an anomaly's detail: where its digits start, and
/// whose numbering it is in (the sender of a SEQ; for an ACK, the side
/// whose bytes it acknowledges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqMention {
    /// Byte offset of its decimal digits in the detail.
    pub at: usize,
    /// The side whose sequence numbering it belongs to.
    pub sender: Side,
    /// The number as on the wire.
    pub seq: SeqNum,
}

impl Anomaly {
    /// The detail with each sequence number it mentions as `relative`
    /// gives it (Wireshark's relative numbers, from the flow layer's
    /// `SeqBases::relative`); a number `relative` has no value for stays as
    /// on the wire.
    pub fn detail_relative(&self, relative: impl Fn(Side, SeqNum) -> Option<u32>) -> String {
        let mut out = String::with_capacity(self.detail.len());
        let mut done = 0;
        for m in &self.seq_numbers {
            let digits = m.seq.0.to_string();
            let end = m.at + digits.len();
            // Only where the digits still are (a detail may be rewritten).
            if m.at < done || self.detail.get(m.at..end) != Some(digits.as_str()) {
                continue;
            }
            out.push_str(&self.detail[done..m.at]);
            match relative(m.sender, m.seq) {
                Some(r) => {
                    let _ = write!(out, "{r}");
                }
                None => out.push_str(&digits),
            }
            done = end;
        }
        out.push_str(&self.detail[done..]);
        out
    }
}

/// An anomaly's detail while it is written: text, and the sequence numbers
/// in it with whose numbering each is in.
///
/// ```
/// use tcpstate::anomaly::Detail;
/// use tcpstate::model::{SeqNum, Side};
/// let d = Detail::new().text("acknowledges up to ").seq(Side::Server, SeqNum(1001));
/// assert_eq!(d.as_str(), "acknowledges up to 1001");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Detail {
    text: String,
    seq_numbers: Vec<SeqMention>,
}

impl Detail {
    /// An empty detail.
    pub fn new() -> Detail {
        Detail::default()
    }

    /// Appends text.
    pub fn text(mut self, text: impl fmt::Display) -> Detail {
        let _ = write!(self.text, "{text}");
        self
    }

    /// Appends a sequence number of `sender`'s numbering.
    pub fn seq(mut self, sender: Side, seq: SeqNum) -> Detail {
        self.seq_numbers.push(SeqMention {
            at: self.text.len(),
            sender,
            seq,
        });
        let _ = write!(self.text, "{}", seq.0);
        self
    }

    /// Appends another detail, its sequence numbers included.
    pub fn then(mut self, rest: Detail) -> Detail {
        let shift = self.text.len();
        self.text.push_str(&rest.text);
        self.seq_numbers
            .extend(rest.seq_numbers.into_iter().map(|m| SeqMention {
                at: m.at + shift,
                ..m
            }));
        self
    }

    /// The text so far, numbers as on the wire.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<String> for Detail {
    fn from(text: String) -> Detail {
        Detail {
            text,
            seq_numbers: Vec::new(),
        }
    }
}

impl From<&str> for Detail {
    fn from(text: &str) -> Detail {
        Detail::from(text.to_string())
    }
}

/// Occurrences of one code listed per connection; further ones are only
/// counted, so a flood of one condition (a million null-flag segments on one
/// connection) costs a counter, not a list entry each.
pub const LISTED_PER_CODE: u64 = 100;

/// A connection's anomalies: the first [`LISTED_PER_CODE`] occurrences of
/// each code in full, and how many of each there were in all. Boxed, and
/// only once something is recorded: most connections have no anomaly, and
/// each carries two logs (machines and sequence analysis), so an empty log
/// costs a pointer rather than two vectors.
#[derive(Clone, Debug, Default)]
pub struct AnomalyLog(Option<Box<Entries>>);

/// What a log holds once it holds anything.
#[derive(Clone, Debug, Default)]
struct Entries {
    listed: Vec<Anomaly>,
    /// (code, occurrences), in order of first occurrence; few codes per connection.
    counts: Vec<(AnomalyCode, u64)>,
}

/// Equal when they list and count the same, boxed or not.
impl PartialEq for AnomalyLog {
    fn eq(&self, other: &AnomalyLog) -> bool {
        self.listed() == other.listed() && self.counts() == other.counts()
    }
}

impl Eq for AnomalyLog {}

impl AnomalyLog {
    /// An empty log.
    pub fn new() -> AnomalyLog {
        AnomalyLog::default()
    }

    /// Records an occurrence; `detail` is formatted only if it will be listed.
    pub fn record<D: Into<Detail>>(
        &mut self,
        code: AnomalyCode,
        frame: Option<u64>,
        side: Option<Side>,
        detail: impl FnOnce() -> D,
    ) {
        let log = self.0.get_or_insert_with(Box::default);
        let n = match log.counts.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                log.counts.push((code, 1));
                1
            }
        };
        if n <= LISTED_PER_CODE {
            let Detail { text, seq_numbers } = detail().into();
            log.listed.push(Anomaly {
                code,
                frame,
                side,
                detail: text,
                seq_numbers,
            });
        }
    }

    /// Records an occurrence already built.
    pub fn push(&mut self, a: Anomaly) {
        let Anomaly {
            code,
            frame,
            side,
            detail,
            seq_numbers,
        } = a;
        self.record(code, frame, side, || Detail {
            text: detail,
            seq_numbers,
        });
    }

    /// The listed occurrences, in the order they were recorded.
    pub fn listed(&self) -> &[Anomaly] {
        self.0.as_deref().map_or(&[], |log| &log.listed)
    }

    /// Occurrences per code, listed or not, in order of first occurrence.
    pub fn counts(&self) -> &[(AnomalyCode, u64)] {
        self.0.as_deref().map_or(&[], |log| &log.counts)
    }

    /// Where the log stands, to undo what follows with [`AnomalyLog::rewind`].
    pub fn mark(&self) -> LogMark {
        LogMark {
            listed: self.listed().len(),
            counts: self.counts().to_vec(),
        }
    }

    /// Forgets everything recorded since `mark`.
    pub fn rewind(&mut self, mark: &LogMark) {
        if let Some(log) = &mut self.0 {
            log.listed.truncate(mark.listed);
            log.counts.clone_from(&mark.counts);
        }
    }

    /// Replaces the detail of the listed occurrence of `code` at `frame`, for
    /// details that could only be written once later facts were known.
    pub fn set_detail(&mut self, code: AnomalyCode, frame: u64, detail: String) {
        let Some(log) = &mut self.0 else {
            return;
        };
        if let Some(a) = log
            .listed
            .iter_mut()
            .find(|a| a.code == code && a.frame == Some(frame))
        {
            a.detail = detail;
            a.seq_numbers.clear();
        }
    }

    /// Whether any occurrence of `code` was recorded.
    pub fn contains(&self, code: AnomalyCode) -> bool {
        self.counts().iter().any(|&(c, _)| c == code)
    }

    /// Occurrences recorded but not listed.
    pub fn unlisted(&self) -> u64 {
        self.counts()
            .iter()
            .map(|&(_, n)| n.saturating_sub(LISTED_PER_CODE))
            .sum()
    }
}

/// A point in an [`AnomalyLog`] to rewind to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogMark {
    listed: usize,
    counts: Vec<(AnomalyCode, u64)>,
}

/// The catalogue as text, for `--list-anomalies` and the README.
pub fn catalogue_text() -> String {
    let width = AnomalyCode::ALL
        .iter()
        .map(|c| c.code().len())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for c in AnomalyCode::ALL {
        s.push_str(&format!(
            "{:<width$}  {:<7}  {}\n",
            c.code(),
            c.severity().to_string(),
            c.meaning()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for c in AnomalyCode::ALL {
            assert!(seen.insert(c.code()));
            assert!(c
                .code()
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'));
            assert_eq!(AnomalyCode::from_code(c.code()), Some(*c));
            assert!(!c.meaning().is_empty());
        }
    }

    #[test]
    fn details_show_their_sequence_numbers_relative() {
        let mut log = AnomalyLog::new();
        log.record(AnomalyCode::AckLostSegment, Some(7), None, || {
            Detail::new()
                .text("5 bytes at seq ")
                .seq(Side::Client, SeqNum(1005))
                .text(", ack ")
                .seq(Side::Server, SeqNum(5))
                .text(": ")
                .then(Detail::new().text("up to ").seq(Side::Server, SeqNum(9)))
        });
        let a = &log.listed()[0];
        assert_eq!(a.detail, "5 bytes at seq 1005, ack 5: up to 9");
        let bases = |side: Side, seq: SeqNum| match side {
            Side::Client => Some(seq.offset_from(SeqNum(1000))),
            Side::Server => None,
        };
        // Only the numbers marked change: "5 bytes" stays, the server's
        // numbers (no base) stay as on the wire.
        assert_eq!(a.detail_relative(bases), "5 bytes at seq 5, ack 5: up to 9");
        let both = |_: Side, seq: SeqNum| Some(seq.offset_from(SeqNum(4)));
        assert_eq!(
            a.detail_relative(both),
            "5 bytes at seq 1001, ack 1: up to 5"
        );
        // A rewritten detail has no numbers to replace.
        log.set_detail(AnomalyCode::AckLostSegment, 7, "other 1005".into());
        assert_eq!(log.listed()[0].detail_relative(both), "other 1005");
    }

    #[test]
    fn the_log_lists_the_first_occurrences_and_counts_all() {
        let mut log = AnomalyLog::new();
        for i in 0..LISTED_PER_CODE + 5 {
            log.record(AnomalyCode::InvalidFlags, Some(i + 1), None, || {
                format!("occurrence {i}")
            });
        }
        log.record(AnomalyCode::Reset, Some(1000), None, String::new);
        assert_eq!(log.listed().len() as u64, LISTED_PER_CODE + 1);
        assert_eq!(log.listed()[0].detail, "occurrence 0");
        assert_eq!(
            log.listed().last().map(|a| a.code),
            Some(AnomalyCode::Reset)
        );
        assert_eq!(
            log.counts(),
            &[
                (AnomalyCode::InvalidFlags, LISTED_PER_CODE + 5),
                (AnomalyCode::Reset, 1)
            ]
        );
        assert_eq!(log.unlisted(), 5);
    }
}
