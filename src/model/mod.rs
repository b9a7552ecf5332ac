//! The vocabulary every layer speaks: which side of a connection ([`Side`]),
//! sequence numbers and their wrap-around ordering ([`SeqNum`]), the window
//! scale rule ([`scaled_window`]), a decoded TCP [`Segment`] with its flags and
//! options, and where it was found ([`Path`]: VLANs and tunnels).
//!
//! This module depends on nothing else in the crate; everything else depends
//! on it. A rule that more than one layer needs lives here, once.

mod community_id;
mod path;
mod prefetch;
mod segment;
mod seq;
mod side;
mod window;

pub use community_id::{community_id_v1, tcp_community_id, PROTO_TCP};
pub use path::{Encap, EncapSet, Path, TunnelHop, TunnelPath, VlanStack};
pub(crate) use prefetch::prefetch;
pub use segment::{Endpoint, Segment, TcpFlags, TcpOptions, WireFacts};
pub use seq::SeqNum;
pub use side::Side;
pub use window::{scaled_window, PeerSyn, MAX_WINDOW_SHIFT};
