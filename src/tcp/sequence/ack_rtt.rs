//! Round-trip times from ACKs, as Wireshark's `tcp.analysis.ack_rtt`.
//!
//! Wireshark (epan/dissectors/packet-tcp.c, `tcp_analyze_sequence_number`)
//! keeps, per direction, a list of the segments not yet acknowledged: every
//! segment with payload, SYN or FIN is added (at the label
//! `finished_checking_retransmission_type`, retransmissions included) with
//! its sequence range and time, up to `TCP_MAX_UNACKED_SEGMENTS` (10000,
//! packet-tcp.h). Every segment of the other direction then walks that list
//! with its acknowledgement field (the raw field, ACK flag or not): a
//! segment whose end equals the ACK number gives the RTT, the ACK's time
//! minus the segment's (when several do, as a segment and its
//! retransmission, the list is walked newest first and each overwrites the
//! last, so the oldest one counts), and is removed; one the ACK covers
//! partly starts at the ACK number from then on; one it covers wholly is
//! removed without an RTT; the rest stay. `tcp.analysis.ack_rtt` is shown
//! only when that RTT is not zero.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::SeqNum;
use crate::tcp::inline_vec::InlineVec;

/// Wireshark's `TCP_MAX_UNACKED_SEGMENTS`: segments kept per direction
/// waiting for their ACK (16 bytes each, so at most 160 kB per direction,
/// reached only when ACKs go uncaptured).
pub(super) const MAX_UNACKED: usize = 10_000;

/// One segment waiting for its ACK.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Unacked {
    seq: SeqNum,
    next: SeqNum,
    ts_ns: i64,
}

/// Segments in flight kept inline: a request/response exchange has a few
/// at a time, so only a long flight allocates.
const INLINE_UNACKED: usize = 4;

/// The segments one direction sent that are not acknowledged yet.
#[derive(Clone, Debug, Default)]
pub(super) struct UnackedList(InlineVec<Unacked, INLINE_UNACKED>);

impl UnackedList {
    /// Adds a segment occupying `seq..next` (Wireshark adds it even when it
    /// is a retransmission), unless the list is full.
    #[inline(always)]
    pub(super) fn push(&mut self, seq: SeqNum, next: SeqNum, ts_ns: i64) {
        if self.0.len() < MAX_UNACKED {
            self.0.push(Unacked { seq, next, ts_ns });
        }
    }

    /// Applies the peer's acknowledgement number `ack` at `ts_ns`: the RTT
    /// it measures, if any (possibly zero, which Wireshark does not show).
    #[inline(always)]
    pub(super) fn acknowledge(&mut self, ack: SeqNum, ts_ns: i64) -> Option<i64> {
        if self.0.is_empty() {
            return None;
        }
        // Oldest first here, so the first exact match is the one Wireshark's
        // newest-first walk ends on.
        let mut sent_ns = None;
        self.0.retain_mut(|u| {
            if ack == u.next {
                sent_ns.get_or_insert(u.ts_ns);
                false
            } else if ack > u.seq && ack <= u.next {
                u.seq = ack;
                true
            } else {
                u.next > ack
            }
        });
        sent_ns.map(|sent| ts_ns.saturating_sub(sent))
    }

    /// Frees the list (the connection is finished).
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

/// Samples kept exactly; past them, a histogram.
const EXACT_SAMPLES: usize = 1024;
/// Exact samples kept inline: six 32-bit ones fit in the room of a `Vec`
/// header (a longer list moves to the heap with room for four times as
/// many, then doubles).
const INLINE_SAMPLES: usize = 6;
/// Sorted on the stack when summarised; more go to a vector.
const STACK_SAMPLES: usize = 16;
/// Histogram buckets per power of two: a bucket is at most 1/64 of its
/// values wide, and the midpoint reported is within 1/128 (0.8 %) of any
/// value in it.
const SUB_BUCKETS: i64 = 64;

/// The ACK RTT samples of one direction, in bounded memory: the first 1024
/// exactly (so quantiles are exact up to there), then a log-linear
/// histogram of 64 buckets per power of two (a few kB at most: quantiles
/// within 0.8 % of the true sample); count, min and max always exact.
/// Kept small for the many live connections: an exact sample in 32 bits
/// when it fits (0 to 4.29 s: nearly all), the first few inline; count,
/// min and max of exact samples are computed from them when asked; the
/// rest (samples that do not fit, the histogram) in a box few sides need.
#[derive(Clone, Debug, Default)]
pub struct RttSamples {
    narrow: InlineVec<u32, INLINE_SAMPLES>,
    rare: Option<Box<Rare>>,
}

/// What few sides' samples need.
#[derive(Clone, Debug, Default)]
struct Rare {
    /// Exact samples that do not fit in 32 bits (longer than 4.29 s, or
    /// negative from timestamps that go back).
    wide: Vec<i64>,
    /// Once past [`EXACT_SAMPLES`]: every sample, in buckets.
    histogram: Option<Histogram>,
}

/// Samples by bucket, with their exact count, min and max.
#[derive(Clone, Debug, Default)]
struct Histogram {
    buckets: BTreeMap<u16, u64>,
    count: u64,
    min_ns: i64,
    max_ns: i64,
}

impl Histogram {
    /// `n` samples in bucket `b`, the least `min_ns`, the greatest `max_ns`.
    fn add_bucket(&mut self, b: u16, n: u64, min_ns: i64, max_ns: i64) {
        if self.count == 0 {
            (self.min_ns, self.max_ns) = (min_ns, max_ns);
        }
        self.count += n;
        self.min_ns = self.min_ns.min(min_ns);
        self.max_ns = self.max_ns.max(max_ns);
        *self.buckets.entry(b).or_insert(0) += n;
    }

    fn add(&mut self, ns: i64) {
        self.add_bucket(bucket(ns), 1, ns, ns);
    }
}

/// What [`RttSamples`] says: quantiles by the nearest-rank method (the
/// sample at rank ⌈q·n⌉ in increasing order), in ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RttSummary {
    /// The smallest sample.
    pub min_ns: i64,
    /// The sample at rank ⌈n/2⌉.
    pub median_ns: i64,
    /// The sample at rank ⌈0.95·n⌉.
    pub p95_ns: i64,
    /// The largest sample.
    pub max_ns: i64,
    /// How many ACKs gave an RTT.
    pub samples: u64,
}

/// The histogram bucket of a value: values below 64 ns (and negative ones,
/// from timestamps that go back) exactly, then 64 buckets per power of two.
fn bucket(v: i64) -> u16 {
    if v < SUB_BUCKETS {
        return v.max(0) as u16;
    }
    let e = 63 - i64::from(v.leading_zeros()); // floor(log2 v) >= 6
    let mantissa = (v >> (e - 6)) & (SUB_BUCKETS - 1);
    (SUB_BUCKETS + (e - 6) * SUB_BUCKETS + mantissa) as u16
}

/// The middle of a bucket's values.
fn bucket_mid(b: u16) -> i64 {
    let b = i64::from(b);
    if b < SUB_BUCKETS {
        return b;
    }
    let e = (b - SUB_BUCKETS) / SUB_BUCKETS + 6;
    let mantissa = (b - SUB_BUCKETS) % SUB_BUCKETS;
    let width = 1i64 << (e - 6);
    ((SUB_BUCKETS + mantissa) << (e - 6)) + width / 2
}

impl RttSamples {
    /// Adds one sample (also used by the rollups, for a group's samples).
    #[inline]
    pub fn add(&mut self, ns: i64) {
        // The usual case, decided first: a sample of 32 bits while nothing
        // wide or summed was kept, so the exact count is the narrow one's.
        if self.rare.is_none() && self.narrow.len() < EXACT_SAMPLES {
            if let Ok(v) = u32::try_from(ns) {
                self.narrow.push(v);
                return;
            }
        }
        self.add_any(ns);
    }

    /// [`RttSamples::add`] for every case.
    fn add_any(&mut self, ns: i64) {
        if let Some(h) = self.histogram_mut() {
            h.add(ns);
        } else if self.exact_len() < EXACT_SAMPLES {
            match u32::try_from(ns) {
                Ok(v) => self.narrow.push(v),
                Err(_) => self.rare.get_or_insert_with(Box::default).wide.push(ns),
            }
        } else {
            let mut h = self.take_histogram();
            h.add(ns);
            self.rare = Some(Box::new(Rare {
                wide: Vec::new(),
                histogram: Some(h),
            }));
        }
    }

    fn histogram(&self) -> Option<&Histogram> {
        self.rare.as_deref()?.histogram.as_ref()
    }

    fn histogram_mut(&mut self) -> Option<&mut Histogram> {
        self.rare.as_deref_mut()?.histogram.as_mut()
    }

    /// Empties the set into a histogram (its own, or one of its exact samples).
    fn take_histogram(&mut self) -> Histogram {
        let mut h = Histogram::default();
        for v in self.exact() {
            h.add(v);
        }
        self.narrow = InlineVec::default();
        match self.rare.take() {
            Some(rare) => rare.histogram.unwrap_or(h),
            None => h,
        }
    }

    /// How many samples are kept exactly.
    fn exact_len(&self) -> usize {
        self.narrow.len() + self.rare.as_ref().map_or(0, |r| r.wide.len())
    }

    /// The samples kept exactly, in no particular order.
    fn exact(&self) -> impl Iterator<Item = i64> + '_ {
        let wide = self.rare.as_deref().map_or(&[][..], |r| &r.wide[..]);
        self.narrow
            .iter()
            .map(|&v| i64::from(v))
            .chain(wide.iter().copied())
    }

    /// Adds another set's samples, as if each had been added here: its
    /// exact values one by one, or its histogram's counts (this set then
    /// becomes a histogram too). Rollups sum connections' RTTs this way.
    pub fn merge(&mut self, other: &RttSamples) {
        let Some(theirs) = other.histogram() else {
            for v in other.exact() {
                self.add(v);
            }
            return;
        };
        let mut mine = self.take_histogram();
        for (&b, &n) in theirs.buckets.iter() {
            mine.add_bucket(b, n, theirs.min_ns, theirs.max_ns);
        }
        self.rare = Some(Box::new(Rare {
            wide: Vec::new(),
            histogram: Some(mine),
        }));
    }

    /// How many samples there were.
    pub fn count(&self) -> u64 {
        match self.histogram() {
            Some(h) => h.count,
            None => self.exact_len() as u64,
        }
    }

    /// Min, median, 95th percentile and max; `None` without samples.
    pub fn summary(&self) -> Option<RttSummary> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = |q: u64| (count * q).div_ceil(100).max(1);
        let (min_ns, median_ns, p95_ns, max_ns) = match self.histogram() {
            None => {
                // Sorted once for both quantiles; a few samples on the stack.
                let mut small = [0; STACK_SAMPLES];
                let mut large = Vec::new();
                let sorted: &mut [i64] = match self.exact_len() {
                    n if n <= STACK_SAMPLES => {
                        for (slot, v) in small.iter_mut().zip(self.exact()) {
                            *slot = v;
                        }
                        &mut small[..n]
                    }
                    _ => {
                        large.extend(self.exact());
                        &mut large
                    }
                };
                sorted.sort_unstable();
                let at = |q: u64| sorted[(rank(q) - 1) as usize];
                (sorted[0], at(50), at(95), sorted[sorted.len() - 1])
            }
            Some(h) => {
                let at = |q: u64| {
                    let r = rank(q);
                    let mut seen = 0;
                    for (&b, &n) in h.buckets.iter() {
                        seen += n;
                        if seen >= r {
                            return bucket_mid(b).clamp(h.min_ns, h.max_ns);
                        }
                    }
                    h.max_ns
                };
                (h.min_ns, at(50), at(95), h.max_ns)
            }
        };
        Some(RttSummary {
            min_ns,
            median_ns,
            p95_ns,
            max_ns,
            samples: count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_quantiles_are_nearest_rank() {
        let mut s = RttSamples::default();
        assert_eq!(s.summary(), None);
        for v in [50, 10, 40, 20, 30] {
            s.add(v);
        }
        let sum = s.summary().unwrap();
        assert_eq!(
            (sum.min_ns, sum.median_ns, sum.p95_ns, sum.max_ns),
            (10, 30, 50, 50)
        );
        assert_eq!(sum.samples, 5);
        s.add(60);
        // Six samples: the median is the 3rd, the 95th percentile the 6th.
        assert_eq!(s.summary().unwrap().median_ns, 30);
        assert_eq!(s.summary().unwrap().p95_ns, 60);
    }

    /// Inline or spilled to the heap, the exact samples give the
    /// nearest-rank quantiles of all of them.
    #[test]
    fn exact_quantiles_hold_across_the_inline_limit() {
        for n in 1..=100i64 {
            let values: Vec<i64> = (0..n).map(|i| (i * 7_919) % 1_000 + 1).collect();
            let mut s = RttSamples::default();
            values.iter().for_each(|&v| s.add(v));
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let at = |q: i64| sorted[((n * q + 99) / 100).max(1) as usize - 1];
            let sum = s.summary().unwrap();
            assert_eq!(
                (
                    sum.min_ns,
                    sum.median_ns,
                    sum.p95_ns,
                    sum.max_ns,
                    sum.samples
                ),
                (sorted[0], at(50), at(95), sorted[n as usize - 1], n as u64),
                "{n} samples"
            );
        }
    }

    /// Samples that do not fit in 32 bits (negative, or past 4.29 s) are
    /// kept exactly too, mixed with the narrow ones, up to the histogram.
    #[test]
    fn wide_samples_are_exact_and_counted() {
        let wide = [-5, 5_000_000_000, -1, i64::from(u32::MAX) + 1];
        for n in [1usize, 7, 40, 1023, 1024, 1025] {
            let values: Vec<i64> = (0..n)
                .map(|i| match i % 3 {
                    0 => wide[i % wide.len()],
                    _ => (i as i64 * 7_919) % 1_000_000 + 1,
                })
                .collect();
            let mut s = RttSamples::default();
            values.iter().for_each(|&v| s.add(v));
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let sum = s.summary().unwrap();
            assert_eq!((sum.min_ns, sum.max_ns), (sorted[0], sorted[n - 1]));
            assert_eq!(sum.samples, n as u64);
            if n <= EXACT_SAMPLES {
                assert_eq!(s.exact_len(), n);
                let at = |q: usize| sorted[(n * q).div_ceil(100).max(1) - 1];
                assert_eq!((sum.median_ns, sum.p95_ns), (at(50), at(95)), "{n}");
            } else {
                assert_eq!(s.exact_len(), 0);
                assert!(s.histogram().is_some());
            }
        }
    }

    #[test]
    fn past_the_exact_samples_quantiles_stay_within_a_bucket() {
        let mut s = RttSamples::default();
        // 1 ms .. 10 ms in 10000 even steps: the true median is about 5.5 ms.
        for i in 0..10_000i64 {
            s.add(1_000_000 + i * 900);
        }
        let sum = s.summary().unwrap();
        assert_eq!(sum.samples, 10_000);
        assert_eq!(
            (sum.min_ns, sum.max_ns),
            (1_000_000, 1_000_000 + 9_999 * 900)
        );
        let true_median = 1_000_000 + 4_999 * 900;
        let true_p95 = 1_000_000 + 9_499 * 900;
        for (got, want) in [(sum.median_ns, true_median), (sum.p95_ns, true_p95)] {
            let err = (got - want).abs() as f64 / want as f64;
            assert!(err <= 1.0 / 128.0, "{got} vs {want}");
        }
    }

    #[test]
    fn buckets_hold_their_values() {
        for v in [0, 1, 63, 64, 65, 127, 128, 1000, 123_456_789, i64::MAX / 2] {
            let mid = bucket_mid(bucket(v));
            assert!(
                (mid - v).abs() as f64 <= (v as f64 / 128.0).max(0.5),
                "{v} -> {mid}"
            );
        }
        assert!(bucket(i64::MAX) > bucket(i64::MAX / 2));
    }

    #[test]
    fn acks_measure_against_the_segment_they_end() {
        let mut l = UnackedList::default();
        l.push(SeqNum(100), SeqNum(200), 1_000);
        l.push(SeqNum(200), SeqNum(300), 2_000);
        // A partial ACK measures nothing and trims the segment.
        assert_eq!(l.acknowledge(SeqNum(150), 3_000), None);
        // The retransmission of 200..300: the original (older) one counts.
        l.push(SeqNum(200), SeqNum(300), 4_000);
        assert_eq!(l.acknowledge(SeqNum(200), 5_000), Some(4_000));
        assert_eq!(l.acknowledge(SeqNum(300), 6_000), Some(4_000));
        assert_eq!(l.acknowledge(SeqNum(300), 7_000), None);
    }

    #[test]
    fn merged_sets_are_the_sets_of_all_samples() {
        let values: Vec<i64> = (0..3000).map(|i| (i * 7919) % 100_000 + 50).collect();
        let mut whole = RttSamples::default();
        for &v in &values {
            whole.add(v);
        }
        for cut in [0, 10, 1000, 1024, 1500, 2999, 3000] {
            let (mut a, mut b) = (RttSamples::default(), RttSamples::default());
            values[..cut].iter().for_each(|&v| a.add(v));
            values[cut..].iter().for_each(|&v| b.add(v));
            a.merge(&b);
            assert_eq!(a.summary(), whole.summary(), "cut at {cut}");
        }
        // Few samples stay exact.
        let (mut a, mut b) = (RttSamples::default(), RttSamples::default());
        a.add(30);
        b.add(10);
        b.add(20);
        a.merge(&b);
        let s = a.summary().unwrap();
        assert_eq!(
            (s.min_ns, s.median_ns, s.max_ns, s.samples),
            (10, 20, 30, 3)
        );
    }
}
