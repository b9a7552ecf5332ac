#!/usr/bin/env python3
"""Reads a folder of tcpstate Parquet results, as an analyst would.

    tcpstate --out-dir DIR --out-format parquet captures/
    scripts/parquet_queries.py DIR

DIR holds connections/*.parquet, transitions/*.parquet, anomalies/*.parquet
and summary/*.json, one file per capture (docs/REFERENCE.md, "Parquet").
With DuckDB (pip install duckdb) it runs the README's three queries over the
whole folder, one glob per table; with only pyarrow (pip install pyarrow) it
reads the tables and counts outcomes. Either way it checks that the tables
hold as many connections as the summaries say, and exits 1 if not; exit 3
when neither library is installed.
"""

import glob
import json
import os
import sys

QUERIES = {
    "Outcomes over every capture": """
        SELECT outcome, count(*) AS connections
        FROM '{dir}/connections/*.parquet'
        GROUP BY ALL ORDER BY connections DESC, outcome""",
    "Services with connections in CLOSE_WAIT": """
        SELECT server_addr, server_port, count(*) AS connections,
               count(*) FILTER (WHERE server_state = 'CLOSE_WAIT'
                                   OR client_state = 'CLOSE_WAIT') AS close_wait
        FROM '{dir}/connections/*.parquet'
        GROUP BY ALL ORDER BY close_wait DESC, connections DESC LIMIT 10""",
    "Resets: which side, at which frame": """
        SELECT c.file, c.stream, c.server, c.outcome, t.side, t.frame
        FROM '{dir}/connections/*.parquet' c
        JOIN '{dir}/transitions/*.parquet' t USING (file, stream)
        WHERE c.outcome IN ('reset_by_client', 'reset_by_server')
          AND t.cause = 'received_rst'
        ORDER BY c.file, c.stream, t.frame""",
}


def summary_connections(folder):
    total = 0
    for path in glob.glob(os.path.join(folder, "summary", "*.json")):
        with open(path) as f:
            total += json.load(f)["connections"]
    return total


def with_duckdb(folder):
    import duckdb

    con = duckdb.connect()
    for title, sql in QUERIES.items():
        print(f"-- {title}")
        rel = con.sql(sql.format(dir=folder))
        print("\t".join(rel.columns))
        for row in rel.fetchall():
            print("\t".join("" if v is None else str(v) for v in row))
        print()
    counts = {
        t: con.sql(f"SELECT count(*) FROM '{folder}/{t}/*.parquet'").fetchall()[0][0]
        for t in ("connections", "transitions", "anomalies")
    }
    return counts


def with_pyarrow(folder):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    counts = {}
    for t in ("connections", "transitions", "anomalies"):
        files = sorted(glob.glob(os.path.join(folder, t, "*.parquet")))
        tables = [pq.read_table(f) for f in files]
        counts[t] = sum(x.num_rows for x in tables)
        if t == "connections":
            print("-- Outcomes over every capture (pyarrow)")
            outcomes = {}
            for x in tables:
                for entry in pc.value_counts(pc.cast(x["outcome"], "string")).to_pylist():
                    outcomes[entry["values"]] = outcomes.get(entry["values"], 0) + entry["counts"]
            for k, v in sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0])):
                print(f"{k}\t{v}")
            print()
    return counts


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder = sys.argv[1].rstrip("/")
    try:
        counts = with_duckdb(folder)
    except ImportError:
        try:
            counts = with_pyarrow(folder)
        except ImportError:
            print("neither duckdb nor pyarrow is installed (pip install duckdb pyarrow)",
                  file=sys.stderr)
            return 3
    print("rows: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    expected = summary_connections(folder)
    if counts["connections"] != expected:
        print(f"connections: {counts['connections']} rows, the summaries say {expected}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
