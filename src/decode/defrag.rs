//! IPv4 and IPv6 fragment reassembly, in frame order, with bounded memory.
//!
//! A TCP segment split into IP fragments exists only once its datagram is
//! whole, so reassembly is what lets a connection keep all its segments. The
//! rules follow the Linux stack, which is what the receiver behind the capture
//! most likely ran:
//!
//! * a fragment lying entirely inside one already held is a duplicate and is
//!   ignored; any other overlap drops the whole datagram (RFC 5722 for IPv6,
//!   and Linux does the same for IPv4), so an overlap attack cannot choose
//!   which bytes we see;
//! * a datagram still incomplete `timeout_ns` of capture time after its first
//!   fragment is dropped (Linux's `ipfrag_time`, 30 s);
//! * memory is bounded per datagram (the IP maximum of 65535 bytes and
//!   `max_fragments`), per host pair (`max_datagrams_per_pair` pending), and
//!   globally (`max_bytes`, evicting the oldest datagram first).
//!
//! Every fragment frame ends with a fate for the accounting: the frame that
//! completes a datagram is decoded as the datagram (so a reassembled TCP
//! segment has the frame number of its last fragment, as in Wireshark), the
//! others of that datagram are `reassembled`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::{decode_reassembled, Content, Decoded, Fragment, FragmentKey};
use crate::model::EncapSet;

/// Memory and time bounds of the reassembler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefragLimits {
    /// Capture time after a datagram's first fragment when it is given up.
    pub timeout_ns: i64,
    /// Fragment bytes held at once, over all datagrams.
    pub max_bytes: usize,
    /// Datagrams pending at once between one source and one destination.
    pub max_datagrams_per_pair: usize,
    /// Fragments one datagram may consist of.
    pub max_fragments: usize,
}

impl Default for DefragLimits {
    fn default() -> DefragLimits {
        DefragLimits {
            timeout_ns: 30_000_000_000,
            max_bytes: 64 << 20,
            max_datagrams_per_pair: 64,
            max_fragments: 1024,
        }
    }
}

/// What became of a fragment frame whose datagram did not make it, or that
/// was not the frame completing its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FragmentFate {
    /// Part of a datagram completed by a later frame.
    Reassembled,
    /// Its datagram never completed (timeout or end of capture).
    Incomplete,
    /// Its datagram had overlapping fragments and was dropped.
    Overlapping,
    /// Entirely inside a fragment already held: ignored.
    Duplicate,
    /// Cut by the snaplen, beyond 65535 bytes, not a multiple of 8 bytes
    /// before the last, or contradicting the datagram's length.
    Invalid,
    /// Dropped to stay within the memory limits.
    OverLimit,
}

impl fmt::Display for FragmentFate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FragmentFate::Reassembled => "reassembled",
            FragmentFate::Incomplete => "incomplete",
            FragmentFate::Overlapping => "overlapping (datagram dropped)",
            FragmentFate::Duplicate => "duplicate",
            FragmentFate::Invalid => "invalid",
            FragmentFate::OverLimit => "over a memory limit",
        })
    }
}

/// Fragment frames by fate and datagram counts, for the frame accounting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FragmentStats {
    /// Fragment frames by fate.
    pub frames_by_fate: BTreeMap<FragmentFate, u64>,
    /// Datagrams completed.
    pub datagrams_reassembled: u64,
    /// Datagrams dropped for overlapping fragments.
    pub datagrams_overlapping: u64,
}

impl FragmentStats {
    fn add(&mut self, fate: FragmentFate, frames: u64) {
        if frames > 0 {
            *self.frames_by_fate.entry(fate).or_default() += frames;
        }
    }
}

/// One datagram being rebuilt.
#[derive(Debug)]
struct Pending {
    first_ts: i64,
    /// (offset, bytes), in arrival order; never overlapping.
    parts: Vec<(u32, Vec<u8>)>,
    received: usize,
    /// Known once the last fragment (more-fragments clear) arrived.
    total: Option<usize>,
    frames: u64,
}

/// The IP payload can be at most this long (16-bit length fields).
const MAX_DATAGRAM: usize = 65535;

/// What feeding one fragment gave.
#[derive(Debug, Default)]
pub struct Reassembled {
    /// What the fragment stands for once its datagram is whole (empty while
    /// it waits): one packet, or several when the datagram held an 802.11
    /// A-MSDU.
    pub decoded: Vec<Decoded>,
    /// Packets the rebuilt datagrams held beyond the one the fragment stands
    /// for (A-MSDU subframes), whether decoded now or fragments fed on.
    pub extra: u64,
    /// The encapsulations of each datagram rebuilt on the way, outermost first.
    pub revealed: Vec<EncapSet>,
}

/// Rebuilds datagrams from fragments fed in frame order.
#[derive(Debug, Default)]
pub struct Reassembler {
    limits: DefragLimits,
    pending: FxHashMap<FragmentKey, Pending>,
    /// Datagrams by first-fragment time, for time-outs and eviction; entries
    /// whose datagram is gone are skipped.
    age: VecDeque<(i64, FragmentKey)>,
    per_pair: FxHashMap<(IpAddr, IpAddr), usize>,
    bytes: usize,
    stats: FragmentStats,
}

impl Reassembler {
    /// A new, empty one.
    pub fn new(limits: DefragLimits) -> Reassembler {
        Reassembler {
            limits,
            ..Reassembler::default()
        }
    }

    /// Feeds a fragment frame to reassembly: what the frame stands for once
    /// its datagram is whole (`decoded` is empty while it waits), and the
    /// encapsulations each rebuilt datagram revealed, for the caller to
    /// count. A datagram may itself hold a fragment of an inner one, hence
    /// the loop.
    pub fn resolve(&mut self, fragment: Box<Fragment>) -> Reassembled {
        let mut out = Reassembled::default();
        let mut waiting = vec![fragment];
        while let Some(fragment) = waiting.pop() {
            let Some((last, payload)) = self.push(fragment) else {
                continue;
            };
            let frame = decode_reassembled(&last, &payload);
            out.revealed.push(frame.encaps);
            out.extra += frame.more.len() as u64;
            let mut inner = Vec::new();
            for content in std::iter::once(frame.content).chain(frame.more) {
                match content {
                    Content::Decoded(d) => out.decoded.push(d),
                    Content::Fragment(f) => inner.push(f),
                }
            }
            // A stack: the first inner fragment is fed first.
            waiting.extend(inner.into_iter().rev());
        }
        out
    }

    /// Adds one fragment; returns the last fragment and the datagram's
    /// payload when this fragment completed it.
    fn push(&mut self, mut f: Box<Fragment>) -> Option<(Box<Fragment>, Vec<u8>)> {
        self.expire(f.ts_ns);
        let len = f.data.len();
        let end = f.offset as usize + len;
        if f.cut || end > MAX_DATAGRAM || (f.more && (len == 0 || !len.is_multiple_of(8))) {
            self.stats.add(FragmentFate::Invalid, 1);
            return None;
        }
        let pair = (f.key.src, f.key.dst);
        if !self.pending.contains_key(&f.key) {
            let n = self.per_pair.entry(pair).or_default();
            if *n >= self.limits.max_datagrams_per_pair {
                self.stats.add(FragmentFate::OverLimit, 1);
                return None;
            }
            *n += 1;
            self.pending.insert(
                f.key.clone(),
                Pending {
                    first_ts: f.ts_ns,
                    parts: Vec::new(),
                    received: 0,
                    total: None,
                    frames: 0,
                },
            );
            self.age.push_back((f.ts_ns, f.key.clone()));
        }
        let p = self.pending.get_mut(&f.key)?;
        let fate = Self::check(p, f.offset as usize, end, f.more, self.limits.max_fragments);
        match fate {
            Some(FragmentFate::Duplicate) => {
                self.stats.add(FragmentFate::Duplicate, 1);
                return None;
            }
            Some(fate) => {
                if fate == FragmentFate::Overlapping {
                    self.stats.datagrams_overlapping += 1;
                }
                self.stats.add(fate, 1);
                self.drop_datagram(&f.key, fate);
                return None;
            }
            None => {}
        }
        if !f.more {
            p.total = Some(end);
        }
        p.received += len;
        p.frames += 1;
        self.bytes += len;
        let complete = p.total == Some(p.received);
        p.parts.push((f.offset, std::mem::take(&mut f.data)));
        if complete {
            let mut p = self.remove(&f.key)?;
            p.parts.sort_by_key(|(o, _)| *o);
            let payload: Vec<u8> = p.parts.into_iter().flat_map(|(_, d)| d).collect();
            self.stats.add(FragmentFate::Reassembled, p.frames - 1);
            self.stats.datagrams_reassembled += 1;
            return Some((f, payload));
        }
        while self.bytes > self.limits.max_bytes {
            let Some((ts, oldest)) = self.age.pop_front() else {
                break;
            };
            if self.pending.get(&oldest).is_some_and(|p| p.first_ts == ts) {
                self.drop_datagram(&oldest, FragmentFate::OverLimit);
            }
        }
        None
    }

    /// Why the fragment [start, end) cannot join `p`, if it cannot.
    fn check(
        p: &Pending,
        start: usize,
        end: usize,
        more: bool,
        max: usize,
    ) -> Option<FragmentFate> {
        for (o, d) in &p.parts {
            let (o, o_end) = (*o as usize, *o as usize + d.len());
            if start >= o && end <= o_end {
                return Some(FragmentFate::Duplicate);
            }
            if start < o_end && end > o {
                return Some(FragmentFate::Overlapping);
            }
        }
        let beyond_total = match p.total {
            Some(t) => end > t || (!more && end != t),
            None => !more && p.parts.iter().any(|(o, d)| *o as usize + d.len() > end),
        };
        if beyond_total {
            return Some(FragmentFate::Invalid);
        }
        if p.parts.len() >= max {
            return Some(FragmentFate::OverLimit);
        }
        None
    }

    fn remove(&mut self, key: &FragmentKey) -> Option<Pending> {
        let p = self.pending.remove(key)?;
        self.bytes -= p.received;
        let pair = (key.src, key.dst);
        if let Some(n) = self.per_pair.get_mut(&pair) {
            *n -= 1;
            if *n == 0 {
                self.per_pair.remove(&pair);
            }
        }
        Some(p)
    }

    /// Gives a datagram up: its fragments so far all get `fate`.
    fn drop_datagram(&mut self, key: &FragmentKey, fate: FragmentFate) {
        if let Some(p) = self.remove(key) {
            self.stats.add(fate, p.frames);
        }
    }

    /// Drops datagrams whose first fragment is older than the timeout.
    fn expire(&mut self, now: i64) {
        while let Some((ts, _)) = self.age.front() {
            if now.saturating_sub(*ts) <= self.limits.timeout_ns {
                break;
            }
            let Some((ts, key)) = self.age.pop_front() else {
                break;
            };
            if self.pending.get(&key).is_some_and(|p| p.first_ts == ts) {
                self.drop_datagram(&key, FragmentFate::Incomplete);
            }
        }
    }

    /// Ends the capture: what is still pending is incomplete.
    pub fn finish(mut self) -> FragmentStats {
        let keys: Vec<FragmentKey> = self.pending.keys().cloned().collect();
        for k in keys {
            self.drop_datagram(&k, FragmentFate::Incomplete);
        }
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Layers;

    fn frag(frame: u64, id: u32, offset: u32, more: bool, data: &[u8]) -> Box<Fragment> {
        Box::new(Fragment {
            frame,
            ts_ns: frame as i64 * 1_000_000_000,
            key: FragmentKey {
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                id,
                protocol: 6,
                vlans: Default::default(),
                hops: Vec::new(),
            },
            offset,
            more,
            data: data.to_vec(),
            cut: false,
            header_len: 20,
            layers: Layers::default(),
        })
    }

    #[test]
    fn out_of_order_fragments_complete_on_the_last_frame() {
        let mut r = Reassembler::new(DefragLimits::default());
        assert!(r.push(frag(1, 7, 8, false, b"tail")).is_none());
        let (last, payload) = r.push(frag(2, 7, 0, true, b"01234567")).unwrap();
        assert_eq!(last.frame, 2);
        assert_eq!(payload, b"01234567tail");
        let s = r.finish();
        assert_eq!(s.frames_by_fate[&FragmentFate::Reassembled], 1);
        assert_eq!(s.datagrams_reassembled, 1);
    }

    #[test]
    fn overlap_drops_the_datagram_and_duplicates_are_ignored() {
        let mut r = Reassembler::new(DefragLimits::default());
        assert!(r.push(frag(1, 1, 0, true, &[0; 16])).is_none());
        assert!(r.push(frag(2, 1, 8, true, &[0; 8])).is_none(), "duplicate");
        assert!(r.push(frag(3, 1, 8, true, &[1; 16])).is_none(), "overlap");
        // A later fragment starts a new datagram, which never completes.
        assert!(r.push(frag(4, 1, 24, false, &[2; 4])).is_none());
        let s = r.finish();
        assert_eq!(s.frames_by_fate[&FragmentFate::Duplicate], 1);
        assert_eq!(s.frames_by_fate[&FragmentFate::Overlapping], 2);
        assert_eq!(s.frames_by_fate[&FragmentFate::Incomplete], 1);
        assert_eq!(s.datagrams_overlapping, 1);
    }

    #[test]
    fn limits_and_timeout_bound_memory() {
        let limits = DefragLimits {
            max_datagrams_per_pair: 2,
            ..DefragLimits::default()
        };
        let mut r = Reassembler::new(limits);
        for id in 0..3 {
            r.push(frag(1, id, 0, true, &[0; 8]));
        }
        assert_eq!(r.pending.len(), 2);
        // 31 s later both time out; the new one is accepted.
        r.push(frag(32, 9, 0, true, &[0; 8]));
        assert_eq!(r.pending.len(), 1);
        let s = r.finish();
        assert_eq!(s.frames_by_fate[&FragmentFate::OverLimit], 1);
        assert_eq!(s.frames_by_fate[&FragmentFate::Incomplete], 3);

        let mut r = Reassembler::new(DefragLimits {
            max_bytes: 16,
            ..DefragLimits::default()
        });
        r.push(frag(1, 1, 0, true, &[0; 16]));
        r.push(frag(2, 2, 0, true, &[0; 8]));
        assert_eq!(r.bytes, 8, "the oldest datagram was evicted");
        assert!(r.push(frag(3, 3, 0, true, &[0; 65536])).is_none());
        let s = r.finish();
        assert_eq!(s.frames_by_fate[&FragmentFate::Invalid], 1);
    }
}
