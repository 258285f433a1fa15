//! The first super-admin, created from `ULM_BOOTSTRAP_ADMIN_EMAIL` and the password in
//! `ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE` into an empty users table (ASVS 6.3.2: no default
//! accounts — the operator supplies the credentials).
//!
//! Only ever into an empty table, and never by adopting an account: otherwise anyone who
//! registered the bootstrap address first (or any system whose super-admins were all
//! deactivated, at its next restart) would hand super_admin to whoever holds that account.

use anyhow::{Context, bail};
use uuid::Uuid;

use crate::audit::{self, Event, Meta};
use crate::state::AppState;
use crate::{password_policy, validate};

/// Returns the id of the user made super-admin, or None when the system already has users.
pub async fn ensure_admin(state: &AppState) -> anyhow::Result<Option<Uuid>> {
    let (Some(email), Some(file)) = (
        &state.cfg.bootstrap_admin_email,
        &state.cfg.bootstrap_admin_password_file,
    ) else {
        return Ok(None);
    };
    let email = validate::email("ULM_BOOTSTRAP_ADMIN_EMAIL", email)
        .map_err(|e| anyhow::anyhow!("ULM_BOOTSTRAP_ADMIN_EMAIL: {}", e.message))?;
    let mut tx = state.db.begin().await?;
    // Serialise concurrent replicas starting together.
    sqlx::query!("SELECT pg_advisory_xact_lock(727001)")
        .execute(&mut *tx)
        .await?;
    let has_users: bool = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM users) AS "e!""#)
        .fetch_one(&mut *tx)
        .await?;
    if has_users {
        tracing::info!("users exist: no bootstrap admin created");
        return Ok(None);
    }
    let password = std::fs::read_to_string(file).with_context(|| {
        format!(
            "ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE: cannot read {}",
            file.display()
        )
    })?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if let Err(e) = password_policy::check("password", &password, &[&email]) {
        bail!("ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE: {}", e.message);
    }
    let hash = state
        .passwords
        .hash(password)
        .await
        .map_err(|e| anyhow::anyhow!("hashing: {}", e.message))?;
    let username = email
        .split('@')
        .next()
        .unwrap_or("admin")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect::<String>();
    let username = if username.len() >= 3 {
        username
    } else {
        "admin".to_string()
    };
    let id: Uuid = sqlx::query_scalar!(
        "INSERT INTO users (email, username, password_hash, display_name, email_verified_at)
         VALUES ($1, $2, $3, 'Administrator', now()) RETURNING id",
        &email,
        &username,
        &hash
    )
    .fetch_one(&mut *tx)
    .await
    .context("creating the bootstrap admin")?;
    sqlx::query!(
        "INSERT INTO password_history (user_id, password_hash) VALUES ($1, $2)",
        id,
        &hash
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("INSERT INTO user_roles (user_id, role_id) SELECT $1, id FROM roles WHERE name IN ('super_admin', 'user') ON CONFLICT DO NOTHING", id)
        .execute(&mut *tx)
        .await?;
    let meta = Meta {
        ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        user_agent: "ovu-ulm bootstrap".into(),
        request_id: String::new(),
    };
    audit::record(
        &mut *tx,
        &meta,
        Event::new("admin_bootstrapped").subject(id),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = %id, "bootstrap super-admin ready");
    Ok(Some(id))
}
