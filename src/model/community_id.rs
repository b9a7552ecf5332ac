//! Community ID v1: the flow hash Zeek, Suricata, Arkime, Wireshark and
//! Elastic share, so a connection of tcpstate joins their records by one
//! string. Specification: github.com/corelight/community-id-spec (README,
//! "Pseudo code" and "Technical details").

use std::net::IpAddr;

use super::Endpoint;

/// IANA protocol number of TCP.
pub const PROTO_TCP: u8 = 6;

/// The Community ID v1 of a TCP connection between `a` and `b` (either
/// order gives the same ID) under `seed` (0 unless a deployment chose
/// another: tools compare only IDs made with the same seed).
pub fn tcp_community_id(a: &Endpoint, b: &Endpoint, seed: u16) -> String {
    community_id_v1(a.addr, b.addr, PROTO_TCP, Some((a.port, b.port)), seed)
}

/// The Community ID v1 of a flow of IP protocol `proto` from `src` to `dst`,
/// with the ports (`None` for a protocol without ports; for ICMP, the type
/// and code already mapped to ports as the specification says).
///
/// The hash input is, in network byte order: the seed (2 bytes), the
/// smaller endpoint's address, the other address, the protocol, a zero
/// padding byte, then the two ports in the same order as the addresses
/// (when the protocol has them). The smaller endpoint is the one whose
/// address is smaller, or, for equal addresses, whose port is. The result
/// is `1:` and the base64 of the SHA-1 digest.
pub fn community_id_v1(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ports: Option<(u16, u16)>,
    seed: u16,
) -> String {
    let (sport, dport) = ports.unwrap_or((0, 0));
    let (src_bytes, dst_bytes) = (Addr::of(src), Addr::of(dst));
    let (first, second) = if (src_bytes.bytes(), sport) <= (dst_bytes.bytes(), dport) {
        ((src_bytes, sport), (dst_bytes, dport))
    } else {
        ((dst_bytes, dport), (src_bytes, sport))
    };
    // The whole input (40 bytes at most) straight into SHA-1's one block:
    // building it piece by piece in a hasher cost as much as the hashing.
    let mut block = [0u8; 64];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        block[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    put(&seed.to_be_bytes());
    put(first.0.bytes());
    put(second.0.bytes());
    put(&[proto, 0]);
    if ports.is_some() {
        put(&first.1.to_be_bytes());
        put(&second.1.to_be_bytes());
    }
    let digest = sha1_one_block(block, len);
    let mut id = [0u8; 2 + 28];
    id[..2].copy_from_slice(b"1:");
    put_base64(&mut id[2..], &digest);
    // Only ASCII was written.
    String::from_utf8(id.to_vec()).unwrap_or_default()
}

/// The SHA-1 digest (FIPS 180-4) of the first `len` bytes of `block`,
/// which must be fewer than 56 so that the padding (a 1 bit, zeros, the
/// length in bits as a big-endian 64-bit number) fits in the same block:
/// one compression, without a hasher's buffering.
fn sha1_one_block(mut block: [u8; 64], len: usize) -> [u8; 20] {
    debug_assert!(len < 56 && block[len..].iter().all(|&b| b == 0));
    block[len] = 0x80;
    block[56..].copy_from_slice(&(len as u64 * 8).to_be_bytes());
    let mut state = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    sha1::block_api::compress(&mut state, &[block]);
    let mut digest = [0u8; 20];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// An address's bytes in network order: 4 for IPv4, 16 for IPv6.
#[derive(Clone, Copy)]
struct Addr {
    octets: [u8; 16],
    len: usize,
}

impl Addr {
    fn of(a: IpAddr) -> Addr {
        let mut octets = [0; 16];
        match a {
            IpAddr::V4(v4) => {
                octets[..4].copy_from_slice(&v4.octets());
                Addr { octets, len: 4 }
            }
            IpAddr::V6(v6) => Addr {
                octets: v6.octets(),
                len: 16,
            },
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.octets[..self.len]
    }
}

/// Standard base64 (RFC 4648 section 4, with `=` padding) of `bytes` into
/// `out`, which holds exactly 4 characters for every 3 bytes begun.
fn put_base64(out: &mut [u8], bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (chunk, quad) in bytes.chunks(3).zip(out.chunks_mut(4)) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, c) in quad.iter_mut().enumerate() {
            *c = if i <= chunk.len() {
                ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]
            } else {
                b'='
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (proto, source, destination, ports, ID with seed 0, ID with seed 1).
    type Vector = (
        u8,
        &'static str,
        &'static str,
        Option<(u16, u16)>,
        &'static str,
        &'static str,
    );

    /// The published test vectors of the specification's repository,
    /// github.com/corelight/community-id-spec, `baseline/README.md` (the
    /// "Default settings" and "A custom seed=1 value" tables; their ICMP
    /// rows are left out, as they give type and code before the mapping to
    /// ports) and `baseline/baseline_deflt.json` with
    /// `baseline/baseline_seed1.json` (whose ICMP rows give the mapped ports).
    #[rustfmt::skip]
    const VECTORS: &[Vector] = &[
        // baseline/README.md
        (6, "1.2.3.4", "5.6.7.8", Some((1122, 3344)), "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
        (6, "5.6.7.8", "1.2.3.4", Some((3344, 1122)), "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
        (17, "1.2.3.4", "5.6.7.8", Some((1122, 3344)), "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
        (17, "5.6.7.8", "1.2.3.4", Some((3344, 1122)), "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
        (132, "1.2.3.4", "5.6.7.8", Some((1122, 3344)), "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s="),
        (132, "5.6.7.8", "1.2.3.4", Some((3344, 1122)), "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s="),
        (46, "1.2.3.4", "5.6.7.8", None, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8="),
        (46, "5.6.7.8", "1.2.3.4", None, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8="),
        (46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", None, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="),
        (46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", None, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="),
        // baseline/baseline_deflt.json and baseline/baseline_seed1.json
        (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", Some((135, 136)), "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="),
        (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", Some((136, 135)), "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="),
        (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", Some((135, 136)), "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="),
        (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", Some((136, 135)), "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="),
        (58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", Some((3, 0)), "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=", "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="),
        (58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", Some((1, 4)), "1:hLZd0XGWojozrvxqE0dWB1iM6R0=", "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8="),
        (58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", Some((128, 129)), "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="),
        (58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", Some((129, 128)), "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="),
        (58, "fe80::200:86ff:fe05:80da", "ff02::2", Some((133, 134)), "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=", "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="),
        (58, "fe80::260:97ff:fe07:69ea", "ff02::1", Some((134, 133)), "1:pkvHqCL88/tg1k4cPigmZXUtL00=", "1:K/ee5UCqAMAQXDorP5nSa2CGLjc="),
        (1, "192.168.0.89", "192.168.0.1", Some((8, 0)), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="),
        (1, "192.168.0.1", "192.168.0.89", Some((0, 8)), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="),
        (1, "10.0.0.1", "10.0.0.2", Some((11, 0)), "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20="),
        (6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", Some((63943, 25)), "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="),
        (6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", Some((25, 63943)), "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="),
        (132, "192.168.170.8", "192.168.170.56", Some((7, 7)), "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="),
        (132, "192.168.170.56", "192.168.170.8", Some((7, 7)), "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="),
        (6, "128.232.110.120", "66.35.250.204", Some((34855, 80)), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
        (6, "66.35.250.204", "128.232.110.120", Some((80, 34855)), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
        (17, "192.168.1.52", "8.8.8.8", Some((54585, 53)), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="),
        (17, "8.8.8.8", "192.168.1.52", Some((53, 54585)), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="),
        (46, "10.1.12.1", "10.1.12.2", None, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="),
        (46, "10.1.12.2", "10.1.12.1", None, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="),
    ];

    #[test]
    fn the_specifications_test_vectors() {
        for &(proto, src, dst, ports, seed0, seed1) in VECTORS {
            let (s, d) = (src.parse().unwrap(), dst.parse().unwrap());
            assert_eq!(
                community_id_v1(s, d, proto, ports, 0),
                seed0,
                "{src} {dst} {proto}"
            );
            assert_eq!(
                community_id_v1(s, d, proto, ports, 1),
                seed1,
                "{src} {dst} {proto}"
            );
        }
    }

    #[test]
    fn tcp_ids_ignore_direction() {
        let a = Endpoint {
            addr: "1.2.3.4".parse().unwrap(),
            port: 1122,
        };
        let b = Endpoint {
            addr: "5.6.7.8".parse().unwrap(),
            port: 3344,
        };
        assert_eq!(
            tcp_community_id(&a, &b, 0),
            "1:wCb3OG7yAFWelaUydu0D+125CLM="
        );
        assert_eq!(tcp_community_id(&b, &a, 0), tcp_community_id(&a, &b, 0));
        assert_eq!(
            tcp_community_id(&a, &b, 1),
            "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="
        );
    }

    #[test]
    fn one_block_sha1_is_sha1() {
        use sha1::{Digest, Sha1};
        for len in 0..56 {
            let mut block = [0u8; 64];
            for (i, b) in block[..len].iter_mut().enumerate() {
                *b = (i * 37 + len) as u8;
            }
            let want: [u8; 20] = Sha1::digest(&block[..len]).into();
            assert_eq!(sha1_one_block(block, len), want, "{len} bytes");
        }
    }

    #[test]
    fn base64_pads_as_rfc_4648_says() {
        // RFC 4648 section 10's test vectors.
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = vec![0; input.len().div_ceil(3) * 4];
            put_base64(&mut out, input.as_bytes());
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }
}
