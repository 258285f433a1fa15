//! A short-lived, per-replica cache of `GET /users/me` answers, keyed by session.
//!
//! `/users/me` is called on every page load of both web apps, so it must not cost a
//! database round trip each time. An entry lives at most `ULM_ME_CACHE_MS` (default
//! 1000 ms) and dies at once when this replica handles any write (every non-GET request
//! bumps a generation counter, as does the scheduled-deactivation job), so a client that
//! logs out or edits its profile here never sees stale data. Another replica may serve
//! the old answer for at most the TTL — far inside the 15 minutes an access token stays
//! valid without any check at all in other services.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use uuid::Uuid;

const CAP: usize = 50_000;

struct Entry {
    generation: u64,
    at: Instant,
    user_id: Uuid,
    body: Bytes,
}

pub struct MeCache {
    ttl: Duration,
    generation: AtomicU64,
    map: RwLock<HashMap<Uuid, Entry>>,
    /// Single-flight fills: when an entry expires under load, one request per session
    /// queries the database and the others wait for its answer instead of all queueing
    /// on the pool at once. Striped so sessions rarely wait on each other.
    fills: Vec<tokio::sync::Mutex<()>>,
}

const STRIPES: usize = 64;

impl std::fmt::Debug for MeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl MeCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            generation: AtomicU64::new(0),
            map: RwLock::new(HashMap::new()),
            fills: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    /// The lock that serialises cache fills for `session_id`.
    pub fn fill_lock(&self, session_id: Uuid) -> &tokio::sync::Mutex<()> {
        let b = session_id.as_bytes();
        &self.fills[usize::from(b[15]) % STRIPES]
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// Invalidates every entry (called after any write on this replica).
    pub fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, session_id: Uuid, user_id: Uuid) -> Option<Bytes> {
        if !self.enabled() {
            return None;
        }
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let e = map.get(&session_id)?;
        (e.user_id == user_id && e.generation == self.generation() && e.at.elapsed() < self.ttl)
            .then(|| e.body.clone())
    }

    /// Stores an answer computed while `generation` was current; if a write happened in
    /// between, the entry is born stale and will never be served.
    pub fn put(&self, session_id: Uuid, user_id: Uuid, generation: u64, body: Bytes) {
        if !self.enabled() {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CAP {
            map.clear();
        }
        map.insert(
            session_id,
            Entry {
                generation,
                at: Instant::now(),
                user_id,
                body,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_expire_and_writes_invalidate() {
        let c = MeCache::new(Duration::from_millis(50));
        let (s, u) = (Uuid::new_v4(), Uuid::new_v4());
        let g = c.generation();
        c.put(s, u, g, Bytes::from_static(b"{}"));
        assert!(c.get(s, u).is_some());
        assert!(
            c.get(s, Uuid::new_v4()).is_none(),
            "another user's token must not hit"
        );
        c.bump();
        assert!(c.get(s, u).is_none());
        // Computed before a write: never served.
        c.put(s, u, g, Bytes::from_static(b"{}"));
        assert!(c.get(s, u).is_none());
        c.put(s, u, c.generation(), Bytes::from_static(b"{}"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get(s, u).is_none());
        assert!(!MeCache::new(Duration::ZERO).enabled());
    }
}
