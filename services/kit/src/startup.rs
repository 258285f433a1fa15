//! Start-up failures as the cluster sees them. A service that cannot start says why in two
//! places besides its log: the container's termination message (`/dev/termination-log`, which
//! the kubelet copies into the pod's status, where the operator reads it into the OvuSystem's
//! conditions) and its exit code, which tells a failed migration ([`MIGRATION_FAILED_EXIT`])
//! from every other failure (1). Without this, a migration that failed during a rollout showed
//! only as "exit code 1 (Error)" and the reason was in the logs of a crash-looping container.

use std::io::Write;

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

/// The exit code of `serve` and `migrate` when a migration failed or the applied migrations
/// do not match this version's (the operator's `MigrationFailed` reason, docs/contracts.md).
pub const MIGRATION_FAILED_EXIT: u8 = 3;

/// Where the kubelet reads the termination message (the container's default
/// `terminationMessagePath`).
pub const TERMINATION_LOG: &str = "/dev/termination-log";

/// Overrides [`TERMINATION_LOG`] (tests; a container with another `terminationMessagePath`).
pub const TERMINATION_LOG_ENV: &str = "OVU_TERMINATION_LOG";

/// The kubelet keeps at most 4096 bytes of a termination message.
const MAX_MESSAGE: usize = 4096;

/// The migrations could not be applied. The message names the migration (version and
/// description) when one is at fault, and never holds a credential (sqlx's errors carry none).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct MigrationFailed {
    /// The migration at fault; `None` when the failure was not one migration's (the
    /// connection was lost, the lock could not be taken).
    pub version: Option<i64>,
    message: String,
}

impl MigrationFailed {
    fn from_sqlx(migrator: &Migrator, e: MigrateError) -> Self {
        let name = |v: i64| match migrator.iter().find(|m| m.version == v) {
            Some(m) => format!("migration {v} ({})", m.description),
            None => format!("migration {v}"),
        };
        let (version, message) = match &e {
            MigrateError::VersionMismatch(v) => (
                Some(*v),
                format!(
                    "{} was applied with other content than this version's (checksum mismatch): \
                     the database or the migration was changed after it ran",
                    name(*v)
                ),
            ),
            MigrateError::ExecuteMigration(err, v) => {
                (Some(*v), format!("{} failed: {err}", name(*v)))
            }
            MigrateError::Dirty(v) => (Some(*v), format!("{} is partially applied", name(*v))),
            MigrateError::VersionMissing(v) => (
                Some(*v),
                format!(
                    "migration {v} was applied but this version does not know it \
                     (the database belongs to a newer version)"
                ),
            ),
            MigrateError::VersionNotPresent(v)
            | MigrateError::VersionTooOld(v, _)
            | MigrateError::VersionTooNew(v, _) => (Some(*v), format!("{}: {e}", name(*v))),
            _ => (None, format!("applying migrations: {e}")),
        };
        MigrationFailed { version, message }
    }
}

/// Applies `migrator`'s migrations (under sqlx's advisory lock, so replicas starting together
/// migrate once); a failure names the migration at fault.
pub async fn migrate(migrator: &Migrator, pool: &PgPool) -> Result<(), MigrationFailed> {
    migrator
        .run(pool)
        .await
        .map_err(|e| MigrationFailed::from_sqlx(migrator, e))
}

/// The exit code for a start-up failure: [`MIGRATION_FAILED_EXIT`] when a migration is at
/// fault, else 1.
pub fn exit_code(migration: Option<&MigrationFailed>) -> u8 {
    match migration {
        Some(m) if m.version.is_some() => MIGRATION_FAILED_EXIT,
        _ => 1,
    }
}

/// Writes `message` as the container's termination message, cut to what the kubelet keeps.
/// Only into a file that exists: the kubelet creates it in a container; on a workstation there
/// is none and nothing is written.
pub fn write_termination_message(message: &str) {
    let path = std::env::var(TERMINATION_LOG_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| TERMINATION_LOG.to_string());
    let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
    else {
        return;
    };
    // Best effort: the process is exiting, and the log line has the same words.
    let _ = f.write_all(cut(message).as_bytes());
}

/// `s` at most [`MAX_MESSAGE`] bytes, cut on a character boundary.
fn cut(s: &str) -> &str {
    if s.len() <= MAX_MESSAGE {
        return s;
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let s = "é".repeat(3000);
        let c = cut(&s);
        assert!(
            c.len() <= MAX_MESSAGE && c.len() > MAX_MESSAGE - 2,
            "{}",
            c.len()
        );
        assert_eq!(cut("short"), "short");
    }

    #[test]
    fn only_a_failure_of_a_migration_has_its_own_exit_code() {
        let m = |version| MigrationFailed {
            version,
            message: String::new(),
        };
        assert_eq!(exit_code(Some(&m(Some(3)))), MIGRATION_FAILED_EXIT);
        assert_eq!(exit_code(Some(&m(None))), 1);
        assert_eq!(exit_code(None), 1);
    }
}
