//! The summary of one or more analyses: frame accounting, connections by
//! outcome, anomalies by code. [`Totals`] gathers what it counts over
//! connections one at a time, so streamed connections need not be kept.

use std::collections::BTreeMap;

use serde::Serialize;

use super::accounting::FrameAccounting;
use super::analysis::{Analysis, Evictions};
use super::connection::Connection;
use super::warnings::Warning;

/// The version of the JSON schema (connection and summary objects). Bumped
/// when a key changes meaning or disappears; new keys do not bump it.
pub const SCHEMA_VERSION: u32 = 1;

/// Per-file part of the summary object.
#[derive(Debug, Serialize)]
pub struct FileSummary<'a> {
    /// The input's name as given (`-` for stdin).
    pub file: &'a str,
    /// Container format, or null when unreadable.
    pub format: Option<String>,
    /// The input was gzip-compressed.
    pub compressed: bool,
    /// Connections reported.
    pub connections: usize,
    /// SYNs that started a new connection on a known endpoint pair.
    pub port_reuses: u64,
    /// Connections finished before the capture's end to bound memory, by reason.
    pub evicted: Evictions,
    #[serde(flatten)]
    /// The frame accounting.
    pub accounting: &'a FrameAccounting,
    /// The first read error (kept for readers of the first schema), then all of them.
    pub error: Option<String>,
    /// Read errors.
    pub errors: Vec<String>,
    /// Warnings: merged files that overlap or leave a gap, checksum offload.
    pub warnings: &'a [Warning],
}

/// The final JSON object: totals over all files and each file's accounting.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// Version of the JSON schema.
    pub schema_version: u32,
    /// One entry per input.
    pub files: Vec<FileSummary<'a>>,
    /// Frames read.
    pub frames: u64,
    /// Packets that 802.11 A-MSDU frames carried beyond their first.
    pub amsdu_subframes: u64,
    /// TCP segments placed in connections.
    pub tcp: u64,
    /// IP packets of other protocols.
    pub other_ip: u64,
    /// Frames that are not IP.
    pub non_ip: u64,
    /// Frames that could not be decoded.
    pub undecodable: u64,
    /// IP fragment frames.
    pub ip_fragments: u64,
    /// Connections reported.
    pub connections: usize,
    /// Connections finished before the capture's end to bound memory, by reason.
    pub evicted: Evictions,
    /// Connections by outcome.
    pub outcomes: std::collections::BTreeMap<String, u64>,
    /// Anomaly occurrences by code.
    pub anomalies: std::collections::BTreeMap<&'static str, u64>,
    /// Read errors.
    pub errors: usize,
    /// Warnings, all inputs.
    pub warnings: usize,
}

impl<'a> Summary<'a> {
    /// The summary of these analyses, counting the connections they hold.
    pub fn of(analyses: &'a [Analysis]) -> Summary<'a> {
        Summary::with_totals(analyses, &Totals::of(analyses))
    }

    /// The summary of analyses whose connections were written as they were
    /// finished (and counted in `totals`) rather than kept.
    pub fn with_totals(analyses: &'a [Analysis], totals: &Totals) -> Summary<'a> {
        let files: Vec<FileSummary<'a>> = analyses
            .iter()
            .enumerate()
            .map(|(i, a)| file_summary(a, totals.per_file.get(i).copied().unwrap_or(0)))
            .collect();
        let sum = |f: fn(&FrameAccounting) -> u64| analyses.iter().map(|a| f(&a.accounting)).sum();
        let mut evictions = Evictions::default();
        for a in analyses {
            evictions.add(a.evictions);
        }
        Summary {
            schema_version: SCHEMA_VERSION,
            frames: sum(|a| a.frames),
            amsdu_subframes: sum(|a| a.amsdu_subframes),
            tcp: sum(|a| a.tcp),
            other_ip: sum(|a| a.other_ip),
            non_ip: sum(|a| a.non_ip),
            undecodable: sum(|a| a.undecodable),
            ip_fragments: sum(|a| a.ip_fragments),
            connections: totals.per_file.iter().sum(),
            evicted: evictions,
            outcomes: totals.outcomes.clone(),
            anomalies: totals.anomalies.clone(),
            errors: analyses.iter().map(|a| a.errors.len()).sum(),
            warnings: analyses.iter().map(|a| a.warnings.len()).sum(),
            files,
        }
    }
}

/// What the summary counts over connections, gathered one connection at a
/// time so connections need not be kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Connections written, per input.
    pub per_file: Vec<usize>,
    /// Connections by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Anomaly occurrences (listed or only counted) by code.
    pub anomalies: BTreeMap<&'static str, u64>,
}

impl Totals {
    /// Counts one connection of input number `file`.
    pub fn add(&mut self, file: usize, c: &Connection) {
        if self.per_file.len() <= file {
            self.per_file.resize(file + 1, 0);
        }
        self.per_file[file] += 1;
        // Per connection, on the thread that writes the reports: the
        // outcome's name is copied only the first time it is counted, and
        // the two logs' counts are added as they are (the sum is the same).
        let outcome = c.tcp.outcome().name();
        match self.outcomes.get_mut(outcome) {
            Some(n) => *n += 1,
            None => {
                self.outcomes.insert(outcome.to_string(), 1);
            }
        }
        let logs = [c.tcp.anomaly_log(), c.seq.anomaly_log()];
        for &(code, n) in logs.iter().flat_map(|log| log.counts()) {
            *self.anomalies.entry(code.code()).or_insert(0) += n;
        }
    }

    /// The totals of the connections these analyses hold.
    pub fn of(analyses: &[Analysis]) -> Totals {
        let mut t = Totals {
            per_file: vec![0; analyses.len()],
            ..Totals::default()
        };
        for (i, a) in analyses.iter().enumerate() {
            for c in &a.connections {
                t.add(i, c);
            }
        }
        t
    }
}

fn file_summary(a: &Analysis, connections: usize) -> FileSummary<'_> {
    FileSummary {
        file: &a.file,
        format: a.format.map(|f| f.to_string()),
        compressed: a.compressed,
        connections,
        port_reuses: a.port_reuses,
        evicted: a.evictions,
        accounting: &a.accounting,
        error: a.error().map(|e| e.to_string()),
        errors: a.errors.iter().map(|e| e.to_string()).collect(),
        warnings: &a.warnings,
    }
}

impl Analysis {
    /// The summary: frame accounting, connections by outcome, anomalies by code.
    pub fn summary(&self) -> Summary<'_> {
        Summary::of(std::slice::from_ref(self))
    }
}
