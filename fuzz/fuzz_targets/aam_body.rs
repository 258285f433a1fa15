//! Arbitrary request bodies for every type AAM parses: see `ovu_aam::fuzz`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = ovu_aam::fuzz::check_request_body(data) {
        panic!("{e}");
    }
});
