//! Fuzz target: see `check_pipeline` in fuzz/src/lib.rs for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tcpstate_fuzz::check_pipeline(data));
