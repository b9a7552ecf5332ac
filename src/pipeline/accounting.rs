//! Frame accounting: every packet read is counted exactly once, as analysed TCP,
//! other IP, non-IP, undecodable with a reason, or an IP fragment whose content
//! is counted at another frame (or never arrived whole), so the totals always
//! add up to the packets read and nothing in a capture goes unnoticed. A
//! frame is one packet, except an 802.11 A-MSDU, whose subframes are each one. Frames
//! are also counted per encapsulation they went through.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::decode::defrag::{FragmentFate, FragmentStats};
use crate::decode::{Decoded, IpProtocol, NonIp, Undecodable};
use crate::model::{Encap, EncapSet};

/// Per-capture frame counts; `frames + amsdu_subframes == tcp + other_ip +
/// non_ip + undecodable + ip_fragments`: each packet is counted once, and a
/// frame is one packet unless it is an 802.11 A-MSDU.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrameAccounting {
    /// Frames read.
    pub frames: u64,
    /// Packets that 802.11 A-MSDU frames carried beyond their first (each
    /// subframe is a packet, under its frame's number), counted in the
    /// classes below like the frames' own packets.
    pub amsdu_subframes: u64,
    /// TCP segments placed in a connection.
    pub tcp: u64,
    /// IP packets of other protocols, by protocol name.
    pub other_ip: u64,
    #[serde(serialize_with = "by_name")]
    /// Other IP packets by protocol.
    pub other_ip_by_protocol: BTreeMap<IpProtocol, u64>,
    /// Frames that are not IP, by kind (ARP, ethertype...).
    pub non_ip: u64,
    #[serde(serialize_with = "by_name")]
    /// Non-IP frames by kind.
    pub non_ip_by_kind: BTreeMap<NonIp, u64>,
    /// Frames we could not decode, by reason.
    pub undecodable: u64,
    #[serde(serialize_with = "by_name")]
    /// Undecodable frames by reason.
    pub undecodable_by_reason: BTreeMap<Undecodable, u64>,
    /// TCP segments with a data offset below 5 (counted in `tcp` too, as Wireshark streams them).
    pub tcp_bad_header_len: u64,
    /// TCP segments whose checksum was verified and wrong (counted in `tcp` too,
    /// but not fed to the state machines).
    pub tcp_bad_checksum: u64,
    /// Fragment frames not counted as what their datagram carried: all but
    /// the completing frame of a reassembled datagram, and every fragment of a
    /// datagram that was dropped or never completed, by fate.
    pub ip_fragments: u64,
    #[serde(serialize_with = "by_name")]
    /// IP fragment frames by what became of them.
    pub ip_fragments_by_fate: BTreeMap<FragmentFate, u64>,
    /// IP datagrams rebuilt from fragments.
    pub reassembled_datagrams: u64,
    /// Datagrams dropped for overlapping fragments (RFC 5722).
    pub overlapping_datagrams: u64,
    /// Frames that went through each encapsulation.
    #[serde(serialize_with = "by_name")]
    pub encapsulations: BTreeMap<Encap, u64>,
}

/// Frames per set of encapsulations, counted while reading and moved into
/// [`FrameAccounting::encapsulations`] at the end: a frame's sets are few
/// and mostly the last one seen, where a map entry per encapsulation per
/// frame cost more than the rest of the frame's accounting.
#[derive(Debug, Default)]
pub(crate) struct EncapTally(Vec<(EncapSet, u64)>);

impl EncapTally {
    /// Counts one frame (or reassembled datagram) that went through `encaps`.
    pub(crate) fn count(&mut self, encaps: EncapSet) {
        if encaps.is_empty() {
            return;
        }
        if let Some(last) = self.0.last_mut().filter(|(set, _)| *set == encaps) {
            last.1 += 1;
            return;
        }
        match self.0.iter().position(|&(set, _)| set == encaps) {
            Some(i) => {
                let mut hit = self.0.swap_remove(i);
                hit.1 += 1;
                self.0.push(hit);
            }
            None => self.0.push((encaps, 1)),
        }
    }

    /// Adds the counts to `accounting`.
    pub(crate) fn settle(self, accounting: &mut FrameAccounting) {
        for (set, n) in self.0 {
            for e in set.iter() {
                *accounting.encapsulations.entry(e).or_default() += n;
            }
        }
    }
}

impl FrameAccounting {
    /// Counts one frame read and the packets it carried beyond its first.
    pub fn count_frame(&mut self, more_packets: u64) {
        self.frames += 1;
        self.amsdu_subframes += more_packets;
    }

    /// Counts one packet (a frame's, or an A-MSDU subframe) by what it is.
    pub fn count(&mut self, d: &Decoded) {
        match d {
            Decoded::Tcp(s) => {
                self.tcp += 1;
                if s.bad_header_len {
                    self.tcp_bad_header_len += 1;
                }
                if s.bad_checksum {
                    self.tcp_bad_checksum += 1;
                }
            }
            Decoded::OtherIp(p) => {
                self.other_ip += 1;
                *self.other_ip_by_protocol.entry(*p).or_default() += 1;
            }
            Decoded::NonIp(k) => {
                self.non_ip += 1;
                *self.non_ip_by_kind.entry(*k).or_default() += 1;
            }
            Decoded::Undecodable(r) => {
                self.undecodable += 1;
                *self.undecodable_by_reason.entry(r.clone()).or_default() += 1;
            }
        }
    }

    /// Counts the encapsulations a frame (or a reassembled datagram) revealed.
    pub fn count_encaps(&mut self, encaps: EncapSet) {
        if encaps.is_empty() {
            return;
        }
        for e in encaps.iter() {
            *self.encapsulations.entry(e).or_default() += 1;
        }
    }

    /// Counts the fragments the reassembler settled (their frames were
    /// counted when read).
    pub fn count_fragments(&mut self, stats: FragmentStats) {
        for (fate, n) in stats.frames_by_fate {
            self.ip_fragments += n;
            *self.ip_fragments_by_fate.entry(fate).or_default() += n;
        }
        self.reassembled_datagrams += stats.datagrams_reassembled;
        self.overlapping_datagrams += stats.datagrams_overlapping;
    }

    /// True when the five classes add up to the packets read.
    pub fn is_balanced(&self) -> bool {
        self.tcp + self.other_ip + self.non_ip + self.undecodable + self.ip_fragments
            == self.frames + self.amsdu_subframes
    }
}

/// Serialises a breakdown with its keys' display names, e.g. `{"UDP": 3}`.
fn by_name<K: std::fmt::Display, S: serde::Serializer>(
    map: &BTreeMap<K, u64>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    ser.collect_map(map.iter().map(|(k, v)| (k.to_string(), v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(encaps: &[Encap]) -> EncapSet {
        let mut s = EncapSet::default();
        for &e in encaps {
            s.insert(e);
        }
        s
    }

    /// Interleaved sets count every encapsulation of every frame, however
    /// the tally reorders its sets.
    #[test]
    fn the_encapsulation_tally_adds_up_per_encapsulation() {
        let vlan = set(&[Encap::Vlan]);
        let vlan_mpls = set(&[Encap::Vlan, Encap::Mpls]);
        let mut tally = EncapTally::default();
        for set in [vlan, vlan, vlan_mpls, vlan, EncapSet::default(), vlan_mpls] {
            tally.count(set);
        }
        let mut a = FrameAccounting::default();
        a.count_encaps(set(&[Encap::Mpls]));
        tally.settle(&mut a);
        let got: Vec<(Encap, u64)> = a.encapsulations.into_iter().collect();
        assert_eq!(got, vec![(Encap::Vlan, 5), (Encap::Mpls, 3)]);
    }
}
