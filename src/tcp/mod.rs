//! What happens to a connection at the TCP layer, each analyser following
//! the same segments: [`machine`] (the client's and the server's RFC 9293
//! state machines), [`sequence`] (Wireshark's `tcp.analysis` flags) and
//! [`zeek`] (Zeek's endpoint states, conn_state and history). Each raises its
//! own anomalies from the catalogue.

pub(crate) mod inline_vec;
pub mod machine;
pub mod sequence;
pub mod zeek;
