//! Roles and permissions (RBAC). Seeded roles are marked `is_system`: they keep their
//! names and cannot be deleted. Nobody can grant a permission they do not hold.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use ovu_kit::ApiError;
use ovu_kit::extract::{Json, Path};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Event, Meta};
use crate::auth::{Auth, Principal};
use crate::models::*;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/roles", get(list).post(create))
        .route(
            "/api/v1/roles/{id}",
            get(get_role).patch(update).delete(remove),
        )
        .route("/api/v1/permissions", get(permissions))
}

async fn load<'e>(db: impl sqlx::PgExecutor<'e>, id: Uuid) -> Result<Option<Role>, sqlx::Error> {
    // The role's columns are written out here and in `list`: the checked macros take only
    // literals.
    sqlx::query_as!(
        Role,
        r#"SELECT r.id, r.name, r.description, r.is_system, r.created_at, r.updated_at,
    ARRAY(SELECT p.resource || ':' || p.action FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id
          WHERE rp.role_id = r.id ORDER BY 1) AS "permissions!"
         FROM roles r WHERE r.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

fn role_name(raw: &str) -> Result<String, ApiError> {
    let n = raw.trim();
    let ok = (2..=63).contains(&n.len())
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(n.to_string())
    } else {
        Err(ApiError::field(
            "name",
            "use 2–63 lowercase letters, digits or '_', starting with a letter",
        ))
    }
}

/// Resolves permission names to ids; all must exist and the actor must hold each one.
async fn permission_ids(
    conn: &mut sqlx::PgConnection,
    actor: &Principal,
    names: &[String],
) -> Result<Vec<Uuid>, ApiError> {
    if names.len() > 200 {
        return Err(ApiError::field("permissions", "too many permissions"));
    }
    let mut names: Vec<String> = names.iter().map(|n| n.trim().to_string()).collect();
    names.sort();
    names.dedup();
    let rows: Vec<(Uuid, String)> =
        sqlx::query!(r#"SELECT id, resource || ':' || action AS "name!" FROM permissions WHERE resource || ':' || action = ANY($1)"#, &names)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
    if let Some(unknown) = names.iter().find(|n| !rows.iter().any(|(_, r)| r == *n)) {
        return Err(ApiError::field("permissions", "unknown permission")
            .with_detail("permission", unknown.clone()));
    }
    if let Some(not_held) = names.iter().find(|n| !actor.has(n)) {
        return Err(ApiError::forbidden()
            .with_detail("reason", "permission_not_held")
            .with_detail("permission", not_held.clone()));
    }
    Ok(rows.into_iter().map(|(id, _)| id).collect())
}

/// Changing or deleting a role changes what everyone holding it may do, so it takes a
/// caller who holds every permission the role grants today (as assigning it does): an admin
/// cannot strip a role above their own reach.
async fn within_reach(
    conn: &mut sqlx::PgConnection,
    actor: &Principal,
    role_id: Uuid,
) -> Result<(), ApiError> {
    let held: Vec<String> = sqlx::query_scalar!(
        r#"SELECT p.resource || ':' || p.action AS "name!" FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id
         WHERE rp.role_id = $1 ORDER BY 1"#,
        role_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let missing: Vec<String> = held.into_iter().filter(|p| !actor.has(p)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::forbidden()
            .with_detail("reason", "role_exceeds_your_permissions")
            .with_detail("permissions", missing))
    }
}

async fn set_permissions(
    conn: &mut sqlx::PgConnection,
    role_id: Uuid,
    ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM role_permissions WHERE role_id = $1", role_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "INSERT INTO role_permissions (role_id, permission_id) SELECT $1, unnest($2::uuid[])",
        role_id,
        ids
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// All roles with their permissions.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "roles by name", body = [Role])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<Vec<Role>>, ApiError> {
    p.require(&state, Perm::RolesRead)?;
    Ok(Json(
        sqlx::query_as!(
            Role,
            r#"SELECT r.id, r.name, r.description, r.is_system, r.created_at, r.updated_at,
    ARRAY(SELECT p.resource || ':' || p.action FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id
          WHERE rp.role_id = r.id ORDER BY 1) AS "permissions!"
             FROM roles r ORDER BY r.name LIMIT 1000"#
        )
        .fetch_all(&state.db)
        .await?,
    ))
}

/// Create a role.
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = CreateRoleRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, description = "created", body = Role)))]
pub async fn create(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Json(req): Json<CreateRoleRequest>,
) -> Result<(StatusCode, Json<Role>), ApiError> {
    p.require(&state, Perm::RolesWrite)?;
    let name = role_name(&req.name)?;
    let description =
        crate::validate::display_name("description", req.description.as_deref().unwrap_or(""))?;
    let mut tx = state.db.begin().await?;
    let ids = permission_ids(&mut tx, &p, &req.permissions).await?;
    let id: Uuid = match sqlx::query_scalar!(
        "INSERT INTO roles (name, description) VALUES ($1, $2) RETURNING id",
        &name,
        &description
    )
    .fetch_one(&mut *tx)
    .await
    {
        Ok(id) => id,
        Err(e) if ovu_kit::error::unique_violation(&e).is_some() => {
            return Err(
                ApiError::conflict("a role with that name exists").with_detail("field", "name")
            );
        }
        Err(e) => return Err(e.into()),
    };
    set_permissions(&mut tx, id, &ids).await?;
    audit::record(
        &mut *tx,
        &meta,
        Event::new("role_created")
            .actor(p.user_id)
            .details(json!({ "role_id": id, "name": name, "permissions": req.permissions })),
    )
    .await?;
    let role = load(&mut *tx, id).await?.ok_or_else(ApiError::not_found)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(role)))
}

/// One role.
#[utoipa::path(get, path = "/api/v1/roles/{id}", tag = "roles",
    params(("id" = Uuid, Path, description = "role id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "the role", body = Role)))]
pub async fn get_role(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<Role>, ApiError> {
    p.require(&state, Perm::RolesRead)?;
    load(&state.db, id)
        .await?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

/// Rename (not system roles), describe, or replace the permissions of a role.
#[utoipa::path(patch, path = "/api/v1/roles/{id}", tag = "roles", request_body = UpdateRoleRequest,
    params(("id" = Uuid, Path, description = "role id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "updated", body = Role)))]
pub async fn update(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateRoleRequest>,
) -> Result<Json<Role>, ApiError> {
    p.require(&state, Perm::RolesWrite)?;
    let name = req.name.as_deref().map(role_name).transpose()?;
    let description = req
        .description
        .as_deref()
        .map(|d| crate::validate::display_name("description", d))
        .transpose()?;
    let mut tx = state.db.begin().await?;
    let Some(current) = load(&mut *tx, id).await? else {
        return Err(ApiError::not_found());
    };
    if current.is_system && name.as_ref().is_some_and(|n| *n != current.name) {
        return Err(ApiError::conflict("system roles cannot be renamed"));
    }
    if current.name == "super_admin" && req.permissions.is_some() {
        return Err(ApiError::conflict(
            "super_admin always has every permission",
        ));
    }
    if let Err(e) = sqlx::query!("UPDATE roles SET name = COALESCE($2, name), description = COALESCE($3, description) WHERE id = $1", id, name.as_deref(), description.as_deref())
        .execute(&mut *tx)
        .await
    {
        return Err(match ovu_kit::error::unique_violation(&e) {
            Some(_) => ApiError::conflict("a role with that name exists").with_detail("field", "name"),
            None => e.into(),
        });
    }
    if let Some(perms) = &req.permissions {
        within_reach(&mut tx, &p, id).await?;
        let ids = permission_ids(&mut tx, &p, perms).await?;
        set_permissions(&mut tx, id, &ids).await?;
    }
    audit::record(
        &mut *tx,
        &meta,
        Event::new("role_updated")
            .actor(p.user_id)
            .details(json!({ "role_id": id, "name": name, "permissions": req.permissions })),
    )
    .await?;
    let role = load(&mut *tx, id).await?.ok_or_else(ApiError::not_found)?;
    tx.commit().await?;
    Ok(Json(role))
}

/// Delete a role (not a system role); its assignments go with it.
#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "roles",
    params(("id" = Uuid, Path, description = "role id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "deleted")))]
pub async fn remove(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    p.require(&state, Perm::RolesWrite)?;
    let mut tx = state.db.begin().await?;
    let row: Option<(String, bool)> = sqlx::query!(
        "SELECT name, is_system FROM roles WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| (r.name, r.is_system));
    match row {
        None => return Err(ApiError::not_found()),
        Some((_, true)) => return Err(ApiError::conflict("system roles cannot be deleted")),
        Some((name, false)) => {
            within_reach(&mut tx, &p, id).await?;
            sqlx::query!("DELETE FROM roles WHERE id = $1", id)
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut *tx,
                &meta,
                Event::new("role_deleted")
                    .actor(p.user_id)
                    .details(json!({ "role_id": id, "name": name })),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every permission that roles can grant.
#[utoipa::path(get, path = "/api/v1/permissions", tag = "roles",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "permissions by name", body = [Permission])))]
pub async fn permissions(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<Vec<Permission>>, ApiError> {
    p.require(&state, Perm::RolesRead)?;
    Ok(Json(
        sqlx::query_as!(crate::models::Permission, r#"SELECT id, resource || ':' || action AS "name!", resource, action, description FROM permissions ORDER BY 2"#)
            .fetch_all(&state.db)
            .await?,
    ))
}
