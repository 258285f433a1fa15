//! The permissions ULM seeds (migrations/ulm), as `resource:action` names on the wire and in
//! tokens. A route asks for a [`Perm`], so a misspelt permission does not compile.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One permission. Serialized as its `resource:action` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Perm {
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "roles:read")]
    RolesRead,
    #[serde(rename = "roles:write")]
    RolesWrite,
    #[serde(rename = "api_keys:read")]
    ApiKeysRead,
    #[serde(rename = "api_keys:write")]
    ApiKeysWrite,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "settings:read")]
    SettingsRead,
    #[serde(rename = "settings:write")]
    SettingsWrite,
    /// Use the admin area (AAM).
    #[serde(rename = "aam:access")]
    AamAccess,
}

impl Perm {
    /// Every permission, in the order the seed migration lists them.
    pub const ALL: [Perm; 10] = [
        Perm::UsersRead,
        Perm::UsersWrite,
        Perm::RolesRead,
        Perm::RolesWrite,
        Perm::ApiKeysRead,
        Perm::ApiKeysWrite,
        Perm::AuditRead,
        Perm::SettingsRead,
        Perm::SettingsWrite,
        Perm::AamAccess,
    ];

    /// The `resource:action` name, as in tokens, roles and error details.
    pub const fn as_str(self) -> &'static str {
        match self {
            Perm::UsersRead => "users:read",
            Perm::UsersWrite => "users:write",
            Perm::RolesRead => "roles:read",
            Perm::RolesWrite => "roles:write",
            Perm::ApiKeysRead => "api_keys:read",
            Perm::ApiKeysWrite => "api_keys:write",
            Perm::AuditRead => "audit:read",
            Perm::SettingsRead => "settings:read",
            Perm::SettingsWrite => "settings:write",
            Perm::AamAccess => "aam:access",
        }
    }

    /// Acts only on the holder's own account (their API keys): gives no power over anyone
    /// else, and needs no second factor under `ULM_ADMIN_MFA=required`.
    pub const fn is_self_service(self) -> bool {
        matches!(self, Perm::ApiKeysRead | Perm::ApiKeysWrite)
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of ULM's permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPermission(pub String);

impl fmt::Display for UnknownPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown permission {:?}", self.0)
    }
}

impl std::error::Error for UnknownPermission {}

impl FromStr for Perm {
    type Err = UnknownPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Perm::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPermission(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for p in Perm::ALL {
            assert_eq!(p.as_str().parse::<Perm>().unwrap(), p);
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
            assert_eq!(
                serde_json::from_value::<Perm>(p.as_str().into()).unwrap(),
                p
            );
            assert_eq!(p.to_string(), p.as_str());
        }
        assert!("users:delete".parse::<Perm>().is_err());
    }

    #[test]
    fn the_seed_migration_lists_exactly_these() {
        // The enum and the seeded rows must agree, or a role could hold a permission no
        // route can ask for (or a route ask for one nobody can hold).
        let seed = include_str!("../../../migrations/ulm/20260101000002_seed_rbac.sql");
        let rows = seed
            .split_once("INSERT INTO permissions (resource, action, description) VALUES")
            .and_then(|(_, rest)| rest.split_once(");\n"))
            .map(|(rows, _)| rows)
            .expect("the seed inserts permissions");
        let mut seeded: Vec<String> = rows
            .lines()
            .filter_map(|l| {
                let l = l.trim().strip_prefix("('")?;
                let (resource, rest) = l.split_once("', '")?;
                let (action, _) = rest.split_once('\'')?;
                Some(format!("{resource}:{action}"))
            })
            .collect();
        seeded.sort();
        let mut ours: Vec<String> = Perm::ALL.iter().map(|p| p.to_string()).collect();
        ours.sort();
        assert_eq!(seeded, ours);
    }

    #[test]
    fn only_api_keys_are_self_service() {
        let own: Vec<Perm> = Perm::ALL
            .into_iter()
            .filter(|p| p.is_self_service())
            .collect();
        assert_eq!(own, [Perm::ApiKeysRead, Perm::ApiKeysWrite]);
    }
}
