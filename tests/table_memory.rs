//! The connection table's memory: a report over a big capture holds an
//! index entry per connection while the capture is read, not the
//! connection's row (the rows wait in a temporary file). Counted with an
//! allocator that knows how many bytes are live; this file has one test,
//! so nothing else allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicIsize, Ordering};

use tcpstate::capture::Input;
use tcpstate::report::{Report, Style, TableReport};
use tcpstate::Analyzer;

/// The system allocator, counting the bytes allocated and not freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn the_table_holds_an_index_entry_per_connection_not_its_row() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/synth/anomalies.pcap");
    let a = Analyzer::new().analyze_inputs(&[Input::Path(path)]);
    assert!(a.errors.is_empty(), "{:?}", a.errors);
    for report in [Report::Connections, Report::History] {
        // 40,000 connections in batches of 1,000, as the analysis hands them over.
        let batches: Vec<Vec<tcpstate::Connection>> = (0..40u64)
            .map(|b| {
                (0..1000u64)
                    .map(|k| {
                        let mut c = a.connections[(k % 14) as usize].clone();
                        c.flow.stream = b * 1000 + k;
                        // A connection builds its public transition records
                        // when first asked (the history asks): built here,
                        // so only what the table keeps is counted below.
                        let _ = c.tcp.transitions();
                        c
                    })
                    .collect()
            })
            .collect();
        let mut table = TableReport::new(report, Style::default(), std::io::sink());
        // The first batch makes the temporary file, its buffer and the
        // threads: what any number of connections needs.
        table.connections(0, &batches[0]).unwrap();
        let before = LIVE.load(Ordering::Relaxed);
        for batch in &batches[1..] {
            table.connections(0, batch).unwrap();
        }
        let per_connection = (LIVE.load(Ordering::Relaxed) - before) / 39_000;
        // 16 bytes of index, with the spare room a growing Vec keeps (26
        // on average; the rows held in memory took 455).
        assert!(
            per_connection <= 40,
            "{report:?}: {per_connection} bytes held per connection"
        );
        table.finish(std::slice::from_ref(&a)).unwrap();
    }
}
