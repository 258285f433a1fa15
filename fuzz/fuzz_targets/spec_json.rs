//! Raw bytes as an OvuSystem spec (serde, then validation and rendering): see
//! `ovu_operator::fuzz`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ovu_operator::fuzz::{Checks, check_json};

fuzz_target!(|data: &[u8]| {
    let external = std::env::var_os("OVU_FUZZ_EXTERNAL").is_some();
    let checks = Checks {
        nginx_t: external,
        run_scripts: external,
    };
    if let Err(e) = check_json(data, checks) {
        panic!("{e}");
    }
});
