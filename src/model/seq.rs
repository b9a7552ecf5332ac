//! TCP sequence numbers: 32-bit counters that wrap, compared with serial
//! number arithmetic (RFC 1982, RFC 9293 section 3.4). This is the only place
//! in the crate that does wrap-around arithmetic on sequence numbers; every
//! analyser compares and advances them through [`SeqNum`].

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Sub};

/// A sequence (or acknowledgement) number. Ordered by serial arithmetic: `a <
/// b` when `b` is less than 2^31 ahead of `a`, so the order is correct across
/// the wrap. It is a partial order: numbers exactly 2^31 apart (which the RFC
/// leaves undefined) compare as `a < b` both ways round, and so as `a <= b`
/// but not `b >= a`; that is why `SeqNum` implements `PartialOrd` but not
/// `Ord`, and why `x <= y` and `y >= x` are not interchangeable there.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// How far `self` is ahead of `other` (negative when behind).
    pub fn since(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// The bytes from `other` up to `self`, counted forward (wrapping): for
    /// offsets such as Wireshark's relative sequence numbers.
    pub fn offset_from(self, other: SeqNum) -> u32 {
        self.0.wrapping_sub(other.0)
    }

    /// The later of two numbers.
    pub fn max(self, other: SeqNum) -> SeqNum {
        if other > self {
            other
        } else {
            self
        }
    }

    /// Is `self` in the window `[left, left + len)`?
    pub fn in_window(self, left: SeqNum, len: u32) -> bool {
        self.offset_from(left) < len
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.since(*other).cmp(&0))
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n))
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::SeqNum;

    #[test]
    fn order_holds_across_the_wrap() {
        let top = SeqNum(u32::MAX - 1);
        let wrapped = top + 10;
        assert_eq!(wrapped, SeqNum(8));
        assert!(wrapped > top);
        assert!(top < wrapped);
        assert!(top <= top);
        assert_eq!(wrapped.since(top), 10);
        assert_eq!(top.since(wrapped), -10);
        assert_eq!(top.max(wrapped), wrapped);
        assert_eq!(wrapped - 10, top);
        assert!(SeqNum(5).in_window(top, 8));
        assert!(!SeqNum(6).in_window(top, 8));
        assert_eq!(SeqNum(3).offset_from(SeqNum(u32::MAX)), 4);
    }

    /// Exactly 2^31 apart, each number is behind the other: `<` and `<=` hold
    /// both ways round, `>` and `>=` neither way, and `max` keeps `self`.
    #[test]
    fn half_the_space_apart_each_is_behind_the_other() {
        let (a, b) = (SeqNum(7), SeqNum(7) + (1 << 31));
        assert!(a < b && b < a);
        assert!(a <= b && b <= a);
        assert_eq!(a.partial_cmp(&b), Some(std::cmp::Ordering::Less));
        assert_eq!(b.partial_cmp(&a), Some(std::cmp::Ordering::Less));
        assert!(!a.gt(&b) && !b.gt(&a));
        assert!(!a.ge(&b) && !b.ge(&a));
        assert_eq!(a.since(b), i32::MIN);
        assert_eq!(b.since(a), i32::MIN);
        assert_eq!(a.max(b), a);
        assert_eq!(b.max(a), b);
    }
}
