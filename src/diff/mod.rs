//! Two vantage points: compares two captures of the same traffic and says
//! which segments were lost or created between the points, how long they
//! took, how the clocks differ and what a middlebox changed.
//!
//! Each capture is analysed by the ordinary [`Analyzer`] on a thread of its
//! own, so `tcp.stream` and frame numbers are exactly what `tcpstate` (and
//! Wireshark) give each capture alone; every segment and every finished
//! connection goes through a bounded channel to the matcher, which merges
//! the two in time order. Nothing is kept beyond the matching window, the
//! live connections and a bounded sample of delays per connection.
//!
//! The captures are read twice. The first pass finds the clocks: a coarse
//! offset from the first segments ([`BOOTSTRAP_SEGMENTS`] of each, matched
//! on content), then the matcher with it, whose matched segments give the
//! offset and drift ([`clock`]). The second pass matches again on the
//! corrected clock and writes the connections, their delays corrected.
//! So each side must be a file (standard input cannot be read twice).

mod clock;
mod matcher;
mod record;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Duration;

use rustc_hash::FxHashMap;

pub use clock::Clock;
use matcher::{ConnEnd, Event, Matcher, SegFact};
pub use record::{
    Change, Confidence, ConnDiff, DelayStats, DiffSummary, Direction, MatchedBy, PerDirection,
    Reordered,
};

use crate::capture::{CaptureError, Input};
use crate::model::Side;
use crate::pipeline::{Analysis, Analyzer, Warning};
use crate::tcp::machine::State;

/// Segments of each capture the coarse clock offset is looked for in.
pub const BOOTSTRAP_SEGMENTS: usize = 50_000;

/// Events sent through the channel at once.
const EVENT_BATCH: usize = 4096;

/// How to compare.
#[derive(Clone, Debug)]
pub struct DiffOptions {
    /// Copies of a segment further apart than this (after clock
    /// correction) are not matched: each counts as missing in the other
    /// capture. It bounds memory: segments wait this long for a twin.
    pub window: Duration,
    /// B's clock minus A's, when known; found from the captures otherwise.
    pub offset: Option<Duration>,
    /// The offset's sign, with `offset`: B behind A.
    pub offset_negative: bool,
}

impl Default for DiffOptions {
    fn default() -> DiffOptions {
        DiffOptions {
            window: Duration::from_secs(2),
            offset: None,
            offset_negative: false,
        }
    }
}

/// A comparison's result besides the connections.
#[derive(Debug)]
pub struct DiffOutcome {
    /// The totals and the clocks.
    pub summary: DiffSummary,
    /// Read errors of A, then B (what was read is compared).
    pub errors: Vec<CaptureError>,
    /// Warnings of both analyses, and of the comparison.
    pub warnings: Vec<String>,
}

/// Compares capture A (`a`, several inputs read as one, like `--merge`)
/// with capture B; hands every connection to `sink` as soon as both
/// captures are done with it.
pub fn diff(
    analyzer: &Analyzer,
    a: &[Input],
    b: &[Input],
    options: &DiffOptions,
    sink: &mut dyn FnMut(ConnDiff),
) -> Result<DiffOutcome, String> {
    if a.iter().chain(b).any(|i| *i == Input::Stdin) {
        return Err("diff reads each capture twice: give files, not standard input (-)".into());
    }
    let analyzer = &analyzer.clone().wire_facts(true);
    let window_ns = i64::try_from(options.window.as_nanos())
        .unwrap_or(i64::MAX)
        .max(1);
    let mut warnings = Vec::new();
    let given = options.offset.map(|o| {
        let ns = i64::try_from(o.as_nanos()).unwrap_or(i64::MAX);
        if options.offset_negative {
            -ns
        } else {
            ns
        }
    });
    // Pass 1: the clocks.
    let mut ignore = |_: ConnDiff| {};
    let first = pass(analyzer, a, b, window_ns, Start::Coarse(given), &mut ignore);
    let fitted = first.fit.fit();
    let clock = match fitted {
        Some(c) => c,
        None => {
            warnings.push(
                "no segment of A was found in B: the clock offset is unknown (give --offset)"
                    .to_string(),
            );
            first.clock
        }
    };
    // Pass 2: the connections, on the corrected clock.
    let second = pass(analyzer, a, b, window_ns, Start::Known(clock), sink);
    let t = second.totals;
    let ns = |v: f64| v / 1e9;
    let summary = DiffSummary {
        offset_s: fitted.map(|c| ns(c.offset_ns)),
        offset_uncertainty_s: clock.offset_uncertainty_ns.map(ns),
        drift_ppm: fitted.map(|c| c.drift * 1e6),
        drift_uncertainty_ppm: clock.drift_uncertainty.map(|d| d * 1e6),
        path_delay_s: clock.path_delay_ns.map(ns),
        matched: t.matched,
        only_a: t.only[0],
        only_b: t.only[1],
        missing_in_b: t.missing[0],
        missing_in_a: t.missing[1],
        matched_segments: t.matched_segments,
        reordered: t.reordered,
        changed: t.changed,
        states_disagree: t.states_disagree,
        segments_a: t.segments[0],
        segments_b: t.segments[1],
        window_s: window_ns as f64 / 1e9,
    };
    let mut errors = Vec::new();
    for analysis in second.analyses {
        errors.extend(analysis.errors);
        warnings.extend(analysis.warnings.iter().map(Warning::to_string));
    }
    Ok(DiffOutcome {
        summary,
        errors,
        warnings,
    })
}

/// How a pass knows the clocks.
enum Start {
    /// A coarse offset to find (or the one given).
    Coarse(Option<i64>),
    /// The clocks from the first pass.
    Known(Clock),
}

struct Pass {
    clock: Clock,
    fit: clock::ClockFit,
    totals: matcher::Totals,
    analyses: Vec<Analysis>,
}

/// One capture's events as they come, with a look-ahead buffer.
struct Feed {
    rx: Receiver<Vec<Event>>,
    buf: VecDeque<Event>,
    done: bool,
}

impl Feed {
    /// Makes sure an event is buffered, unless the capture is over.
    fn fill(&mut self) {
        while self.buf.is_empty() && !self.done {
            match self.rx.recv() {
                Ok(v) => self.buf.extend(v),
                Err(_) => self.done = true,
            }
        }
    }

    /// Buffers at least `n` segments, unless the capture is over first.
    fn fill_segments(&mut self, n: usize) {
        let count = |b: &VecDeque<Event>| b.iter().filter(|e| matches!(e, Event::Seg(_))).count();
        let mut have = count(&self.buf);
        while have < n && !self.done {
            match self.rx.recv() {
                Ok(v) => {
                    have += v.iter().filter(|e| matches!(e, Event::Seg(_))).count();
                    self.buf.extend(v);
                }
                Err(_) => self.done = true,
            }
        }
    }
}

/// Analyses `inputs`, sending every segment and connection end to `tx`.
fn feed(analyzer: &Analyzer, inputs: &[Input], tx: SyncSender<Vec<Event>>) -> Analysis {
    let pending = RefCell::new(Vec::with_capacity(EVENT_BATCH));
    let send = |force: bool| {
        let mut p = pending.borrow_mut();
        if force || p.len() >= EVENT_BATCH {
            // A closed channel means the matcher is gone; nothing to do.
            let _ = tx.send(std::mem::replace(&mut *p, Vec::with_capacity(EVENT_BATCH)));
        }
    };
    let mut observer = |seg: &crate::model::Segment, stream: u64, side: Side| {
        pending
            .borrow_mut()
            .push(Event::Seg(SegFact::new(seg, stream, side)));
        send(false);
    };
    let mut sink = |conns: Vec<crate::pipeline::Connection>| {
        for c in conns {
            pending.borrow_mut().push(Event::End(ConnEnd {
                stream: c.flow.stream,
                states: Side::BOTH.map(|side| state_history(&c.tcp, side)),
                last_frame: c.flow.last_frame,
            }));
        }
        send(false);
    };
    let analysis = analyzer.observe_stream_inputs(inputs, &mut observer, &mut sink);
    send(true);
    analysis
}

/// A side's distinct states with the frame of the transition into each
/// (None for the initial state and for timers).
fn state_history(
    tcp: &crate::tcp::machine::PairedMachines,
    side: Side,
) -> Vec<(State, Option<u64>)> {
    let states = tcp.states(side);
    let mut v: Vec<(State, Option<u64>)> = vec![(states[0], None)];
    for t in tcp.transitions().filter(|t| t.side == side) {
        if v.last().map(|l| l.0) != Some(t.to) {
            v.push((t.to, t.frame));
        }
    }
    v
}

fn pass(
    analyzer: &Analyzer,
    a: &[Input],
    b: &[Input],
    window_ns: i64,
    start: Start,
    sink: &mut dyn FnMut(ConnDiff),
) -> Pass {
    std::thread::scope(|scope| {
        let (tx_a, rx_a) = sync_channel(4);
        let (tx_b, rx_b) = sync_channel(4);
        let ha = scope.spawn(move || feed(analyzer, a, tx_a));
        let hb = scope.spawn(move || feed(analyzer, b, tx_b));
        let mut feeds = [
            Feed {
                rx: rx_a,
                buf: VecDeque::new(),
                done: false,
            },
            Feed {
                rx: rx_b,
                buf: VecDeque::new(),
                done: false,
            },
        ];
        let clock = match start {
            Start::Known(c) => c,
            Start::Coarse(Some(ns)) => Clock::fixed(ns),
            Start::Coarse(None) => {
                for f in &mut feeds {
                    f.fill_segments(BOOTSTRAP_SEGMENTS);
                }
                Clock::fixed(coarse_offset(&feeds[0].buf, &feeds[1].buf).unwrap_or(0))
            }
        };
        let mut m = Matcher::new(clock, window_ns, sink);
        loop {
            for f in &mut feeds {
                f.fill();
            }
            // Ends are taken as they come; segments by time, A first on a tie.
            let mut next = None;
            for (x, f) in feeds.iter().enumerate() {
                match f.buf.front() {
                    Some(Event::End(_)) => {
                        next = Some((x, i64::MIN));
                        break;
                    }
                    Some(Event::Seg(s)) => {
                        let t = m.time_of(x, s.ts_ns);
                        if next.is_none_or(|(_, best)| t < best) {
                            next = Some((x, t));
                        }
                    }
                    None => {}
                }
            }
            let Some((x, _)) = next else { break };
            match feeds[x].buf.pop_front() {
                Some(Event::Seg(s)) => m.on_segment(x, s),
                Some(Event::End(e)) => m.on_end(x, e),
                None => {}
            }
        }
        m.finish();
        let analyses = [ha, hb]
            .into_iter()
            .map(|h| match h.join() {
                Ok(a) => a,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect();
        Pass {
            clock,
            fit: std::mem::take(&mut m.fit),
            totals: m.totals,
            analyses,
        }
    })
}

/// B's clock minus A's, roughly: per direction (A's client's or server's
/// segments) the median time difference of segments whose content (flags,
/// length, payload digest, IP ID, timestamp) occurs once in each capture's
/// first segments; the middle of the two directions' medians (which holds
/// the offset when the delays are equal), or the one direction's. None
/// when no content occurs in both.
fn coarse_offset(a: &VecDeque<Event>, b: &VecDeque<Event>) -> Option<i64> {
    type Unique = FxHashMap<matcher::ContentKey, Option<(i64, Side)>>;
    fn unique(events: &VecDeque<Event>) -> Unique {
        let mut m: Unique = FxHashMap::default();
        for e in events {
            if let Event::Seg(s) = e {
                if let Some(k) = s.content_key() {
                    m.entry(k)
                        .and_modify(|v| *v = None)
                        .or_insert(Some((s.ts_ns, s.side)));
                }
            }
        }
        m
    }
    let ua = unique(a);
    let ub = unique(b);
    let mut deltas: [Vec<i64>; 2] = Default::default();
    for (k, tb) in &ub {
        if let (Some((tb, _)), Some(Some((ta, side)))) = (tb, ua.get(k)) {
            deltas[side.idx()].push(tb - ta);
        }
    }
    let median = |v: &mut Vec<i64>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    };
    let [c2s, s2c] = &mut deltas;
    match (median(c2s), median(s2c)) {
        (Some(x), Some(y)) => Some(x / 2 + y / 2 + (x % 2 + y % 2) / 2),
        (one, other) => one.or(other),
    }
}
