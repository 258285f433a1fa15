//! The application registry: OVU's apps, their URLs, versions, owners, status, and the
//! dependencies between them. AAM's own tables; every write is audited.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use chrono::{DateTime, Utc};
use ovu_kit::ApiError;
use ovu_kit::error::{ApiResult, foreign_key_violation, unique_violation};
use ovu_kit::extract::{CheckedJson, Json, Path, Query};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::check_violation;
use crate::audit::{self, Entry};
use crate::auth::{Caller, perm};
use crate::input::{AppCode, Color, HttpUrl};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/apps", get(list).post(create))
        .route(
            "/api/v1/apps/{id}",
            get(get_app).patch(update).delete(remove),
        )
        .route(
            "/api/v1/apps/{id}/dependencies",
            get(list_dependencies).post(add_dependency),
        )
        .route("/api/v1/dependencies/{id}", delete(remove_dependency))
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    Web,
    Api,
    Service,
    Worker,
    Library,
    External,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AppStatus {
    Planned,
    Development,
    Active,
    Maintenance,
    Deprecated,
    Retired,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyType {
    Runtime,
    Auth,
    Data,
    Build,
    Optional,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    Critical,
    High,
    Medium,
    Low,
}

fn as_str<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// One registered application.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct App {
    pub id: Uuid,
    /// Lowercase letters, digits, `_` and `-`, 2–32 characters, starting with a letter.
    pub code: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    #[serde(rename = "type")]
    #[schema(rename = "type", value_type = AppType)]
    pub app_type: String,
    #[schema(value_type = AppStatus)]
    pub status: String,
    pub category: String,
    pub owner: String,
    pub version: String,
    pub frontend_url: Option<String>,
    pub backend_url: Option<String>,
    pub docs_url: Option<String>,
    pub tech_stack: Vec<String>,
    pub icon: String,
    /// `#rrggbb`.
    pub color: Option<String>,
    pub tags: Vec<String>,
    pub display_order: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Counted {
    #[sqlx(flatten)]
    app: App,
    total: i64,
}

const APP_COLUMNS: &str =
    "id, code, name, display_name, description, app_type, status, category, owner,
    version, frontend_url, backend_url, docs_url, tech_stack, icon, color, tags, display_order,
    created_at, updated_at";

/// `sqlx::query_as!(App, HEAD + <APP_COLUMNS> + TAIL, args…)`: the checked macros take only
/// string literals (joined with `+`), never a `const`, so the column list the checked
/// queries share lives here. The same list as [`APP_COLUMNS`], which the dynamic list query
/// still uses.
macro_rules! query_apps {
    ($head:literal, $tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            App,
            $head
                + " id, code, name, display_name, description, app_type, status, category, owner,
    version, frontend_url, backend_url, docs_url, tech_stack, icon, color, tags, display_order,
    created_at, updated_at "
                + $tail
            $(, $arg)*
        )
    };
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApp {
    #[schema(value_type = String)]
    pub code: AppCode,
    pub name: String,
    /// Defaults to `name`.
    pub display_name: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub app_type: AppType,
    pub status: Option<AppStatus>,
    pub category: Option<String>,
    pub owner: Option<String>,
    pub version: Option<String>,
    #[schema(value_type = Option<String>)]
    pub frontend_url: Option<HttpUrl>,
    #[schema(value_type = Option<String>)]
    pub backend_url: Option<HttpUrl>,
    #[schema(value_type = Option<String>)]
    pub docs_url: Option<HttpUrl>,
    pub tech_stack: Option<Vec<String>>,
    pub icon: Option<String>,
    #[schema(value_type = Option<String>)]
    pub color: Option<Color>,
    pub tags: Option<Vec<String>>,
    #[schema(minimum = -100000, maximum = 100000)]
    pub display_order: Option<i32>,
}

/// Absent fields stay as they are; for the URLs and the color an empty string clears the value.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateApp {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub app_type: Option<AppType>,
    pub status: Option<AppStatus>,
    pub category: Option<String>,
    pub owner: Option<String>,
    pub version: Option<String>,
    #[schema(value_type = Option<String>)]
    pub frontend_url: Option<HttpUrl>,
    #[schema(value_type = Option<String>)]
    pub backend_url: Option<HttpUrl>,
    #[schema(value_type = Option<String>)]
    pub docs_url: Option<HttpUrl>,
    pub tech_stack: Option<Vec<String>>,
    pub icon: Option<String>,
    #[schema(value_type = Option<String>)]
    pub color: Option<Color>,
    pub tags: Option<Vec<String>>,
    #[schema(minimum = -100000, maximum = 100000)]
    pub display_order: Option<i32>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
pub enum AppSort {
    #[default]
    #[serde(rename = "display_order")]
    DisplayOrder,
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "-name")]
    NameDesc,
    #[serde(rename = "code")]
    Code,
    #[serde(rename = "-updated_at")]
    UpdatedDesc,
    #[serde(rename = "created_at")]
    Created,
}

impl AppSort {
    fn sql(self) -> &'static str {
        match self {
            Self::DisplayOrder => "display_order, lower(name), id",
            Self::Name => "lower(name), id",
            Self::NameDesc => "lower(name) DESC, id",
            Self::Code => "code",
            Self::UpdatedDesc => "updated_at DESC, id",
            Self::Created => "created_at, id",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListAppsQuery {
    /// Substring of code, name or display name (case-insensitive).
    pub q: Option<String>,
    pub status: Option<AppStatus>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub app_type: Option<AppType>,
    pub category: Option<String>,
    /// Apps carrying this tag.
    pub tag: Option<String>,
    pub sort: Option<AppSort>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

// ---- validation ---------------------------------------------------------------------------

fn text(field: &str, v: &str, min: usize, max: usize) -> ApiResult<()> {
    let n = v.chars().count();
    if n < min || n > max || v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::field(
            field,
            format!("{field} must be {min}–{max} characters of text"),
        ));
    }
    Ok(())
}

fn words(field: &str, v: &[String]) -> ApiResult<()> {
    if v.len() > 50
        || v.iter().any(|s| {
            s.trim().is_empty() || s.chars().count() > 50 || s.chars().any(char::is_control)
        })
    {
        return Err(ApiError::field(
            field,
            format!("{field}: at most 50 entries of 1–50 characters"),
        ));
    }
    Ok(())
}

fn order(v: i32) -> ApiResult<()> {
    if (-100_000..=100_000).contains(&v) {
        Ok(())
    } else {
        Err(ApiError::field(
            "display_order",
            "display_order must be between -100000 and 100000",
        ))
    }
}

#[allow(clippy::too_many_arguments)]
fn validate_common(
    name: Option<&str>,
    display_name: Option<&str>,
    description: Option<&str>,
    category: Option<&str>,
    owner: Option<&str>,
    version: Option<&str>,
    icon: Option<&str>,
) -> ApiResult<()> {
    if let Some(v) = name {
        text("name", v.trim(), 1, 100)?;
    }
    if let Some(v) = display_name {
        text("display_name", v.trim(), 1, 200)?;
    }
    if let Some(v) = description {
        text("description", v, 0, 2000)?;
    }
    if let Some(v) = category {
        text("category", v.trim(), 1, 50)?;
    }
    if let Some(v) = owner {
        text("owner", v, 0, 200)?;
    }
    if let Some(v) = version {
        text("version", v, 0, 50)?;
    }
    if let Some(v) = icon {
        text("icon", v, 0, 100)?;
    }
    Ok(())
}

fn none_if_empty(v: Option<impl Into<String>>) -> Option<String> {
    v.map(Into::into).filter(|s| !s.is_empty())
}

/// A nullable column's update: whether the field was sent, and the value ("" clears it).
fn nullable<T: std::ops::Deref<Target = str>>(v: &Option<T>) -> (bool, Option<String>) {
    (
        v.is_some(),
        v.as_deref().filter(|s| !s.is_empty()).map(str::to_string),
    )
}

async fn fetch(state: &AppState, id: Uuid) -> ApiResult<App> {
    query_apps!("SELECT", "FROM apps WHERE id = $1", id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)
}

fn write_error(e: sqlx::Error) -> ApiError {
    if unique_violation(&e).is_some() {
        return ApiError::conflict("an app with this code already exists")
            .with_detail("field", "code");
    }
    check_violation(e)
}

// ---- handlers -----------------------------------------------------------------------------

/// List registered apps.
#[utoipa::path(get, path = "/api/v1/apps", tag = "apps", params(ListAppsQuery),
    responses((status = 200, description = "apps; the total is in X-Total-Count", body = Vec<App>,
        headers(("X-Total-Count" = i64, description = "matching apps")))))]
pub async fn list(
    state: axum::extract::State<AppState>,
    caller: Caller,
    Query(q): Query<ListAppsQuery>,
) -> ApiResult<Response> {
    caller.require(perm::APPS_READ)?;
    let limit = q.limit.unwrap_or(100);
    let offset = q.offset.unwrap_or(0);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be 1–500"));
    }
    if !(0..=1_000_000).contains(&offset) {
        return Err(ApiError::field("offset", "offset must be 0–1000000"));
    }
    for (field, v) in [("q", &q.q), ("category", &q.category), ("tag", &q.tag)] {
        if v.as_deref()
            .is_some_and(|s| s.len() > 200 || s.contains('\0'))
        {
            return Err(ApiError::field(
                field,
                format!("{field} must be at most 200 characters without NUL"),
            ));
        }
    }
    let pattern =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                format!(
                    "%{}%",
                    s.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                )
            });
    let filter = "($1::text IS NULL OR code ILIKE $1 OR name ILIKE $1 OR display_name ILIKE $1)
        AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR app_type = $3)
        AND ($4::text IS NULL OR category = $4) AND ($5::text IS NULL OR tags @> ARRAY[$5])";
    let status = q.status.map(as_str);
    let app_type = q.app_type.map(as_str);
    // The total rides along on every row (one round trip); only a page past the end
    // needs its own count.
    // Dynamic on purpose: the ORDER BY is the column the caller's `sort` names, which no
    // bind parameter can stand for.
    let rows = sqlx::query_as::<_, Counted>(&format!(
        "SELECT {APP_COLUMNS}, count(*) OVER () AS total FROM apps WHERE {filter} ORDER BY {} LIMIT $6 OFFSET $7",
        q.sort.unwrap_or_default().sql()
    ))
    .bind(&pattern)
    .bind(&status)
    .bind(&app_type)
    .bind(&q.category)
    .bind(&q.tag)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.db)
    .await?;
    let total: i64 = match rows.first() {
        Some(r) => r.total,
        None if offset == 0 => 0,
        None => {
            sqlx::query_scalar(&format!("SELECT count(*) FROM apps WHERE {filter}"))
                .bind(&pattern)
                .bind(&status)
                .bind(&app_type)
                .bind(&q.category)
                .bind(&q.tag)
                .fetch_one(&state.db)
                .await?
        }
    };
    let rows: Vec<App> = rows.into_iter().map(|r| r.app).collect();
    let mut headers = HeaderMap::new();
    headers.insert(crate::ulm::TOTAL_COUNT, HeaderValue::from(total));
    Ok((headers, Json(rows)).into_response())
}

/// Register an app.
#[utoipa::path(post, path = "/api/v1/apps", tag = "apps", request_body = CreateApp,
    responses((status = 201, description = "registered", body = App),
              (status = 409, description = "code taken", body = ovu_kit::ErrorBody)))]
pub async fn create(
    state: axum::extract::State<AppState>,
    caller: Caller,
    b: CheckedJson<CreateApp>,
) -> ApiResult<(StatusCode, Json<App>)> {
    caller.require(perm::APPS_WRITE)?;
    // The code, URLs and color were checked while the body was decoded (crate::input).
    let b = b.value()?;
    validate_common(
        Some(&b.name),
        b.display_name.as_deref(),
        b.description.as_deref(),
        b.category.as_deref(),
        b.owner.as_deref(),
        b.version.as_deref(),
        b.icon.as_deref(),
    )?;
    if let Some(t) = &b.tech_stack {
        words("tech_stack", t)?;
    }
    if let Some(t) = &b.tags {
        words("tags", t)?;
    }
    if let Some(o) = b.display_order {
        order(o)?;
    }
    let name = b.name.trim().to_string();
    let mut tx = state.db.begin().await?;
    let app = query_apps!(
        "INSERT INTO apps (code, name, display_name, description, app_type, status, category, owner, version,
                           frontend_url, backend_url, docs_url, tech_stack, icon, color, tags, display_order)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         RETURNING",
        "",
        &b.code,
        &name,
        b.display_name.as_deref().map(str::trim).unwrap_or(&name),
        b.description.unwrap_or_default(),
        as_str(b.app_type),
        as_str(b.status.unwrap_or(AppStatus::Active)),
        b.category.as_deref().map(str::trim).unwrap_or("general"),
        b.owner.unwrap_or_default(),
        b.version.unwrap_or_default(),
        none_if_empty(b.frontend_url),
        none_if_empty(b.backend_url),
        none_if_empty(b.docs_url),
        &b.tech_stack.unwrap_or_default(),
        b.icon.unwrap_or_default(),
        none_if_empty(b.color),
        &b.tags.unwrap_or_default(),
        b.display_order.unwrap_or(0)
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(write_error)?;
    audit::record(
        &mut *tx,
        &caller,
        Entry {
            action: "app.create",
            resource_type: "app",
            resource_id: app.id.to_string(),
            old: None,
            new: serde_json::to_value(&app).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(app)))
}

/// One app.
#[utoipa::path(get, path = "/api/v1/apps/{id}", tag = "apps", params(("id" = Uuid, Path)),
    responses((status = 200, description = "the app", body = App)))]
pub async fn get_app(
    state: axum::extract::State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<App>> {
    caller.require(perm::APPS_READ)?;
    Ok(Json(fetch(&state, id).await?))
}

/// Change an app.
#[utoipa::path(patch, path = "/api/v1/apps/{id}", tag = "apps", params(("id" = Uuid, Path)), request_body = UpdateApp,
    responses((status = 200, description = "changed", body = App)))]
pub async fn update(
    state: axum::extract::State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    b: CheckedJson<UpdateApp>,
) -> ApiResult<Json<App>> {
    caller.require(perm::APPS_WRITE)?;
    let b = b.value()?;
    validate_common(
        b.name.as_deref(),
        b.display_name.as_deref(),
        b.description.as_deref(),
        b.category.as_deref(),
        b.owner.as_deref(),
        b.version.as_deref(),
        b.icon.as_deref(),
    )?;
    if let Some(t) = &b.tech_stack {
        words("tech_stack", t)?;
    }
    if let Some(t) = &b.tags {
        words("tags", t)?;
    }
    if let Some(o) = b.display_order {
        order(o)?;
    }
    let mut tx = state.db.begin().await?;
    let old = query_apps!("SELECT", "FROM apps WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // Nullable columns: absent keeps, "" clears, anything else sets.
    let (fu_set, fu) = nullable(&b.frontend_url);
    let (bu_set, bu) = nullable(&b.backend_url);
    let (du_set, du) = nullable(&b.docs_url);
    let (co_set, co) = nullable(&b.color);
    let app = query_apps!(
        "UPDATE apps SET
            name = COALESCE($2, name), display_name = COALESCE($3, display_name),
            description = COALESCE($4, description), app_type = COALESCE($5, app_type),
            status = COALESCE($6, status), category = COALESCE($7, category),
            owner = COALESCE($8, owner), version = COALESCE($9, version),
            frontend_url = CASE WHEN $10 THEN $11 ELSE frontend_url END,
            backend_url = CASE WHEN $12 THEN $13 ELSE backend_url END,
            docs_url = CASE WHEN $14 THEN $15 ELSE docs_url END,
            tech_stack = COALESCE($16, tech_stack), icon = COALESCE($17, icon),
            color = CASE WHEN $18 THEN $19 ELSE color END,
            tags = COALESCE($20, tags), display_order = COALESCE($21, display_order),
            updated_at = now()
         WHERE id = $1 RETURNING",
        "",
        id,
        b.name.as_deref().map(str::trim),
        b.display_name.as_deref().map(str::trim),
        b.description.as_deref(),
        b.app_type.map(as_str),
        b.status.map(as_str),
        b.category.as_deref().map(str::trim),
        b.owner.as_deref(),
        b.version.as_deref(),
        fu_set,
        fu,
        bu_set,
        bu,
        du_set,
        du,
        b.tech_stack.as_deref(),
        b.icon.as_deref(),
        co_set,
        co,
        b.tags.as_deref(),
        b.display_order
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(write_error)?;
    audit::record(
        &mut *tx,
        &caller,
        Entry {
            action: "app.update",
            resource_type: "app",
            resource_id: id.to_string(),
            old: serde_json::to_value(&old).ok(),
            new: serde_json::to_value(&app).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(app))
}

/// Remove an app (and its dependency edges).
#[utoipa::path(delete, path = "/api/v1/apps/{id}", tag = "apps", params(("id" = Uuid, Path)),
    responses((status = 204, description = "removed")))]
pub async fn remove(
    state: axum::extract::State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require(perm::APPS_WRITE)?;
    let mut tx = state.db.begin().await?;
    let old = query_apps!("DELETE FROM apps WHERE id = $1 RETURNING", "", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(ApiError::not_found)?;
    audit::record(
        &mut *tx,
        &caller,
        Entry {
            action: "app.delete",
            resource_type: "app",
            resource_id: id.to_string(),
            old: serde_json::to_value(&old).ok(),
            new: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- dependencies -------------------------------------------------------------------------

/// An edge: `consumer` needs `provider`.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Dependency {
    pub id: Uuid,
    pub consumer_id: Uuid,
    pub consumer_code: String,
    pub provider_id: Uuid,
    pub provider_code: String,
    #[schema(value_type = DependencyType)]
    pub dependency_type: String,
    #[schema(value_type = Criticality)]
    pub criticality: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

/// `sqlx::query_as!(Dependency, <the edge with both apps' codes> + TAIL, args…)`: the
/// checked macros take only string literals, so the shared SELECT lives in this macro.
macro_rules! query_deps {
    ($tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Dependency,
            "SELECT d.id, d.consumer_id, c.code AS consumer_code, d.provider_id, p.code AS provider_code,
        d.dependency_type, d.criticality, d.description, d.created_at
    FROM app_dependencies d JOIN apps c ON c.id = d.consumer_id JOIN apps p ON p.id = d.provider_id "
                + $tail
            $(, $arg)*
        )
    };
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateDependency {
    /// The app this one depends on.
    pub provider_id: Uuid,
    pub dependency_type: DependencyType,
    /// Default `medium`.
    pub criticality: Option<Criticality>,
    pub description: Option<String>,
}

/// Dependencies of an app, in both directions.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppDependencies {
    /// Edges where this app is the consumer.
    pub depends_on: Vec<Dependency>,
    /// Edges where this app is the provider.
    pub used_by: Vec<Dependency>,
}

/// What an app depends on and what depends on it.
#[utoipa::path(get, path = "/api/v1/apps/{id}/dependencies", tag = "apps", params(("id" = Uuid, Path)),
    responses((status = 200, description = "both directions", body = AppDependencies)))]
pub async fn list_dependencies(
    state: axum::extract::State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<AppDependencies>> {
    caller.require(perm::APPS_READ)?;
    fetch(&state, id).await?;
    let rows = query_deps!(
        "WHERE d.consumer_id = $1 OR d.provider_id = $1 ORDER BY d.created_at, d.id",
        id
    )
    .fetch_all(&state.db)
    .await?;
    let (depends_on, used_by) = rows.into_iter().partition(|d| d.consumer_id == id);
    Ok(Json(AppDependencies {
        depends_on,
        used_by,
    }))
}

/// Record that this app depends on another.
#[utoipa::path(post, path = "/api/v1/apps/{id}/dependencies", tag = "apps", params(("id" = Uuid, Path)),
    request_body = CreateDependency,
    responses((status = 201, description = "recorded", body = Dependency),
              (status = 409, description = "edge exists", body = ovu_kit::ErrorBody)))]
pub async fn add_dependency(
    state: axum::extract::State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(b): Json<CreateDependency>,
) -> ApiResult<(StatusCode, Json<Dependency>)> {
    caller.require(perm::APPS_WRITE)?;
    if b.provider_id == id {
        return Err(ApiError::field(
            "provider_id",
            "an app cannot depend on itself",
        ));
    }
    if let Some(d) = &b.description {
        text("description", d, 0, 1000)?;
    }
    fetch(&state, id).await?;
    let mut tx = state.db.begin().await?;
    let new_id: Uuid = sqlx::query_scalar!(
        "INSERT INTO app_dependencies (consumer_id, provider_id, dependency_type, criticality, description)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        id,
        b.provider_id,
        as_str(b.dependency_type),
        as_str(b.criticality.unwrap_or(Criticality::Medium)),
        b.description.unwrap_or_default()
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        if foreign_key_violation(&e) {
            ApiError::field("provider_id", "no app has this id")
        } else if unique_violation(&e).is_some() {
            ApiError::conflict("this dependency is already recorded")
        } else {
            check_violation(e)
        }
    })?;
    let dep = query_deps!("WHERE d.id = $1", new_id)
        .fetch_one(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &caller,
        Entry {
            action: "dependency.create",
            resource_type: "dependency",
            resource_id: new_id.to_string(),
            old: None,
            new: serde_json::to_value(&dep).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(dep)))
}

/// Remove a dependency edge.
#[utoipa::path(delete, path = "/api/v1/dependencies/{id}", tag = "apps", params(("id" = Uuid, Path)),
    responses((status = 204, description = "removed")))]
pub async fn remove_dependency(
    state: axum::extract::State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require(perm::APPS_WRITE)?;
    let mut tx = state.db.begin().await?;
    let old = query_deps!("WHERE d.id = $1", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(ApiError::not_found)?;
    sqlx::query!("DELETE FROM app_dependencies WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &caller,
        Entry {
            action: "dependency.delete",
            resource_type: "dependency",
            resource_id: id.to_string(),
            old: serde_json::to_value(&old).ok(),
            new: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
