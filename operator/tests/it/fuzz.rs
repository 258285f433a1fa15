//! The fuzz properties (`ovu_operator::fuzz`) as a bounded smoke run: the committed corpus of
//! the cargo-fuzz targets (fuzz/corpus/) and a fixed number of inputs from a fixed seed.
//! Long coverage-guided runs use the same functions (`fuzz/`, see README.md "Fuzzing").

use std::path::PathBuf;

use ovu_operator::fuzz::{self, Checks, Verdict};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Inputs per generated run (`OVU_FUZZ_INPUTS` raises it for a longer run without
/// cargo-fuzz), and how often one of them also runs nginx -t and the scripts (each costs
/// ~10–30 ms).
const GENERATED: usize = 1000;

fn generated() -> usize {
    std::env::var("OVU_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(GENERATED)
}
const EXTERNAL_EVERY: usize = 50;

const ALL: Checks = Checks {
    nginx_t: true,
    run_scripts: true,
};

/// The fixed seed, or `OVU_FUZZ_SEED` for a long run with another stream.
fn seed(fixed: u64) -> u64 {
    std::env::var("OVU_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(fixed)
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

#[derive(Default, Debug)]
struct Tally {
    unparsable: usize,
    refused: usize,
    accepted: usize,
}
impl Tally {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Unparsable => self.unparsable += 1,
            Verdict::Refused => self.refused += 1,
            Verdict::Accepted => self.accepted += 1,
        }
    }
}

#[test]
fn the_full_sample_is_accepted_with_every_external_check() {
    let sys = fuzz::base_system();
    assert_eq!(fuzz::check_system(&sys, ALL), Ok(Verdict::Accepted));
    let mut restore = sys.clone();
    restore.spec.database.restore = Some(ovu_crds::Restore {
        from_claim: Some("shop-backups".into()),
        from_bucket: None,
        backup: "20260101T010203_2Z".into(),
    });
    assert_eq!(fuzz::check_system(&restore, ALL), Ok(Verdict::Accepted));
}

#[test]
fn the_structured_corpus_holds_every_property() {
    let files = corpus("spec_structured");
    assert!(!files.is_empty());
    let mut t = Tally::default();
    for (p, data) in files {
        let v =
            fuzz::check_structured(&data, ALL).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        t.add(v);
    }
    assert!(t.accepted > 0 && t.refused > 0, "{t:?}");
}

#[test]
fn the_json_corpus_holds_every_property() {
    let files = corpus("spec_json");
    assert!(!files.is_empty());
    let mut t = Tally::default();
    for (p, data) in files {
        let v = fuzz::check_json(&data, ALL).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        t.add(v);
    }
    assert!(t.accepted > 0, "{t:?}");
}

/// Seeded structured inputs: most are accepted (the generator keeps most fields valid), so
/// the renderers see many shapes, and hostile values are refused or rendered safely.
#[test]
fn seeded_structured_specs_hold_every_property() {
    let mut rng = StdRng::seed_from_u64(seed(0x0f0f_2026));
    let mut t = Tally::default();
    for n in 0..generated() {
        let len = rng.gen_range(16..2048);
        let data: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let checks = if n % EXTERNAL_EVERY == 0 {
            ALL
        } else {
            Checks::default()
        };
        let v = fuzz::check_structured(&data, checks)
            .unwrap_or_else(|e| panic!("input {n} ({}): {e}", hex::encode(&data)));
        t.add(v);
    }
    // The generator must keep reaching the renderers, and keep reaching the refusals.
    eprintln!("structured: {t:?}");
    assert!(t.accepted * 5 >= generated(), "{t:?}");
    assert!(t.refused * 10 >= generated(), "{t:?}");
}

/// Seeded raw JSON: the full sample's spec with bytes flipped, inserted and cut.
#[test]
fn seeded_json_specs_hold_every_property() {
    let base = serde_json::to_vec(&fuzz::base_system().spec).unwrap();
    let mut rng = StdRng::seed_from_u64(seed(0x1a2b_2026));
    let mut t = Tally::default();
    for n in 0..generated() {
        let mut data = base.clone();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(0..data.len());
            match rng.gen_range(0..3) {
                0 => data[at] = rng.r#gen(),
                1 => {
                    let specials = b"'\"$`;{}\\ #\n0-.";
                    data.insert(at, specials[rng.gen_range(0..specials.len())]);
                }
                _ => {
                    data.remove(at);
                }
            }
        }
        let checks = if n % EXTERNAL_EVERY == 0 {
            ALL
        } else {
            Checks::default()
        };
        let v = fuzz::check_json(&data, checks)
            .unwrap_or_else(|e| panic!("input {n} ({}): {e}", String::from_utf8_lossy(&data)));
        t.add(v);
    }
    eprintln!("json: {t:?}");
    assert!(t.accepted > 0 && t.refused > 0, "{t:?}");
}
