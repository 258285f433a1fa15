//! Users and their sessions, as ULM's admin API serves them and AAM relays them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::input::{DisplayName, Email, Language, Phone, Username};

/// A user account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub display_name: String,
    /// `en`, `he` or `ar`.
    pub preferred_language: String,
    /// E.164 (`+` and 8–15 digits), or empty when none is set.
    #[schema(example = "+972501234567")]
    pub phone: String,
    /// `active` or `deactivated`.
    pub status: String,
    pub email_verified: bool,
    pub mfa_enabled: bool,
    /// Role names.
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub deactivation_reason: Option<String>,
    pub scheduled_deactivation_at: Option<DateTime<Utc>>,
    pub scheduled_deactivation_reason: Option<String>,
}

/// One signed-in session (a refresh token's life).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Session {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: String,
    /// Whether this session passed a second factor.
    pub mfa: bool,
    /// The session of the calling token.
    #[cfg_attr(feature = "sqlx", sqlx(default))]
    pub current: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    Active,
    Deactivated,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
pub enum UserSort {
    #[default]
    #[serde(rename = "-created_at")]
    CreatedDesc,
    #[serde(rename = "created_at")]
    CreatedAsc,
    #[serde(rename = "email")]
    EmailAsc,
    #[serde(rename = "-email")]
    EmailDesc,
    #[serde(rename = "username")]
    UsernameAsc,
    #[serde(rename = "-username")]
    UsernameDesc,
    #[serde(rename = "last_login_at")]
    LastLoginAsc,
    #[serde(rename = "-last_login_at")]
    LastLoginDesc,
}

/// `GET /api/v1/users`: search, filter, sort and page.
#[derive(Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListUsersQuery {
    /// Substring of e-mail, username or display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusFilter>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// `created_at`, `email`, `username` or `last_login_at`; prefix `-` for descending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<UserSort>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    #[schema(value_type = String)]
    pub email: Email,
    #[schema(value_type = String)]
    pub username: Username,
    pub password: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<DisplayName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub preferred_language: Option<Language>,
    /// International number: `+` and 8–15 digits; spaces, `-`, `.` and brackets between
    /// digits are dropped. Empty clears it. Anything else is `validation_failed` with
    /// `details.field = "phone"` and `details.reason = "invalid_phone"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Phone>,
    /// Role names to assign (default `user`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Mark the e-mail as verified (default true: an admin vouches for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Email>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Username>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<DisplayName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub preferred_language: Option<Language>,
    /// International number: `+` and 8–15 digits; spaces, `-`, `.` and brackets between
    /// digits are dropped. Empty clears it. Anything else is `validation_failed` with
    /// `details.field = "phone"` and `details.reason = "invalid_phone"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Phone>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// Deactivate now, or at `at` (scheduled).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeactivateRequest {
    pub reason: String,
    /// When to deactivate; absent or past means now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What AAM sends on is what the admin sent, normalised; absent fields stay absent (ULM
    /// tells "absent" from "null" nowhere, but an absent key is the smaller promise).
    #[test]
    fn requests_relay_without_inventing_fields() {
        let b: UpdateUserRequest =
            serde_json::from_str(r#"{"phone":" +972 50 123 4567 ","email_verified":false}"#)
                .unwrap();
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::json!({"phone": "+972501234567", "email_verified": false})
        );
        let q = ListUsersQuery {
            sort: Some(UserSort::EmailDesc),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&q).unwrap(),
            serde_json::json!({"sort": "-email"})
        );
    }

    #[test]
    fn create_requires_valid_identity_fields() {
        assert!(
            serde_json::from_str::<CreateUserRequest>(
                r#"{"email":"a@b.io","username":"dana","password":"x"}"#
            )
            .is_ok()
        );
        assert!(
            serde_json::from_str::<CreateUserRequest>(
                r#"{"email":"a@b.io","username":"d","password":"x"}"#
            )
            .is_err()
        );
    }
}
