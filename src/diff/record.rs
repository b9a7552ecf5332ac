//! What a comparison of two captures finds: one [`ConnDiff`] per connection
//! (matched, or seen in one capture only) and the [`DiffSummary`]. These are
//! the JSON objects `tcpstate diff --format json` writes, key for key in
//! field order (docs/REFERENCE.md lists them).

use serde::Serialize;

use crate::model::{Endpoint, Side};

/// How two connections were found to be one, or that no twin was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MatchedBy {
    /// Same addresses, ports and sequence numbers in both captures.
    #[serde(rename = "tuple")]
    Tuple,
    /// Addresses or ports differ (NAT, load balancer); sequence numbers equal.
    #[serde(rename = "nat")]
    Nat,
    /// Same addresses and ports; sequence numbers shifted (ISN rewriting).
    #[serde(rename = "isn_rewrite")]
    IsnRewrite,
    /// Both translated and shifted.
    #[serde(rename = "nat+isn_rewrite")]
    NatIsnRewrite,
    /// Seen in capture A only.
    #[serde(rename = "only_a")]
    OnlyA,
    /// Seen in capture B only.
    #[serde(rename = "only_b")]
    OnlyB,
}

impl MatchedBy {
    /// The name written in every output.
    pub fn name(self) -> &'static str {
        match self {
            MatchedBy::Tuple => "tuple",
            MatchedBy::Nat => "nat",
            MatchedBy::IsnRewrite => "isn_rewrite",
            MatchedBy::NatIsnRewrite => "nat+isn_rewrite",
            MatchedBy::OnlyA => "only_a",
            MatchedBy::OnlyB => "only_b",
        }
    }
}

/// How sure the match of two connections is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Paired on lengths, flags and timing only.
    Low,
    /// Backed by one or two segments whose IP ID, TCP timestamp or payload
    /// digest agree.
    Medium,
    /// Same 4-tuple and sequence numbers, or at least three segments with
    /// agreeing IP ID, timestamp or payload digest.
    High,
}

impl Confidence {
    /// The name written in every output.
    pub fn name(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// A direction of a connection, named from capture A's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Direction {
    /// Sent by A's client.
    #[serde(rename = "c2s")]
    ClientToServer,
    /// Sent by A's server.
    #[serde(rename = "s2c")]
    ServerToClient,
}

impl Direction {
    /// The direction of what `side` (in A) sends.
    pub fn of(side: Side) -> Direction {
        match side {
            Side::Client => Direction::ClientToServer,
            Side::Server => Direction::ServerToClient,
        }
    }

    /// `c2s` or `s2c`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::ClientToServer => "c2s",
            Direction::ServerToClient => "s2c",
        }
    }
}

/// One-way delay of one direction between the two points, corrected for
/// the clocks' offset and drift.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DelayStats {
    /// Which capture saw the segments first: `a` or `b`.
    pub upstream: &'static str,
    /// Matched segments the figures come from.
    pub segments: u64,
    /// Smallest delay, seconds.
    pub min_s: f64,
    /// Median delay, seconds.
    pub median_s: f64,
    /// 99th percentile, seconds.
    pub p99_s: f64,
    /// Mean absolute difference of consecutive delays (RFC 3550's
    /// interarrival jitter without its smoothing), seconds.
    pub jitter_s: f64,
}

/// Per direction, A's client to server first.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PerDirection<T> {
    /// Sent by A's client.
    pub c2s: T,
    /// Sent by A's server.
    pub s2c: T,
}

impl<T> PerDirection<T> {
    /// The value of one direction.
    pub fn get(&self, d: Direction) -> &T {
        match d {
            Direction::ClientToServer => &self.c2s,
            Direction::ServerToClient => &self.s2c,
        }
    }
    /// The value of one direction, to change.
    pub fn get_mut(&mut self, d: Direction) -> &mut T {
        match d {
            Direction::ClientToServer => &mut self.c2s,
            Direction::ServerToClient => &mut self.s2c,
        }
    }
}

/// A segment delivered in a different order downstream than upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Reordered {
    /// Its frame in A.
    pub a_frame: u64,
    /// Its frame in B.
    pub b_frame: u64,
}

/// Something the path between the points changed, first seen at these
/// frames; `count` matched segments showed it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// What changed: `nat`, `seq_offset`, `ttl`, `dscp`, `ecn`, `mss`,
    /// `window_scale`, `window`, `options`, `flags`, `client_states`,
    /// `server_states`.
    pub field: &'static str,
    /// The direction it was seen in (`c2s`/`s2c`), or `both` for the state
    /// histories.
    pub dir: &'static str,
    /// The value in A (the first time it differed).
    pub a: serde_json::Value,
    /// The value in B.
    pub b: serde_json::Value,
    /// Matched segments that showed a difference of this field.
    pub count: u64,
    /// The frame in A where it was first seen.
    pub a_frame: u64,
    /// The frame in B where it was first seen.
    pub b_frame: u64,
}

/// One connection as the two captures saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnDiff {
    /// `tcp.stream` in A; None when seen in B only.
    pub a_stream: Option<u64>,
    /// `tcp.stream` in B; None when seen in A only.
    pub b_stream: Option<u64>,
    /// How the two were matched.
    pub matched_by: MatchedBy,
    /// How sure the match is; None for a connection seen on one side only.
    pub confidence: Option<Confidence>,
    /// A's client, as A saw it (B's when seen in B only).
    #[serde(serialize_with = "endpoint")]
    pub a_client: Option<Endpoint>,
    /// A's server, as A saw it.
    #[serde(serialize_with = "endpoint")]
    pub a_server: Option<Endpoint>,
    /// The same client as B saw it (after translation).
    #[serde(serialize_with = "endpoint")]
    pub b_client: Option<Endpoint>,
    /// The same server as B saw it.
    #[serde(serialize_with = "endpoint")]
    pub b_server: Option<Endpoint>,
    /// Segments found in both captures.
    pub matched_segments: u64,
    /// Segments of the connection in A.
    pub a_segments: u64,
    /// Segments of the connection in B.
    pub b_segments: u64,
    /// Frames in A of segments B lacks (all of A's when seen in A only).
    pub missing_in_b: Vec<u64>,
    /// Frames in B of segments A lacks.
    pub missing_in_a: Vec<u64>,
    /// One-way delay per direction; None without matched segments.
    pub delay: PerDirection<Option<DelayStats>>,
    /// Segments whose order changed between the points, per direction.
    pub reordered: PerDirection<Vec<Reordered>>,
    /// What the path changed.
    pub changes: Vec<Change>,
    /// Whether both sides' RFC state histories are the same in both
    /// captures; None when seen on one side only.
    pub states_agree: Option<bool>,
}

/// The comparison as a whole.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DiffSummary {
    /// B's clock minus A's, seconds, at the start of A's first second
    /// with matched segments; None when no segment matched.
    pub offset_s: Option<f64>,
    /// Half the width of the interval the offset must lie in (the
    /// smallest round trip between the points, halved), or the spread of
    /// the fit if larger; None when segments matched in one direction only
    /// (then the offset includes that direction's path delay).
    pub offset_uncertainty_s: Option<f64>,
    /// How fast B's clock runs against A's, parts per million; None when
    /// no segment matched.
    pub drift_ppm: Option<f64>,
    /// Standard error of the drift; None with fewer than three time bins.
    pub drift_uncertainty_ppm: Option<f64>,
    /// Smallest one-way delay between the points (assuming equal delays
    /// both ways), seconds; None as for the uncertainty.
    pub path_delay_s: Option<f64>,
    /// Connections found in both captures.
    pub matched: u64,
    /// Connections in A only.
    pub only_a: u64,
    /// Connections in B only.
    pub only_b: u64,
    /// Segments of matched connections in A that B lacks.
    pub missing_in_b: u64,
    /// Segments of matched connections in B that A lacks.
    pub missing_in_a: u64,
    /// Segments found in both captures.
    pub matched_segments: u64,
    /// Segments reordered between the points.
    pub reordered: u64,
    /// Matched connections with some middlebox change.
    pub changed: u64,
    /// Matched connections whose state histories differ.
    pub states_disagree: u64,
    /// TCP segments read from A.
    pub segments_a: u64,
    /// TCP segments read from B.
    pub segments_b: u64,
    /// The matching window, seconds: copies further apart (after clock
    /// correction) are not matched.
    pub window_s: f64,
}

/// An endpoint as `addr:port` (`[v6]:port`), as everywhere in the output.
fn endpoint<S: serde::Serializer>(e: &Option<Endpoint>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.collect_str(e),
        None => s.serialize_none(),
    }
}
