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
