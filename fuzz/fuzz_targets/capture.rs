//! Fuzz target: see `check_capture` in fuzz/src/lib.rs for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tcpstate_fuzz::check_capture(data));
