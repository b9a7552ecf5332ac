//! Frame accounting: every frame read is counted exactly once, as analysed TCP,
//! other IP, non-IP, or undecodable with a reason, so the totals always add up
//! to the frames read and nothing in a capture goes unnoticed.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::decode::{Decoded, IpProtocol, NonIp, Undecodable};

/// Per-capture frame counts; `frames == tcp + other_ip + non_ip + undecodable`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrameAccounting {
    pub frames: u64,
    /// TCP segments placed in a connection.
    pub tcp: u64,
    /// IP packets of other protocols, by protocol name.
    pub other_ip: u64,
    #[serde(serialize_with = "by_name")]
    pub other_ip_by_protocol: BTreeMap<IpProtocol, u64>,
    /// Frames that are not IP, by kind (ARP, ethertype...).
    pub non_ip: u64,
    #[serde(serialize_with = "by_name")]
    pub non_ip_by_kind: BTreeMap<NonIp, u64>,
    /// Frames we could not decode, by reason.
    pub undecodable: u64,
    #[serde(serialize_with = "by_name")]
    pub undecodable_by_reason: BTreeMap<Undecodable, u64>,
    /// TCP segments with a data offset below 5 (counted in `tcp` too, as Wireshark streams them).
    pub tcp_bad_header_len: u64,
}

impl FrameAccounting {
    /// Counts one decoded frame.
    pub fn count(&mut self, d: &Decoded) {
        self.frames += 1;
        match d {
            Decoded::Tcp(s) => {
                self.tcp += 1;
                if s.bad_header_len {
                    self.tcp_bad_header_len += 1;
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

    /// True when the four classes add up to the frames read.
    pub fn is_balanced(&self) -> bool {
        self.tcp + self.other_ip + self.non_ip + self.undecodable == self.frames
    }
}

/// Serialises a breakdown with its keys' display names, e.g. `{"UDP": 3}`.
fn by_name<K: std::fmt::Display, S: serde::Serializer>(
    map: &BTreeMap<K, u64>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    ser.collect_map(map.iter().map(|(k, v)| (k.to_string(), v)))
}
