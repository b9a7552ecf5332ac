//! A connection as the user sees it once it is finished, and the analysers
//! that follow it while the capture is read.

use super::options::Options;
use crate::anomaly::{Anomaly, AnomalyCode};
use crate::flow::Flow;
use crate::model::{tcp_community_id, Segment, Side};
use crate::tcp::inline_vec::InlineVec;
use crate::tcp::machine::PairedMachines;
use crate::tcp::sequence::SeqAnalyzer;
use crate::tcp::zeek::ZeekView;

/// One connection: its flow counters, its two RFC machines, its sequence
/// analysis, and Zeek's view.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Flow counters and endpoints.
    pub flow: Flow,
    /// The client's and the server's RFC 9293 state machines.
    pub tcp: PairedMachines,
    /// Wireshark's sequence analysis (`tcp.analysis.*`), and the anomalies it raised.
    pub seq: SeqAnalyzer,
    /// Zeek's view: the conn.log records its packets belong to.
    pub zeek: ZeekView,
    /// The Community ID v1 of its endpoints (the flow hash Zeek, Suricata,
    /// Arkime, Wireshark and Elastic share; the inner endpoints for a
    /// tunnelled connection, as those tools hash them).
    pub community_id: String,
}

impl Connection {
    /// The listed anomalies in frame order (end-of-capture ones last); see
    /// [`AnomalyLog`] for how many of each code are listed.
    pub fn anomalies(&self) -> Vec<&Anomaly> {
        let mut v: Vec<&Anomaly> = self
            .tcp
            .anomalies()
            .iter()
            .chain(self.seq.anomaly_log().listed())
            .collect();
        v.sort_by_key(|a| a.frame.unwrap_or(u64::MAX));
        v
    }

    /// Occurrences of each code, listed or not, in catalogue order.
    pub fn anomaly_counts(&self) -> Vec<(AnomalyCode, u64)> {
        let mut v: Vec<(AnomalyCode, u64)> = self
            .tcp
            .anomaly_log()
            .counts()
            .iter()
            .chain(self.seq.anomaly_log().counts())
            .copied()
            .collect();
        v.sort_by_key(|&(code, _)| code);
        v.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 += b.1;
            }
            same
        });
        v
    }

    /// Occurrences recorded but not listed.
    pub fn unlisted_anomalies(&self) -> u64 {
        self.tcp.anomaly_log().unlisted() + self.seq.anomaly_log().unlisted()
    }
}

/// Ids of the live Zeek connections holding a connection's packets: six
/// fit in the room a `Vec` header takes.
pub(crate) type ZeekLive = InlineVec<u32, 6>;

/// The per-connection analysers while the capture is being read.
#[derive(Debug)]
pub(crate) struct Trackers {
    pub(crate) tcp: PairedMachines,
    pub(crate) seq: SeqAnalyzer,
    /// Zeek records finished so far that hold packets of this connection.
    pub(crate) zeek: ZeekView,
    /// Live Zeek connections (ids in the shard's table) holding some:
    /// nearly always one, so kept inline (no allocation per connection).
    pub(crate) zeek_live: ZeekLive,
    /// Both sides had closed at the last segment (so the shard has queued
    /// the connection's 2*MSL deadline).
    pub(crate) over: bool,
    /// Seed of the connection's Community ID.
    community_id_seed: u16,
}

impl Trackers {
    pub(crate) fn new(options: &Options) -> Trackers {
        Trackers {
            tcp: PairedMachines::new(options.machines),
            seq: SeqAnalyzer::new(),
            zeek: ZeekView::default(),
            zeek_live: ZeekLive::default(),
            over: false,
            community_id_seed: options.community_id_seed,
        }
    }

    /// Shows one segment, sent by `side`, to every analyser.
    pub(crate) fn on_segment(&mut self, seg: &Segment, side: Side, reused_ports: bool) {
        self.tcp.on_segment(seg, side);
        self.seq.follow(seg, side, reused_ports);
    }

    /// Ends the analysis at `end_ns`: timers and end-only conditions. The
    /// Zeek records must all be finished (the shard does that first).
    pub(crate) fn finish(mut self, flow: Flow, end_ns: i64) -> Connection {
        self.tcp.finish(end_ns);
        self.seq.finish();
        self.zeek.sort();
        // Zeek's records of the connection hashed the same endpoints under
        // the same seed (the hash ignores their order): one SHA-1 is enough.
        let (client, server) = (flow.client(), flow.server());
        let community_id = self
            .zeek
            .records()
            .iter()
            .find(|r| (r.orig, r.resp) == (client, server) || (r.orig, r.resp) == (server, client))
            .map(|r| r.community_id.clone())
            .unwrap_or_else(|| tcp_community_id(&client, &server, self.community_id_seed));
        Connection {
            community_id,
            flow,
            tcp: self.tcp,
            seq: self.seq,
            zeek: self.zeek,
        }
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use std::mem::size_of;

    /// What a live connection holds inline, so a field added or widened
    /// shows here (issue 17: ~50k connections are live at a time on a
    /// large capture, so every 100 bytes here is ~5 MB of peak memory).
    /// Before session 4 these were 1,352 / 592 / 672 / 48 / 104 / 1,520.
    #[test]
    fn live_connection_state_stays_small() {
        use crate::anomaly::AnomalyLog;
        use crate::tcp::machine::PairedMachines;
        use crate::tcp::sequence::{RttSamples, SeqAnalyzer};
        assert_eq!(size_of::<super::Trackers>(), 992);
        assert_eq!(size_of::<PairedMachines>(), 424);
        assert_eq!(size_of::<SeqAnalyzer>(), 472);
        assert_eq!(size_of::<AnomalyLog>(), 8);
        assert_eq!(size_of::<RttSamples>(), 40);
        assert_eq!(size_of::<super::ZeekLive>(), 32);
        assert_eq!(size_of::<super::Connection>(), 1152);
    }
}
