//! The window scale rule (RFC 7323 section 2): a side's window field is
//! shifted by the scale it announced on its SYN, once the peer's SYN agreed
//! (carried the option too), and never on a SYN itself. One function, used
//! by every layer that reads windows.
//!
//! When the peer's SYN was not captured, the announced scale is applied as
//! Wireshark applies it (packet-tcp.c, `verify_tcp_window_scaling`): a
//! SYN-ACK may carry the option only if the SYN did (RFC 7323 2.2), and a
//! SYN's announcement is taken as agreed.

/// The largest shift RFC 7323 allows; larger announcements are treated as 14.
pub const MAX_WINDOW_SHIFT: u8 = 14;

/// What the capture shows of the peer's window scale option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerSyn {
    /// The peer's SYN (or SYN-ACK) was not captured.
    Unseen,
    /// The peer's SYN carried the option, with this shift.
    Scale(u8),
    /// The peer's SYN carried no window scale option: no scaling either way.
    NoScale,
}

impl PeerSyn {
    /// From whether the peer's SYN was seen and the scale it announced.
    pub fn of(syn_seen: bool, scale: Option<u8>) -> PeerSyn {
        match (syn_seen, scale) {
            (_, Some(s)) => PeerSyn::Scale(s),
            (true, None) => PeerSyn::NoScale,
            (false, None) => PeerSyn::Unseen,
        }
    }
}

/// The window a segment advertises, in bytes. `own` is the scale its sender
/// announced on its SYN, `peer` what the other side's SYN said.
pub fn scaled_window(window: u16, is_syn: bool, own: Option<u8>, peer: PeerSyn) -> u32 {
    match (is_syn, own, peer) {
        (false, Some(s), PeerSyn::Scale(_) | PeerSyn::Unseen) => {
            u32::from(window) << s.min(MAX_WINDOW_SHIFT)
        }
        _ => u32::from(window),
    }
}

#[cfg(test)]
mod tests {
    use super::{scaled_window, PeerSyn};

    #[test]
    fn scaling_needs_both_syns_and_never_applies_to_a_syn() {
        assert_eq!(scaled_window(10, false, Some(7), PeerSyn::Scale(0)), 1280);
        assert_eq!(scaled_window(10, false, Some(7), PeerSyn::NoScale), 10);
        assert_eq!(scaled_window(10, false, None, PeerSyn::Scale(7)), 10);
        assert_eq!(scaled_window(10, true, Some(7), PeerSyn::Scale(7)), 10);
        assert_eq!(
            scaled_window(1, false, Some(20), PeerSyn::Scale(1)),
            1 << 14
        );
    }

    #[test]
    fn a_scale_whose_answer_was_not_captured_applies_as_in_wireshark() {
        // A capture starting at the SYN-ACK: the server's scale applies, the
        // client's is unknown, its windows stay as on the wire.
        assert_eq!(scaled_window(64, false, Some(10), PeerSyn::Unseen), 65536);
        assert_eq!(scaled_window(64, false, None, PeerSyn::Scale(10)), 64);
        assert_eq!(PeerSyn::of(false, None), PeerSyn::Unseen);
        assert_eq!(PeerSyn::of(true, None), PeerSyn::NoScale);
        assert_eq!(PeerSyn::of(false, Some(3)), PeerSyn::Scale(3));
    }
}
