//! Live session checks against ULM, so a revoked session, a deactivated account or a removed
//! role stops working on AAM's own routes within seconds rather than when the access token
//! expires.
//!
//! An access token's claims are a snapshot taken when ULM signed it. AAM asks ULM's
//! `GET /api/v1/auth/session` with the caller's own token and uses the permissions that come
//! back instead of the token's; the answer is kept per session for `AAM_SESSION_CHECK_SECS`
//! (default 5 s, 0 = ask on every request), which bounds how long a change takes to reach
//! AAM.
//!
//! ULM's answer is final whenever it gives one (401 for an ended session, the current
//! permissions otherwise). When ULM cannot answer at all (down, hung, 5xx), AAM falls back to
//! the token's own claims for the same few seconds: its own routes keep working through a ULM
//! outage (the registry, settings and health are what an admin needs then), and the exposure
//! is bounded by the token's lifetime, which ULM caps at 15 minutes for any administrative
//! permission.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ovu_kit::ApiError;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::Caller;
use crate::ulm::UlmClient;

/// Entries kept at most; past it, expired entries go first and then everything.
const CAP: usize = 20_000;

/// What ULM says the session may do now.
#[derive(Debug, Clone, Deserialize)]
pub struct Live {
    pub user_id: Uuid,
    pub permissions: Vec<String>,
    pub mfa: bool,
}

struct Entry {
    at: Instant,
    live: Arc<Live>,
}

pub struct SessionChecks {
    ttl: Duration,
    map: Mutex<HashMap<Uuid, Entry>>,
}

impl SessionChecks {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, sid: Uuid, user: Uuid) -> Option<Arc<Live>> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&sid)
            .filter(|e| e.at.elapsed() < self.ttl && e.live.user_id == user)
            .map(|e| e.live.clone())
    }

    fn remember(&self, sid: Uuid, live: Arc<Live>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CAP {
            let ttl = self.ttl;
            map.retain(|_, e| e.at.elapsed() < ttl);
            if map.len() >= CAP {
                map.clear();
            }
        }
        map.insert(
            sid,
            Entry {
                at: Instant::now(),
                live,
            },
        );
    }

    /// The caller's session as ULM sees it now (or at most `ttl` ago).
    pub async fn check(&self, ulm: &UlmClient, caller: &Caller) -> Result<Arc<Live>, ApiError> {
        let (sid, user) = (caller.claims.sid, caller.claims.sub);
        if let Some(live) = self.cached(sid, user) {
            return Ok(live);
        }
        let answer = match ulm.get(caller, "/api/v1/auth/session", &[]).await {
            Ok(reply) => reply.json::<Live>(),
            Err(e) => Err(e),
        };
        let live = match answer {
            Ok(live) if live.user_id == user => live,
            Ok(_) => {
                // ULM vouched for someone else: never act on that.
                tracing::error!(%sid, "session check answered for another user");
                return Err(ApiError::upstream_unavailable());
            }
            Err(e) if e.code == "upstream_unavailable" => {
                tracing::warn!(%sid, "ULM cannot check the session; the token's claims stand in");
                Live {
                    user_id: user,
                    permissions: caller.claims.permissions.clone(),
                    mfa: caller.claims.mfa,
                }
            }
            Err(e) => return Err(e),
        };
        let live = Arc::new(live);
        self.remember(sid, live.clone());
        Ok(live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(user: Uuid) -> Arc<Live> {
        Arc::new(Live {
            user_id: user,
            permissions: vec!["aam:access".into()],
            mfa: false,
        })
    }

    #[test]
    fn entries_expire_and_belong_to_their_user() {
        let c = SessionChecks::new(Duration::from_millis(50));
        let (sid, user) = (Uuid::new_v4(), Uuid::new_v4());
        c.remember(sid, live(user));
        assert!(c.cached(sid, user).is_some());
        assert!(c.cached(sid, Uuid::new_v4()).is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.cached(sid, user).is_none());
    }

    #[test]
    fn zero_ttl_never_caches() {
        let c = SessionChecks::new(Duration::ZERO);
        let (sid, user) = (Uuid::new_v4(), Uuid::new_v4());
        c.remember(sid, live(user));
        assert!(c.cached(sid, user).is_none());
    }

    #[test]
    fn the_map_stays_bounded() {
        let c = SessionChecks::new(Duration::from_secs(60));
        for _ in 0..CAP + 10 {
            c.remember(Uuid::new_v4(), live(Uuid::new_v4()));
        }
        assert!(c.map.lock().unwrap().len() <= CAP);
    }
}
