//! Arbitrary request bodies for every type ULM parses: see `ovu_ulm::fuzz`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = ovu_ulm::fuzz::check_request_body(data) {
        panic!("{e}");
    }
});
