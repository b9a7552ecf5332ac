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

/// Letters held inline: nearly every history is shorter ("ShADadFf").
const INLINE_LETTERS: usize = 22;

/// The letters of a history: inline while they are few and ASCII (every
/// letter Zeek logs is), in a boxed `String` past that (a box keeps the
/// inline form's size).
#[derive(Clone, Debug)]
enum Letters {
    Inline {
        len: u8,
        buf: [u8; INLINE_LETTERS],
    },
    // The box keeps the enum at 24 bytes (a bare String would make it 32).
    #[allow(clippy::box_collection)]
    Heap(Box<String>),
}

impl Default for Letters {
    fn default() -> Letters {
        Letters::Inline {
            len: 0,
            buf: [0; INLINE_LETTERS],
        }
    }
}

impl Letters {
    fn push(&mut self, c: char) {
        match self {
            Letters::Inline { len, buf } if c.is_ascii() && usize::from(*len) < INLINE_LETTERS => {
                buf[usize::from(*len)] = c as u8;
                *len += 1;
            }
            Letters::Inline { .. } => {
                let mut s = String::with_capacity(2 * INLINE_LETTERS);
                s.push_str(self.as_str());
                s.push(c);
                *self = Letters::Heap(Box::new(s));
            }
            Letters::Heap(s) => s.push(c),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Only ASCII is ever stored inline, so this never fails.
            Letters::Inline { len, buf } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or_default()
            }
            Letters::Heap(s) => s,
        }
    }
}

/// The history string and which once-only letters it already holds.
#[derive(Clone, Debug, Default)]
pub(super) struct History {
    letters: Letters,
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

    /// Whether every once-only letter of `mask` (responder's bits already
    /// shifted) is logged.
    #[inline]
    pub(super) fn has_seen(&self, mask: u32) -> bool {
        self.seen & mask == mask
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
        self.letters.as_str()
    }
}

/// A letter logged at the 1st, 10th, 100th... occurrence
/// (`Connection::ScaledHistoryEntry` with its default base of 10), in one
/// word: the count, and [`Scaled::RESTARTED`] once it has passed the
/// largest power of ten and restarted (the next threshold is then that
/// power again, not the next one after the count).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Scaled(u32);

impl Scaled {
    const RESTARTED: u32 = 1 << 31;
    /// The largest power of ten a `u32` threshold reaches.
    const TOP: u32 = 1_000_000_000;

    /// Counts one occurrence; true when the letter is to be logged. Past
    /// the largest power of ten the counter restarts, as Zeek's does.
    pub(super) fn hit(&mut self) -> bool {
        let restarted = self.0 & Self::RESTARTED;
        let count = (self.0 & !Self::RESTARTED) + 1;
        // The threshold is the first power of ten above the last logged
        // count: before a restart every power of ten is one.
        let logged = if restarted == 0 {
            is_power_of_ten(count)
        } else {
            count == Self::TOP
        };
        self.0 = if count == Self::TOP {
            Self::RESTARTED
        } else {
            restarted | count
        };
        logged
    }
}

fn is_power_of_ten(n: u32) -> bool {
    matches!(
        n,
        1 | 10
            | 100
            | 1_000
            | 10_000
            | 100_000
            | 1_000_000
            | 10_000_000
            | 100_000_000
            | 1_000_000_000
    )
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

    /// Zeek's counter and threshold, as the scaled letters were kept before
    /// they were packed in one word.
    struct TwoWords {
        count: u32,
        threshold: u32,
    }

    impl TwoWords {
        fn hit(&mut self) -> bool {
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

    #[test]
    fn one_word_counts_as_counter_and_threshold_do() {
        // From the start, and from just below every power of ten (the
        // largest one twice, across the restart).
        let mut starts = vec![(0, 1)];
        let mut p = 1u32;
        while let Some(next) = p.checked_mul(10) {
            starts.push((next - 5, next));
            p = next;
        }
        starts.push((p - 5, p));
        for (count, threshold) in starts {
            let mut two = TwoWords { count, threshold };
            let mut one = Scaled(count);
            for _ in 0..20 {
                assert_eq!(one.hit(), two.hit(), "from {count}");
            }
        }
        // Across the restart and on to the next logged hit.
        let mut two = TwoWords {
            count: Scaled::TOP - 1,
            threshold: Scaled::TOP,
        };
        let mut one = Scaled(Scaled::TOP - 1);
        assert!(one.hit() && two.hit());
        let mut two_restarted = TwoWords {
            count: Scaled::TOP - 3,
            threshold: Scaled::TOP,
        };
        let mut one_restarted = Scaled(Scaled::RESTARTED | (Scaled::TOP - 3));
        for _ in 0..10 {
            assert_eq!(one_restarted.hit(), two_restarted.hit());
        }
        assert_eq!((one.0, two.count), (Scaled::RESTARTED, 0));
        assert!(
            !one.hit() && !two.hit(),
            "after a restart, 1 is no threshold"
        );
    }

    #[test]
    fn long_histories_move_to_the_heap_intact() {
        let mut h = History::default();
        let mut want = String::new();
        for i in 0..60u8 {
            let c = if i == 30 {
                'é'
            } else {
                char::from(b'A' + i % 26)
            };
            h.add(c);
            want.push(c);
            assert_eq!(h.as_str(), want);
        }
        let mut h = History::default();
        h.add('é');
        h.add('S');
        assert_eq!(h.as_str(), "éS");
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
