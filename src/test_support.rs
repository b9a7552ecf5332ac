//! Support for the library's unit tests: the test-capture generator's
//! conversations (the dev-only `tcpstate-synth` crate) decoded by the real
//! decoder.

use tcpstate_synth::{frame, Conv, Link};

use crate::model::{Segment, Side};

/// The generator's segments as a capture would deliver them to the machines:
/// each one encoded to a raw-IP frame, decoded back by the real decoder, and
/// paired with its sender, as the library's [`Side`] (the generator has its own
/// `Side`: the client is whoever sends from the conversation's client address).
/// For tests of everything downstream of decoding.
pub(crate) fn decoded_segments(conv: &Conv) -> Vec<(Segment, Side)> {
    use crate::capture::{linktype, RawPacket};
    use crate::decode::{decode, Decoded};
    let client = conv.addr(tcpstate_synth::Side::Client);
    conv.segments()
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let bytes = frame(&Link::Raw, s);
            let raw = RawPacket {
                frame: i as u64 + 1,
                ts_ns: s.ts_ns as i64,
                linktype: linktype::RAW,
                data: &bytes,
                orig_len: bytes.len() as u32,
            };
            let Decoded::Tcp(seg) = decode(&raw) else {
                return None;
            };
            let side = if s.src == client {
                Side::Client
            } else {
                Side::Server
            };
            Some((seg, side))
        })
        .collect()
}

/// The shipped captures (testdata/real and testdata/synth, not the bad
/// ones in subfolders), sorted: what the writers' byte-for-byte checks run on.
pub(crate) fn shipped_captures() -> Vec<String> {
    let mut captures: Vec<String> = Vec::new();
    for dir in ["testdata/real", "testdata/synth"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                captures.push(p.display().to_string());
            }
        }
    }
    captures.sort();
    captures
}

/// One connection's segments in capture order: each with its sender and the
/// flow layer's "reused ports" flag, as the pipeline hands them to the
/// per-connection analysers.
pub(crate) type Stream = Vec<(Segment, Side, bool)>;

/// The inputs a fast path is compared with its full rules on: every
/// connection of every shipped capture, then 1,500 random streams of 60
/// segments; and how many came from the captures.
pub(crate) fn equivalence_streams() -> (Vec<Stream>, usize) {
    let mut streams = Vec::new();
    for path in shipped_captures() {
        streams.extend(capture_streams(&path));
    }
    let from_captures = streams.len();
    streams.extend(random_streams(1500, 60, 0x5eed));
    (streams, from_captures)
}

/// Every TCP connection of a capture, split as the flow layer splits them
/// (endpoint pair and Wireshark's stream rule).
pub(crate) fn capture_streams(path: &str) -> Vec<Stream> {
    use crate::capture::{CaptureReader, Input};
    use crate::decode::{decode, Decoded};
    use crate::flow::{FlowTable, KeyOptions, Keyer};
    let mut reader = CaptureReader::open(&Input::Path(path.into())).unwrap();
    let mut keyer = Keyer::new(KeyOptions::default());
    let mut table: FlowTable<usize> = FlowTable::new();
    let mut streams: Vec<Stream> = Vec::new();
    while let Ok(Some(pkt)) = reader.next_packet() {
        let Decoded::Tcp(seg) = decode(&pkt) else {
            continue;
        };
        let key = keyer.key(&seg);
        let next = streams.len();
        let p = table.add(key, &seg, || next);
        if p.new {
            streams.push(Vec::new());
        }
        let conn = *table.data(p.slot);
        streams[conn].push((seg, p.side, p.reused_ports));
    }
    streams
}

/// Random segment streams for comparing two ways of analysing the same
/// segments: mostly in-order data and ACKs, mixed with every kind of
/// exception (SYN, FIN, RST and invalid flag mixes, gaps, old and repeated
/// numbers, zero and changing windows, window scale and timestamp options,
/// reused ports, short and bad headers), from a fixed seed.
pub(crate) fn random_streams(count: usize, len: usize, seed: u64) -> Vec<Stream> {
    use crate::model::{SeqNum, TcpFlags as F};
    let mut state = seed | 1;
    let mut rnd = move |n: u64| {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 16) % n
    };
    let flag_mixes: [(u16, u64); 12] = [
        (F::ACK, 40),
        (F::ACK | F::PSH, 30),
        (F::ACK | F::FIN, 4),
        (F::SYN, 3),
        (F::SYN | F::ACK, 3),
        (F::RST, 2),
        (F::RST | F::ACK, 2),
        (F::FIN, 1),
        (0, 1),
        (F::SYN | F::FIN, 1),
        (F::FIN | F::PSH | F::URG, 1),
        (F::ACK | F::URG, 1),
    ];
    let weight: u64 = flag_mixes.iter().map(|(_, w)| w).sum();
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        // Sequence numbers near the 2^32 wrap half the time.
        let isn = |r: u64| {
            if r.is_multiple_of(2) {
                r as u32
            } else {
                u32::MAX - (r % 5000) as u32
            }
        };
        let (isn_c, isn_s) = (isn(rnd(1 << 32)), isn(rnd(1 << 32)));
        let mut conv = Conv::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            isn_c,
            isn_s,
        );
        // Most streams open with a handshake, some start mid-connection.
        if rnd(5) != 0 {
            conv.handshake();
        } else {
            conv.data(tcpstate_synth::Side::Client, 10);
        }
        let mut stream: Stream = decoded_segments(&conv)
            .into_iter()
            .map(|(seg, side)| (seg, side, false))
            .collect();
        let template = stream[0].0.clone();
        let mut ts = stream.last().map_or(0, |(s, _, _)| s.ts_ns);
        // Per side, the next sequence number it would send.
        let mut next = [SeqNum(isn_c.wrapping_add(1)), SeqNum(isn_s.wrapping_add(1))];
        for frame in stream.len() as u64 + 1..=len as u64 {
            let side = if rnd(2) == 0 {
                Side::Client
            } else {
                Side::Server
            };
            let (i, r) = (side.idx(), side.peer().idx());
            let mut seg = template.clone();
            if side == Side::Server {
                std::mem::swap(&mut seg.src, &mut seg.dst);
            }
            let mut pick = rnd(weight);
            let mut flags = F::ACK;
            for (f, w) in flag_mixes {
                if pick < w {
                    flags = f;
                    break;
                }
                pick -= w;
            }
            seg.flags = F(flags);
            seg.payload_len = [0, 0, 0, 1, 100, 1448, 1448][rnd(7) as usize];
            if flags & (F::SYN | F::RST) != 0 && rnd(4) != 0 {
                seg.payload_len = 0;
            }
            let seq = match rnd(12) {
                0 => next[i] - seg.payload_len.max(1),
                1 => next[i] + 1448,
                2 => next[i] - 1,
                3 => SeqNum(rnd(1 << 32) as u32),
                _ => next[i],
            };
            let ack = match rnd(12) {
                0 => next[r] - 100,
                1 => next[r] + 1448,
                2 => SeqNum(rnd(1 << 32) as u32),
                _ => next[r],
            };
            seg.seq = seq.0;
            seg.ack = ack.0;
            seg.window = [0, 1, 512, 8192, 65535, 65535, 65535][rnd(7) as usize];
            seg.options.window_scale = match rnd(4) {
                0 => None,
                1 => Some(14),
                _ => Some(rnd(8) as u8),
            };
            seg.options.timestamp =
                (rnd(2) == 0).then(|| (rnd(1 << 20) as u32, rnd(1 << 20) as u32));
            seg.bad_header_len = rnd(300) == 0;
            seg.short_segment = rnd(300) == 0;
            ts += [0, 1_000, 50_000, 2_000_000, 30_000_000, 70_000_000_000][rnd(6) as usize];
            seg.ts_ns = ts;
            seg.frame = frame;
            let occupies = seg.payload_len + u32::from(flags & (F::SYN | F::FIN) != 0);
            if seq + occupies > next[i] {
                next[i] = seq + occupies;
            }
            stream.push((seg, side, rnd(200) == 0));
        }
        streams.push(stream);
    }
    streams
}
