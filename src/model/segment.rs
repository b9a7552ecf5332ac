//! A decoded TCP segment and its parts: the unit every layer after decoding
//! consumes. Owned and compact, so it can be handed between threads.

use std::fmt;
use std::net::IpAddr;

use super::path::Path;

/// TCP flag bits, as they sit in the 12 low bits of header bytes 12-13.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: u16 = 0x001;
    /// Synchronize sequence numbers.
    pub const SYN: u16 = 0x002;
    /// Reset.
    pub const RST: u16 = 0x004;
    /// Push.
    pub const PSH: u16 = 0x008;
    /// Acknowledgement field valid.
    pub const ACK: u16 = 0x010;
    /// Urgent pointer valid.
    pub const URG: u16 = 0x020;
    /// ECN echo.
    pub const ECE: u16 = 0x040;
    /// Congestion window reduced.
    pub const CWR: u16 = 0x080;
    /// ECN nonce (RFC 3540).
    pub const NS: u16 = 0x100;

    /// Flag names in Wireshark's order, high bit first.
    pub const NAMES: [(u16, &'static str); 9] = [
        (Self::NS, "NS"),
        (Self::CWR, "CWR"),
        (Self::ECE, "ECE"),
        (Self::URG, "URG"),
        (Self::ACK, "ACK"),
        (Self::PSH, "PSH"),
        (Self::RST, "RST"),
        (Self::SYN, "SYN"),
        (Self::FIN, "FIN"),
    ];

    /// All of these bits are set.
    pub fn has(self, bits: u16) -> bool {
        self.0 & bits == bits
    }
    /// FIN is set.
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    /// SYN is set.
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    /// RST is set.
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
    /// ACK is set.
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }

    /// Names of the set flags, Wireshark's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(b, _)| self.0 & b != 0)
            .map(|(_, n)| n)
    }
}

impl fmt::Display for TcpFlags {
    /// `SYN,ACK` style; `<none>` when no flag is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for n in self.names() {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(n)?;
            first = false;
        }
        if first {
            f.write_str("<none>")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The TCP options later analysis needs; everything else is skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// Maximum segment size.
    pub mss: Option<u16>,
    /// Window scale announced on each side's SYN.
    pub window_scale: Option<u8>,
    /// The SYN allowed SACK.
    pub sack_permitted: bool,
    /// SACK blocks (left edge, right edge); `sack_count` of them are valid.
    pub sack: [(u32, u32); 4],
    /// How many SACK blocks are valid.
    pub sack_count: u8,
    /// (TSval, TSecr)
    pub timestamp: Option<(u32, u32)>,
}

impl TcpOptions {
    /// The valid SACK blocks.
    pub fn sack_blocks(&self) -> &[(u32, u32)] {
        &self.sack[..self.sack_count as usize]
    }
}

/// What the IP header and the bytes of a segment said beyond what the TCP
/// analysis needs: the facts a middlebox may change or that tell two
/// captures' copies of one packet apart, for comparing two vantage points
/// (`tcpstate diff`). Read by the same decoder, from the innermost IP header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireFacts {
    /// IPv4 identification (IPv6 has none outside fragments).
    pub ip_id: Option<u16>,
    /// IPv4 TTL or IPv6 hop limit; None for a datagram rebuilt from
    /// fragments (the fragments' headers are not kept).
    pub hop_limit: Option<u8>,
    /// IPv4 TOS or IPv6 traffic class: DSCP in the high six bits, ECN in the
    /// low two; None as for `hop_limit`.
    pub tos: Option<u8>,
    /// Which TCP option kinds the header carried: bit k for kind k below
    /// 31, bit 31 for any kind from 31 up (NOP and EOL included).
    pub option_kinds: u32,
    /// FNV-1a over the first [`WireFacts::DIGEST_BYTES`] captured payload
    /// bytes, 0 without payload: tells apart segments of equal length
    /// without hashing whole payloads on every frame.
    pub payload_digest: u32,
}

impl WireFacts {
    /// Payload bytes the digest covers.
    pub const DIGEST_BYTES: usize = 64;

    /// The digest of a payload's first [`WireFacts::DIGEST_BYTES`] bytes.
    pub fn digest(payload: &[u8]) -> u32 {
        if payload.is_empty() {
            return 0;
        }
        let mut h: u32 = 0x811c_9dc5;
        for &b in &payload[..payload.len().min(Self::DIGEST_BYTES)] {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        h
    }

    /// The option kind bits of a raw TCP options area (kind and length
    /// bytes; a bad length ends the walk, as it ends the decoder's).
    pub fn option_kinds_of(options: &[u8]) -> u32 {
        let mut bits = 0u32;
        let mut at = 0;
        while let Some(&kind) = options.get(at) {
            bits |= 1 << u32::from(kind).min(31);
            match kind {
                0 => break,
                1 => at += 1,
                _ => match options.get(at + 1) {
                    Some(&len) if len >= 2 => at += usize::from(len),
                    _ => break,
                },
            }
        }
        bits
    }
}

/// An IP address and port.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Endpoint {
    /// IP address.
    pub addr: IpAddr,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for Endpoint {
    /// `192.0.2.1:80` or `[2001:db8::1]:443`, as in URLs and Wireshark's conversation table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// One TCP packet, decoded and owned; what the flow layer and state machines consume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// 1-based frame number in the capture (Wireshark's `frame.number`).
    pub frame: u64,
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: i64,
    /// Source.
    pub src: Endpoint,
    /// Destination.
    pub dst: Endpoint,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// TCP flags.
    pub flags: TcpFlags,
    /// The raw window field; scaling is applied by the flow, which knows the SYN options.
    pub window: u16,
    /// Payload bytes as the IP header reports them (Wireshark's `tcp.len`).
    pub payload_len: u32,
    /// Payload bytes actually present in the capture.
    pub captured_payload_len: u32,
    /// Length of the IP packet on the wire (headers included): Zeek's ip_bytes.
    pub ip_len: u32,
    /// The TCP options that matter later.
    pub options: TcpOptions,
    /// The data offset was below 5 words: header fields past byte 16 are meaningless.
    pub bad_header_len: bool,
    /// The IP header reports fewer bytes than the TCP header needs, so the
    /// segment length is unknown (Wireshark's "short segment").
    pub short_segment: bool,
    /// The capture kept fewer bytes than the TCP header's length (a small
    /// snaplen cut into the options), so the header cannot be read whole.
    pub header_cut: bool,
    /// VLAN tags and tunnels the segment was found in (part of the connection key).
    pub path: Path,
    /// The TCP checksum was verified (only on request) and is wrong.
    pub bad_checksum: bool,
    /// IP header facts and a payload digest, for comparing captures.
    pub wire: WireFacts,
}
