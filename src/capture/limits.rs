//! The hard limits the reader holds every capture to: how long a record or
//! a pcapng block may claim to be, and the range of timestamps it returns.

/// Largest captured packet we accept: anything above is a corrupt length field.
pub const MAX_RECORD_LEN: u32 = 256 * 1024 * 1024;
/// Largest pcapng block: a maximal packet plus generous room for headers and options.
pub(super) const MAX_BLOCK_LEN: u32 = MAX_RECORD_LEN + 64 * 1024;

/// Latest timestamp the reader returns: 2^62 - 1 ns after the epoch (year 2116).
/// Timestamps are kept within [`MIN_TS_NS`, `MAX_TS_NS`], so the difference of
/// any two fits in an i64 and later stages may subtract them freely. Classic
/// pcap's 32-bit seconds end in 2106; only a pcapng timestamp or if_tsoffset
/// (corrupt, or absurd) can go beyond, and is clamped.
pub const MAX_TS_NS: i64 = (1 << 62) - 1;
/// Earliest timestamp the reader returns: 2^62 ns before the epoch (year 1823).
pub const MIN_TS_NS: i64 = -(1 << 62);
