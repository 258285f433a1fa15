//! Brute-force limits keyed on the account once it is known, not only on the client address
//! or the login string: an account can be named by e-mail or username, and an attacker can
//! change addresses, but either way it is the same account that is being guessed at.
//!
//! - password failures (login and every re-entry of the current password) share one
//!   lockout counter per account, and one per-minute limit;
//! - MFA code failures have their own per-account counter, which a new password login does
//!   not reset, so a second password login gives no fresh set of code attempts.

use ovu_kit::ApiError;
use uuid::Uuid;

use crate::password_policy;
use crate::ratelimit;
use crate::state::AppState;

/// Wrong MFA codes an account may see in a lockout window (`ULM_LOCKOUT_MINUTES`).
pub const MFA_MAX_FAILURES: u64 = 5;

/// Per-minute password attempts (`ULM_RATE_LOGIN_PER_MIN`) for one account.
pub fn password_rate_key(state: &AppState, user_id: Uuid) -> String {
    state.key(&["rl", "login", "user", &user_id.to_string()])
}

/// Failed passwords for one account, towards `ULM_LOCKOUT_THRESHOLD`.
pub fn password_fail_key(state: &AppState, user_id: Uuid) -> String {
    state.key(&["fail", "login", "user", &user_id.to_string()])
}

/// Failed MFA codes for one account, towards [`MFA_MAX_FAILURES`].
pub fn mfa_fail_key(state: &AppState, user_id: Uuid) -> String {
    state.key(&["fail", "mfa", "user", &user_id.to_string()])
}

/// `account_locked` with Retry-After while the account's password lockout is on.
pub async fn password_lock(state: &AppState, user_id: Uuid) -> Result<(), ApiError> {
    let key = password_fail_key(state, user_id);
    match ratelimit::locked_for(state, &key, state.cfg.rate.lockout_threshold).await? {
        Some(secs) => Err(ApiError::account_locked(secs)),
        None => Ok(()),
    }
}

/// Counts a wrong password against the account; `account_locked` once it reaches the threshold.
pub async fn password_failed(state: &AppState, user_id: Uuid) -> Result<u64, ApiError> {
    let rate = state.cfg.rate;
    let failures = ratelimit::count_failure(
        state,
        &password_fail_key(state, user_id),
        rate.lockout_minutes * 60,
    )
    .await?;
    if failures >= rate.lockout_threshold {
        return Err(ApiError::account_locked(rate.lockout_minutes * 60));
    }
    Ok(failures)
}

/// `account_locked` with Retry-After while the account has used up its MFA code attempts.
pub async fn mfa_lock(state: &AppState, user_id: Uuid) -> Result<(), ApiError> {
    match ratelimit::locked_for(state, &mfa_fail_key(state, user_id), MFA_MAX_FAILURES).await? {
        Some(secs) => Err(ApiError::account_locked(secs)),
        None => Ok(()),
    }
}

/// Counts a wrong MFA code against the account; `account_locked` once the attempts are used up.
pub async fn mfa_failed(state: &AppState, user_id: Uuid) -> Result<(), ApiError> {
    let window = state.cfg.rate.lockout_minutes * 60;
    let failures = ratelimit::count_failure(state, &mfa_fail_key(state, user_id), window).await?;
    if failures >= MFA_MAX_FAILURES {
        return Err(ApiError::account_locked(window));
    }
    Ok(())
}

/// Checks the signed-in account's current password again (change password or e-mail,
/// disable MFA), throttled exactly like login: the same per-minute limit (`rate_limited`) and
/// the same lockout counter (`account_locked`), both with Retry-After. Otherwise a stolen
/// session would be an unthrottled oracle for the password.
pub async fn verify_current_password(
    state: &AppState,
    user_id: Uuid,
    password: String,
) -> Result<bool, ApiError> {
    let rate = state.cfg.rate;
    ratelimit::hit(
        state,
        &password_rate_key(state, user_id),
        rate.login_per_min,
        60,
    )
    .await?;
    password_lock(state, user_id).await?;
    let ok = if password.is_empty() || password.chars().count() > password_policy::MAX_LEN * 8 {
        // Not worth an argon2 run, but still a wrong guess.
        false
    } else {
        let hash: String =
            sqlx::query_scalar!("SELECT password_hash FROM users WHERE id = $1", user_id)
                .fetch_one(&state.db)
                .await?;
        state.passwords.verify(password, Some(hash)).await?
    };
    if ok {
        ratelimit::clear(state, &password_fail_key(state, user_id)).await?;
    } else {
        password_failed(state, user_id).await?;
    }
    Ok(ok)
}
