//! User administration (permission-checked): list/search, create, edit, delete,
//! deactivate (now or scheduled), reactivate, sessions, role assignment.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post, put};
use chrono::Utc;
use ovu_kit::ApiError;
use ovu_kit::extract::{CheckedJson, Json, Path, Query};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Event, Meta};
use crate::auth::{self, Auth, Principal, SELF_SERVICE};
use crate::models::*;
use crate::state::AppState;
use crate::{password_policy, routes::me::sessions_of, sessions, validate};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list).post(create))
        .route(
            "/api/v1/users/{id}",
            get(get_user).patch(update).delete(remove),
        )
        .route("/api/v1/users/{id}/deactivate", post(deactivate))
        .route("/api/v1/users/{id}/reactivate", post(reactivate))
        .route(
            "/api/v1/users/{id}/sessions",
            get(list_sessions).delete(end_all_sessions),
        )
        .route(
            "/api/v1/users/{id}/sessions/{sid}",
            get(get_session).delete(end_session),
        )
        .route(
            "/api/v1/users/{id}/roles/{role_id}",
            put(assign_role).delete(unassign_role),
        )
}

fn unique_conflict(e: sqlx::Error) -> ApiError {
    match ovu_kit::error::unique_violation(&e) {
        Some(c) if c.contains("email") => {
            ApiError::conflict("that e-mail address is taken").with_detail("field", "email")
        }
        Some(_) => ApiError::conflict("that username is taken").with_detail("field", "username"),
        None => e.into(),
    }
}

/// Permissions that `roles` grant but the actor lacks: assigning them would be an escalation.
async fn escalation<'e>(
    db: impl sqlx::PgExecutor<'e>,
    actor: &Principal,
    role_ids: &[Uuid],
) -> Result<Vec<String>, sqlx::Error> {
    let perms: Vec<String> = sqlx::query_scalar!(
        r#"SELECT DISTINCT p.resource || ':' || p.action AS "permission!" FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id
         WHERE rp.role_id = ANY($1)"#,
        role_ids
    )
    .fetch_all(db)
    .await?;
    Ok(perms.into_iter().filter(|p| !actor.has(p)).collect())
}

/// Handing out super_admin takes a super_admin: the role outranks every other, even one that
/// happens to hold every permission today.
fn grants_super_admin(actor: &Principal, role_names: &[String]) -> Result<(), ApiError> {
    if !actor.super_admin && role_names.iter().any(|r| r == "super_admin") {
        return Err(ApiError::forbidden()
            .with_detail("reason", "role_exceeds_your_permissions")
            .with_detail("permissions", vec!["super_admin"]));
    }
    Ok(())
}

/// Advisory lock key serialising administrative changes of accounts (727001 is bootstrap's).
const ACCOUNT_CHANGES: i64 = 727002;

/// The account an administrative action is aimed at.
#[derive(sqlx::FromRow)]
struct Target {
    permissions: Vec<String>,
    super_admin: bool,
}

/// Loads user `id` and refuses when the account outranks the caller: every read or change of
/// another account (profile, e-mail, status, sessions, roles, deletion) passes through here,
/// so an admin can never touch — and so never take over — an account holding more than they
/// do (see [`Principal::outranked_by`]). `lock` holds the row for the caller's transaction,
/// after the advisory lock every administrative change of an account takes first: changes
/// that may remove a super_admin then run one at a time, and two admins acting on each
/// other's rows cannot deadlock (a cascade of one touching the row the other holds).
async fn reachable(
    conn: &mut sqlx::PgConnection,
    actor: &Principal,
    id: Uuid,
    lock: bool,
) -> Result<Target, ApiError> {
    // PERMISSIONS_OF_USER and IS_SUPER_ADMIN written out (the checked macros take only
    // literals), once with the row lock and once without.
    let target: Option<Target> = if lock {
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", ACCOUNT_CHANGES)
            .execute(&mut *conn)
            .await?;
        sqlx::query_as!(
            Target,
            r#"SELECT ARRAY(SELECT DISTINCT p.resource || ':' || p.action
                      FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
                      JOIN permissions p ON p.id = rp.permission_id WHERE ur.user_id = u.id) AS "permissions!",
                EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                        WHERE ur.user_id = u.id AND r.name = 'super_admin') AS "super_admin!"
             FROM users u WHERE u.id = $1 FOR UPDATE OF u"#,
            id
        )
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query_as!(
            Target,
            r#"SELECT ARRAY(SELECT DISTINCT p.resource || ':' || p.action
                      FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
                      JOIN permissions p ON p.id = rp.permission_id WHERE ur.user_id = u.id) AS "permissions!",
                EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                        WHERE ur.user_id = u.id AND r.name = 'super_admin') AS "super_admin!"
             FROM users u WHERE u.id = $1"#,
            id
        )
        .fetch_optional(&mut *conn)
        .await?
    };
    let Some(target) = target else {
        return Err(ApiError::not_found());
    };
    refuse_outranking(actor, id, &target.permissions, target.super_admin)?;
    Ok(target)
}

/// `reachable`'s verdict on an account whose rank is known: forbidden when it holds more
/// than the caller.
fn refuse_outranking(
    actor: &Principal,
    id: Uuid,
    permissions: &[String],
    super_admin: bool,
) -> Result<(), ApiError> {
    let missing = actor.outranked_by(permissions, super_admin);
    if !missing.is_empty() {
        tracing::warn!(user_id = %actor.user_id, target = %id, "target outranks the caller");
        return Err(ApiError::forbidden()
            .with_detail("reason", "target_outranks_you")
            .with_detail("permissions", missing));
    }
    Ok(())
}

/// Refuses to take away the last active super_admin (by deletion, deactivation or losing
/// the role): nobody would be left who can administer everything.
async fn keep_a_super_admin(conn: &mut sqlx::PgConnection, leaving: Uuid) -> Result<(), ApiError> {
    if others_with_super_admin(conn, leaving).await? {
        Ok(())
    } else {
        Err(ApiError::conflict(
            "the last active super_admin cannot be deleted, deactivated or demoted",
        )
        .with_detail("reason", "last_super_admin"))
    }
}

/// Whether an active super_admin other than `leaving` remains. The advisory lock serialises
/// every such check, so two super_admins cannot remove each other at the same time.
async fn others_with_super_admin(
    conn: &mut sqlx::PgConnection,
    leaving: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", ACCOUNT_CHANGES)
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users u WHERE u.id <> $1 AND u.status = 'active'
                 AND EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                        WHERE ur.user_id = u.id AND r.name = 'super_admin')) AS "exists!""#,
        leaving
    )
    .fetch_one(&mut *conn)
    .await
}

/// Whether user `id` may stop being an active super_admin: they are not one, or another
/// remains (for the scheduled-deactivation job, which has no caller to refuse).
pub async fn may_leave(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let is_super: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                        WHERE ur.user_id = u.id AND r.name = 'super_admin') AS "super_admin!"
         FROM users u WHERE u.id = $1"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .unwrap_or(false);
    Ok(!is_super || others_with_super_admin(conn, id).await?)
}

/// The user list shows only accounts the caller may reach (the rule of [`reachable`]):
/// `$3` the caller is a super_admin, `$4` the permissions that do not outrank them.
const REACHABLE_FILTER: &str = "($3::boolean OR (NOT EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                                  WHERE ur.user_id = u.id AND r.name = 'super_admin')
        AND NOT EXISTS (SELECT 1 FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
                        JOIN permissions p ON p.id = rp.permission_id
                        WHERE ur.user_id = u.id AND NOT (p.resource || ':' || p.action = ANY($4)))))";

/// The permissions an account may hold and still be reachable by `actor`.
fn reachable_permissions(actor: &Principal) -> Vec<String> {
    let mut perms = actor.permissions.clone();
    perms.extend(SELF_SERVICE.iter().map(|p| p.to_string()));
    perms
}

/// List and search users. The total is in `X-Total-Count`.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListUsersQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "a page of users", body = [User],
        headers(("X-Total-Count" = i64, description = "users matching the filter")))))]
pub async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ListUsersQuery>,
) -> Result<(HeaderMap, Json<Vec<User>>), ApiError> {
    p.require(&state, Perm::UsersRead)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 200"));
    }
    let offset = q.offset.unwrap_or(0);
    if !(0..=1_000_000).contains(&offset) {
        return Err(ApiError::field("offset", "must be between 0 and 1000000"));
    }
    let pattern =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(validate::like_pattern);
    let status = q.status.map(|s| match s {
        StatusFilter::Active => "active",
        StatusFilter::Deactivated => "deactivated",
    });
    let filter = search_filter(pattern.is_some());
    let allowed = reachable_permissions(&p);
    // Dynamic on purpose: the filter is one of two statement texts (see `search_filter`)
    // and the ORDER BY a column chosen by the caller's `sort`, which no parameter can be.
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM users u WHERE {filter} AND {REACHABLE_FILTER}"
    ))
    .bind(&pattern)
    .bind(status)
    .bind(p.super_admin)
    .bind(&allowed)
    .fetch_one(&state.db)
    .await?;
    let users: Vec<User> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE {filter} AND {REACHABLE_FILTER}
         ORDER BY {} LIMIT $5 OFFSET $6",
        q.sort.unwrap_or_default().sql()
    ))
    .bind(&pattern)
    .bind(status)
    .bind(p.super_admin)
    .bind(&allowed)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.db)
    .await?;
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    Ok((headers, Json(users)))
}

/// The WHERE clause of the user list: `$1` the ILIKE pattern, `$2` the status, either NULL.
/// Two statement texts rather than `$1 IS NULL OR …`: a prepared statement's generic plan
/// cannot use the trigram index behind an OR with a parameter test, so the search gets a
/// text of its own that always can.
pub fn search_filter(searching: bool) -> &'static str {
    if searching {
        "(u.email ILIKE $1 OR u.username ILIKE $1 OR u.display_name ILIKE $1)
            AND ($2::text IS NULL OR u.status = $2)"
    } else {
        "$1::text IS NULL AND ($2::text IS NULL OR u.status = $2)"
    }
}

/// Create a user (verified by default: the admin vouches for the address).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, description = "created", body = User)))]
pub async fn create(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    req: CheckedJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    p.require(&state, Perm::UsersWrite)?;
    let req = req.value()?;
    // The identity fields were checked while the body was decoded (ovu_ulm_api::input).
    let email = req.email.into_inner();
    let username = req.username.into_inner();
    let display_name = req.display_name.map(String::from).unwrap_or_default();
    let lang = req
        .preferred_language
        .unwrap_or_else(Language::english)
        .into_inner();
    let phone = req.phone.map(String::from).unwrap_or_default();
    password_policy::check("password", &req.password, &[&email, &username])?;
    let role_names = req.roles.clone().unwrap_or_else(|| vec!["user".into()]);
    if role_names.len() > 50 {
        return Err(ApiError::field("roles", "too many roles"));
    }
    grants_super_admin(&p, &role_names)?;
    let hash = state.passwords.hash(req.password).await?;
    let mut tx = state.db.begin().await?;
    let role_ids: Vec<Uuid> =
        sqlx::query_scalar!("SELECT id FROM roles WHERE name = ANY($1)", &role_names)
            .fetch_all(&mut *tx)
            .await?;
    let mut unique_names = role_names.clone();
    unique_names.sort();
    unique_names.dedup();
    if role_ids.len() != unique_names.len() {
        return Err(ApiError::field("roles", "unknown role"));
    }
    let missing = escalation(&mut *tx, &p, &role_ids).await?;
    if !missing.is_empty() {
        return Err(ApiError::forbidden()
            .with_detail("reason", "role_exceeds_your_permissions")
            .with_detail("permissions", missing));
    }
    let verified = req.email_verified.unwrap_or(true).then(Utc::now);
    let id: Uuid = sqlx::query_scalar!(
        "INSERT INTO users (email, username, password_hash, display_name, preferred_language, email_verified_at, created_by, phone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        &email,
        &username,
        &hash,
        &display_name,
        &lang,
        verified,
        p.user_id,
        &phone
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(unique_conflict)?;
    sqlx::query!(
        "INSERT INTO password_history (user_id, password_hash) VALUES ($1, $2)",
        id,
        &hash
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO user_roles (user_id, role_id, assigned_by) SELECT $1, unnest($2::uuid[]), $3",
        id,
        &role_ids,
        p.user_id
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        &meta,
        Event::new("user_created")
            .actor(p.user_id)
            .subject(id)
            .details(json!({ "roles": unique_names })),
    )
    .await?;
    let user = sessions::load_user(&mut *tx, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "the user", body = User)))]
pub async fn get_user(
    State(state): State<AppState>,
    CallerAndAccount {
        caller: p,
        id,
        account,
    }: CallerAndAccount,
) -> Result<Json<User>, ApiError> {
    p.require(&state, Perm::UsersRead)?;
    // The rank check and the account in one statement (the admin panel's most frequent
    // read): `reachable` and `load_user` were two round trips; the verdict is the same. The
    // target's rank is what its roles grant in the replica's role catalogue as of the stamp
    // read here (crate::catalog), not a join over every permission per call.
    let row = match account {
        Some(r) => Some(r),
        None => state.reads.user(id).await?,
    };
    let Some(r) = row else {
        return Err(ApiError::not_found());
    };
    let target = state
        .catalog
        .at(&state.db, r.stamp)
        .await?
        .grants_of_names(&r.roles);
    refuse_outranking(&p, id, &target.permissions, target.super_admin)?;
    Ok(Json(r.into()))
}

/// `GET /users/{id}`'s caller (as [`Auth`] admits them) and, for a bearer token, the account
/// read in the same statement as the caller's session ([`crate::reads::Reads::session_and_user`]):
/// one read where authenticating and then reading would be two. The account is only read
/// beside a live session, and only handed on with the caller admitted; whatever the
/// combined read does not find (an API key, no such account, a dead session) takes the usual
/// way, so every answer — 401, 403, 404, 400 for a malformed id — is the one [`Auth`] then
/// [`Path`] would give, in the same order.
pub struct CallerAndAccount {
    caller: Principal,
    id: Uuid,
    /// `None`: not read yet.
    account: Option<crate::reads::RankedUser>,
}

impl axum::extract::FromRequestParts<AppState> for CallerAndAccount {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let id = Path::<Uuid>::from_request_parts(parts, state).await;
        if let (Ok(Path(id)), auth::Presented::Bearer(token)) =
            (&id, auth::presented(&parts.headers))
        {
            let claims = auth::verify_bearer(state, token)?;
            if let Some((session, account)) = state
                .reads
                .session_and_user(claims.sub, claims.sid, *id)
                .await?
            {
                let caller = auth::session_principal(state, &claims, Some(session)).await?;
                let Auth(caller) = Auth::admit(state, caller)?;
                return Ok(Self {
                    caller,
                    id: *id,
                    account: Some(account),
                });
            }
        }
        let Auth(caller) = Auth::from_request_parts(parts, state).await?;
        let Path(id) = id?;
        Ok(Self {
            caller,
            id,
            account: None,
        })
    }
}

/// Edit a user.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUserRequest,
    params(("id" = Uuid, Path, description = "user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "updated", body = User)))]
pub async fn update(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path(id): Path<Uuid>,
    req: CheckedJson<UpdateUserRequest>,
) -> Result<Json<User>, ApiError> {
    p.require(&state, Perm::UsersWrite)?;
    let req = req.value()?;
    // Checked while the body was decoded (ovu_ulm_api::input).
    let email = req.email.map(String::from);
    let username = req.username.map(String::from);
    let display_name = req.display_name.map(String::from);
    let lang = req.preferred_language.map(String::from);
    let phone = req.phone.map(String::from);
    let mut tx = state.db.begin().await?;
    reachable(&mut tx, &p, id, true).await?;
    let n = sqlx::query!(
        "UPDATE users SET email = COALESCE($2, email), username = COALESCE($3, username),
                display_name = COALESCE($4, display_name), preferred_language = COALESCE($5, preferred_language),
                email_verified_at = CASE WHEN $6::boolean IS NULL THEN email_verified_at
                                         WHEN $6 THEN COALESCE(email_verified_at, now()) ELSE NULL END,
                phone = COALESCE($7, phone)
         WHERE id = $1",
        id,
        email.as_deref(),
        username.as_deref(),
        display_name.as_deref(),
        lang.as_deref(),
        req.email_verified,
        phone.as_deref()
    )
    .execute(&mut *tx)
    .await
    .map_err(unique_conflict)?
    .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found());
    }
    let fields: Vec<&str> = [
        email.as_ref().map(|_| "email"),
        username.as_ref().map(|_| "username"),
        display_name.as_ref().map(|_| "display_name"),
        lang.as_ref().map(|_| "preferred_language"),
        phone.as_ref().map(|_| "phone"),
        req.email_verified.map(|_| "email_verified"),
    ]
    .into_iter()
    .flatten()
    .collect();
    audit::record(
        &mut *tx,
        &meta,
        Event::new("user_updated")
            .actor(p.user_id)
            .subject(id)
            .details(json!({ "fields": fields })),
    )
    .await?;
    let user = sessions::load_user(&mut *tx, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    tx.commit().await?;
    Ok(Json(user))
}

/// Delete a user and everything that belongs to them (sessions, keys, codes).
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "deleted")))]
pub async fn remove(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    p.require(&state, Perm::UsersWrite)?;
    if id == p.user_id {
        return Err(ApiError::conflict(
            "you cannot delete your own account here",
        ));
    }
    let mut tx = state.db.begin().await?;
    if reachable(&mut tx, &p, id, true).await?.super_admin {
        keep_a_super_admin(&mut tx, id).await?;
    }
    let email: Option<String> =
        sqlx::query_scalar!("DELETE FROM users WHERE id = $1 RETURNING email", id)
            .fetch_optional(&mut *tx)
            .await?;
    if email.is_none() {
        return Err(ApiError::not_found());
    }
    // The subject row is gone, so the id goes into details for the record.
    audit::record(
        &mut *tx,
        &meta,
        Event::new("user_deleted")
            .actor(p.user_id)
            .details(json!({ "user_id": id })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivate now, or schedule it (`at` in the future; a background job applies it).
#[utoipa::path(post, path = "/api/v1/users/{id}/deactivate", tag = "users", request_body = DeactivateRequest,
    params(("id" = Uuid, Path, description = "user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "deactivated or scheduled", body = User)))]
pub async fn deactivate(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path(id): Path<Uuid>,
    Json(req): Json<DeactivateRequest>,
) -> Result<Json<User>, ApiError> {
    p.require(&state, Perm::UsersWrite)?;
    let reason = validate::text("reason", &req.reason, 500)?;
    if id == p.user_id {
        return Err(ApiError::conflict("you cannot deactivate your own account"));
    }
    let mut tx = state.db.begin().await?;
    if reachable(&mut tx, &p, id, true).await?.super_admin {
        keep_a_super_admin(&mut tx, id).await?;
    }
    let status: Option<String> =
        sqlx::query_scalar!("SELECT status FROM users WHERE id = $1 FOR UPDATE", id)
            .fetch_optional(&mut *tx)
            .await?;
    match status.as_deref() {
        None => return Err(ApiError::not_found()),
        Some("deactivated") => return Err(ApiError::conflict("the user is already deactivated")),
        _ => {}
    }
    match req.at.filter(|at| *at > Utc::now()) {
        Some(at) => {
            sqlx::query!("UPDATE users SET scheduled_deactivation_at = $2, scheduled_deactivation_reason = $3 WHERE id = $1", id, at, &reason)
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut *tx,
                &meta,
                Event::new("user_deactivation_scheduled")
                    .actor(p.user_id)
                    .subject(id)
                    .details(json!({ "at": at, "reason": reason })),
            )
            .await?;
        }
        None => {
            deactivate_now(&mut tx, id, &reason).await?;
            audit::record(
                &mut *tx,
                &meta,
                Event::new("user_deactivated")
                    .actor(p.user_id)
                    .subject(id)
                    .details(json!({ "reason": reason })),
            )
            .await?;
        }
    }
    let user = sessions::load_user(&mut *tx, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    tx.commit().await?;
    Ok(Json(user))
}

/// Deactivates and ends every session (used by the handler and the scheduled job).
pub async fn deactivate_now(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET status = 'deactivated', deactivated_at = now(), deactivation_reason = $2,
                scheduled_deactivation_at = NULL, scheduled_deactivation_reason = NULL
         WHERE id = $1",
        id,
        reason
    )
    .execute(&mut *conn)
    .await?;
    sessions::revoke_all(&mut *conn, id, None, "deactivated").await?;
    Ok(())
}

/// Reactivate a user (also cancels a scheduled deactivation).
#[utoipa::path(post, path = "/api/v1/users/{id}/reactivate", tag = "users",
    params(("id" = Uuid, Path, description = "user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "active again", body = User)))]
pub async fn reactivate(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<User>, ApiError> {
    p.require(&state, Perm::UsersWrite)?;
    let mut tx = state.db.begin().await?;
    reachable(&mut tx, &p, id, true).await?;
    let n = sqlx::query!(
        "UPDATE users SET status = 'active', deactivated_at = NULL, deactivation_reason = NULL,
                scheduled_deactivation_at = NULL, scheduled_deactivation_reason = NULL
         WHERE id = $1",
        id
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found());
    }
    audit::record(
        &mut *tx,
        &meta,
        Event::new("user_reactivated").actor(p.user_id).subject(id),
    )
    .await?;
    let user = sessions::load_user(&mut *tx, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    tx.commit().await?;
    Ok(Json(user))
}

/// A user's live sessions.
#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "users",
    params(("id" = Uuid, Path, description = "user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "live sessions", body = [Session])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<Session>>, ApiError> {
    p.require(&state, Perm::UsersRead)?;
    reachable(&mut *state.db.acquire().await?, &p, id, false).await?;
    Ok(Json(sessions_of(&state, id, p.session_id).await?))
}

/// End every session of a user.
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions", tag = "users",
    params(("id" = Uuid, Path, description = "user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "sessions ended")))]
pub async fn end_all_sessions(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    p.require(&state, Perm::UsersWrite)?;
    let mut tx = state.db.begin().await?;
    reachable(&mut tx, &p, id, true).await?;
    let n = sessions::revoke_all(&mut *tx, id, None, "ended_by_admin").await?;
    audit::record(
        &mut *tx,
        &meta,
        Event::new("sessions_revoked")
            .actor(p.user_id)
            .subject(id)
            .details(json!({ "sessions": n })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One live session of a user.
#[utoipa::path(get, path = "/api/v1/users/{id}/sessions/{sid}", tag = "users",
    params(("id" = Uuid, Path, description = "user id"), ("sid" = Uuid, Path, description = "session id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "the session", body = Session)))]
pub async fn get_session(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path((id, sid)): Path<(Uuid, Uuid)>,
) -> Result<Json<Session>, ApiError> {
    p.require(&state, Perm::UsersRead)?;
    let mut conn = state.db.acquire().await?;
    reachable(&mut conn, &p, id, false).await?;
    let s: Option<Session> = sqlx::query_as!(
        Session,
        r#"SELECT id, created_at, last_used_at, expires_at, ip, user_agent, mfa, (id = $3) AS "current!"
         FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()"#,
        sid,
        id,
        p.session_id.unwrap_or(Uuid::nil())
    )
    .fetch_optional(&mut *conn)
    .await?;
    s.map(Json).ok_or_else(ApiError::not_found)
}

/// End one session of a user.
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions/{sid}", tag = "users",
    params(("id" = Uuid, Path, description = "user id"), ("sid" = Uuid, Path, description = "session id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "session ended")))]
pub async fn end_session(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path((id, sid)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    p.require(&state, Perm::UsersWrite)?;
    let mut tx = state.db.begin().await?;
    reachable(&mut tx, &p, id, true).await?;
    let n = sqlx::query!(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = 'ended_by_admin' WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        sid,
        id
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found());
    }
    audit::record(
        &mut *tx,
        &meta,
        Event::new("session_revoked")
            .actor(p.user_id)
            .subject(id)
            .details(json!({ "session_id": sid })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give a user a role. You can only hand out permissions you hold yourself.
#[utoipa::path(put, path = "/api/v1/users/{id}/roles/{role_id}", tag = "users",
    params(("id" = Uuid, Path, description = "user id"), ("role_id" = Uuid, Path, description = "role id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "assigned (idempotent)")))]
pub async fn assign_role(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path((id, role_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    p.require(&state, Perm::RolesWrite)?;
    let mut tx = state.db.begin().await?;
    let role: Option<String> = sqlx::query_scalar!("SELECT name FROM roles WHERE id = $1", role_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(role) = role else {
        return Err(ApiError::not_found().with_detail("resource", "role"));
    };
    grants_super_admin(&p, std::slice::from_ref(&role))?;
    match reachable(&mut tx, &p, id, true).await {
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return Err(e.with_detail("resource", "user"));
        }
        r => r?,
    };
    let missing = escalation(&mut *tx, &p, &[role_id]).await?;
    if !missing.is_empty() {
        return Err(ApiError::forbidden()
            .with_detail("reason", "role_exceeds_your_permissions")
            .with_detail("permissions", missing));
    }
    let res = sqlx::query!("INSERT INTO user_roles (user_id, role_id, assigned_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", id, role_id, p.user_id)
        .execute(&mut *tx)
        .await;
    match res {
        Ok(r) if r.rows_affected() == 1 => {
            audit::record(
                &mut *tx,
                &meta,
                Event::new("role_assigned")
                    .actor(p.user_id)
                    .subject(id)
                    .details(json!({ "role": role })),
            )
            .await?;
        }
        Ok(_) => {}
        Err(e) if ovu_kit::error::foreign_key_violation(&e) => {
            return Err(ApiError::not_found().with_detail("resource", "user"));
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take a role away from a user.
#[utoipa::path(delete, path = "/api/v1/users/{id}/roles/{role_id}", tag = "users",
    params(("id" = Uuid, Path, description = "user id"), ("role_id" = Uuid, Path, description = "role id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "removed")))]
pub async fn unassign_role(
    State(state): State<AppState>,
    meta: Meta,
    Auth(p): Auth,
    Path((id, role_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    p.require(&state, Perm::RolesWrite)?;
    let mut tx = state.db.begin().await?;
    reachable(&mut tx, &p, id, true).await?;
    let role: Option<String> = sqlx::query_scalar!(
        "DELETE FROM user_roles ur USING roles r WHERE ur.user_id = $1 AND ur.role_id = $2 AND r.id = ur.role_id RETURNING r.name",
        id,
        role_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(role) = role else {
        return Err(ApiError::not_found());
    };
    if role == "super_admin" {
        keep_a_super_admin(&mut tx, id).await?;
    }
    audit::record(
        &mut *tx,
        &meta,
        Event::new("role_unassigned")
            .actor(p.user_id)
            .subject(id)
            .details(json!({ "role": role })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
