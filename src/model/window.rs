//! The window scale rule (RFC 7323 section 2): a side's window field is
//! shifted by the scale it announced on its SYN, only once both SYNs carried
//! the option, and never on a SYN itself. One function, used by every layer
//! that reads windows.

/// The largest shift RFC 7323 allows; larger announcements are treated as 14.
pub const MAX_WINDOW_SHIFT: u8 = 14;

/// The window a segment advertises, in bytes. `own` is the scale its sender
/// announced on its SYN, `peer` the scale the other side announced.
pub fn scaled_window(window: u16, is_syn: bool, own: Option<u8>, peer: Option<u8>) -> u32 {
    match (is_syn, own, peer) {
        (false, Some(s), Some(_)) => u32::from(window) << s.min(MAX_WINDOW_SHIFT),
        _ => u32::from(window),
    }
}

#[cfg(test)]
mod tests {
    use super::scaled_window;

    #[test]
    fn scaling_needs_both_syns_and_never_applies_to_a_syn() {
        assert_eq!(scaled_window(10, false, Some(7), Some(0)), 1280);
        assert_eq!(scaled_window(10, false, Some(7), None), 10);
        assert_eq!(scaled_window(10, true, Some(7), Some(7)), 10);
        assert_eq!(scaled_window(1, false, Some(20), Some(1)), 1 << 14);
    }
}
