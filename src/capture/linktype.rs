//! Link-layer header types we name in reports (values from tcpdump's LINKTYPE_ list).

/// BSD loopback, host byte order family.
pub const NULL: u16 = 0;
/// Ethernet II.
pub const ETHERNET: u16 = 1;
/// DLT_RAW as some BSDs wrote it into files before LINKTYPE_RAW existed.
pub const RAW_BSD12: u16 = 12;
/// DLT_RAW as OpenBSD wrote it.
pub const RAW_BSD14: u16 = 14;
/// Raw IPv4 or IPv6, version in the first nibble.
pub const RAW: u16 = 101;
/// OpenBSD loopback, network byte order family.
pub const LOOP: u16 = 108;
/// Linux cooked capture v1 (`tcpdump -i any`).
pub const LINUX_SLL: u16 = 113;
/// Raw IPv4.
pub const IPV4: u16 = 228;
/// Raw IPv6.
pub const IPV6: u16 = 229;
/// Linux cooked capture v2.
pub const LINUX_SLL2: u16 = 276;
/// Not a link type: marks pcapng records that are not packets (systemd journal entries).
pub const NOT_A_PACKET: u16 = u16::MAX;

/// Wireshark-style short name of a link type, for reports.
pub fn name(lt: u16) -> String {
    let known = match lt {
        NULL => "NULL",
        ETHERNET => "EN10MB",
        RAW | RAW_BSD12 | RAW_BSD14 => "RAW",
        LOOP => "LOOP",
        LINUX_SLL => "LINUX_SLL",
        IPV4 => "IPV4",
        IPV6 => "IPV6",
        LINUX_SLL2 => "LINUX_SLL2",
        6 => "IEEE802_5",
        9 => "PPP",
        105 => "IEEE802_11",
        127 => "IEEE802_11_RADIOTAP",
        147..=162 => "USER",
        _ => "",
    };
    if known.is_empty() {
        format!("linktype {lt}")
    } else {
        format!("{known} ({lt})")
    }
}
