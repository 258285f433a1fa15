//! Every request body AAM parses itself, for the body fuzzing of [`ovu_kit::fuzz`] (the
//! bodies it relays to ULM are ULM's types: `ovu_ulm::fuzz`). The first byte of an input
//! picks the type. Shared by `fuzz/` and `tests/it/fuzz.rs`.

use ovu_kit::fuzz::{Outcome, check_body};

use crate::routes::apps::{CreateApp, CreateDependency, UpdateApp};
use crate::routes::settings::PutSetting;

/// Field names of AAM's request types (for seeded generation).
pub const FIELDS: &[&str] = &[
    "code",
    "name",
    "display_name",
    "description",
    "app_type",
    "status",
    "category",
    "owner",
    "version",
    "frontend_url",
    "backend_url",
    "docs_url",
    "icon",
    "color",
    "tags",
    "tech_stack",
    "display_order",
    "provider_id",
    "dependency_type",
    "criticality",
    "value",
];

/// How many request types [`check_request_body`] chooses from.
pub const TYPES: u8 = 4;

/// One fuzz input against the AAM request type its first byte picks.
pub fn check_request_body(data: &[u8]) -> Result<Outcome, String> {
    let Some((pick, body)) = data.split_first() else {
        return Ok(Outcome::Parsed);
    };
    match pick % TYPES {
        0 => check_body::<CreateApp>(body),
        1 => check_body::<UpdateApp>(body),
        2 => check_body::<CreateDependency>(body),
        _ => check_body::<PutSetting>(body),
    }
}
