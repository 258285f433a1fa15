//! The point reads behind almost every request — the caller's session, `GET /users/me`'s
//! row, and an account by id — each coalesced by an [`ovu_kit::batch::Batcher`]: requests
//! waiting at the same moment share one statement over `unnest` of their keys, so under
//! load PostgreSQL runs a few statements fetching dozens of rows by index instead of one
//! statement (and one pool checkout and return) per request.
//!
//! Nothing is cached: each request is answered by a statement that started after it
//! arrived, so a session ended or a role changed on any replica is seen by the next
//! request, exactly as with a statement per request. The rows carry the role catalogue's
//! stamp, read in the same statement (crate::catalog). The statements run on a few
//! connections of their own ([`ovu_kit::held`]): taken back without sqlx's pool round trip,
//! and always using the statement's generic plan (the same index lookups for any number of
//! keys, without planning each execution).

use std::sync::Arc;

use ovu_kit::ApiError;
use ovu_kit::batch::{BatchMetrics, Batcher, ReadFn, Rows};
use ovu_kit::held::HeldConnections;
use sqlx::PgPool;
use uuid::Uuid;

use crate::models::User;

/// Most distinct keys in one statement. 64 connections' worth of requests fit in one; the
/// cap keeps a statement's arrays and result small when far more are waiting.
const MAX_BATCH: usize = 128;

/// A session's liveness and its user's standing, for authentication.
#[derive(Clone)]
pub struct SessionRow {
    /// The key's position in the statement (1-based).
    i: i64,
    pub username: String,
    pub email: String,
    pub status: String,
    pub session_ok: bool,
    pub mfa: bool,
    pub role_ids: Vec<Uuid>,
    pub stamp: Uuid,
}

/// `GET /users/me`'s row: a User's columns with its role ids and the role catalogue's stamp
/// in place of the role names. Only a live session finds one.
#[derive(Clone)]
pub struct MeRow {
    /// The key's position in the statement (1-based).
    i: i64,
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub display_name: String,
    pub preferred_language: String,
    pub phone: String,
    pub status: String,
    pub email_verified: bool,
    pub mfa_enabled: bool,
    pub role_ids: Vec<Uuid>,
    pub stamp: Uuid,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub last_login_at: Option<chrono::DateTime<chrono::Utc>>,
    pub deactivated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub deactivation_reason: Option<String>,
    pub scheduled_deactivation_at: Option<chrono::DateTime<chrono::Utc>>,
    pub scheduled_deactivation_reason: Option<String>,
}

impl MeRow {
    pub fn into_user(self, roles: Vec<String>) -> User {
        User {
            id: self.id,
            email: self.email,
            username: self.username,
            display_name: self.display_name,
            preferred_language: self.preferred_language,
            phone: self.phone,
            status: self.status,
            email_verified: self.email_verified,
            mfa_enabled: self.mfa_enabled,
            roles,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_login_at: self.last_login_at,
            deactivated_at: self.deactivated_at,
            deactivation_reason: self.deactivation_reason,
            scheduled_deactivation_at: self.scheduled_deactivation_at,
            scheduled_deactivation_reason: self.scheduled_deactivation_reason,
        }
    }
}

/// The coalesced reads of one replica.
#[derive(Debug)]
pub struct Reads {
    sessions: Batcher<(Uuid, Uuid), SessionRow>,
    me: Batcher<(Uuid, Uuid), MeRow>,
    users: Batcher<Uuid, RankedUser>,
    caller_and_user: Batcher<(Uuid, Uuid, Uuid), CallerAndUser>,
}

impl Reads {
    /// At most `lanes` statements of each kind at once, each taking every key waiting when
    /// it starts.
    pub fn new(db: &PgPool, lanes: usize, metrics: &BatchMetrics) -> Self {
        // Their own connections, shared by the three reads: at most `lanes` statements in
        // all, as before, on connections that PostgreSQL keeps one plan per statement for.
        let db = &Arc::new(HeldConnections::new(
            db,
            u32::try_from(lanes).unwrap_or(u32::MAX),
        ));
        Self {
            sessions: Batcher::new("session", lanes, MAX_BATCH, sessions(db.clone()), metrics),
            me: Batcher::new("me", lanes, MAX_BATCH, me(db.clone()), metrics),
            users: Batcher::new("user", lanes, MAX_BATCH, users(db.clone()), metrics),
            caller_and_user: Batcher::new(
                "session_and_user",
                lanes,
                MAX_BATCH,
                caller_and_user(db.clone()),
                metrics,
            ),
        }
    }

    /// Session `sid` of user `uid`, live or not; `None` when there is no such pair.
    pub async fn session(&self, uid: Uuid, sid: Uuid) -> Result<Option<SessionRow>, ApiError> {
        self.sessions.get((uid, sid)).await
    }

    /// User `uid` as `GET /users/me` shows it, when `sid` is a live session of theirs.
    pub async fn me(&self, uid: Uuid, sid: Uuid) -> Result<Option<MeRow>, ApiError> {
        self.me.get((uid, sid)).await
    }

    /// The account `id`, with its role names.
    pub async fn user(&self, id: Uuid) -> Result<Option<RankedUser>, ApiError> {
        self.users.get(id).await
    }

    /// Session `sid` of user `uid` and the account `id`, in one read, when the session is
    /// live, its user active and the account exists; `None` otherwise (then ask
    /// [`Self::session`] and [`Self::user`] which it was).
    pub async fn session_and_user(
        &self,
        uid: Uuid,
        sid: Uuid,
        id: Uuid,
    ) -> Result<Option<(SessionRow, RankedUser)>, ApiError> {
        Ok(self
            .caller_and_user
            .get((uid, sid, id))
            .await?
            .map(CallerAndUser::split))
    }
}

/// `unnest … WITH ORDINALITY` numbers the keys from 1; the batcher wants slice positions.
fn position(i: i64) -> Option<usize> {
    usize::try_from(i.checked_sub(1)?).ok()
}

fn split(keys: &[(Uuid, Uuid)]) -> (Vec<Uuid>, Vec<Uuid>) {
    keys.iter().copied().unzip()
}

fn positioned<T>(rows: Vec<T>, i: impl Fn(&T) -> i64) -> Vec<(usize, T)> {
    rows.into_iter()
        .filter_map(|r| Some((position(i(&r))?, r)))
        .collect()
}

fn sessions(db: Arc<HeldConnections>) -> Arc<ReadFn<(Uuid, Uuid), SessionRow>> {
    Arc::new(move |keys| {
        let db = db.clone();
        Box::pin(async move {
            let rows = db.read(&split(&keys), |c, (uids, sids)| {
                Box::pin(sqlx::query_as!(
                    SessionRow,
                    r#"SELECT k.i AS "i!", u.username, u.email, u.status, s.mfa,
                        (s.revoked_at IS NULL AND s.expires_at > now()) AS "session_ok!",
                        ARRAY(SELECT ur.role_id FROM user_roles ur WHERE ur.user_id = u.id) AS "role_ids!",
                        (SELECT c.stamp FROM role_catalog c) AS "stamp!"
                   FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS k(uid, sid, i)
                   JOIN users u ON u.id = k.uid
                   JOIN sessions s ON s.id = k.sid AND s.user_id = u.id"#,
                    uids.as_slice(),
                    sids.as_slice()
                )
                .fetch_all(c))
            })
            .await?;
            Rows::Ok(positioned(rows, |r| r.i))
        })
    })
}

fn me(db: Arc<HeldConnections>) -> Arc<ReadFn<(Uuid, Uuid), MeRow>> {
    Arc::new(move |keys| {
        let db = db.clone();
        Box::pin(async move {
            // The session's liveness is a join condition rather than a column, so a dead
            // session answers like a missing one.
            let rows = db.read(&split(&keys), |c, (uids, sids)| {
                Box::pin(sqlx::query_as!(
                    MeRow,
                    r#"SELECT k.i AS "i!", u.id, u.email, u.username, u.display_name, u.preferred_language, u.phone,
                        u.status, (u.email_verified_at IS NOT NULL) AS "email_verified!", u.mfa_enabled,
                        ARRAY(SELECT ur.role_id FROM user_roles ur WHERE ur.user_id = u.id) AS "role_ids!",
                        (SELECT c.stamp FROM role_catalog c) AS "stamp!",
                        u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, u.deactivation_reason,
                        u.scheduled_deactivation_at, u.scheduled_deactivation_reason
                   FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS k(uid, sid, i)
                   JOIN users u ON u.id = k.uid
                   JOIN sessions s ON s.id = k.sid AND s.user_id = u.id
                        AND s.revoked_at IS NULL AND s.expires_at > now()"#,
                    uids.as_slice(),
                    sids.as_slice()
                )
                .fetch_all(c))
            })
            .await?;
            Rows::Ok(positioned(rows, |r| r.i))
        })
    })
}

/// An account with the role catalogue's stamp its rank is weighed against.
#[derive(Clone)]
pub struct RankedUser {
    /// The key's position in the statement (1-based).
    i: i64,
    pub stamp: Uuid,
    id: Uuid,
    email: String,
    username: String,
    display_name: String,
    preferred_language: String,
    phone: String,
    status: String,
    email_verified: bool,
    mfa_enabled: bool,
    pub roles: Vec<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    last_login_at: Option<chrono::DateTime<chrono::Utc>>,
    deactivated_at: Option<chrono::DateTime<chrono::Utc>>,
    deactivation_reason: Option<String>,
    scheduled_deactivation_at: Option<chrono::DateTime<chrono::Utc>>,
    scheduled_deactivation_reason: Option<String>,
}

impl From<RankedUser> for User {
    fn from(r: RankedUser) -> Self {
        User {
            id: r.id,
            email: r.email,
            username: r.username,
            display_name: r.display_name,
            preferred_language: r.preferred_language,
            phone: r.phone,
            status: r.status,
            email_verified: r.email_verified,
            mfa_enabled: r.mfa_enabled,
            roles: r.roles,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_login_at: r.last_login_at,
            deactivated_at: r.deactivated_at,
            deactivation_reason: r.deactivation_reason,
            scheduled_deactivation_at: r.scheduled_deactivation_at,
            scheduled_deactivation_reason: r.scheduled_deactivation_reason,
        }
    }
}

fn users(db: Arc<HeldConnections>) -> Arc<ReadFn<Uuid, RankedUser>> {
    Arc::new(move |keys| {
        let db = db.clone();
        Box::pin(async move {
            let rows = db
                .read(keys.as_slice(), |c, keys| {
                    Box::pin(crate::sql::query_users!(
                        as RankedUser,
                        r#"SELECT k.i AS "i!", (SELECT c.stamp FROM role_catalog c) AS "stamp!","#,
                        "FROM unnest($1::uuid[]) WITH ORDINALITY AS k(uid, i) JOIN users u ON u.id = k.uid",
                        keys
                    )
                    .fetch_all(c))
                })
                .await?;
            Rows::Ok(positioned(rows, |r| r.i))
        })
    })
}

/// A live session's caller and an account, as one row: `GET /users/{id}` under a bearer
/// token. The account's columns are the `u.` ones of [`crate::sql::query_users`].
#[derive(Clone)]
pub struct CallerAndUser {
    /// The key's position in the statement (1-based).
    i: i64,
    caller_username: String,
    caller_email: String,
    caller_status: String,
    caller_session_ok: bool,
    caller_mfa: bool,
    caller_role_ids: Vec<Uuid>,
    stamp: Uuid,
    id: Uuid,
    email: String,
    username: String,
    display_name: String,
    preferred_language: String,
    phone: String,
    status: String,
    email_verified: bool,
    mfa_enabled: bool,
    roles: Vec<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    last_login_at: Option<chrono::DateTime<chrono::Utc>>,
    deactivated_at: Option<chrono::DateTime<chrono::Utc>>,
    deactivation_reason: Option<String>,
    scheduled_deactivation_at: Option<chrono::DateTime<chrono::Utc>>,
    scheduled_deactivation_reason: Option<String>,
}

impl CallerAndUser {
    /// The caller's session as [`Reads::session`] would read it, and the account as
    /// [`Reads::user`] would. (The statement only finds live sessions of active accounts;
    /// their liveness and status are still read, not assumed, and authentication checks them
    /// as for any session.)
    fn split(self) -> (SessionRow, RankedUser) {
        let session = SessionRow {
            i: self.i,
            username: self.caller_username,
            email: self.caller_email,
            status: self.caller_status,
            session_ok: self.caller_session_ok,
            mfa: self.caller_mfa,
            role_ids: self.caller_role_ids,
            stamp: self.stamp,
        };
        let user = RankedUser {
            i: self.i,
            stamp: self.stamp,
            id: self.id,
            email: self.email,
            username: self.username,
            display_name: self.display_name,
            preferred_language: self.preferred_language,
            phone: self.phone,
            status: self.status,
            email_verified: self.email_verified,
            mfa_enabled: self.mfa_enabled,
            roles: self.roles,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_login_at: self.last_login_at,
            deactivated_at: self.deactivated_at,
            deactivation_reason: self.deactivation_reason,
            scheduled_deactivation_at: self.scheduled_deactivation_at,
            scheduled_deactivation_reason: self.scheduled_deactivation_reason,
        };
        (session, user)
    }
}

fn caller_and_user(db: Arc<HeldConnections>) -> Arc<ReadFn<(Uuid, Uuid, Uuid), CallerAndUser>> {
    Arc::new(move |keys| {
        let db = db.clone();
        let (mut uids, mut sids, mut ids) = (
            Vec::with_capacity(keys.len()),
            Vec::with_capacity(keys.len()),
            Vec::with_capacity(keys.len()),
        );
        for (uid, sid, id) in keys {
            uids.push(uid);
            sids.push(sid);
            ids.push(id);
        }
        Box::pin(async move {
            // The account is joined only to a live session of an active caller: without
            // one, the statement does not read it at all.
            let rows = db
                .read(&(uids, sids, ids), |c, (uids, sids, ids)| {
                    Box::pin(crate::sql::query_users!(
                        as CallerAndUser,
                        r#"SELECT k.i AS "i!", cu.username AS caller_username, cu.email AS caller_email,
                                cu.status AS caller_status, s.mfa AS caller_mfa,
                                (s.revoked_at IS NULL AND s.expires_at > now()) AS "caller_session_ok!",
                                ARRAY(SELECT cr.role_id FROM user_roles cr WHERE cr.user_id = cu.id) AS "caller_role_ids!",
                                (SELECT c.stamp FROM role_catalog c) AS "stamp!","#,
                        "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) WITH ORDINALITY AS k(uid, sid, tid, i)
                         JOIN users cu ON cu.id = k.uid AND cu.status = 'active'
                         JOIN sessions s ON s.id = k.sid AND s.user_id = cu.id
                              AND s.revoked_at IS NULL AND s.expires_at > now()
                         JOIN users u ON u.id = k.tid",
                        uids.as_slice(),
                        sids.as_slice(),
                        ids.as_slice()
                    )
                    .fetch_all(c))
                })
                .await?;
            Rows::Ok(positioned(rows, |r| r.i))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::position;

    #[test]
    fn ordinality_becomes_a_slice_position() {
        assert_eq!(position(1), Some(0));
        assert_eq!(position(128), Some(127));
        assert_eq!(position(0), None);
        assert_eq!(position(i64::MIN), None);
    }
}
