//! Request and response bodies of the ULM API (JSON, snake_case). These types are the
//! OpenAPI schemas too, so the document cannot drift from the code.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

// The admin API's shapes live in ovu-ulm-api, shared with AAM's relay.
pub use ovu_ulm_api::Perm;
pub use ovu_ulm_api::input::{DisplayName, Email, Language, Phone, Username};
pub use ovu_ulm_api::roles::{CreateRoleRequest, Permission, Role, UpdateRoleRequest};
pub use ovu_ulm_api::users::{
    CreateUserRequest, DeactivateRequest, ListUsersQuery, Session, StatusFilter, UpdateUserRequest,
    User, UserSort,
};

// ---- users ----------------------------------------------------------------------

/// Columns selecting a [`User`] from `users u`.
pub const USER_COLUMNS: &str =
    "u.id, u.email, u.username, u.display_name, u.preferred_language, u.phone, u.status,
    (u.email_verified_at IS NOT NULL) AS email_verified, u.mfa_enabled,
    ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
          WHERE ur.user_id = u.id ORDER BY r.name) AS roles,
    u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, u.deactivation_reason,
    u.scheduled_deactivation_at, u.scheduled_deactivation_reason";

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(value_type = String)]
    pub email: Email,
    /// 3–64 characters: letters, digits, `.`, `_`, `-`.
    #[schema(value_type = String)]
    pub username: Username,
    /// 8–128 characters; common passwords are refused.
    pub password: String,
    #[schema(value_type = Option<String>)]
    pub display_name: Option<DisplayName>,
    /// `en`, `he` or `ar` (default `en`).
    #[schema(value_type = Option<String>)]
    pub preferred_language: Option<Language>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Always `accepted`: the answer is the same whether or not the account exists.
    pub status: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusMessage {
    pub status: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The token from the e-mailed link.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// E-mail address or username.
    pub login: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Ed25519-signed JWT (`typ: at+jwt`).
    pub access_token: String,
    /// Opaque; rotated on every use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    pub user: User,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaChallenge {
    /// Always true.
    pub mfa_required: bool,
    /// Short-lived; exchange it with a code at `POST /auth/login/mfa`.
    pub mfa_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Tokens(Box<TokenResponse>),
    Mfa(MfaChallenge),
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaLoginRequest {
    pub mfa_token: String,
    /// A 6-digit TOTP code or a recovery code.
    pub code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LogoutRequest {
    /// The session to end; without it the bearer token's session is ended.
    pub refresh_token: Option<String>,
    /// End every session of the user.
    pub all_devices: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    #[schema(value_type = String)]
    pub email: Email,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    pub token: String,
    pub new_password: String,
}

// ---- MFA --------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaSetup {
    /// Base32 secret for manual entry.
    pub secret: String,
    pub otpauth_uri: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, shown only now.
    pub recovery_codes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaDisableRequest {
    pub password: String,
    /// A TOTP code or a recovery code.
    pub code: String,
}

// ---- me ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateMeRequest {
    #[schema(value_type = Option<String>)]
    pub display_name: Option<DisplayName>,
    #[schema(value_type = Option<String>)]
    pub preferred_language: Option<Language>,
    /// International number: `+` and 8–15 digits; spaces, `-`, `.` and brackets between
    /// digits are dropped. Empty clears it. Anything else is `validation_failed` with
    /// `details.field = "phone"` and `details.reason = "invalid_phone"`.
    #[schema(value_type = Option<String>)]
    pub phone: Option<Phone>,
    #[schema(value_type = Option<String>)]
    pub username: Option<Username>,
    /// Changing the e-mail needs `current_password` and a new verification.
    #[schema(value_type = Option<String>)]
    pub email: Option<Email>,
    pub current_password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

// ---- API keys ---------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApiKeyRequest {
    pub name: String,
    /// Permissions (`resource:action`) the key may use; each must be one the owner holds.
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The visible start of the key, to recognise it.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The key itself: shown once, stored only as a hash.
    pub key: String,
}

// ---- admin ------------------------------------------------------------------------

/// How ULM orders a user list in SQL (the sort itself is part of the shared API).
pub trait UserSortSql {
    fn sql(self) -> &'static str;
}

impl UserSortSql for UserSort {
    fn sql(self) -> &'static str {
        match self {
            Self::CreatedDesc => "u.created_at DESC, u.id",
            Self::CreatedAsc => "u.created_at ASC, u.id",
            Self::EmailAsc => "lower(u.email) ASC",
            Self::EmailDesc => "lower(u.email) DESC",
            Self::UsernameAsc => "lower(u.username) ASC",
            Self::UsernameDesc => "lower(u.username) DESC",
            Self::LastLoginAsc => "u.last_login_at ASC NULLS FIRST, u.id",
            Self::LastLoginDesc => "u.last_login_at DESC NULLS LAST, u.id",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Events where this user is the actor or the subject.
    pub user_id: Option<Uuid>,
    /// Event type, e.g. `login_failed`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// 1–1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub event_type: String,
    pub actor_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub ip: String,
    pub user_agent: String,
    pub request_id: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// 1–365, default 30.
    #[param(minimum = 1, maximum = 365)]
    pub days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Totals {
    pub users: i64,
    pub active: i64,
    pub deactivated: i64,
    pub verified: i64,
    pub mfa_enabled: i64,
    pub scheduled_deactivations: i64,
    pub active_sessions: i64,
    pub api_keys: i64,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct DailyPoint {
    /// UTC day, `YYYY-MM-DD`.
    pub date: String,
    pub registrations: i64,
    pub logins: i64,
    pub failed_logins: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub days: i64,
    pub totals: Totals,
    pub daily: Vec<DailyPoint>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct TokenPolicy {
    /// 5–1440.
    pub access_ttl_minutes: i32,
    /// 1–90.
    pub refresh_ttl_days: i32,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenPolicyUpdate {
    #[schema(minimum = 5, maximum = 1440)]
    pub access_ttl_minutes: i32,
    #[schema(minimum = 1, maximum = 90)]
    pub refresh_ttl_days: i32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// Only mail to this address.
    pub to: Option<String>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// One queued or sent mail: what it was about and how delivery went. The message itself
/// (and the link in it) exists only in the recipient's mailbox.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct OutboxMessage {
    pub id: Uuid,
    /// `verify_email`, `reset_password`, `register_existing` or `register_username_taken`.
    pub kind: String,
    /// The account the mail is about, if any.
    pub user_id: Option<Uuid>,
    pub to_email: String,
    /// `queued` (waiting or retrying), `sent`, or `failed` (given up).
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// When the next attempt is due (while `queued`).
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed; never a credential or a link.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}
