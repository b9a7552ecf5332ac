//! One connection's full story (`tcpstate show STREAM FILE`): the packet
//! ladder with relative sequence numbers as Wireshark shows them, both sides'
//! states after every frame with transitions marked, anomalies beside the
//! frame that showed them, and the Wireshark display filter to open it.

use std::io::{self, Write};
use std::net::IpAddr;

use std::time::Duration;

use crate::capture::Input;
use crate::model::{Segment, SeqNum, Side};
use crate::pipeline::{Analysis, Analyzer, Connection};
use crate::tcp::machine::State;

use super::columns::Columns;
use super::format::flag_letters;
use super::row::{state_cell, INFERRED_LEGEND};

/// The analysis of the file and the segments of the chosen stream, in order.
pub struct Story {
    /// The whole capture's analysis.
    pub analysis: Analysis,
    /// The chosen stream's segments with their senders, in frame order.
    pub segments: Vec<(Segment, Side)>,
    /// The `tcp.stream` index asked for, whether or not the capture has it.
    pub stream: u64,
}

/// Reads the file once, keeping the chosen stream's segments. The whole
/// capture is kept anyway, so connections are not finished for idling or for
/// the table limit: the stream's story is told in one piece.
pub fn collect(input: &Input, stream: u64, analyzer: &Analyzer) -> Story {
    let analyzer = analyzer
        .clone()
        .idle_timeout(Duration::MAX)
        .max_connections(usize::MAX);
    let mut segments = Vec::new();
    let analysis = analyzer.observe_inputs(std::slice::from_ref(input), &mut |seg, s, side| {
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

/// Writes the story: the endpoints and how the connection ended, one ladder
/// line per segment (then the timer transitions), the anomalies found at
/// capture end and the display filters; or one line saying the capture has
/// no such stream.
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
    let t0 = story.analysis.first_ts_ns.unwrap_or(0);
    // Relative numbers as Wireshark shows them: from each side's first SYN, or
    // one before its first sequence number when the SYN was not captured.
    let mut base: [Option<u32>; 2] = [None, None];
    let mut state = [c.tcp.states(Side::Client)[0], c.tcp.states(Side::Server)[0]];
    let transitions: Vec<_> = c.tcp.transitions().collect();
    let anomalies = c.anomalies();
    let mut rows: Vec<[String; 10]> = Vec::new();
    for (seg, side) in &story.segments {
        let i = side.idx();
        let b = *base[i].get_or_insert(if seg.flags.syn() {
            seg.seq
        } else {
            (SeqNum(seg.seq) - 1).0
        });
        if seg.flags.ack() && base[1 - i].is_none() {
            base[1 - i] = Some((SeqNum(seg.ack) - 1).0);
        }
        let rel_ack = match (seg.flags.ack(), base[1 - i]) {
            (true, Some(pb)) => SeqNum(seg.ack).offset_from(SeqNum(pb)).to_string(),
            _ => "-".into(),
        };
        // '*' a state entered at this frame, '?' one inferred there.
        let mut changed = [None, None];
        for t in transitions.iter().filter(|t| t.frame == Some(seg.frame)) {
            state[t.side.idx()] = t.to;
            let mark = changed[t.side.idx()].get_or_insert('*');
            if t.inferred {
                *mark = '?';
            }
        }
        let label = format!("{}", seg.flags);
        let arrow = match side {
            Side::Client => format!("{:-<22}>", format!("--{label}-")),
            Side::Server => format!("<{:->22}", format!("-{label}--")),
        };
        let mark = |s: State, ch: Option<char>| format!("{}{s}", ch.unwrap_or(' '));
        let notes: Vec<String> = anomalies
            .iter()
            .filter(|a| a.frame == Some(seg.frame))
            .map(|a| a.code.to_string())
            .collect();
        rows.push([
            seg.frame.to_string(),
            format!("{:.6}", (seg.ts_ns - t0) as f64 / 1e9),
            arrow,
            flag_letters(seg.flags),
            SeqNum(seg.seq).offset_from(SeqNum(b)).to_string(),
            rel_ack,
            seg.payload_len.to_string(),
            mark(state[0], changed[0]),
            mark(state[1], changed[1]),
            notes.join(" "),
        ]);
    }
    for t in transitions.iter().filter(|t| t.frame.is_none()) {
        state[t.side.idx()] = t.to;
        rows.push([
            "-".into(),
            format!("{:.6}", (t.ts_ns - t0) as f64 / 1e9),
            format!("({} timer)", t.side),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            format!(" {}", state[0]),
            format!(" {}", state[1]),
            t.cause.to_string(),
        ]);
    }
    let mut ladder = Columns::new([
        "FRAME",
        "TIME",
        "CLIENT -> SERVER",
        "FLAGS",
        "SEQ",
        "ACK",
        "LEN",
        "CLIENT",
        "SERVER",
        "NOTES",
    ]);
    for r in rows {
        ladder.push(r);
    }
    ladder.write(out)?;
    writeln!(out, "(* marks a state entered at that frame)")?;
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
    let at_end: Vec<_> = anomalies.iter().filter(|a| a.frame.is_none()).collect();
    for a in at_end {
        writeln!(
            out,
            "at capture end: {} ({}): {}",
            a.code,
            a.code.severity(),
            a.detail
        )?;
    }
    writeln!(out)?;
    let (by_stream, by_addr) = display_filters(c);
    writeln!(out, "Wireshark display filter: {by_stream}")?;
    writeln!(out, "  or, by address: {by_addr}")
}
