//! Warnings: what the user must know about an input although it stopped
//! nothing. Merged files that overlap in time or leave a gap (the order or
//! the set of rotated files is probably wrong), and bad checksums that are
//! checksum offload rather than corruption.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::model::Segment;

/// Something about an input that the report would otherwise hide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// Two merged files, in the order read, overlap in time: `later` has
    /// packets before the last packet of `earlier`.
    MergeOverlap {
        /// The file read first.
        earlier: String,
        /// The file read next.
        later: String,
        /// How far `later`'s first packet is before `earlier`'s last.
        overlap_ns: i64,
    },
    /// Between two merged files lies a pause longer than any pause between
    /// packets inside the merged files (and longer than a second): a file
    /// may be missing.
    MergeGap {
        /// The file read first.
        earlier: String,
        /// The file read next.
        later: String,
        /// From `earlier`'s last packet to `later`'s first.
        gap_ns: i64,
        /// The longest pause between consecutive packets inside any file.
        longest_inside_ns: i64,
    },
    /// With `--verify-checksums`: nearly all bad checksums come from the
    /// named hosts, most of whose segments are bad, while other hosts'
    /// segments are good: checksum offload, where the capturing host
    /// records its own segments before the network card fills the checksum
    /// in. Those segments were dropped.
    ChecksumOffload {
        /// Each offloading host with its bad and all its segments.
        hosts: Vec<(IpAddr, u64, u64)>,
        /// Bad and all segments of the other hosts.
        others: (u64, u64),
    },
}

impl Warning {
    /// A stable name for programs: `merge_overlap`, `merge_gap`, `checksum_offload`.
    pub fn kind(&self) -> &'static str {
        match self {
            Warning::MergeOverlap { .. } => "merge_overlap",
            Warning::MergeGap { .. } => "merge_gap",
            Warning::ChecksumOffload { .. } => "checksum_offload",
        }
    }
}

fn secs(ns: i64) -> String {
    format!("{:.6} s", ns as f64 / 1e9)
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::MergeOverlap {
                earlier,
                later,
                overlap_ns,
            } => write!(
                f,
                "--merge: {later} starts {} before {earlier} ends: the files overlap in time, \
                 so they are not one rotated capture (segments of one may look lost or \
                 retransmitted in the other)",
                secs(*overlap_ns)
            ),
            Warning::MergeGap {
                earlier,
                later,
                gap_ns,
                longest_inside_ns,
            } => write!(
                f,
                "--merge: {} pass between the last packet of {earlier} and the first of \
                 {later}, longer than any pause inside the files ({}): a file may be missing",
                secs(*gap_ns),
                secs(*longest_inside_ns)
            ),
            Warning::ChecksumOffload { hosts, others } => {
                let named: Vec<String> = hosts
                    .iter()
                    .map(|(h, bad, all)| format!("{bad} of the {all} sent by {h}"))
                    .collect();
                let dropped: u64 = hosts.iter().map(|(_, bad, _)| bad).sum::<u64>() + others.0;
                let rest = match others {
                    (_, 0) => "no other host sent any".to_string(),
                    (0, all) => format!("the other hosts' {all} are all good"),
                    (bad, all) => format!("{bad} of the other hosts' {all}"),
                };
                write!(
                    f,
                    "--verify-checksums dropped {dropped} TCP segments with bad checksums: {} \
                     ({rest}). This is checksum offload, not corruption: the capturing host \
                     records its own segments before the network card computes their \
                     checksums. Connections miss the dropped segments and streams may be \
                     numbered differently from Wireshark's; run without --verify-checksums",
                    named.join(", ")
                )
            }
        }
    }
}

impl Serialize for Warning {
    /// `{"kind": "merge_gap", "message": "..."}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("kind", self.kind())?;
        m.serialize_entry("message", &self.to_string())?;
        m.end()
    }
}

/// The time span of one input of a merged read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceSpan {
    pub(crate) name: String,
    /// Earliest packet time.
    pub(crate) first_ns: i64,
    /// Latest packet time.
    pub(crate) last_ns: i64,
    /// Longest pause between consecutive packets (in file order).
    pub(crate) longest_pause_ns: i64,
}

impl SourceSpan {
    pub(crate) fn new(name: &str, ts_ns: i64) -> SourceSpan {
        SourceSpan {
            name: name.to_string(),
            first_ns: ts_ns,
            last_ns: ts_ns,
            longest_pause_ns: 0,
        }
    }

    /// Takes in the next packet's time; `prev` is the previous packet's.
    pub(crate) fn add(&mut self, prev: i64, ts_ns: i64) {
        self.first_ns = self.first_ns.min(ts_ns);
        self.last_ns = self.last_ns.max(ts_ns);
        self.longest_pause_ns = self.longest_pause_ns.max(ts_ns.saturating_sub(prev));
    }
}

/// Pauses between files shorter than this are never a gap.
const MIN_GAP_NS: i64 = 1_000_000_000;

/// Overlaps and gaps between consecutive inputs read as one capture.
pub(crate) fn merge_warnings(spans: &[SourceSpan]) -> Vec<Warning> {
    let longest_inside = spans.iter().map(|s| s.longest_pause_ns).max().unwrap_or(0);
    let mut out = Vec::new();
    for pair in spans.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.first_ns < a.last_ns {
            out.push(Warning::MergeOverlap {
                earlier: a.name.clone(),
                later: b.name.clone(),
                overlap_ns: a.last_ns.saturating_sub(b.first_ns),
            });
        } else {
            let gap = b.first_ns.saturating_sub(a.last_ns);
            if gap > longest_inside && gap > MIN_GAP_NS {
                out.push(Warning::MergeGap {
                    earlier: a.name.clone(),
                    later: b.name.clone(),
                    gap_ns: gap,
                    longest_inside_ns: longest_inside,
                });
            }
        }
    }
    out
}

/// Hosts counted one by one at most; the rest are counted together.
const MAX_SENDERS: usize = 4096;

/// Bad and all checksum-verified TCP segments per sending address, to tell
/// checksum offload from corruption.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChecksumSenders {
    /// (bad, all) per sender.
    by_host: BTreeMap<IpAddr, (u64, u64)>,
    /// (bad, all) of senders past [`MAX_SENDERS`].
    rest: (u64, u64),
}

impl ChecksumSenders {
    /// Counts one verified segment.
    pub(crate) fn count(&mut self, seg: &Segment) {
        let bad = u64::from(seg.bad_checksum);
        let slot = if self.by_host.len() < MAX_SENDERS || self.by_host.contains_key(&seg.src.addr) {
            self.by_host.entry(seg.src.addr).or_default()
        } else {
            &mut self.rest
        };
        slot.0 += bad;
        slot.1 += 1;
    }

    /// The offload warning, if the bad checksums have its pattern: hosts
    /// with at least 3 bad segments that are at least half of what they
    /// sent, while at most a tenth of the other hosts' segments are bad.
    /// Corruption is rare and spread over every sender; offload hits the
    /// capturing host's own segments, nearly all of them.
    pub(crate) fn offload_warning(&self) -> Option<Warning> {
        let (hosts, others): (Vec<_>, Vec<_>) = self
            .by_host
            .iter()
            .map(|(&h, &(bad, all))| (h, bad, all))
            .partition(|&(_, bad, all)| bad >= 3 && bad * 2 >= all);
        if hosts.is_empty() {
            return None;
        }
        let others = others
            .iter()
            .fold(self.rest, |(b, a), &(_, bad, all)| (b + bad, a + all));
        (others.0 * 10 <= others.1).then_some(Warning::ChecksumOffload { hosts, others })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(name: &str, first: i64, last: i64, pause: i64) -> SourceSpan {
        SourceSpan {
            name: name.into(),
            first_ns: first,
            last_ns: last,
            longest_pause_ns: pause,
        }
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn consecutive_files_give_no_warning() {
        let spans = [span("a", 0, 10 * S, 2 * S), span("b", 11 * S, 20 * S, S)];
        assert_eq!(merge_warnings(&spans), vec![]);
    }

    #[test]
    fn overlaps_and_gaps_are_named() {
        let spans = [
            span("a", 0, 10 * S, 2 * S),
            span("b", 5 * S, 12 * S, S),
            span("c", 30 * S, 31 * S, S),
        ];
        let w = merge_warnings(&spans);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].kind(), "merge_overlap");
        assert!(w[0]
            .to_string()
            .contains("b starts 5.000000 s before a ends"));
        assert_eq!(w[1].kind(), "merge_gap");
        assert!(w[1]
            .to_string()
            .contains("18.000000 s pass between the last packet of b and the first of c"));
    }

    #[test]
    fn offload_is_one_host_mostly_bad_and_the_rest_good() {
        let mut s = ChecksumSenders::default();
        let h = |a: &str| -> IpAddr { a.parse().unwrap() };
        s.by_host.insert(h("10.0.0.1"), (50, 50));
        s.by_host.insert(h("10.0.0.2"), (1, 60));
        let w = s.offload_warning().unwrap();
        assert_eq!(
            w,
            Warning::ChecksumOffload {
                hosts: vec![(h("10.0.0.1"), 50, 50)],
                others: (1, 60)
            }
        );
        // Corruption spread over both hosts is not offload.
        s.by_host.insert(h("10.0.0.1"), (5, 50));
        s.by_host.insert(h("10.0.0.2"), (6, 60));
        assert_eq!(s.offload_warning(), None);
        // Nor are both hosts bad throughout (a broken capture, not offload).
        s.by_host.insert(h("10.0.0.1"), (50, 50));
        s.by_host.insert(h("10.0.0.2"), (60, 60));
        assert!(
            s.offload_warning().is_some(),
            "both are hosts of the capture machine"
        );
    }
}
