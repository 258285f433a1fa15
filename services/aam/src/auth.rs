//! Who is calling: a ULM access token, verified with ULM's published keys, whose
//! permissions include `aam:access`. Each route then asks for its own permission.
//!
//! The token proves who is calling; what they may do comes from ULM's live answer for the
//! session ([`crate::session_check`]), so a revocation reaches AAM's own routes within
//! seconds. Routes that go through ULM are checked again by ULM itself.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use ovu_kit::ApiError;
use ovu_kit::jwt::{AccessClaims, bearer};
use ovu_kit::net::{ClientIp, RequestId, UserAgent};
use ovu_ulm_api::Perm;

use crate::state::AppState;

/// The permission each AAM route asks for (ULM's, see [`Perm`]).
pub mod perm {
    use ovu_ulm_api::Perm;

    /// Every AAM route.
    pub const ACCESS: Perm = Perm::AamAccess;
    pub const USERS_READ: Perm = Perm::UsersRead;
    pub const USERS_WRITE: Perm = Perm::UsersWrite;
    pub const ROLES_READ: Perm = Perm::RolesRead;
    pub const ROLES_WRITE: Perm = Perm::RolesWrite;
    /// Dashboard figures and the audit feed.
    pub const AUDIT_READ: Perm = Perm::AuditRead;
    pub const SETTINGS_READ: Perm = Perm::SettingsRead;
    pub const SETTINGS_WRITE: Perm = Perm::SettingsWrite;
    /// The application registry is system configuration: reading it needs only admin-area
    /// access, changing it the same permission as settings (ULM seeds no `apps:*`).
    pub const APPS_READ: Perm = ACCESS;
    pub const APPS_WRITE: Perm = SETTINGS_WRITE;
    pub const SYSTEM_READ: Perm = ACCESS;
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone)]
pub struct Meta {
    pub ip: IpAddr,
    pub user_agent: String,
    pub request_id: String,
}

/// An authenticated caller with `aam:access`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: Arc<AccessClaims>,
    /// The caller's own `Authorization` header, forwarded to ULM as is.
    pub authorization: HeaderValue,
    pub meta: Meta,
}

impl Caller {
    /// Function-level access check; the denial names the missing permission.
    pub fn require(&self, permission: Perm) -> Result<(), ApiError> {
        let name = permission.as_str();
        if self.claims.has(name) {
            Ok(())
        } else {
            tracing::info!(user_id = %self.claims.sub, permission = name, "permission denied");
            Err(ApiError::missing_permission(name))
        }
    }

    pub fn name(&self) -> &str {
        &self.claims.username
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(ApiError::unauthorized)?
            .clone();
        let token = header
            .to_str()
            .ok()
            .and_then(bearer)
            .ok_or_else(ApiError::invalid_token)?;
        let claims = state.keys.verify(token).await?;
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientIp(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)));
        let UserAgent(user_agent) = UserAgent::from_request_parts(parts, state)
            .await
            .unwrap_or_default();
        let request_id = RequestId::from_request_parts(parts, state)
            .await
            .map(|r| r.0.to_string())
            .unwrap_or_default();
        let mut caller = Caller {
            claims,
            authorization: header,
            meta: Meta {
                ip,
                user_agent,
                request_id,
            },
        };
        // Cheap refusal first: a token that never had admin-area access costs ULM nothing.
        caller.require(perm::ACCESS)?;
        let live = state.sessions.check(&state.ulm, &caller).await?;
        caller.claims = Arc::new(AccessClaims {
            permissions: live.permissions.clone(),
            mfa: live.mfa,
            ..(*caller.claims).clone()
        });
        caller.require(perm::ACCESS)?;
        // The whole admin area is administration: with AAM_ADMIN_MFA=required a password-only
        // session is not enough, whatever its permissions.
        if state.cfg.admin_mfa_required && !caller.claims.mfa {
            return Err(ApiError::mfa_required());
        }
        Ok(caller)
    }
}
