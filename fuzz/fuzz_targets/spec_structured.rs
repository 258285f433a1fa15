//! Structured OvuSystems (the full sample, mutated): see `ovu_operator::fuzz`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ovu_operator::fuzz::{Checks, check_structured};

fuzz_target!(|data: &[u8]| {
    // OVU_FUZZ_EXTERNAL=1 also runs nginx -t and the scripts on every accepted spec (slow).
    let external = std::env::var_os("OVU_FUZZ_EXTERNAL").is_some();
    let checks = Checks {
        nginx_t: external,
        run_scripts: external,
    };
    if let Err(e) = check_structured(data, checks) {
        panic!("{e}");
    }
});
