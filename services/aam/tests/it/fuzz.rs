//! Request-body fuzzing as a bounded smoke run (`ovu_aam::fuzz`): the committed corpus of
//! the `aam_body` cargo-fuzz target and seeded bodies for every request type AAM parses —
//! each parses or gets a 4xx in the error shape, never a panic or a 5xx.

use ovu_aam::fuzz::{FIELDS, TYPES, check_request_body};
use ovu_kit::fuzz::{Outcome, seeded_bodies};

#[test]
fn the_aam_body_corpus_parses_or_gets_a_4xx() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/aam_body");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let data = std::fs::read(&p).unwrap();
        check_request_body(&data).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        n += 1;
    }
    assert!(n > 0, "{}", dir.display());
}

#[test]
fn seeded_bodies_parse_or_get_a_4xx_for_every_aam_type() {
    let (mut parsed, mut refused) = (0, 0);
    for (i, body) in seeded_bodies(0x2026_0aa3, 3000, FIELDS)
        .into_iter()
        .enumerate()
    {
        let mut data = vec![(i % usize::from(TYPES)) as u8];
        data.extend(body);
        match check_request_body(&data) {
            Ok(Outcome::Parsed) => parsed += 1,
            Ok(Outcome::Refused(_)) => refused += 1,
            Err(e) => panic!("input {i} ({:?}): {e}", String::from_utf8_lossy(&data)),
        }
    }
    assert!(
        parsed > 0 && refused > 0,
        "parsed {parsed}, refused {refused}"
    );
}
