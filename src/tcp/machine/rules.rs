//! RFC 9293's state diagram as one pure function: [`step`] says where an
//! event takes a side from a state, and why. Nothing here knows about
//! captures, frames or sequence numbers: deciding which event a segment is
//! (and whether it was acceptable at all) is the observer's job. A reviewer
//! checks the diagram against the RFC by reading the one `match` in [`step`].

use std::fmt;

use serde::Serialize;

/// The eleven states of RFC 9293, displayed with their RFC names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    #[default]
    /// No connection (RFC 9293 CLOSED).
    Closed,
    /// Waiting for a SYN.
    Listen,
    /// Sent a SYN, waiting for the peer's.
    SynSent,
    /// Received a SYN and answered; waiting for its acknowledgement.
    SynRcvd,
    /// Open: data flows both ways.
    Established,
    /// Sent FIN, not yet acknowledged.
    FinWait1,
    /// FIN acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// Both FINs crossed; waiting for the ACK of ours.
    Closing,
    /// Closed actively; waiting 2*MSL for stray segments.
    TimeWait,
    /// Received the peer's FIN; the application has not closed yet.
    CloseWait,
    /// Closed passively; waiting for the ACK of our FIN.
    LastAck,
}

impl State {
    /// The eleven states in RFC order.
    pub const ALL: [State; 11] = [
        State::Closed,
        State::Listen,
        State::SynSent,
        State::SynRcvd,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::Closing,
        State::TimeWait,
        State::CloseWait,
        State::LastAck,
    ];

    /// The RFC name, e.g. `TIME_WAIT`.
    pub const fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN_SENT",
            State::SynRcvd => "SYN_RCVD",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN_WAIT_1",
            State::FinWait2 => "FIN_WAIT_2",
            State::Closing => "CLOSING",
            State::TimeWait => "TIME_WAIT",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
        }
    }

    /// Parses an RFC name (`ESTABLISHED`, `time_wait`, `TIME-WAIT`...).
    pub fn from_name(s: &str) -> Option<State> {
        let norm = s.trim().to_ascii_uppercase().replace('-', "_");
        State::ALL.into_iter().find(|st| st.name() == norm)
    }

    /// Synchronized (RFC 9293 3.10.7.4): both sequence spaces are known.
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynRcvd
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// How a side's current connection began. RFC 9293 needs it in one place:
/// a SYN_RCVD reached from LISTEN returns there on RST or SYN, one reached
/// from SYN_SENT (simultaneous open) was refused (3.10.7.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Open {
    /// It sent the first SYN (or has not opened).
    #[default]
    Active,
    /// It was listening and received the SYN.
    Passive,
}

/// Something that happens to one side: it sends a control segment, it
/// receives an acceptable one, or a timer fires. The observer decides which
/// event a captured segment is for each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// It sends a SYN (active OPEN, or SEND in LISTEN).
    SendSyn,
    /// It sends its SYN-ACK: it is already SYN_RCVD, nothing moves.
    SendSynAck,
    /// It closes: sends FIN.
    SendFin,
    /// It aborts: sends RST.
    SendRst,
    /// It receives the peer's SYN.
    RecvSyn,
    /// It receives a SYN-ACK acknowledging its SYN.
    RecvSynAck,
    /// It receives the acknowledgement of its SYN.
    RecvAckOfSyn,
    /// It receives the peer's FIN (its own FIN, if any, not yet acknowledged).
    RecvFin,
    /// It receives the acknowledgement of its FIN.
    RecvAckOfFin,
    /// One segment brings the peer's FIN and the acknowledgement of its own.
    RecvFinWithAckOfFin,
    /// It receives an acceptable RST.
    RecvRst,
    /// 2*MSL passed in TIME_WAIT.
    TimeWaitExpired,
    /// A new connection takes over the address/port pair (RFC 6191): a side
    /// in TIME_WAIT lets it, a closed side listens for it.
    Reuse,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 13] = [
        Event::SendSyn,
        Event::SendSynAck,
        Event::SendFin,
        Event::SendRst,
        Event::RecvSyn,
        Event::RecvSynAck,
        Event::RecvAckOfSyn,
        Event::RecvFin,
        Event::RecvAckOfFin,
        Event::RecvFinWithAckOfFin,
        Event::RecvRst,
        Event::TimeWaitExpired,
        Event::Reuse,
    ];
}

/// Why a transition happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The side sent a SYN.
    SentSyn,
    /// The side received the peer's SYN.
    ReceivedSyn,
    /// The side received a SYN-ACK for its SYN.
    ReceivedSynAck,
    /// The side received the acknowledgement of its SYN.
    ReceivedAckOfSyn,
    /// The side sent a FIN.
    SentFin,
    /// The side received the peer's FIN.
    ReceivedFin,
    /// The side received the acknowledgement of its FIN.
    ReceivedAckOfFin,
    /// One segment brought the peer's FIN and the ACK of ours.
    ReceivedFinAndAckOfFin,
    /// The side sent a RST.
    SentRst,
    /// The side received an acceptable RST.
    ReceivedRst,
    /// 2*MSL of capture time passed in TIME_WAIT.
    TimeWaitExpired,
    /// A new connection took over the address/port pair.
    PortReused,
    /// Inferred: the capture started after this part of the handshake.
    MidstreamStart,
    /// Inferred: a SYN-ACK was seen without its SYN.
    SynNotCaptured,
    /// Inferred: the client acknowledged a SYN-ACK the capture never saw.
    SynAckNotCaptured,
    /// Inferred: a side in SYN_RCVD sent what only an open connection sends;
    /// the acknowledgement of its SYN was not captured.
    AckOfSynNotCaptured,
}

impl Cause {
    /// Every cause, in the order of the type.
    pub const ALL: [Cause; 16] = [
        Cause::SentSyn,
        Cause::ReceivedSyn,
        Cause::ReceivedSynAck,
        Cause::ReceivedAckOfSyn,
        Cause::SentFin,
        Cause::ReceivedFin,
        Cause::ReceivedAckOfFin,
        Cause::ReceivedFinAndAckOfFin,
        Cause::SentRst,
        Cause::ReceivedRst,
        Cause::TimeWaitExpired,
        Cause::PortReused,
        Cause::MidstreamStart,
        Cause::SynNotCaptured,
        Cause::SynAckNotCaptured,
        Cause::AckOfSynNotCaptured,
    ];

    /// The snake_case code serde writes (`sent_syn`): what the JSON
    /// writers write without serde (`codes_are_serdes_names` checks it).
    pub(crate) const fn code(self) -> &'static str {
        match self {
            Cause::SentSyn => "sent_syn",
            Cause::ReceivedSyn => "received_syn",
            Cause::ReceivedSynAck => "received_syn_ack",
            Cause::ReceivedAckOfSyn => "received_ack_of_syn",
            Cause::SentFin => "sent_fin",
            Cause::ReceivedFin => "received_fin",
            Cause::ReceivedAckOfFin => "received_ack_of_fin",
            Cause::ReceivedFinAndAckOfFin => "received_fin_and_ack_of_fin",
            Cause::SentRst => "sent_rst",
            Cause::ReceivedRst => "received_rst",
            Cause::TimeWaitExpired => "time_wait_expired",
            Cause::PortReused => "port_reused",
            Cause::MidstreamStart => "midstream_start",
            Cause::SynNotCaptured => "syn_not_captured",
            Cause::SynAckNotCaptured => "syn_ack_not_captured",
            Cause::AckOfSynNotCaptured => "ack_of_syn_not_captured",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::SentSyn => "sent SYN",
            Cause::ReceivedSyn => "received SYN",
            Cause::ReceivedSynAck => "received SYN-ACK",
            Cause::ReceivedAckOfSyn => "received ACK of its SYN",
            Cause::SentFin => "sent FIN",
            Cause::ReceivedFin => "received FIN",
            Cause::ReceivedAckOfFin => "received ACK of its FIN",
            Cause::ReceivedFinAndAckOfFin => "received FIN with ACK of its FIN",
            Cause::SentRst => "sent RST",
            Cause::ReceivedRst => "received RST",
            Cause::TimeWaitExpired => "2*MSL elapsed in TIME_WAIT",
            Cause::PortReused => "address/port pair reused by a new connection",
            Cause::MidstreamStart => "inferred: capture started mid-connection",
            Cause::SynNotCaptured => "inferred: SYN-ACK seen without its SYN",
            Cause::SynAckNotCaptured => "inferred: ACK of a SYN-ACK the capture missed",
            Cause::AckOfSynNotCaptured => {
                "inferred: it acted as open; the ACK of its SYN was not captured"
            }
        })
    }
}

/// Where `event` takes a side in `state` (opened as `open`), and why; `None`
/// when the event leaves the state as it is. RFC 9293 section numbers name
/// the rule each arm follows.
pub fn step(state: State, open: Open, event: Event) -> Option<(State, Cause)> {
    use Cause as C;
    use Event::*;
    use State::*;
    Some(match (state, event) {
        // 3.10.1 OPEN: an active open sends SYN. 3.10.2 SEND in LISTEN: the
        // listener turns active.
        (Closed | Listen, SendSyn) => (SynSent, C::SentSyn),
        // 3.10.1 passive OPEN, seen only when a new incarnation's SYN comes
        // to a side that had closed (RFC 6191): it listens again.
        (Closed, Reuse) => (Listen, C::PortReused),
        // 3.10.7.2 LISTEN, third: a SYN. (A RST is ignored, first.)
        (Listen, RecvSyn) => (SynRcvd, C::ReceivedSyn),

        // 3.10.7.3 SYN-SENT, fourth: a SYN-ACK acknowledging our SYN
        // completes the handshake; a bare SYN is a simultaneous open.
        (SynSent, RecvSynAck) => (Established, C::ReceivedSynAck),
        (SynSent, RecvSyn) => (SynRcvd, C::ReceivedSyn),
        // 3.10.7.3, second: a RST whose ACK acknowledges our SYN.
        (SynSent, RecvRst) => (Closed, C::ReceivedRst),
        // 3.10.5 ABORT in SYN-SENT: the connection is given up.
        (SynSent, SendRst) => (Closed, C::SentRst),

        // 3.10.7.4, fifth: the acknowledgement of our SYN; in a simultaneous
        // open the peer's SYN-ACK brings it (Figure 8, line 5).
        (SynRcvd, RecvAckOfSyn) => (Established, C::ReceivedAckOfSyn),
        (SynRcvd, RecvSynAck) => (Established, C::ReceivedSynAck),
        // 3.10.7.4, second: a RST returns a passive open to LISTEN; an
        // active one (simultaneous open) was refused.
        (SynRcvd, RecvRst) if open == Open::Passive => (Listen, C::ReceivedRst),
        (SynRcvd, RecvRst) => (Closed, C::ReceivedRst),
        // 3.10.7.4, fourth: an acceptable SYN returns a passive open to
        // LISTEN; an active one answers with a challenge ACK (RFC 5961).
        (SynRcvd, RecvSyn) if open == Open::Passive => (Listen, C::ReceivedSyn),
        // 3.10.4 CLOSE in SYN-RECEIVED sends FIN.
        (SynRcvd, SendFin) => (FinWait1, C::SentFin),

        // ESTABLISHED: 3.10.4 CLOSE, 3.10.7.4 eighth (FIN).
        (Established, SendFin) => (FinWait1, C::SentFin),
        (Established, RecvFin) => (CloseWait, C::ReceivedFin),

        // FIN-WAIT-1, 3.10.7.4: fifth (our FIN acknowledged), eighth (the
        // peer's FIN, with or without the ACK of ours).
        (FinWait1, RecvAckOfFin) => (FinWait2, C::ReceivedAckOfFin),
        (FinWait1, RecvFin) => (Closing, C::ReceivedFin),
        (FinWait1, RecvFinWithAckOfFin) => (TimeWait, C::ReceivedFinAndAckOfFin),
        // FIN-WAIT-2, 3.10.7.4 eighth.
        (FinWait2, RecvFin) => (TimeWait, C::ReceivedFin),
        // CLOSING, 3.10.7.4 fifth.
        (Closing, RecvAckOfFin) => (TimeWait, C::ReceivedAckOfFin),
        // CLOSE-WAIT: 3.10.4 CLOSE.
        (CloseWait, SendFin) => (LastAck, C::SentFin),
        // LAST-ACK, 3.10.7.4 fifth.
        (LastAck, RecvAckOfFin) => (Closed, C::ReceivedAckOfFin),
        // TIME-WAIT: 3.10.8 the timer; RFC 6191 a new incarnation. (A FIN
        // again only restarts the timer, 3.10.7.4 eighth.)
        (TimeWait, TimeWaitExpired) => (Closed, C::TimeWaitExpired),
        (TimeWait, Reuse) => (Closed, C::PortReused),

        // 3.10.7.4, second: an acceptable RST closes every other state
        // but LISTEN and CLOSED (which ignore it, 3.10.7.1-2).
        (Established | FinWait1 | FinWait2 | Closing | TimeWait | CloseWait | LastAck, RecvRst) => {
            (Closed, C::ReceivedRst)
        }
        // 3.10.5 ABORT sends RST and closes, from every state that has a
        // connection (CLOSING, LAST-ACK and TIME-WAIT close without one).
        (
            SynRcvd | Established | FinWait1 | FinWait2 | Closing | TimeWait | CloseWait | LastAck,
            SendRst,
        ) => (Closed, C::SentRst),

        _ => return None,
    })
}

/// Is `from -> to` an edge of [`step`]'s table? Derived from the table, so
/// the two cannot disagree.
pub fn is_rfc_edge(from: State, to: State) -> bool {
    [Open::Active, Open::Passive].into_iter().any(|open| {
        Event::ALL
            .into_iter()
            .any(|ev| step(from, open, ev).is_some_and(|(s, _)| s == to))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_serdes_names() {
        for (i, c) in Cause::ALL.into_iter().enumerate() {
            assert_eq!(c as usize, i, "{c:?}: ALL is in the order of the type");
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.code())
            );
        }
    }
}
