//! The CI gate: a policy over the anomalies and outcomes of every connection,
//! from flags or a small TOML file kept next to recorded traffic. `check`
//! exits 0 when the capture satisfies the policy, 1 when it does not.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use crate::anomaly::{AnomalyCode, Severity};
use crate::pipeline::{Analysis, Connection};
use crate::tcp::machine::Outcome;

/// What a capture must satisfy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// A connection with any of these anomalies fails. When the policy says
    /// nothing at all, every error-severity code is here.
    pub fail_on: BTreeSet<AnomalyCode>,
    /// At most this many warning- or error-severity anomalies over all captures.
    pub max_anomalies: Option<u64>,
    /// Every connection must end with both FINs (outcome `closed`).
    pub require_closed: bool,
    /// Codes ignored by all the rules above.
    pub allow: BTreeSet<AnomalyCode>,
}

/// The policy file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    fail_on: Vec<String>,
    max_anomalies: Option<u64>,
    #[serde(default)]
    require_closed: bool,
    #[serde(default)]
    allow: Vec<String>,
}

/// Parses anomaly codes, naming the first unknown one.
pub fn parse_codes<'a>(
    codes: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeSet<AnomalyCode>, String> {
    codes
        .into_iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            AnomalyCode::from_code(s).ok_or_else(|| {
                format!("unknown anomaly code {s:?} (see tcpstate --list-anomalies)")
            })
        })
        .collect()
}

impl Policy {
    /// Reads a TOML policy: `fail_on`, `max_anomalies`, `require_closed`, `allow`.
    pub fn from_file(path: &Path) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let f: PolicyFile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Policy {
            fail_on: parse_codes(f.fail_on.iter().map(String::as_str))
                .map_err(|e| format!("{}: {e}", path.display()))?,
            max_anomalies: f.max_anomalies,
            require_closed: f.require_closed,
            allow: parse_codes(f.allow.iter().map(String::as_str))
                .map_err(|e| format!("{}: {e}", path.display()))?,
        })
    }

    /// Adds another policy's rules to this one (flags on top of a file).
    pub fn merge(&mut self, other: Policy) {
        self.fail_on.extend(other.fail_on);
        self.allow.extend(other.allow);
        self.max_anomalies = other.max_anomalies.or(self.max_anomalies);
        self.require_closed |= other.require_closed;
    }

    /// A policy that says nothing fails on every error-severity anomaly.
    pub fn or_default(mut self) -> Policy {
        if self.fail_on.is_empty() && self.max_anomalies.is_none() && !self.require_closed {
            self.fail_on = AnomalyCode::ALL
                .iter()
                .copied()
                .filter(|c| c.severity() == Severity::Error)
                .collect();
        }
        self
    }

    /// Why one connection breaks the policy (empty when it does not).
    pub fn connection_failures(&self, c: &Connection) -> Vec<String> {
        let mut why = Vec::new();
        let mut codes: Vec<AnomalyCode> = Vec::new();
        for a in c.anomalies() {
            if self.fail_on.contains(&a.code)
                && !self.allow.contains(&a.code)
                && !codes.contains(&a.code)
            {
                codes.push(a.code);
                let frame = a
                    .frame
                    .map_or("at capture end".to_string(), |f| format!("frame {f}"));
                why.push(format!("{} ({frame}): {}", a.code, a.detail));
            }
        }
        if self.require_closed && c.tcp.outcome() != Outcome::Closed {
            why.push(format!("not closed: outcome {}", c.tcp.outcome()));
        }
        why
    }

    /// Anomalies counted against `max_anomalies`.
    pub fn counted_anomalies(&self, analyses: &[Analysis]) -> u64 {
        analyses
            .iter()
            .flat_map(|a| &a.connections)
            .flat_map(|c| c.anomaly_counts())
            .filter(|(code, _)| code.severity() >= Severity::Warning && !self.allow.contains(code))
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_with_commas_and_reject_unknown_ones() {
        let c = parse_codes(["refused,reset", "no_close"]).unwrap();
        assert_eq!(c.len(), 3);
        assert!(parse_codes(["nope"]).unwrap_err().contains("\"nope\""));
    }

    #[test]
    fn empty_policy_fails_on_errors_only() {
        let p = Policy::default().or_default();
        assert!(p.fail_on.contains(&AnomalyCode::DataAfterFin));
        assert!(!p.fail_on.contains(&AnomalyCode::Reset));
    }
}
