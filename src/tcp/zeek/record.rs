//! What Zeek logs when it removes a connection (`connection_state_remove`
//! in `base/protocols/conn/main.zeek`): one conn.log record.

use crate::model::Endpoint;
use crate::tcp::inline_vec::InlineVec;

use super::endpoint::ZeekState;

/// One conn.log record: a connection from Zeek's creation of it to its
/// removal by a timer, by a SYN that reuses its ports, or by the capture's end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZeekRecord {
    /// Time of the packet that created it (`ts`), ns since the epoch.
    pub start_ns: i64,
    /// Zeek's `last_time`: the last packet that counted, which excludes
    /// those after both sides closed (so `duration` leaves out the final ACK).
    pub last_ns: i64,
    /// Frame number of the packet that created it.
    pub first_frame: u64,
    /// The originator (`id.orig_h`, `id.orig_p`), after Zeek's role flips.
    pub orig: Endpoint,
    /// The responder.
    pub resp: Endpoint,
    /// conn.log's `conn_state`.
    pub conn_state: &'static str,
    /// conn.log's `history`.
    pub history: String,
    /// Payload bytes from sequence numbers (`orig_bytes`, Zeek's `Size()`).
    pub orig_bytes: u64,
    /// The same for the responder.
    pub resp_bytes: u64,
    /// Bytes reported in content gaps (`missed_bytes`).
    pub missed_bytes: u64,
    /// Packets from the originator (`orig_pkts`, ConnSize's count).
    pub orig_pkts: u64,
    /// IP bytes from the originator (`orig_ip_bytes`).
    pub orig_ip_bytes: u64,
    /// Packets from the responder.
    pub resp_pkts: u64,
    /// IP bytes from the responder.
    pub resp_ip_bytes: u64,
    /// The Community ID of its endpoints (`community_id`, as Zeek's
    /// `policy/protocols/conn/community-id-logging.zeek` logs it).
    pub community_id: String,
}

impl ZeekRecord {
    /// `last_time - start_time`; conn.log leaves `duration` and the byte
    /// counts unset unless it is positive.
    pub fn duration_ns(&self) -> i64 {
        self.last_ns.saturating_sub(self.start_ns)
    }

    /// A Zeek-shaped uid ("C" and 17 base-62 characters) derived from what
    /// the record is, never from where it was read: the time of its first
    /// packet, its endpoints and that packet's frame number (which tells
    /// apart records of one stream, and stands in for the stream). The same
    /// capture gives the same uids however its path is spelled; different
    /// captures, even both read from stdin, give different ones.
    pub fn uid(&self) -> String {
        // FNV-1a over the identifying values: deterministic, not secret.
        let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u128::from(b);
                h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
            }
        };
        eat(&self.start_ns.to_le_bytes());
        for e in [self.orig, self.resp] {
            match e.addr {
                std::net::IpAddr::V4(a) => eat(&a.octets()),
                std::net::IpAddr::V6(a) => eat(&a.octets()),
            }
            eat(&e.port.to_le_bytes());
        }
        eat(&self.first_frame.to_le_bytes());
        let mut s = String::with_capacity(18);
        s.push('C');
        push_base62_digits(&mut s, h);
        s
    }
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 17 lowest base-62 digits of `h`, least significant first. Two
/// 128-bit divisions split off ten and seven digits, which then come from
/// 64-bit arithmetic: a 128-bit division per digit cost about a thousand
/// instructions per uid.
fn push_base62_digits(s: &mut String, h: u128) {
    const TEN: u128 = 62u128.pow(10);
    const SEVEN: u128 = 62u128.pow(7);
    let parts = [((h % TEN) as u64, 10), (((h / TEN) % SEVEN) as u64, 7)];
    for (mut part, digits) in parts {
        for _ in 0..digits {
            s.push(BASE62[(part % 62) as usize] as char);
            part /= 62;
        }
    }
}

/// conn.log's `conn_state` from the two endpoint states, their sizes and
/// the history, in the order `Conn::conn_state` (base/protocols/conn/
/// main.zeek) decides it.
pub(super) fn conn_state(
    os: ZeekState,
    rs: ZeekState,
    orig_size: u64,
    resp_size: u64,
    history: &str,
) -> &'static str {
    use ZeekState::*;
    let o_inactive = matches!(os, Inactive | Partial);
    let r_inactive = matches!(rs, Inactive | Partial);
    if rs == Reset {
        if matches!(os, SynSent | SynAckSent) || (os == Reset && orig_size == 0 && resp_size == 0) {
            "REJ"
        } else if o_inactive {
            "RSTRH"
        } else {
            "RSTR"
        }
    } else if os == Reset {
        if !r_inactive {
            "RSTO"
        } else if rstos0_pattern(history) {
            "RSTOS0"
        } else {
            "OTH"
        }
    } else if rs == Closed && os == Closed {
        "SF"
    } else if os == Closed {
        if r_inactive {
            "SH"
        } else {
            "S2"
        }
    } else if rs == Closed {
        if o_inactive {
            "SHR"
        } else {
            "S3"
        }
    } else if os == SynSent && rs == Inactive {
        "S0"
    } else if os == Established && rs == Established {
        "S1"
    } else {
        "OTH"
    }
}

/// Zeek's `/\^?S[^HAFGIQ]*R.*/ == c$history`, a whole-string match: the
/// originator's SYN, then a RST with no handshake or data letters between.
pub(super) fn rstos0_pattern(history: &str) -> bool {
    let h = history.strip_prefix('^').unwrap_or(history);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        if c == 'R' {
            return true;
        }
        if "HAFGIQ".contains(c) {
            return false;
        }
    }
    false
}

/// The Zeek records of one connection (one Wireshark stream part): those
/// any of its packets belong to, in order of their first packet. Zeek's
/// timers and reuse rule may split a stream into several; a record whose
/// packets fall in two streams (Zeek's key ignores tunnels) is in both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZeekView {
    records: Vec<ZeekRecord>,
    /// Per record: this connection holds its first packet, so conn.log
    /// writes it with this connection (each record is written once).
    owned: InlineVec<bool, 16>,
}

impl ZeekView {
    /// Adds a finished record; `owned` when this connection writes it.
    pub(crate) fn push(&mut self, record: ZeekRecord, owned: bool) {
        if self.records.capacity() == 0 {
            // Nearly every connection is one record: no room for four.
            self.records.reserve_exact(1);
        }
        self.records.push(record);
        self.owned.push(owned);
    }

    /// Puts the records in order of their first packet.
    pub(crate) fn sort(&mut self) {
        if self
            .records
            .windows(2)
            .all(|w| w[0].first_frame <= w[1].first_frame)
        {
            return;
        }
        let mut pairs: Vec<(ZeekRecord, bool)> = std::mem::take(&mut self.records)
            .into_iter()
            .zip(std::mem::take(&mut self.owned).iter().copied())
            .collect();
        pairs.sort_by_key(|(r, _)| r.first_frame);
        for (record, owned) in pairs {
            self.push(record, owned);
        }
    }

    /// All records the connection's packets belong to.
    pub fn records(&self) -> &[ZeekRecord] {
        &self.records
    }

    /// The records conn.log writes with this connection.
    pub fn owned(&self) -> impl Iterator<Item = &ZeekRecord> {
        self.records
            .iter()
            .zip(self.owned.iter())
            .filter(|(_, &o)| o)
            .map(|(r, _)| r)
    }

    fn first(&self) -> Option<&ZeekRecord> {
        self.records.first()
    }

    /// The first record's `conn_state` (the `conn_state` column of the
    /// table, CSV and JSON; [`ZeekView::records`] has every record's).
    pub fn conn_state(&self) -> &'static str {
        self.first().map_or("OTH", |r| r.conn_state)
    }

    /// The first record's `history`.
    pub fn history(&self) -> &str {
        self.first().map_or("", |r| r.history.as_str())
    }

    /// The first record's payload bytes per role, from sequence numbers.
    pub fn bytes(&self) -> (u64, u64) {
        self.first()
            .map_or((0, 0), |r| (r.orig_bytes, r.resp_bytes))
    }

    /// Content-gap bytes of all the records.
    pub fn missed_bytes(&self) -> u64 {
        self.records.iter().map(|r| r.missed_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rstos0_regex() {
        assert!(rstos0_pattern("SR"));
        assert!(rstos0_pattern("^STR"));
        // Case matters: the responder's lowercase h does not stop the match.
        assert!(rstos0_pattern("ShR"));
        assert!(!rstos0_pattern("SHR"));
        assert!(!rstos0_pattern("DR"));
    }

    fn record(start_ns: i64, first_frame: u64) -> ZeekRecord {
        let e = |a: &str, port| Endpoint {
            addr: a.parse().unwrap(),
            port,
        };
        ZeekRecord {
            start_ns,
            last_ns: start_ns,
            first_frame,
            orig: e("10.0.0.1", 40000),
            resp: e("10.0.0.2", 80),
            conn_state: "S0",
            history: "S".into(),
            orig_bytes: 0,
            resp_bytes: 0,
            missed_bytes: 0,
            orig_pkts: 1,
            orig_ip_bytes: 60,
            resp_pkts: 0,
            resp_ip_bytes: 0,
            community_id: String::new(),
        }
    }

    #[test]
    fn base62_digits_are_those_of_one_division_per_digit() {
        let mut x: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        for h in (0..200u128)
            .map(|i| {
                x = x.wrapping_mul(0x0100_0000_0000_0000_0000_013b) ^ i;
                x >> (i % 128)
            })
            .chain([0, 1, 61, 62, u128::MAX])
        {
            let mut fast = String::new();
            push_base62_digits(&mut fast, h);
            let (mut slow, mut rest) = (String::new(), h);
            for _ in 0..17 {
                slow.push(BASE62[(rest % 62) as usize] as char);
                rest /= 62;
            }
            assert_eq!(fast, slow, "{h}");
        }
    }

    #[test]
    fn uids_come_from_the_record_and_look_like_zeeks() {
        let a = record(1_000, 1).uid();
        assert_eq!(a, record(1_000, 1).uid());
        assert_ne!(a, record(1_001, 1).uid(), "another first packet time");
        assert_ne!(a, record(1_000, 7).uid(), "another record of the stream");
        assert_eq!(a.len(), 18);
        assert!(a.starts_with('C') && a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
