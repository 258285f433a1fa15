//! Who is calling: a bearer access token (Ed25519 JWT) bound to a live session, or an API
//! key limited to its scopes. Permissions are read fresh from the database on every
//! authenticated request, so revoking a role or ending a session takes effect at once
//! rather than when the 15-minute token expires.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use ovu_kit::ApiError;
use ovu_kit::jwt::{AccessClaims, bearer};
use ovu_ulm_api::Perm;
use uuid::Uuid;

use crate::crypto::token_hash;
use crate::reads::SessionRow;
use crate::state::AppState;

pub const API_KEY_PREFIX: &str = "ovuk_";

/// The permissions of a user, as `resource:action` strings.
pub const PERMISSIONS_OF_USER: &str = "ARRAY(SELECT DISTINCT p.resource || ':' || p.action
       FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
       JOIN permissions p ON p.id = rp.permission_id WHERE ur.user_id = u.id)";

/// Whether user `u` holds the super_admin role.
pub const IS_SUPER_ADMIN: &str =
    "EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
       WHERE ur.user_id = u.id AND r.name = 'super_admin')";

/// Permissions that act only on the holder's own account. Holding them gives no power over
/// anyone else, so they are left out when one account's authority is compared with
/// another's (otherwise a help desk without API keys could read nobody).
pub const SELF_SERVICE: [&str; 2] = [Perm::ApiKeysRead.as_str(), Perm::ApiKeysWrite.as_str()];

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub username: String,
    pub email: String,
    /// Set for bearer tokens: the session the token belongs to.
    pub session_id: Option<Uuid>,
    /// Set for API keys.
    pub api_key_id: Option<Uuid>,
    pub permissions: Vec<String>,
    /// The session passed a second factor (or, for a key, its owner has MFA on).
    pub mfa: bool,
    /// The caller acts with the full authority of a super_admin: a session of a super_admin,
    /// or a key of one whose scopes cover every permission. super_admin outranks every other
    /// role, so only such a caller may act on another super_admin's account.
    pub super_admin: bool,
}

impl Principal {
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// Holds any permission beyond self-service, i.e. some power over other accounts or the
    /// system: an administrator for the MFA policy.
    pub fn is_admin(&self) -> bool {
        self.permissions
            .iter()
            .any(|p| !SELF_SERVICE.contains(&p.as_str()))
    }

    /// With `ULM_ADMIN_MFA=required`, an administrator whose session has not passed a second
    /// factor (or whose key's owner has no MFA) may only enrol: read their own profile, set up
    /// and enable MFA, refresh and sign out. Everything else answers `mfa_required`.
    pub fn must_enrol(&self, state: &AppState) -> bool {
        state.cfg.admin_mfa_required && !self.mfa && self.is_admin()
    }

    /// Function-level access check (ASVS 8.2.1). Admin permissions additionally need MFA
    /// when `ULM_ADMIN_MFA=required`.
    pub fn require(&self, state: &AppState, permission: Perm) -> Result<(), ApiError> {
        let name = permission.as_str();
        if !self.has(name) {
            tracing::warn!(user_id = %self.user_id, permission = name, "permission denied");
            return Err(ApiError::missing_permission(name));
        }
        if state.cfg.admin_mfa_required && !permission.is_self_service() && !self.mfa {
            return Err(ApiError::mfa_required());
        }
        Ok(())
    }

    /// Permissions of `target` (with `target_super`) that this caller lacks: the caller may
    /// act on another account only when this is empty — the same rule role assignment uses,
    /// so an admin can never reach an account that holds more than they do. A super_admin
    /// target is out of reach of anyone but a super_admin, whatever their other roles.
    pub fn outranked_by(&self, target_permissions: &[String], target_super: bool) -> Vec<String> {
        let mut missing: Vec<String> = target_permissions
            .iter()
            .filter(|p| !SELF_SERVICE.contains(&p.as_str()) && !self.has(p))
            .cloned()
            .collect();
        if target_super && !self.super_admin {
            missing.push("super_admin".into());
        }
        missing.sort();
        missing
    }

    /// Self-service actions on credentials need an interactive session, not an API key,
    /// so a leaked key cannot change passwords, MFA or mint more keys.
    pub fn require_session(&self) -> Result<Uuid, ApiError> {
        self.session_id
            .ok_or_else(|| ApiError::forbidden().with_detail("reason", "session_required"))
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    user_id: Uuid,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    username: String,
    email: String,
    status: String,
    mfa_enabled: bool,
    role_ids: Vec<Uuid>,
    stamp: Uuid,
}

pub enum Presented<'a> {
    Bearer(&'a str),
    ApiKey(&'a str),
    None,
}

pub fn presented(headers: &HeaderMap) -> Presented<'_> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Presented::ApiKey(k.trim());
    }
    if let Some(v) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = bearer(v) {
            return Presented::Bearer(t);
        }
        if let Some((scheme, k)) = v.split_once(' ')
            && scheme.eq_ignore_ascii_case("apikey")
        {
            return Presented::ApiKey(k.trim());
        }
        // Some other scheme: treat as a bad credential rather than none at all.
        return Presented::Bearer("");
    }
    Presented::None
}

/// Verifies a bearer token's signature and claims (no database).
pub fn verify_bearer(state: &AppState, token: &str) -> Result<Arc<AccessClaims>, ApiError> {
    Ok(state.verifier.verify(token)?)
}

pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    match presented(headers) {
        Presented::Bearer(t) => {
            let claims = verify_bearer(state, t)?;
            // The read is shared with the other requests waiting at this moment
            // (crate::reads).
            let row = state.reads.session(claims.sub, claims.sid).await?;
            session_principal(state, &claims, row).await
        }
        Presented::ApiKey(k) => authenticate_key(state, k).await,
        Presented::None => Err(ApiError::unauthorized()),
    }
}

/// The caller a bearer token speaks for, given its session's row (`None`: no such session):
/// only a live session of an active account is one.
pub async fn session_principal(
    state: &AppState,
    claims: &AccessClaims,
    row: Option<SessionRow>,
) -> Result<Principal, ApiError> {
    match row {
        Some(r) if r.session_ok && r.status == "active" => {
            // The caller's role ids and the catalogue's stamp come from one snapshot; what the
            // roles grant comes from the replica's catalogue as of that stamp (crate::catalog).
            let grants = state
                .catalog
                .at(&state.db, r.stamp)
                .await?
                .grants(&r.role_ids);
            Ok(Principal {
                user_id: claims.sub,
                username: r.username,
                email: r.email,
                session_id: Some(claims.sid),
                api_key_id: None,
                permissions: grants.permissions,
                mfa: r.mfa,
                super_admin: grants.super_admin,
            })
        }
        _ => Err(ApiError::invalid_token().with_detail("reason", "session_ended")),
    }
}

async fn authenticate_key(state: &AppState, key: &str) -> Result<Principal, ApiError> {
    if !key.starts_with(API_KEY_PREFIX) || key.len() > 128 {
        return Err(ApiError::invalid_token());
    }
    let row: Option<KeyRow> = sqlx::query_as!(
        KeyRow,
        r#"SELECT k.id, k.user_id, k.scopes, k.expires_at, k.last_used_at,
                u.username, u.email, u.status, u.mfa_enabled,
                ARRAY(SELECT ur.role_id FROM user_roles ur WHERE ur.user_id = u.id) AS "role_ids!",
                (SELECT c.stamp FROM role_catalog c) AS "stamp!"
         FROM api_keys k JOIN users u ON u.id = k.user_id
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL"#,
        token_hash(key)
    )
    .fetch_optional(&state.db)
    .await?;
    let Some(r) = row else {
        return Err(ApiError::invalid_token());
    };
    let now = Utc::now();
    if r.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::token_expired());
    }
    if r.status != "active" {
        return Err(ApiError::invalid_token());
    }
    // last_used_at is informational: write it at most once a minute per key.
    if r.last_used_at
        .is_none_or(|t| now - t > chrono::Duration::seconds(60))
    {
        sqlx::query!(
            "UPDATE api_keys SET last_used_at = now() WHERE id = $1",
            r.id
        )
        .execute(&state.db)
        .await?;
    }
    let catalog = state.catalog.at(&state.db, r.stamp).await?;
    let owner = catalog.grants(&r.role_ids);
    // A key can never do more than its owner can do today.
    let permissions: Vec<String> = owner
        .permissions
        .into_iter()
        .filter(|p| r.scopes.contains(p))
        .collect();
    // A narrowly scoped key of a super_admin does not carry the rank.
    let super_admin = owner.super_admin && permissions.len() as i64 == catalog.permission_count;
    Ok(Principal {
        user_id: r.user_id,
        username: r.username,
        email: r.email,
        session_id: None,
        api_key_id: Some(r.id),
        permissions,
        mfa: r.mfa_enabled,
        super_admin,
    })
}

/// Extractor: any authenticated caller, except an administrator who still has to enrol in
/// MFA under `ULM_ADMIN_MFA=required` (`mfa_required`): gating here rather than per
/// permission means no route can forget it, self-service ones included.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Auth::admit(state, authenticate(state, &parts.headers).await?)
    }
}

impl Auth {
    /// Lets an authenticated caller through unless they still have to enrol in MFA.
    pub fn admit(state: &AppState, p: Principal) -> Result<Self, ApiError> {
        if p.must_enrol(state) {
            tracing::info!(user_id = %p.user_id, "admin without mfa: enrolment only");
            return Err(ApiError::mfa_required());
        }
        Ok(Auth(p))
    }
}

/// Extractor for the enrolment routes (MFA setup and enable): any authenticated caller,
/// including an administrator who has yet to enrol.
pub struct Enrolling(pub Principal);

impl FromRequestParts<AppState> for Enrolling {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.headers).await.map(Enrolling)
    }
}
