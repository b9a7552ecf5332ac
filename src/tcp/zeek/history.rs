//! conn.log's `history`: the letters, Zeek's once-per-direction masks and
//! its logarithmically scaled counters.

/// Bits of Zeek's `hist_seen` (`TCP_Endpoint::HistoryMasks`); the
/// responder's are shifted 16 bits up (`TCP_Endpoint::CheckHistory`).
pub(super) mod mask {
    pub const SYN: u32 = 0x1;
    pub const FIN: u32 = 0x2;
    pub const RST: u32 = 0x4;
    pub const FIN_RST: u32 = 0x8;
    pub const DATA: u32 = 0x10;
    pub const ACK: u32 = 0x20;
    pub const MULTI_FLAG: u32 = 0x40;
    /// `session::detail::HIST_UNKNOWN_PKT`, set on the session itself (no
    /// shift, no case change): the `X` of "analysis partial".
    pub const UNKNOWN: u32 = 0x400;
}

/// The history string and which once-only letters it already holds.
#[derive(Clone, Debug, Default)]
pub(super) struct History {
    letters: String,
    seen: u32,
}

impl History {
    /// Zeek's `Connection::AddHistory`: appended as given.
    pub(super) fn add(&mut self, code: char) {
        self.letters.push(code);
    }

    /// Zeek's `Connection::CheckHistory`: appends `code` the first time
    /// `mask` is seen; true if it had been seen before.
    pub(super) fn check(&mut self, mask: u32, code: char) -> bool {
        if self.seen & mask != 0 {
            return true;
        }
        self.seen |= mask;
        self.add(code);
        false
    }

    /// `TCP_Endpoint::CheckHistory`: the responder's letters are lower
    /// case and use the upper half of the mask.
    pub(super) fn check_endpoint(&mut self, is_orig: bool, mask: u32, upper: char) -> bool {
        if is_orig {
            self.check(mask, upper)
        } else {
            self.check(mask << 16, upper.to_ascii_lowercase())
        }
    }

    /// `TCP_Endpoint::AddHistory`: lower case for the responder.
    pub(super) fn add_endpoint(&mut self, is_orig: bool, upper: char) {
        self.add(if is_orig {
            upper
        } else {
            upper.to_ascii_lowercase()
        });
    }

    pub(super) fn as_str(&self) -> &str {
        &self.letters
    }
}

/// A letter logged at the 1st, 10th, 100th... occurrence
/// (`Connection::ScaledHistoryEntry` with its default base of 10).
#[derive(Clone, Copy, Debug)]
pub(super) struct Scaled {
    count: u32,
    threshold: u32,
}

impl Default for Scaled {
    fn default() -> Scaled {
        Scaled {
            count: 0,
            threshold: 1,
        }
    }
}

impl Scaled {
    /// Counts one occurrence; true when the letter is to be logged. Past
    /// the largest power of ten the counter restarts, as Zeek's does.
    pub(super) fn hit(&mut self) -> bool {
        self.count = self.count.wrapping_add(1);
        if self.count != self.threshold {
            return false;
        }
        match self.threshold.checked_mul(10) {
            Some(t) => self.threshold = t,
            None => self.count = 0,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_letters_come_at_one_ten_hundred() {
        let mut s = Scaled::default();
        let at: Vec<u32> = (1..=1000).filter(|_| s.hit()).collect();
        assert_eq!(at, [1, 10, 100, 1000]);
    }

    #[test]
    fn once_only_letters_are_per_direction() {
        let mut h = History::default();
        assert!(!h.check_endpoint(true, mask::DATA, 'D'));
        assert!(h.check_endpoint(true, mask::DATA, 'D'));
        assert!(!h.check_endpoint(false, mask::DATA, 'D'));
        assert!(!h.check(mask::UNKNOWN, 'X'));
        assert!(h.check(mask::UNKNOWN, 'X'));
        assert_eq!(h.as_str(), "DdX");
    }
}
