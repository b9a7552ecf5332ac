//! One connection's full story (`tcpstate show STREAM FILE...`): the packet
//! ladder with relative sequence numbers and the advertised window as
//! Wireshark shows them, both sides' states after every frame with
//! transitions marked, the anomalies beside the frame that showed them and
//! in full below (their sequence numbers relative too), and the Wireshark
//! display filter to open it. As text for people, or as one JSON object.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::anomaly::{Anomaly, AnomalyCode, Severity};
use crate::capture::Input;
use crate::flow::{ClientReason, SeqBases};
use crate::model::{Segment, Side};
use crate::pipeline::{Analysis, Analyzer, Connection, SCHEMA_VERSION};
use crate::tcp::machine::{Cause, Outcome, State, Transition};

use super::columns::Columns;
use super::format::{flag_letters, rfc3339_ns, seconds};
use super::json::write_line;
use super::row::{state_cell, AckRtt, PerRole, TimeInState, INFERRED_LEGEND};

/// The analysis of the inputs and the segments of the chosen stream, in order.
pub struct Story {
    /// The whole capture's analysis.
    pub analysis: Analysis,
    /// The chosen stream's segments with their senders, in frame order.
    pub segments: Vec<(Segment, Side)>,
    /// The `tcp.stream` index asked for, whether or not the capture has it.
    pub stream: u64,
}

/// Reads the inputs once, as one capture (several with `--merge`), keeping
/// the chosen stream's segments. The whole capture is kept anyway, so
/// connections are not finished for idling or for the table limit: the
/// stream's story is told in one piece.
pub fn collect(inputs: &[Input], stream: u64, analyzer: &Analyzer) -> Story {
    let analyzer = analyzer
        .clone()
        .idle_timeout(Duration::MAX)
        .max_connections(usize::MAX);
    let mut segments = Vec::new();
    let analysis = analyzer.observe_inputs(inputs, &mut |seg, s, side| {
        if s == stream {
            segments.push((seg.clone(), side));
        }
    });
    if find(&analysis, stream).is_none() {
        segments.clear();
    }
    Story {
        analysis,
        segments,
        stream,
    }
}

/// Wireshark's display filter for a connection, by stream and by address.
pub fn display_filters(c: &Connection) -> (String, String) {
    let (a, b) = (c.flow.client(), c.flow.server());
    let ip = |addr: IpAddr| match addr {
        IpAddr::V4(_) => "ip.addr",
        IpAddr::V6(_) => "ipv6.addr",
    };
    (
        format!("tcp.stream eq {}", c.flow.stream),
        format!(
            "{} == {} && {} == {} && tcp.port == {} && tcp.port == {}",
            ip(a.addr),
            a.addr,
            ip(b.addr),
            b.addr,
            a.port,
            b.port
        ),
    )
}

/// The (first part of the) connection numbered `stream`.
pub fn find(analysis: &Analysis, stream: u64) -> Option<&Connection> {
    let i = analysis
        .connections
        .partition_point(|c| c.flow.stream < stream);
    analysis
        .connections
        .get(i)
        .filter(|c| c.flow.stream == stream)
}

/// One segment of the ladder with what the analysis says of it.
struct Rung<'a> {
    seg: &'a Segment,
    side: Side,
    /// Relative to its sender's base, as Wireshark's `tcp.seq`.
    seq: u32,
    /// Relative to the peer's base; `None` without the ACK flag.
    ack: Option<u32>,
    /// The base sequence numbers as they stood after this segment.
    bases: SeqBases,
    /// The advertised window in bytes, scaled by the model's one rule.
    window: u32,
    /// Both sides' states after the segment.
    states: [State; 2],
    /// The transitions the segment caused.
    entered: Vec<&'a Transition>,
    /// Codes of the anomalies it showed.
    notes: Vec<AnomalyCode>,
}

/// The ladder's rungs in frame order, then the timer transitions. The
/// relative numbers follow the stream's segments through [`SeqBases`], the
/// one rule the flow layer numbers streams by.
fn ladder<'a>(story: &'a Story, c: &'a Connection) -> (Vec<Rung<'a>>, Vec<&'a Transition>) {
    let f = &c.flow;
    let mut bases = SeqBases::default();
    let mut by_frame: HashMap<u64, Vec<&Transition>> = HashMap::new();
    let mut timers = Vec::new();
    for t in c.tcp.transitions() {
        match t.frame {
            Some(frame) => by_frame.entry(frame).or_default().push(t),
            None => timers.push(t),
        }
    }
    let mut notes: HashMap<u64, Vec<AnomalyCode>> = HashMap::new();
    for a in c.anomalies() {
        if let Some(frame) = a.frame {
            notes.entry(frame).or_default().push(a.code);
        }
    }
    let mut states = [c.tcp.states(Side::Client)[0], c.tcp.states(Side::Server)[0]];
    let rungs = story
        .segments
        .iter()
        .map(|(seg, side)| {
            let entered = by_frame.remove(&seg.frame).unwrap_or_default();
            for t in &entered {
                states[t.side.idx()] = t.to;
            }
            bases.observe(seg, *side);
            let (seq, ack) = bases.relative_numbers(seg, *side);
            Rung {
                seg,
                side: *side,
                seq,
                ack,
                bases,
                window: f.scaled_window(seg),
                states,
                entered,
                notes: notes.remove(&seg.frame).unwrap_or_default(),
            }
        })
        .collect();
    (rungs, timers)
}

/// An anomaly's detail with the ladder's relative sequence numbers: those
/// of its frame's rung (of the last rung when it has no frame).
fn relative_detail(rungs: &[Rung], a: &Anomaly) -> String {
    let rung = match a.frame {
        Some(frame) => rungs.iter().find(|r| r.seg.frame == frame),
        None => rungs.last(),
    };
    let bases = rung.map(|r| r.bases).unwrap_or_default();
    a.detail_relative(|sender, n| bases.relative(sender, n))
}

/// Seconds since the capture's first frame, as the ladder's TIME.
fn time_relative(story: &Story, ts_ns: i64) -> f64 {
    seconds(ts_ns - story.analysis.first_ts_ns.unwrap_or(ts_ns))
}

/// Writes the story: the endpoints and how the connection ended, one ladder
/// line per segment (then the timer transitions), every anomaly with its
/// detail, and the display filters; or one line saying the capture has no
/// such stream.
pub fn write_story(out: &mut dyn Write, story: &Story) -> io::Result<()> {
    let Some(c) = find(&story.analysis, story.stream) else {
        return writeln!(
            out,
            "{}: no stream {} (the capture has {} connections)",
            story.analysis.file,
            story.stream,
            story.analysis.connections.len()
        );
    };
    writeln!(
        out,
        "{} stream {}: {} (client, {}) -> {} (server)",
        story.analysis.file,
        c.flow.stream,
        c.flow.client(),
        c.flow.client_reason,
        c.flow.server()
    )?;
    writeln!(
        out,
        "outcome {}, conn_state {}, history {}",
        c.tcp.outcome(),
        c.zeek.conn_state(),
        c.zeek.history()
    )?;
    writeln!(out)?;
    let (rungs, timers) = ladder(story, c);
    let mut table = Columns::new([
        "FRAME",
        "TIME",
        "CLIENT -> SERVER",
        "FLAGS",
        "SEQ",
        "ACK",
        "WIN",
        "LEN",
        "CLIENT",
        "SERVER",
        "NOTES",
    ]);
    for r in &rungs {
        let label = r.seg.flags.to_string();
        let arrow = match r.side {
            Side::Client => format!("{:-<22}>", format!("--{label}-")),
            Side::Server => format!("<{:->22}", format!("-{label}--")),
        };
        let state = |side: Side| {
            // '*' a state entered at this frame, '?' one inferred there.
            let entered = r.entered.iter().filter(|t| t.side == side);
            let mark = match entered.map(|t| t.inferred).reduce(|a, b| a || b) {
                Some(true) => '?',
                Some(false) => '*',
                None => ' ',
            };
            format!("{mark}{}", r.states[side.idx()])
        };
        let notes: Vec<&str> = r.notes.iter().map(|code| code.code()).collect();
        table.push(vec![
            r.seg.frame.to_string(),
            format!("{:.6}", time_relative(story, r.seg.ts_ns)),
            arrow,
            flag_letters(r.seg.flags),
            r.seq.to_string(),
            r.ack.map_or("-".into(), |a| a.to_string()),
            r.window.to_string(),
            r.seg.payload_len.to_string(),
            state(Side::Client),
            state(Side::Server),
            notes.join(" "),
        ]);
    }
    let mut state = rungs.last().map_or(
        [c.tcp.states(Side::Client)[0], c.tcp.states(Side::Server)[0]],
        |r| r.states,
    );
    for t in &timers {
        state[t.side.idx()] = t.to;
        table.push(vec![
            "-".into(),
            format!("{:.6}", time_relative(story, t.ts_ns)),
            format!("({} timer)", t.side),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            format!(" {}", state[0]),
            format!(" {}", state[1]),
            t.cause.to_string(),
        ]);
    }
    table.write(out)?;
    writeln!(
        out,
        "(* marks a state entered at that frame; SEQ and ACK are relative, WIN is scaled)"
    )?;
    if Side::BOTH.iter().any(|s| c.tcp.state_inferred(*s)) {
        writeln!(
            out,
            "(? marks a state inferred there: the capture did not show its cause)"
        )?;
        writeln!(
            out,
            "final states: client {}, server {}",
            state_cell(c, Side::Client),
            state_cell(c, Side::Server)
        )?;
        writeln!(out, "{INFERRED_LEGEND}")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "time in each state, seconds (the last until the connection's end):"
    )?;
    for side in Side::BOTH {
        let spent: Vec<String> = TimeInState::of(c, side)
            .0
            .iter()
            .map(|(state, secs)| format!("{state} {secs:.6}"))
            .collect();
        writeln!(out, "  {side}  {}", spent.join(", "))?;
    }
    writeln!(
        out,
        "ACK RTT, seconds (tcp.analysis.ack_rtt of the ACKs each side sent: \
         the capture point to that side and back):"
    )?;
    for side in Side::BOTH {
        let r = AckRtt::of(c, side);
        let stats = match (r.min, r.median, r.p95, r.max) {
            (Some(min), Some(median), Some(p95), Some(max)) => format!(
                "min {min:.6}, median {median:.6}, p95 {p95:.6}, max {max:.6}, {} samples",
                r.samples
            ),
            _ => "no samples".to_string(),
        };
        writeln!(out, "  {side}  {stats}")?;
    }
    let anomalies = c.anomalies();
    if !anomalies.is_empty() {
        writeln!(out)?;
        let mut list = Columns::new(["FRAME", "SIDE", "ANOMALY", "SEVERITY", "DETAIL"]);
        for a in anomalies {
            list.push(vec![
                a.frame.map_or("end".into(), |f| f.to_string()),
                a.side.map_or("-".into(), |s| s.to_string()),
                a.code.to_string(),
                a.code.severity().to_string(),
                relative_detail(&rungs, a),
            ]);
        }
        list.write(out)?;
    }
    writeln!(out)?;
    let (by_stream, by_addr) = display_filters(c);
    writeln!(out, "Wireshark display filter: {by_stream}")?;
    writeln!(out, "  or, by address: {by_addr}")
}

/// The story as one JSON object (docs/REFERENCE.md, "JSON: show").
#[derive(Serialize)]
struct StoryJson<'a> {
    schema_version: u32,
    file: &'a str,
    stream: u64,
    client: String,
    server: String,
    client_reason: ClientReason,
    outcome: Outcome,
    conn_state: &'static str,
    history: &'a str,
    /// The window scale each side announced on its SYN.
    window_scale: PerRole<Option<u8>>,
    /// Seconds per state, per side, as in the connection object.
    time_in_state: PerRole<TimeInState>,
    /// ACK round-trip times, as in the connection object.
    ack_rtt: PerRole<AckRtt>,
    segments: Vec<SegmentJson<'a>>,
    timers: Vec<TimerJson>,
    anomalies: Vec<AnomalyJson>,
    display_filter: String,
    display_filter_by_address: String,
}

/// One rung of the ladder.
#[derive(Serialize)]
struct SegmentJson<'a> {
    frame: u64,
    time: String,
    time_relative: f64,
    side: Side,
    flags: Vec<&'static str>,
    seq: u32,
    ack: Option<u32>,
    seq_raw: u32,
    ack_raw: u32,
    window: u32,
    window_raw: u16,
    len: u32,
    client_state: State,
    server_state: State,
    transitions: Vec<EnteredJson>,
    anomalies: &'a [AnomalyCode],
}

/// A transition a segment caused.
#[derive(Serialize)]
struct EnteredJson {
    side: Side,
    from: State,
    to: State,
    cause: Cause,
    inferred: bool,
}

/// A transition a timer caused.
#[derive(Serialize)]
struct TimerJson {
    time: String,
    time_relative: f64,
    side: Side,
    from: State,
    to: State,
    cause: Cause,
}

/// An anomaly with its detail in relative sequence numbers.
#[derive(Serialize)]
struct AnomalyJson {
    code: AnomalyCode,
    severity: Severity,
    frame: Option<u64>,
    side: Option<Side>,
    detail: String,
}

/// Writes the story as one line of JSON; nothing when the capture has no
/// such stream.
pub fn write_story_json(out: &mut dyn Write, story: &Story) -> io::Result<()> {
    let Some(c) = find(&story.analysis, story.stream) else {
        return Ok(());
    };
    let f = &c.flow;
    let (rungs, timers) = ladder(story, c);
    let (display_filter, display_filter_by_address) = display_filters(c);
    let json = StoryJson {
        schema_version: SCHEMA_VERSION,
        file: &story.analysis.file,
        stream: f.stream,
        client: f.client().to_string(),
        server: f.server().to_string(),
        client_reason: f.client_reason,
        outcome: c.tcp.outcome(),
        conn_state: c.zeek.conn_state(),
        history: c.zeek.history(),
        window_scale: PerRole {
            client: f.window_scale[Side::Client.idx()],
            server: f.window_scale[Side::Server.idx()],
        },
        time_in_state: PerRole {
            client: TimeInState::of(c, Side::Client),
            server: TimeInState::of(c, Side::Server),
        },
        ack_rtt: PerRole {
            client: AckRtt::of(c, Side::Client),
            server: AckRtt::of(c, Side::Server),
        },
        segments: rungs
            .iter()
            .map(|r| SegmentJson {
                frame: r.seg.frame,
                time: rfc3339_ns(r.seg.ts_ns),
                time_relative: time_relative(story, r.seg.ts_ns),
                side: r.side,
                flags: r.seg.flags.names().collect(),
                seq: r.seq,
                ack: r.ack,
                seq_raw: r.seg.seq,
                ack_raw: r.seg.ack,
                window: r.window,
                window_raw: r.seg.window,
                len: r.seg.payload_len,
                client_state: r.states[Side::Client.idx()],
                server_state: r.states[Side::Server.idx()],
                transitions: r
                    .entered
                    .iter()
                    .map(|t| EnteredJson {
                        side: t.side,
                        from: t.from,
                        to: t.to,
                        cause: t.cause,
                        inferred: t.inferred,
                    })
                    .collect(),
                anomalies: &r.notes,
            })
            .collect(),
        timers: timers
            .iter()
            .map(|t| TimerJson {
                time: rfc3339_ns(t.ts_ns),
                time_relative: time_relative(story, t.ts_ns),
                side: t.side,
                from: t.from,
                to: t.to,
                cause: t.cause,
            })
            .collect(),
        anomalies: c
            .anomalies()
            .into_iter()
            .map(|a| AnomalyJson {
                code: a.code,
                severity: a.code.severity(),
                frame: a.frame,
                side: a.side,
                detail: relative_detail(&rungs, a),
            })
            .collect(),
        display_filter,
        display_filter_by_address,
    };
    let mut buf = Vec::new();
    write_line(&mut buf, &json)?;
    out.write_all(&buf)
}
