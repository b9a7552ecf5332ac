//! The HTML report: one self-contained document with no network references,
//! the expected sections and anchors, every link landing on a ladder, data
//! the timeline script can parse, escaped file names, and ladders limited on
//! captures with many connections. The browser half of the test (rendering,
//! script errors, a screenshot) is scripts/html_browser_test.sh.

use std::collections::BTreeSet;
use std::path::Path;

use tcpstate::capture::Input;
use tcpstate::report::html::{write_html, NORMAL_LADDERS};
use tcpstate::{Analysis, Analyzer};

fn analysis_of(path: &Path) -> Analysis {
    let a = Analyzer::new().analyze_inputs(&[Input::Path(path.to_path_buf())]);
    assert!(a.errors.is_empty(), "{}: {:?}", path.display(), a.errors);
    a
}

fn testdata(rel: &str) -> Analysis {
    analysis_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
}

fn html_of(analyses: &[Analysis]) -> String {
    let mut out = Vec::new();
    write_html(&mut out, analyses).unwrap();
    String::from_utf8(out).unwrap()
}

/// Every value of `attr="..."` in the page.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .collect()
}

/// The JSON of each timeline, parsed as the page's script parses it.
fn timeline_data(html: &str) -> Vec<serde_json::Value> {
    let open = "<script type=\"application/json\">";
    html.match_indices(open)
        .map(|(i, _)| {
            let rest = &html[i + open.len()..];
            let end = rest.find("</script>").unwrap();
            serde_json::from_str(&rest[..end]).unwrap()
        })
        .collect()
}

/// One document, nothing fetched from anywhere, every internal link resolved.
fn assert_self_contained(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>\n<html"));
    assert!(html.ends_with("</html>\n"));
    for once in ["<html", "</html>", "<head>", "<body>", "</body>"] {
        assert_eq!(html.matches(once).count(), 1, "{once}");
    }
    let lower = html.to_ascii_lowercase();
    for remote in ["http://", "https://", "//cdn", "<link", "@import", " src="] {
        assert!(
            !lower.contains(remote),
            "page refers outside itself: {remote}"
        );
    }
    // url() only for the SVG's own arrow markers.
    for (i, _) in lower.match_indices("url(") {
        assert!(
            lower[i..].starts_with("url(#"),
            "page refers outside itself: url("
        );
    }
    let ids: BTreeSet<String> = attr_values(html, "id").into_iter().collect();
    for href in attr_values(html, "href") {
        let target = href.strip_prefix('#').expect("only fragment links");
        assert!(ids.contains(target), "link to #{target} has no target");
    }
}

#[test]
fn scenarios_page_has_every_section_and_links_to_ladders() {
    let a = testdata("testdata/synth/scenarios.pcap");
    let conns = a.connections.len();
    let html = html_of(&[a]);
    assert_self_contained(&html);
    for section in ["totals", "graph", "timeline", "anomalies", "ladders"] {
        assert!(
            html.contains(&format!("<section id=\"{section}\">")),
            "{section}"
        );
    }
    // The graph is inline SVG with the eleven states, CLOSED twice.
    assert!(html.contains("<svg class=\"graph\""));
    for state in ["CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED"] {
        assert!(html.contains(&format!(">{state}</text>")), "{state}");
    }
    assert_eq!(html.matches("<g class=\"node\">").count(), 12);
    assert!(html.matches("<path class=\"edge\"").count() >= 15);
    // Totals: outcomes and anomaly codes.
    assert!(html.contains("<td>syn_unanswered</td><td class=\"num\">1</td>"));
    assert!(html.contains("<code>rst_challenged</code>"));
    // 18 connections, few enough that every one has a ladder and a filter.
    assert_eq!(html.matches("<div class=\"ladder\"").count(), conns);
    for stream in 0..conns {
        assert!(html.contains(&format!("id=\"conn-0-{stream}\"")));
        assert!(html.contains(&format!("tcp.stream eq {stream}</code>")));
    }
    // The anomaly table links the unanswered SYN (stream 15) to its ladder.
    assert!(html.contains(
        "<a href=\"#conn-0-15\">15</a></td><td class=\"num\">129</td><td>client</td>\
         <td>the client&#39;s SYN got no answer</td>"
    ));
    assert!(!html.contains("class=\"note omitted\""));
    // The timeline's data: one row per connection, the abnormal ones first.
    let data = timeline_data(&html);
    assert_eq!(data.len(), 1);
    let rows = data[0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), conns);
    let abnormal = data[0]["abnormal"].as_u64().unwrap() as usize;
    assert!(abnormal > 0 && abnormal < conns);
    let flags: Vec<u64> = rows.iter().map(|r| r[4].as_u64().unwrap()).collect();
    assert!(flags[..abnormal].iter().all(|f| f & 1 == 1));
    assert!(flags[abnormal..].iter().all(|f| f & 1 == 0));
    // Three scripts: the error trap, the timeline's data, the timeline's code.
    assert_eq!(html.matches("<script").count(), 3);
    assert!(html.contains("data-rendered") && html.contains("data-script-error"));
}

#[test]
fn several_conns_page_shows_the_resets() {
    let html = html_of(&[testdata("testdata/real/several_conns.pcapng")]);
    assert_self_contained(&html);
    // Streams 3 and 4 were reset: abnormal, first in the timeline, linked.
    let data = timeline_data(&html);
    let streams: Vec<u64> = data[0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_u64().unwrap())
        .collect();
    assert_eq!(streams, [3, 4, 0, 1, 2, 5, 6]);
    assert!(html.contains("<a href=\"#conn-0-3\">3</a>"));
    assert!(html.contains("<a href=\"#conn-0-4\">4</a>"));
    assert!(html.contains("127.0.0.1:30114 \u{2192} 127.0.0.1:5011"));
    assert!(html.contains("frames 77 = TCP 77 + other IP 0 + non-IP 0 + undecodable 0"));
    assert_eq!(html.matches("<div class=\"ladder\"").count(), 7);
}

#[test]
fn file_names_are_escaped_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("a<&>\"b'.pcap");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real/several_conns.pcap"),
        &odd,
    )
    .unwrap();
    let html = html_of(&[analysis_of(&odd)]);
    assert_self_contained(&html);
    assert!(!html.contains("a<&>"), "raw file name in the page");
    assert!(html.contains("a&lt;&amp;&gt;&quot;b&#39;.pcap"));
    // Inside the timeline's JSON the name is escaped the JSON way.
    assert!(html.contains("a\\u003c\\u0026\\u003e\\\"b'.pcap"));
    let data = timeline_data(&html);
    assert!(data[0]["file"].as_str().unwrap().ends_with("a<&>\"b'.pcap"));
}

#[test]
fn several_captures_keep_their_anchors_apart() {
    let html = html_of(&[
        testdata("testdata/real/several_conns.pcapng"),
        testdata("testdata/synth/scenarios.pcap"),
    ]);
    assert_self_contained(&html);
    assert!(html.contains("id=\"conn-0-6\"") && html.contains("id=\"conn-1-17\""));
    assert_eq!(timeline_data(&html).len(), 2);
    assert!(html.contains("<tr class=\"total\"><td>all</td>"));
}

#[test]
fn many_connections_get_ladders_for_the_abnormal_and_the_first_others() {
    use tcpstate_synth::{workload, Link, PcapFormat, PcapWriter};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.pcap");
    let file = std::fs::File::create(&path).unwrap();
    let mut w = PcapWriter::new(file, Link::Ethernet, PcapFormat::default()).unwrap();
    // One in ten refused and one in ten reset: 120 abnormal, 480 normal.
    w.write_packets(&workload(600)).unwrap();
    w.into_inner().unwrap();
    let html = html_of(&[analysis_of(&path)]);
    assert_self_contained(&html);
    assert_eq!(
        html.matches("<div class=\"ladder\"").count(),
        120 + NORMAL_LADDERS
    );
    assert!(html.contains("class=\"note omitted\""));
    assert!(html.contains("280 normal and 0 abnormal connections are left out"));
    // The timeline still has every connection; only rows with a ladder link.
    let data = timeline_data(&html);
    let rows = data[0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 600);
    let linked = rows
        .iter()
        .filter(|r| r[4].as_u64().unwrap() & 2 == 2)
        .count();
    assert_eq!(linked, 120 + NORMAL_LADDERS);
}

#[test]
fn unreadable_inputs_and_no_input_still_make_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing <1>.pcap");
    let a = Analyzer::new().analyze_inputs(&[Input::Path(missing)]);
    assert!(!a.errors.is_empty());
    let html = html_of(&[a]);
    assert_self_contained(&html);
    assert!(html.contains("<td>unreadable</td>"));
    assert!(html.contains("<p class=\"sev-error\">read error: "));
    assert!(html.contains("missing &lt;1&gt;.pcap"));
    assert!(html.contains("No TCP connections."));
    let empty = html_of(&[]);
    assert_self_contained(&empty);
    assert!(empty.contains("<title>tcpstate: no capture</title>"));
}
