//! Fixed-window counters in Redis, shared by every replica: INCR and EXPIRE run in one
//! script so a crash between them cannot leave a counter without a TTL.

use ovu_kit::ApiError;
use redis::Script;
use std::sync::LazyLock;

use crate::state::AppState;

static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local c = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {c, ttl}
",
    )
});

/// Counts one attempt; errs with 429 + Retry-After once `limit` is exceeded in the window.
pub async fn hit(
    state: &AppState,
    key: &str,
    limit: u64,
    window_secs: u64,
) -> Result<(), ApiError> {
    let mut conn = state.redis.clone();
    let (count, ttl): (u64, i64) = HIT
        .key(key)
        .arg(window_secs)
        .invoke_async(&mut conn)
        .await?;
    if count > limit {
        return Err(ApiError::rate_limited(ttl.max(1) as u64));
    }
    Ok(())
}

/// Counts one failure and returns the new total.
pub async fn count_failure(state: &AppState, key: &str, window_secs: u64) -> Result<u64, ApiError> {
    let mut conn = state.redis.clone();
    let (count, _): (u64, i64) = HIT
        .key(key)
        .arg(window_secs)
        .invoke_async(&mut conn)
        .await?;
    Ok(count)
}

/// When `key` has reached `threshold`, the seconds until it resets.
pub async fn locked_for(
    state: &AppState,
    key: &str,
    threshold: u64,
) -> Result<Option<u64>, ApiError> {
    let mut conn = state.redis.clone();
    let (count, ttl): (Option<u64>, i64) = redis::pipe()
        .get(key)
        .ttl(key)
        .query_async(&mut conn)
        .await?;
    Ok(match count {
        Some(c) if c >= threshold => Some(ttl.max(1) as u64),
        _ => None,
    })
}

pub async fn clear(state: &AppState, key: &str) -> Result<(), ApiError> {
    let mut conn = state.redis.clone();
    let _: () = redis::cmd("DEL").arg(key).query_async(&mut conn).await?;
    Ok(())
}
