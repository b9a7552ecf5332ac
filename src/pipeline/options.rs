//! What an analysis is asked to do: timers, keys, decoding, memory bounds.

use crate::decode::defrag::DefragLimits;
use crate::decode::DecodeOptions;
use crate::flow::KeyOptions;
use crate::tcp::machine::Config;
use crate::tcp::zeek::ZeekConfig;

/// Told, after each batch, how many more input bytes were consumed and how
/// many frames have been read in all: for progress bars.
pub type Progress = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

/// How many connections are kept in memory, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowLimits {
    /// A connection with no packet for this long (capture time) is finished
    /// and reported; a later packet of its endpoints starts a new connection.
    pub idle_timeout_ns: i64,
    /// Live connections kept at most (split evenly between the shards); past
    /// it, the connections that are over, then those idle longest, are
    /// finished early.
    pub max_connections: usize,
}

impl Default for FlowLimits {
    /// Zeek's TCP inactivity timeout (5 min) and 100 000 live connections
    /// (about 150 MB).
    fn default() -> FlowLimits {
        FlowLimits {
            idle_timeout_ns: 300_000_000_000,
            max_connections: 100_000,
        }
    }
}

/// What the analysis is asked to do.
#[derive(Clone, Default)]
pub struct Options {
    /// Timers and thresholds of the state machines.
    pub machines: Config,
    /// Progress reporting, if wanted.
    pub progress: Option<Progress>,
    /// What tells connections apart besides the endpoints (VLANs, tunnels).
    pub keys: KeyOptions,
    /// Checksum verification.
    pub decode: DecodeOptions,
    /// Bounds of IP fragment reassembly.
    pub defrag: DefragLimits,
    /// Bounds of the flow table.
    pub flows: FlowLimits,
    /// Zeek's timers, for the Zeek view.
    pub zeek: ZeekConfig,
    /// Seed of the Community IDs of connections and Zeek records (0, the
    /// specification's default, unless a deployment chose another).
    pub community_id_seed: u16,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("machines", &self.machines)
            .field("progress", &self.progress.is_some())
            .field("keys", &self.keys)
            .field("decode", &self.decode)
            .field("defrag", &self.defrag)
            .field("flows", &self.flows)
            .field("zeek", &self.zeek)
            .field("community_id_seed", &self.community_id_seed)
            .finish()
    }
}
