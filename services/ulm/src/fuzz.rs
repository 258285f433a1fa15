//! Every request body ULM parses, for the body fuzzing of [`ovu_kit::fuzz`]: the first byte
//! of an input picks the type, the rest goes to [`ovu_kit::fuzz::check_body`] (its own
//! first byte picks the content type). Shared by `fuzz/` and `tests/it/fuzz.rs`.

use ovu_kit::fuzz::{Outcome, check_body};

use crate::models::*;
use ovu_ulm_api::roles::{CreateRoleRequest, UpdateRoleRequest};
use ovu_ulm_api::users::{CreateUserRequest, DeactivateRequest, UpdateUserRequest};

/// Field names of ULM's request types (for seeded generation).
pub const FIELDS: &[&str] = &[
    "email",
    "username",
    "password",
    "display_name",
    "preferred_language",
    "token",
    "login",
    "code",
    "mfa_token",
    "refresh_token",
    "new_password",
    "current_password",
    "name",
    "description",
    "permissions",
    "roles",
    "reason",
    "scopes",
    "expires_at",
    "phone",
    "all_devices",
    "access_ttl_minutes",
    "refresh_ttl_days",
    "active",
    "at",
    "until",
];

/// How many request types [`check_request_body`] chooses from.
pub const TYPES: u8 = 18;

/// One fuzz input against the ULM request type its first byte picks.
pub fn check_request_body(data: &[u8]) -> Result<Outcome, String> {
    let Some((pick, body)) = data.split_first() else {
        return Ok(Outcome::Parsed);
    };
    match pick % TYPES {
        0 => check_body::<RegisterRequest>(body),
        1 => check_body::<TokenRequest>(body),
        2 => check_body::<LoginRequest>(body),
        3 => check_body::<MfaLoginRequest>(body),
        4 => check_body::<RefreshRequest>(body),
        5 => check_body::<ForgotPasswordRequest>(body),
        6 => check_body::<ResetPasswordRequest>(body),
        7 => check_body::<CodeRequest>(body),
        8 => check_body::<MfaDisableRequest>(body),
        9 => check_body::<UpdateMeRequest>(body),
        10 => check_body::<ChangePasswordRequest>(body),
        11 => check_body::<CreateApiKeyRequest>(body),
        12 => check_body::<TokenPolicyUpdate>(body),
        13 => check_body::<CreateRoleRequest>(body),
        14 => check_body::<UpdateRoleRequest>(body),
        15 => check_body::<CreateUserRequest>(body),
        16 => check_body::<UpdateUserRequest>(body),
        _ => check_body::<DeactivateRequest>(body),
    }
}
