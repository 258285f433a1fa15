//! The role catalogue: what each role is called and what it grants, held in memory by each
//! replica so that authenticating a request reads only the caller's role ids.
//!
//! Roles and their permissions change rarely; who holds which role is what an administrator
//! changes, and that is still read live on every request. Before this, every authenticated
//! request re-joined `user_roles → role_permissions → permissions` with a DISTINCT over the
//! concatenated names, the most expensive statement of the hot reads (bench/README.md).
//!
//! Staleness is ruled out, not bounded: every statement that changes `roles`,
//! `role_permissions` or `permissions` sets a new random `role_catalog.stamp` in its own
//! transaction (migration 20261206000001). The authentication read returns that stamp in the
//! same snapshot as the caller's role ids, and [`Catalog::at`] answers only from a catalogue
//! with exactly that stamp, reloading first otherwise. So a role edited on any replica, or by
//! hand in `psql`, takes effect on the next request everywhere, as it did when every request
//! joined the tables. A reload may return a catalogue newer than the request's snapshot (a
//! change committed in between); that is the change the request was concurrent with anyway.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use sqlx::PgPool;
use uuid::Uuid;

/// The role whose holders outrank everyone (`Principal::super_admin`).
pub const SUPER_ADMIN: &str = "super_admin";

/// One role as the catalogue knows it.
#[derive(Debug)]
struct Role {
    name: String,
    /// Where the name sorts among all roles in the database's own collation (`ORDER BY
    /// name`), so a user's roles list in the same order whichever endpoint lists them.
    rank: usize,
    /// `resource:action`, sorted.
    permissions: Vec<String>,
}

/// The catalogue as of one stamp.
#[derive(Debug, Default)]
pub struct Snapshot {
    stamp: Uuid,
    roles: HashMap<Uuid, Role>,
    by_name: HashMap<String, Uuid>,
    /// How many permissions exist (a key scoped to all of them keeps its owner's rank).
    pub permission_count: i64,
}

/// What a set of roles grants.
#[derive(Debug, PartialEq, Eq)]
pub struct Grants {
    /// `resource:action`, sorted, each once.
    pub permissions: Vec<String>,
    pub super_admin: bool,
}

impl Snapshot {
    /// What the roles with these ids grant. An id the catalogue does not know (a role deleted
    /// since the caller's row was read) grants nothing.
    pub fn grants(&self, role_ids: &[Uuid]) -> Grants {
        self.grants_of(role_ids.iter().filter_map(|id| self.roles.get(id)))
    }

    /// What the roles with these names grant (the user listing reads names).
    pub fn grants_of_names(&self, names: &[String]) -> Grants {
        self.grants_of(
            names
                .iter()
                .filter_map(|n| self.by_name.get(n))
                .filter_map(|id| self.roles.get(id)),
        )
    }

    /// The names of the roles with these ids, in the database's order of names (how a User
    /// lists them everywhere). An id the catalogue does not know is left out.
    pub fn names(&self, role_ids: &[Uuid]) -> Vec<String> {
        let mut roles: Vec<&Role> = role_ids
            .iter()
            .filter_map(|id| self.roles.get(id))
            .collect();
        roles.sort_unstable_by_key(|r| r.rank);
        roles.into_iter().map(|r| r.name.clone()).collect()
    }

    fn grants_of<'a>(&self, roles: impl Iterator<Item = &'a Role>) -> Grants {
        let mut permissions = BTreeSet::new();
        let mut super_admin = false;
        for r in roles {
            super_admin |= r.name == SUPER_ADMIN;
            permissions.extend(r.permissions.iter().map(String::as_str));
        }
        Grants {
            permissions: permissions.into_iter().map(str::to_owned).collect(),
            super_admin,
        }
    }

    /// The whole catalogue in one statement, so the stamp and the roles are of one snapshot.
    async fn load(db: &PgPool) -> Result<Self, sqlx::Error> {
        let rows = sqlx::query!(
            r#"SELECT c.stamp, r.id AS "id?", r.name AS "name?",
                    ARRAY(SELECT p.resource || ':' || p.action
                          FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id
                          WHERE rp.role_id = r.id ORDER BY 1) AS "permissions!",
                    (SELECT count(*) FROM permissions) AS "permission_count!"
               FROM role_catalog c LEFT JOIN roles r ON true
              ORDER BY r.name"#
        )
        .fetch_all(db)
        .await?;
        let mut snap = Snapshot::default();
        for (rank, row) in rows.into_iter().enumerate() {
            snap.stamp = row.stamp;
            snap.permission_count = row.permission_count;
            if let (Some(id), Some(name)) = (row.id, row.name) {
                snap.by_name.insert(name.clone(), id);
                snap.roles.insert(
                    id,
                    Role {
                        name,
                        rank,
                        permissions: row.permissions,
                    },
                );
            }
        }
        Ok(snap)
    }
}

/// A replica's catalogue: the latest snapshot it loaded, reloaded when a request shows the
/// database's stamp has moved.
pub struct Catalog {
    current: RwLock<Arc<Snapshot>>,
    /// One reload at a time: after a role change every in-flight request sees the new stamp,
    /// and one query serves them all.
    reload: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("stamp", &self.snapshot().stamp)
            .finish_non_exhaustive()
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

impl Catalog {
    /// Empty, with the nil stamp no database holds: the first request loads it.
    pub fn new() -> Self {
        Self {
            current: RwLock::new(Arc::new(Snapshot::default())),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        // A poisoned lock only means a panic elsewhere while holding it; the Arc inside is
        // whole either way.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The catalogue as of `stamp` (what the database said in the request's own read), or a
    /// newer one: the one held if its stamp is that, else a fresh load.
    pub async fn at(&self, db: &PgPool, stamp: Uuid) -> Result<Arc<Snapshot>, sqlx::Error> {
        let held = self.snapshot();
        if held.stamp == stamp {
            return Ok(held);
        }
        let _one = self.reload.lock().await;
        // Another request may have loaded it while this one waited.
        let held = self.snapshot();
        if held.stamp == stamp {
            return Ok(held);
        }
        let fresh = Arc::new(Snapshot::load(db).await?);
        tracing::debug!(stamp = %fresh.stamp, roles = fresh.roles.len(), "role catalogue loaded");
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A catalogue of these roles, ranked in the order given (as the database would sort them).
    fn snapshot(roles: &[(&str, &[&str])]) -> (Snapshot, Vec<Uuid>) {
        let mut s = Snapshot::default();
        let mut ids = Vec::new();
        for (rank, (name, perms)) in roles.iter().enumerate() {
            let id = Uuid::new_v4();
            ids.push(id);
            s.by_name.insert((*name).to_owned(), id);
            s.roles.insert(
                id,
                Role {
                    name: (*name).to_owned(),
                    rank,
                    permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
                },
            );
        }
        (s, ids)
    }

    #[test]
    fn grants_are_the_sorted_union_of_the_roles_and_name_the_super_admin() {
        let (s, ids) = snapshot(&[
            ("support", &["users:read", "audit:read"]),
            ("auditor", &["audit:read"]),
            (SUPER_ADMIN, &["settings:write"]),
        ]);
        let g = s.grants(&ids[..2]);
        assert_eq!(g.permissions, ["audit:read", "users:read"]);
        assert!(!g.super_admin);
        let g = s.grants(&ids);
        assert_eq!(
            g.permissions,
            ["audit:read", "settings:write", "users:read"]
        );
        assert!(g.super_admin);
        assert_eq!(
            s.grants_of_names(&["auditor".into(), SUPER_ADMIN.into()]),
            Grants {
                permissions: vec!["audit:read".into(), "settings:write".into()],
                super_admin: true
            }
        );
    }

    #[test]
    fn a_role_the_catalogue_does_not_know_grants_nothing() {
        let (s, _) = snapshot(&[("support", &["users:read"])]);
        let g = s.grants(&[Uuid::new_v4()]);
        assert!(g.permissions.is_empty() && !g.super_admin);
        let g = s.grants_of_names(&["gone".into()]);
        assert!(g.permissions.is_empty() && !g.super_admin);
        assert!(s.names(&[Uuid::new_v4()]).is_empty());
    }

    #[test]
    fn names_follow_the_databases_order_not_the_order_held() {
        // Ranked as a collation that ignores `_` at first might sort them, unlike byte order.
        let (s, ids) = snapshot(&[("ab", &[]), ("a_c", &[]), ("b", &[])]);
        assert_eq!(s.names(&[ids[2], ids[1], ids[0]]), ["ab", "a_c", "b"]);
    }
}
