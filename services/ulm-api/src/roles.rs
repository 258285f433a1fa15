//! Roles and permissions, as ULM's admin API serves them and AAM relays them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Role {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// Seeded roles cannot be renamed or deleted.
    pub is_system: bool,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

// Permission names stay text here, not `Perm`: ULM answers an unknown one with its own
// message naming it, which an enum would turn into serde's.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateRoleRequest {
    /// Lowercase letters, digits and `_`, 2–63 characters, starting with a letter.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpdateRoleRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

/// One permission as a row: its name and what it allows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Permission {
    pub id: Uuid,
    /// `resource:action`.
    pub name: String,
    pub resource: String,
    pub action: String,
    pub description: String,
}
