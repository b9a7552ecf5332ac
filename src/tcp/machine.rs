//! The paired RFC 9293 state machines: one per endpoint, client and server,
//! driven by the segments the capture saw, recording every transition.
//!
//! Three parts, each readable alone:
//!
//! * [`rules`]: RFC 9293's diagram as one pure function,
//!   [`step`]`(state, open, event) -> Option<(state, cause)>`, each arm
//!   naming its RFC section; [`is_rfc_edge`] is derived from it.
//! * `observer`: which event each segment is for each side, and at which
//!   frame (the vantage-point rule below); whether a segment was acceptable
//!   at all (window, RST and SYN-ACK checks); inference and withdrawal.
//! * `verdicts`: what only the capture's end reveals, and the [`Outcome`].
//!
//! # The vantage-point rule
//!
//! A capture sees segments on the wire, not the endpoints, so every transition
//! is attributed to a frame by one rule:
//!
//! * a **sender's** transition (sending SYN, FIN or RST) happens at the frame
//!   that carries its segment;
//! * a **receiver's** transition (receiving SYN, SYN-ACK, FIN, the ACK of its
//!   SYN or FIN, or an acceptable RST) is attributed to the frame that delivers
//!   the triggering segment: delivery is assumed unless later evidence shows the
//!   segment was lost;
//! * evidence of loss moves or withdraws the receiver's transition:
//!   - the sender retransmits a SYN or FIN the receiver had not acknowledged:
//!     the receiver's transition moves to the retransmission's frame;
//!   - a side retransmits the SYN-ACK or FIN whose acknowledgement moved it:
//!     the ACK was lost, the transition is withdrawn and happens again at the
//!     next acknowledgement;
//!   - the server never answers a SYN (the client retransmits, gives up, or
//!     gives up with RST): its transitions caused by the SYN are withdrawn, it
//!     stayed in LISTEN; answered with RST, it was CLOSED all along, with no
//!     listener;
//! * transitions that had to be inferred without their triggering segment
//!   (capture started mid-connection, SYN or SYN-ACK not captured, a side never
//!   seen in a one-sided capture) are marked `inferred` and name the frame that
//!   proved them. A capture without a handshake proves an open connection only
//!   by data, by non-RST segments from both sides, or by an ACK that moves on:
//!   scan probes and the RSTs answering them never imply one.
//!
//! Processing of one segment follows RFC 9293 section 3.10.7's order: RST, then
//! acceptability, SYN, ACK, data, FIN. Sequence numbers use serial-number
//! arithmetic; SYN and FIN each occupy one sequence number. TIME_WAIT lasts
//! 2*MSL of capture time, restarted by a FIN received in it. Retransmissions,
//! keep-alives and window probes do not move states.

mod observer;
pub mod rules;
mod verdicts;

pub use observer::{Config, PairedMachines, Transition};
pub(crate) use observer::{StatePath, TimeSpent};
pub use rules::{is_rfc_edge, step, Cause, Event, Open, State};
pub use verdicts::Outcome;

#[cfg(test)]
mod tests;
