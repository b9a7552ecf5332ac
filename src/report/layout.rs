//! The connection table's columns, and which of them fit a terminal's
//! width: the stream, both endpoints in full, both states, the outcome and
//! the anomalies first, then counters while there is room.

use std::fmt;

/// A column of the connection table; `--columns` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// Wireshark's `tcp.stream` (STREAM).
    Stream,
    /// The client endpoint, `addr:port` (CLIENT).
    Client,
    /// The server endpoint (SERVER).
    Server,
    /// Frame number of the first packet (FIRST).
    First,
    /// Frame number of the last packet (LAST).
    Last,
    /// Seconds from the capture's first frame to the connection's (START).
    Start,
    /// Seconds from the first to the last packet (DURATION).
    Duration,
    /// Packets each side sent (PACKETS C/S).
    Packets,
    /// Payload bytes each side sent (BYTES C/S).
    Bytes,
    /// Flags each side sent, as Wireshark's letters (FLAGS C/S).
    Flags,
    /// The client's final state (CLIENT STATE).
    ClientState,
    /// The server's final state (SERVER STATE).
    ServerState,
    /// How the connection went: `closed`, `reset_by_server`... (OUTCOME).
    Outcome,
    /// Zeek's conn_state (CONN_STATE).
    ConnState,
    /// Zeek's history (HISTORY).
    History,
    /// Retransmitted segments per side (RETX C/S).
    Retx,
    /// Handshake round-trip time in milliseconds (IRTT MS).
    Irtt,
    /// VLAN tags and tunnels of the first packet (PATH).
    Path,
    /// The connection's anomaly codes (ANOMALIES).
    Anomalies,
}

impl Column {
    /// Every column, in the order a layout shows the ones it picks.
    pub const ALL: [Column; 19] = [
        Column::Stream,
        Column::Client,
        Column::Server,
        Column::First,
        Column::Last,
        Column::Start,
        Column::Duration,
        Column::Packets,
        Column::Bytes,
        Column::Flags,
        Column::ClientState,
        Column::ServerState,
        Column::Outcome,
        Column::ConnState,
        Column::History,
        Column::Retx,
        Column::Irtt,
        Column::Path,
        Column::Anomalies,
    ];

    /// The name `--columns` takes.
    pub fn name(self) -> &'static str {
        match self {
            Column::Stream => "stream",
            Column::Client => "client",
            Column::Server => "server",
            Column::First => "first",
            Column::Last => "last",
            Column::Start => "start",
            Column::Duration => "duration",
            Column::Packets => "packets",
            Column::Bytes => "bytes",
            Column::Flags => "flags",
            Column::ClientState => "client_state",
            Column::ServerState => "server_state",
            Column::Outcome => "outcome",
            Column::ConnState => "conn_state",
            Column::History => "history",
            Column::Retx => "retx",
            Column::Irtt => "irtt",
            Column::Path => "path",
            Column::Anomalies => "anomalies",
        }
    }

    /// The column `--columns` calls `name`.
    pub fn from_name(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Its heading: per side in one cell (`PACKETS C/S`) when a connection
    /// takes one line, per line (`PACKETS`) when each side takes its own.
    pub(crate) fn header(self, shape: Shape) -> &'static str {
        let per_side = shape == Shape::PerSide;
        match self {
            Column::Stream => "STREAM",
            Column::Client if per_side => "CLIENT\nSERVER",
            Column::Client => "CLIENT",
            Column::Server => "SERVER",
            Column::First => "FIRST",
            Column::Last => "LAST",
            Column::Start => "START",
            Column::Duration => "DURATION",
            Column::Packets if per_side => "PACKETS",
            Column::Packets => "PACKETS C/S",
            Column::Bytes if per_side => "BYTES",
            Column::Bytes => "BYTES C/S",
            Column::Flags if per_side => "FLAGS",
            Column::Flags => "FLAGS C/S",
            Column::ClientState if per_side => "STATE",
            Column::ClientState => "CLIENT STATE",
            Column::ServerState => "SERVER STATE",
            Column::Outcome if per_side => "OUTCOME\nANOMALIES",
            Column::Outcome => "OUTCOME",
            Column::ConnState => "CONN_STATE",
            Column::History => "HISTORY",
            Column::Retx if per_side => "RETX",
            Column::Retx => "RETX C/S",
            Column::Irtt => "IRTT MS",
            Column::Path => "PATH",
            Column::Anomalies => "ANOMALIES",
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a connection's row is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One line per connection, per-side values as `client/server`.
    OneLine,
    /// Two lines per connection, the client's over the server's: CLIENT
    /// holds both endpoints and CLIENT STATE (headed STATE) both states;
    /// SERVER and SERVER STATE are not used. OUTCOME is last, the
    /// anomalies below the outcome (ANOMALIES is not used). PATH may take
    /// both lines.
    PerSide,
}

/// The columns a table shows, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) shape: Shape,
    pub(crate) columns: Vec<Column>,
    /// Characters the anomaly codes may take per line before they wrap;
    /// `None`: never wrapped.
    pub(crate) anomalies_width: Option<usize>,
}

/// The table as a pipe or a file gets it: every column but OUTCOME (which
/// the states and CONN_STATE tell), PATH only for captures with VLANs or
/// tunnels.
pub(crate) fn full(has_path: bool) -> Layout {
    let columns = Column::ALL
        .into_iter()
        .filter(|&c| c != Column::Outcome && (has_path || c != Column::Path))
        .collect();
    Layout {
        shape: Shape::OneLine,
        columns,
        anomalies_width: None,
    }
}

/// Exactly the columns asked for, one line per connection.
pub(crate) fn listed(columns: &[Column]) -> Layout {
    Layout {
        shape: Shape::OneLine,
        columns: columns.to_vec(),
        anomalies_width: None,
    }
}

/// How much a capture's table needs its PATH column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathNeed {
    /// No connection has VLAN tags or tunnels.
    None,
    /// Some have, as a counter.
    Useful,
    /// Two connections share both endpoints, so only their paths tell them
    /// apart: PATH is essential.
    Essential,
}

/// Columns added, in this order, while they fit beside the essential ones;
/// a group goes in whole or not at all.
const COUNTERS: [&[Column]; 11] = [
    &[Column::Path],
    &[Column::ConnState],
    &[Column::History],
    &[Column::Packets],
    &[Column::Bytes],
    &[Column::Duration],
    &[Column::Start],
    &[Column::Retx],
    &[Column::Irtt],
    &[Column::First, Column::Last],
    &[Column::Flags],
];

/// The layout for a terminal `width` characters wide. `natural(c, shape)`
/// is how wide column `c` is in that shape, header included and anomalies
/// unwrapped; `narrowest_anomalies` is the width the anomalies need when
/// wrapped (the longest code, or the header).
///
/// One line per connection if the stream, both endpoints, both states, the
/// outcome and the wrapped anomalies fit (and the path, where it is
/// essential); else a line per side, the anomalies under the outcome.
/// Counters are added by priority only while the anomalies still fit
/// unwrapped. If even a line per side is too wide, the outcome and
/// anomalies go, then the path, then the states; the stream and the
/// endpoints always stay, in full.
pub(crate) fn fit(
    width: usize,
    path: PathNeed,
    natural: impl Fn(Column, Shape) -> usize,
    narrowest_anomalies: usize,
) -> Layout {
    use Column::*;
    // Essential columns, and the last one, which holds the anomalies.
    let shapes: [(Shape, &[Column], Column, usize); 2] = [
        (
            Shape::OneLine,
            &[Stream, Client, Server, ClientState, ServerState, Outcome],
            Anomalies,
            narrowest_anomalies,
        ),
        (
            Shape::PerSide,
            &[Stream, Client, ClientState],
            Outcome,
            narrowest_anomalies.max(natural(Outcome, Shape::OneLine)),
        ),
    ];
    for (shape, essential, last, narrowest) in shapes {
        // Width of `cols` beside a last column `last_width` wide.
        let total = |cols: &[Column], last_width: usize| {
            cols.iter().map(|&c| natural(c, shape)).sum::<usize>() + 2 * cols.len() + last_width
        };
        let mut chosen = essential.to_vec();
        if path == PathNeed::Essential {
            chosen.push(Path);
        }
        if total(&chosen, narrowest) > width {
            continue;
        }
        let unwrapped = natural(last, shape);
        for group in COUNTERS {
            if group.contains(&Path) && path != PathNeed::Useful {
                continue;
            }
            chosen.extend_from_slice(group);
            if total(&chosen, unwrapped) > width {
                chosen.truncate(chosen.len() - group.len());
            }
        }
        let room = width - total(&chosen, 0);
        let mut columns: Vec<Column> = Column::ALL
            .into_iter()
            .filter(|c| chosen.contains(c))
            .collect();
        columns.push(last);
        return Layout {
            shape,
            columns,
            anomalies_width: Some(room.max(narrowest)),
        };
    }
    // Too narrow even for a line per side: the outcome and anomalies go,
    // then the path, then the states.
    let shape = Shape::PerSide;
    let mut chosen = vec![Stream, Client, ClientState];
    if path == PathNeed::Essential {
        chosen.push(Path);
    }
    let total = |cols: &[Column]| {
        cols.iter().map(|&c| natural(c, shape)).sum::<usize>() + 2 * (cols.len() - 1)
    };
    while chosen.len() > 2 && total(&chosen) > width {
        chosen.pop();
    }
    let columns = Column::ALL
        .into_iter()
        .filter(|c| chosen.contains(c))
        .collect();
    Layout {
        shape,
        columns,
        anomalies_width: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Column::*;

    /// Widths of a loopback IPv4 capture's table: 24 characters of
    /// anomalies, the longest code 13.
    fn loopback(c: Column, shape: Shape) -> usize {
        let per_side = shape == Shape::PerSide;
        match c {
            Stream => 6,
            Client => 15,
            Server => 14,
            ClientState if per_side => 11,
            ClientState | ServerState => 12,
            Outcome if per_side => 24,
            Outcome => 15,
            Anomalies => 24,
            Packets | Bytes if per_side => 7,
            Packets => 11,
            Bytes => 9,
            Flags => 9,
            Retx => 8,
            _ => 10,
        }
    }

    /// A layout's line width, the last column wrapped as it says.
    fn total(l: &Layout) -> usize {
        let (last, others) = l.columns.split_last().unwrap();
        let last = loopback(*last, l.shape).min(l.anomalies_width.unwrap_or(usize::MAX));
        others
            .iter()
            .map(|&c| loopback(c, l.shape) + 2)
            .sum::<usize>()
            + last
    }

    #[test]
    fn essential_columns_come_first_and_counters_fill_the_room() {
        // 80: one line needs 6+15+14+12+12+15, 13 and gaps: a line per
        // side, with the anomalies under the outcome.
        let l = fit(80, PathNeed::None, loopback, 13);
        assert_eq!(l.shape, Shape::PerSide);
        assert_eq!(l.columns, [Stream, Client, ClientState, ConnState, Outcome]);
        assert_eq!(l.anomalies_width, Some(30));
        assert_eq!(total(&l), 74);
        // 120: one line; RETX fits where the wider CONN_STATE would not.
        let l = fit(120, PathNeed::None, loopback, 13);
        assert_eq!(l.shape, Shape::OneLine);
        assert_eq!(
            l.columns,
            [
                Stream,
                Client,
                Server,
                ClientState,
                ServerState,
                Outcome,
                Retx,
                Anomalies
            ]
        );
        assert_eq!(total(&l), 120);
        let l = fit(160, PathNeed::Useful, loopback, 13);
        assert_eq!(
            l.columns,
            [
                Stream,
                Client,
                Server,
                Packets,
                ClientState,
                ServerState,
                Outcome,
                ConnState,
                History,
                Path,
                Anomalies
            ]
        );
        assert_eq!(total(&l), 159);
    }

    #[test]
    fn anomalies_wrap_before_a_line_is_split() {
        // One line fits with the anomalies wrapped to 13 but not at 24.
        let one_line = 6 + 15 + 14 + 12 + 12 + 15 + 6 * 2;
        let l = fit(one_line + 13, PathNeed::None, loopback, 13);
        assert_eq!(l.shape, Shape::OneLine);
        assert_eq!(l.anomalies_width, Some(13));
        assert_eq!(l.columns.len(), 7);
    }

    #[test]
    fn first_and_last_frame_come_together() {
        // Essentials 6 * 10 and gaps, anomalies 20: 92; FIRST and LAST 5 + 4
        // and gaps: 13 more; every other counter too wide.
        let widths = |c: Column, _: Shape| match c {
            First => 5,
            Last => 4,
            Anomalies => 20,
            Stream | Client | Server | ClientState | ServerState | Outcome => 10,
            _ => 100,
        };
        let l = fit(104, PathNeed::None, widths, 13);
        assert_eq!(l.columns.len(), 7, "{:?}", l.columns);
        let l = fit(105, PathNeed::None, widths, 13);
        assert_eq!(l.columns[3..5], [First, Last]);
    }

    #[test]
    fn too_narrow_keeps_stream_and_endpoints_whole() {
        let l = fit(40, PathNeed::None, loopback, 13);
        assert_eq!(l.shape, Shape::PerSide);
        assert_eq!(l.columns, [Stream, Client, ClientState]);
        let l = fit(10, PathNeed::None, loopback, 13);
        assert_eq!(l.columns, [Stream, Client]);
    }

    #[test]
    fn a_path_that_tells_connections_apart_is_essential() {
        // At 120 PATH (10) is only a counter and RETX takes the room...
        let l = fit(120, PathNeed::Useful, loopback, 13);
        assert!(!l.columns.contains(&Path));
        // ...unless two connections differ only by their paths.
        let l = fit(120, PathNeed::Essential, loopback, 13);
        assert_eq!(l.shape, Shape::OneLine);
        assert!(l.columns.contains(&Path));
        let l = fit(40, PathNeed::Essential, loopback, 13);
        assert_eq!(l.columns, [Stream, Client, ClientState]);
    }

    #[test]
    fn names_round_trip() {
        for c in Column::ALL {
            assert_eq!(Column::from_name(c.name()), Some(c));
        }
        assert_eq!(Column::from_name("STREAM"), None);
    }
}
