//! The CI gate: a policy over the anomalies and outcomes of every connection,
//! from flags or a small TOML file kept next to recorded traffic, and its
//! result as text for people, JSON for programs and JUnit XML for CI
//! systems. A check passes only when every capture was read to its end and
//! the policy holds; an unreadable capture is never a pass.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::filter::Filter;
use super::show::display_filters;
use crate::anomaly::{AnomalyCode, Severity};
use crate::model::Endpoint;
use crate::pipeline::{Analysis, Connection, Warning};
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

/// True when a command-line argument names a policy file rather than a
/// capture: it ends in `.toml`.
pub fn is_policy_path(arg: &str) -> bool {
    arg.to_ascii_lowercase().ends_with(".toml")
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

    /// The per-connection rules in force: each `fail_on` code not allowed,
    /// then `require_closed`.
    pub fn connection_rules(&self) -> Vec<Rule> {
        let mut rules: Vec<Rule> = self
            .fail_on
            .iter()
            .filter(|c| !self.allow.contains(c))
            .map(|&c| Rule::FailOn(c))
            .collect();
        if self.require_closed {
            rules.push(Rule::RequireClosed);
        }
        rules
    }

    /// Why one connection breaks the policy (empty when it does not): the
    /// first listed occurrence of each failing code, then the outcome.
    pub fn connection_failures(&self, c: &Connection) -> Vec<Failure> {
        let mut why = Vec::new();
        let mut codes: Vec<AnomalyCode> = Vec::new();
        for a in c.anomalies() {
            if self.fail_on.contains(&a.code)
                && !self.allow.contains(&a.code)
                && !codes.contains(&a.code)
            {
                codes.push(a.code);
                why.push(Failure {
                    rule: Rule::FailOn(a.code),
                    frame: a.frame,
                    detail: a.detail.clone(),
                });
            }
        }
        if self.require_closed && c.tcp.outcome() != Outcome::Closed {
            why.push(Failure {
                rule: Rule::RequireClosed,
                frame: None,
                detail: format!("outcome {}", c.tcp.outcome()),
            });
        }
        why
    }

    /// Anomalies of one connection counted against `max_anomalies`.
    fn counted_anomalies(&self, c: &Connection) -> u64 {
        c.anomaly_counts()
            .into_iter()
            .filter(|(code, _)| code.severity() >= Severity::Warning && !self.allow.contains(code))
            .map(|(_, n)| n)
            .sum()
    }
}

/// One per-connection rule of a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// The connection must not show this anomaly code.
    FailOn(AnomalyCode),
    /// The connection must end with both sides' FINs.
    RequireClosed,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::FailOn(code) => write!(f, "fail_on {code}"),
            Rule::RequireClosed => f.write_str("require_closed"),
        }
    }
}

/// One reason a connection breaks the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The rule broken.
    pub rule: Rule,
    /// The frame that showed it; None for what is known at capture end.
    pub frame: Option<u64>,
    /// What happened, in one line.
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            Rule::FailOn(code) => {
                let frame = self
                    .frame
                    .map_or("at capture end".to_string(), |n| format!("frame {n}"));
                write!(f, "{code} ({frame}): {}", self.detail)
            }
            Rule::RequireClosed => write!(f, "not closed: {}", self.detail),
        }
    }
}

/// A connection that breaks the policy, and why: what the reports say of
/// it, so the connection itself need not be kept.
#[derive(Clone, Debug)]
pub struct Offence {
    /// Wireshark's `tcp.stream`.
    pub stream: u64,
    /// Frame number of the connection's first packet (a stream's parts in order).
    pub first_frame: u64,
    /// The client's endpoint.
    pub client: Endpoint,
    /// The server's endpoint.
    pub server: Endpoint,
    /// How the connection ended.
    pub outcome: Outcome,
    /// Wireshark's display filter for the stream (`tcp.stream eq N`).
    pub filter: String,
    /// Every reason, in frame order, `require_closed` last.
    pub failures: Vec<Failure>,
}

impl Offence {
    fn new(c: &Connection, failures: Vec<Failure>) -> Offence {
        Offence {
            stream: c.flow.stream,
            first_frame: c.flow.first_frame,
            client: c.flow.client(),
            server: c.flow.server(),
            outcome: c.tcp.outcome(),
            filter: display_filters(c).0,
            failures,
        }
    }
}

/// What a check counts over one capture's connections, one connection at a
/// time, so they can be checked as the analysis finishes them.
#[derive(Clone, Debug, Default)]
pub struct CheckTally {
    /// Connections the filters kept (all without filters).
    pub connections: usize,
    /// Connections the filters left out.
    pub filtered_out: usize,
    /// The connections that break a per-connection rule.
    pub offences: Vec<Offence>,
    /// Warning- and error-severity anomalies of the kept connections, not allowed.
    pub counted_anomalies: u64,
}

impl CheckTally {
    /// Checks one connection (if `filter` keeps it) against `policy`.
    pub fn add(&mut self, policy: &Policy, filter: &Filter, c: &Connection) {
        if !filter.matches(c) {
            self.filtered_out += 1;
            return;
        }
        self.connections += 1;
        self.counted_anomalies += policy.counted_anomalies(c);
        let failures = policy.connection_failures(c);
        if !failures.is_empty() {
            self.offences.push(Offence::new(c, failures));
        }
    }
}

/// One capture (one input, or one merged set) under the policy.
#[derive(Debug)]
pub struct CaptureCheck<'a> {
    /// The analysis.
    pub analysis: &'a Analysis,
    /// Connections the filters kept (all without filters).
    pub connections: usize,
    /// Connections the filters left out.
    pub filtered_out: usize,
    /// The connections that break a per-connection rule, in stream order.
    pub offences: Vec<Offence>,
    /// Warning- and error-severity anomalies of the kept connections, not allowed.
    pub counted_anomalies: u64,
}

impl CaptureCheck<'_> {
    /// True when the input could not be read to its end.
    pub fn unreadable(&self) -> bool {
        !self.analysis.errors.is_empty()
    }

    /// True when nothing at all could be read (no container recognised), so
    /// the rules had nothing to look at.
    pub fn nothing_read(&self) -> bool {
        self.analysis.format.is_none() && self.analysis.accounting.frames == 0
    }

    /// The offences that break `rule`, each with the failures of that rule.
    fn breaking(&self, rule: Rule) -> Vec<(&Offence, Vec<&Failure>)> {
        self.offences
            .iter()
            .filter_map(|o| {
                let f: Vec<&Failure> = o.failures.iter().filter(|f| f.rule == rule).collect();
                (!f.is_empty()).then_some((o, f))
            })
            .collect()
    }
}

/// How a check ended; each has its exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every capture was read and the policy holds: exit 0.
    Passed,
    /// Every capture was read and the policy does not hold: exit 1.
    Failed,
    /// A capture could not be read (to its end): exit 2, whatever the rules
    /// say about what could be read.
    Unreadable,
}

impl Verdict {
    /// The process exit status for this verdict (docs/REFERENCE.md).
    pub fn exit_status(self) -> i32 {
        match self {
            Verdict::Passed => 0,
            Verdict::Failed => 1,
            Verdict::Unreadable => 2,
        }
    }

    /// `passed` or `failed`: a check that could not read its input failed.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed | Verdict::Unreadable => "failed",
        }
    }
}

/// The result of checking captures against a policy.
#[derive(Debug)]
pub struct CheckReport<'a> {
    /// The policy checked.
    pub policy: &'a Policy,
    /// One entry per analysis, in input order.
    pub captures: Vec<CaptureCheck<'a>>,
    /// A result file (the JUnit XML) that could not be written: the check
    /// then fails, so no report says `passed` with a non-zero exit.
    pub report_error: Option<String>,
}

impl<'a> CheckReport<'a> {
    /// Checks the connections that pass `filter` against `policy`.
    pub fn new(policy: &'a Policy, filter: &Filter, analyses: &'a [Analysis]) -> CheckReport<'a> {
        let tallies = analyses
            .iter()
            .map(|a| {
                let mut tally = CheckTally::default();
                for c in &a.connections {
                    tally.add(policy, filter, c);
                }
                tally
            })
            .collect();
        CheckReport::from_tallies(policy, analyses, tallies)
    }

    /// The result from each analysis's tally (in input order), taken while
    /// the analyses ran; the analyses need not hold their connections.
    pub fn from_tallies(
        policy: &'a Policy,
        analyses: &'a [Analysis],
        tallies: Vec<CheckTally>,
    ) -> CheckReport<'a> {
        let mut tallies = tallies.into_iter();
        let captures = analyses
            .iter()
            .map(|a| {
                let mut t = tallies.next().unwrap_or_default();
                t.offences.sort_by_key(|o| (o.stream, o.first_frame));
                CaptureCheck {
                    analysis: a,
                    connections: t.connections,
                    filtered_out: t.filtered_out,
                    offences: t.offences,
                    counted_anomalies: t.counted_anomalies,
                }
            })
            .collect();
        CheckReport {
            policy,
            captures,
            report_error: None,
        }
    }

    /// Captures that could not be read to their end.
    pub fn unreadable(&self) -> usize {
        self.captures.iter().filter(|c| c.unreadable()).count()
    }

    /// Connections checked (kept by the filters).
    pub fn connections(&self) -> usize {
        self.captures.iter().map(|c| c.connections).sum()
    }

    /// Connections the filters left out.
    pub fn filtered_out(&self) -> usize {
        self.captures.iter().map(|c| c.filtered_out).sum()
    }

    /// Connections that break a per-connection rule.
    pub fn offending(&self) -> usize {
        self.captures.iter().map(|c| c.offences.len()).sum()
    }

    /// Anomalies counted against `max_anomalies`, over all captures.
    pub fn counted_anomalies(&self) -> u64 {
        self.captures.iter().map(|c| c.counted_anomalies).sum()
    }

    /// True when more anomalies were counted than `max_anomalies` allows.
    pub fn too_many_anomalies(&self) -> bool {
        self.policy
            .max_anomalies
            .is_some_and(|max| self.counted_anomalies() > max)
    }

    /// How the check ended.
    pub fn verdict(&self) -> Verdict {
        if self.unreadable() > 0 {
            Verdict::Unreadable
        } else if self.offending() > 0 || self.too_many_anomalies() || self.report_error.is_some() {
            Verdict::Failed
        } else {
            Verdict::Passed
        }
    }

    /// The last line of the text report: the verdict, then every rule's
    /// count, so the line explains itself, e.g. `check failed: 1 capture
    /// read; 0 of 13 connections break a connection rule; 15 anomalies
    /// counted, more than the 5 allowed`.
    pub fn summary_line(&self) -> String {
        let captures = self.captures.len();
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let read = match self.unreadable() {
            0 => format!("{} read", plural(captures, "capture")),
            n => format!("{n} of {captures} captures unreadable or cut short (errors on stderr)"),
        };
        let mut conns = format!(
            "{} of {} connections break a connection rule",
            self.offending(),
            self.connections()
        );
        if self.filtered_out() > 0 {
            conns.push_str(&format!(
                " ({} left out by the filters)",
                self.filtered_out()
            ));
        }
        let counted = self.counted_anomalies();
        let counted_text = if counted == 1 {
            "1 anomaly counted".to_string()
        } else {
            format!("{counted} anomalies counted")
        };
        let anomalies = match self.policy.max_anomalies {
            Some(max) if counted > max => format!("{counted_text}, more than the {max} allowed"),
            Some(max) => format!("{counted_text}, at most {max} allowed"),
            None => format!("{counted_text}, no limit"),
        };
        let unwritten = match &self.report_error {
            Some(e) => format!("; {e}"),
            None => String::new(),
        };
        format!(
            "check {}: {read}; {conns}; {anomalies}{unwritten}",
            self.verdict().word()
        )
    }

    /// The text report: each offending connection with its `tcp.stream eq N`
    /// filter and reasons, then [`CheckReport::summary_line`].
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        for capture in &self.captures {
            for o in &capture.offences {
                writeln!(out, "{}", offence_heading(&capture.analysis.file, o))?;
                for f in &o.failures {
                    writeln!(out, "  {f}")?;
                }
            }
        }
        writeln!(out, "{}", self.summary_line())
    }

    /// The JSON report: one object (docs/REFERENCE.md, "JSON: check").
    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        let doc = CheckJson::new(self);
        serde_json::to_writer(&mut *out, &doc)?;
        writeln!(out)
    }

    /// JUnit XML, as CI systems (GitLab, Jenkins, GitHub test reporters)
    /// read it: a `<testsuite>` per capture, a `<testcase>` per rule in
    /// force (`readable`, each `fail_on` code, `require_closed`), each
    /// failure listing the connections with their `tcp.stream eq N` filters;
    /// `max_anomalies`, a rule over all captures, has a suite of its own.
    pub fn write_junit(&self, out: &mut dyn Write) -> io::Result<()> {
        let rules = self.policy.connection_rules();
        let mut suites: Vec<Suite> = self
            .captures
            .iter()
            .map(|capture| capture_suite(capture, &rules))
            .collect();
        if let Some(max) = self.policy.max_anomalies {
            let counted = self.counted_anomalies();
            let failure = (counted > max).then(|| Problem {
                kind: "failure",
                message: format!("{counted} anomalies counted, more than the {max} allowed"),
                text: self.per_capture_counts(),
            });
            suites.push(Suite {
                name: "all captures".into(),
                cases: vec![Case {
                    name: format!("max_anomalies {max}"),
                    problem: failure,
                }],
                warnings: Vec::new(),
            });
        }
        let count = |kind: &str| -> usize {
            suites
                .iter()
                .flat_map(|s| &s.cases)
                .filter(|c| c.problem.as_ref().is_some_and(|p| p.kind == kind))
                .count()
        };
        let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            out,
            r#"<testsuites name="tcpstate check" tests="{tests}" failures="{}" errors="{}" skipped="{}">"#,
            count("failure"),
            count("error"),
            count("skipped")
        )?;
        for s in &suites {
            s.write(out)?;
        }
        writeln!(out, "</testsuites>")
    }

    fn per_capture_counts(&self) -> String {
        self.captures
            .iter()
            .map(|c| {
                format!(
                    "{}: {} anomalies counted\n",
                    c.analysis.file, c.counted_anomalies
                )
            })
            .collect()
    }
}

/// `FILE stream N: CLIENT -> SERVER (OUTCOME): tcp.stream eq N`.
fn offence_heading(file: &str, o: &Offence) -> String {
    format!(
        "{file} stream {}: {} -> {} ({}): {}",
        o.stream, o.client, o.server, o.outcome, o.filter
    )
}

/// A JUnit test suite being written.
struct Suite {
    name: String,
    cases: Vec<Case>,
    /// Warnings about the capture, as the suite's `<system-err>`.
    warnings: Vec<String>,
}

/// A JUnit test case: passed when it has no problem.
struct Case {
    name: String,
    problem: Option<Problem>,
}

/// A `<failure>`, `<error>` or `<skipped>` element.
struct Problem {
    kind: &'static str,
    message: String,
    text: String,
}

fn capture_suite(capture: &CaptureCheck<'_>, rules: &[Rule]) -> Suite {
    let file = &capture.analysis.file;
    let mut cases = vec![Case {
        name: "readable".into(),
        problem: capture.unreadable().then(|| Problem {
            kind: "error",
            message: match capture.analysis.errors.len() {
                1 => "the capture could not be read to its end".into(),
                n => format!("{n} inputs could not be read to their end"),
            },
            text: capture
                .analysis
                .errors
                .iter()
                .map(|e| format!("{e}\n"))
                .collect(),
        }),
    }];
    for &rule in rules {
        let problem = if capture.nothing_read() {
            Some(Problem {
                kind: "skipped",
                message: "nothing could be read from this capture".into(),
                text: String::new(),
            })
        } else {
            let broken = capture.breaking(rule);
            (!broken.is_empty()).then(|| Problem {
                kind: "failure",
                message: format!(
                    "{} of {} connections break {rule}",
                    broken.len(),
                    capture.connections
                ),
                text: broken
                    .iter()
                    .map(|(o, failures)| {
                        let mut s = offence_heading(file, o);
                        s.push('\n');
                        for f in failures {
                            s.push_str(&format!("  {f}\n"));
                        }
                        s
                    })
                    .collect(),
            })
        };
        cases.push(Case {
            name: rule.to_string(),
            problem,
        });
    }
    Suite {
        name: file.clone(),
        cases,
        warnings: capture
            .analysis
            .warnings
            .iter()
            .map(|w| w.to_string())
            .collect(),
    }
}

impl Suite {
    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let count = |kind: &str| {
            self.cases
                .iter()
                .filter(|c| c.problem.as_ref().is_some_and(|p| p.kind == kind))
                .count()
        };
        writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{}" errors="{}" skipped="{}">"#,
            Xml(&self.name),
            self.cases.len(),
            count("failure"),
            count("error"),
            count("skipped")
        )?;
        for case in &self.cases {
            write!(
                out,
                r#"    <testcase classname="{}" name="{}""#,
                Xml(&self.name),
                Xml(&case.name)
            )?;
            match &case.problem {
                None => writeln!(out, "/>")?,
                Some(p) if p.text.is_empty() => writeln!(
                    out,
                    ">\n      <{} message=\"{}\"/>\n    </testcase>",
                    p.kind,
                    Xml(&p.message)
                )?,
                Some(p) => writeln!(
                    out,
                    ">\n      <{kind} message=\"{}\" type=\"{}\">{}</{kind}>\n    </testcase>",
                    Xml(&p.message),
                    Xml(&case.name),
                    Xml(&p.text),
                    kind = p.kind
                )?,
            }
        }
        if !self.warnings.is_empty() {
            let text: String = self
                .warnings
                .iter()
                .map(|w| format!("warning: {w}\n"))
                .collect();
            writeln!(out, "    <system-err>{}</system-err>", Xml(&text))?;
        }
        writeln!(out, "  </testsuite>")
    }
}

/// Text escaped for XML content and attribute values; characters XML 1.0
/// cannot carry at all (most control characters) become U+FFFD.
struct Xml<'a>(&'a str);

impl fmt::Display for Xml<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ch in self.0.chars() {
            match ch {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&apos;")?,
                '\t' | '\n' | '\r' => write!(f, "{ch}")?,
                c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                    f.write_str("\u{fffd}")?
                }
                c => write!(f, "{c}")?,
            }
        }
        Ok(())
    }
}

/// `check --format json`: the whole result as one object.
#[derive(Serialize)]
struct CheckJson<'a> {
    schema_version: u32,
    result: &'static str,
    exit_status: i32,
    policy: PolicyJson,
    captures: Vec<CaptureJson<'a>>,
    unreadable: usize,
    connections: usize,
    filtered_out: usize,
    offending: usize,
    anomalies_counted: u64,
    max_anomalies_exceeded: bool,
    report_error: Option<&'a str>,
}

#[derive(Serialize)]
struct PolicyJson {
    fail_on: Vec<&'static str>,
    max_anomalies: Option<u64>,
    require_closed: bool,
    allow: Vec<&'static str>,
}

#[derive(Serialize)]
struct CaptureJson<'a> {
    file: &'a str,
    readable: bool,
    errors: Vec<String>,
    warnings: &'a [Warning],
    connections: usize,
    filtered_out: usize,
    anomalies_counted: u64,
    offending: Vec<OffenceJson>,
}

#[derive(Serialize)]
struct OffenceJson {
    stream: u64,
    client: String,
    server: String,
    outcome: &'static str,
    filter: String,
    failures: Vec<FailureJson>,
}

#[derive(Serialize)]
struct FailureJson {
    rule: &'static str,
    code: Option<&'static str>,
    frame: Option<u64>,
    detail: String,
}

impl<'a> CheckJson<'a> {
    fn new(r: &'a CheckReport<'a>) -> CheckJson<'a> {
        let verdict = r.verdict();
        CheckJson {
            schema_version: crate::pipeline::SCHEMA_VERSION,
            result: match verdict {
                Verdict::Passed => "passed",
                Verdict::Failed => "failed",
                Verdict::Unreadable => "unreadable",
            },
            exit_status: verdict.exit_status(),
            policy: PolicyJson {
                fail_on: r.policy.fail_on.iter().map(|c| c.code()).collect(),
                max_anomalies: r.policy.max_anomalies,
                require_closed: r.policy.require_closed,
                allow: r.policy.allow.iter().map(|c| c.code()).collect(),
            },
            captures: r
                .captures
                .iter()
                .map(|c| CaptureJson {
                    file: &c.analysis.file,
                    readable: !c.unreadable(),
                    errors: c.analysis.errors.iter().map(|e| e.to_string()).collect(),
                    warnings: &c.analysis.warnings,
                    connections: c.connections,
                    filtered_out: c.filtered_out,
                    anomalies_counted: c.counted_anomalies,
                    offending: c
                        .offences
                        .iter()
                        .map(|o| OffenceJson {
                            stream: o.stream,
                            client: o.client.to_string(),
                            server: o.server.to_string(),
                            outcome: o.outcome.name(),
                            filter: o.filter.clone(),
                            failures: o
                                .failures
                                .iter()
                                .map(|f| FailureJson {
                                    rule: match f.rule {
                                        Rule::FailOn(_) => "fail_on",
                                        Rule::RequireClosed => "require_closed",
                                    },
                                    code: match f.rule {
                                        Rule::FailOn(c) => Some(c.code()),
                                        Rule::RequireClosed => None,
                                    },
                                    frame: f.frame,
                                    detail: f.detail.clone(),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            unreadable: r.unreadable(),
            connections: r.connections(),
            filtered_out: r.filtered_out(),
            offending: r.offending(),
            anomalies_counted: r.counted_anomalies(),
            max_anomalies_exceeded: r.too_many_anomalies(),
            report_error: r.report_error.as_deref(),
        }
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

    #[test]
    fn allowed_codes_are_no_rule() {
        let p = Policy {
            fail_on: parse_codes(["reset,refused"]).unwrap(),
            allow: parse_codes(["reset"]).unwrap(),
            require_closed: true,
            ..Policy::default()
        };
        assert_eq!(
            p.connection_rules(),
            vec![Rule::FailOn(AnomalyCode::Refused), Rule::RequireClosed]
        );
    }

    #[test]
    fn xml_escapes_markup_and_drops_control_characters() {
        assert_eq!(
            Xml("a<b>&\"c'\u{1}\n").to_string(),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{fffd}\n"
        );
    }

    #[test]
    fn policy_paths_end_in_toml() {
        assert!(is_policy_path("ci/tcpstate.TOML"));
        assert!(!is_policy_path("x.pcap"));
    }
}
