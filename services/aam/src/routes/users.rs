//! User and role administration, through ULM's admin API with the caller's own token.
//!
//! AAM checks the route's permission first (a clear 403 without a ULM round trip), then ULM
//! checks again with live permissions and writes its own audit event naming the real actor.
//! Request bodies are decoded into ULM's own types (ovu-ulm-api), so the OpenAPI document
//! describes them, malformed input is refused here with ULM's own errors, and a field ULM
//! adds reaches the admin panel; ULM's answers pass through as they are.
//!
//! Every relayed route is one row of [`RELAYS`] served by one forwarding path ([`forward`]);
//! only the password reset, which is two ULM calls, has its own handler.

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on, post};
use ovu_kit::ApiError;
use ovu_kit::error::ApiResult;
use ovu_kit::extract::{CheckedJson, Json, Path, Query};
use ovu_ulm_api::Perm;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use uuid::Uuid;

pub use ovu_ulm_api::roles::{CreateRoleRequest, Permission, Role, UpdateRoleRequest};
pub use ovu_ulm_api::users::{
    CreateUserRequest, DeactivateRequest, ListUsersQuery, Session, StatusFilter, UpdateUserRequest,
    User, UserSort,
};

use crate::auth::{Caller, perm};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    RELAYS
        .iter()
        .fold(Router::new(), |r, relay| {
            r.route(relay.path, (relay.endpoint)(relay))
        })
        .route("/api/v1/users/{id}/password-reset", post(password_reset))
}

// ---- the relay table ----------------------------------------------------------------------

/// A route ULM answers: AAM asks for `perm`, then sends the request to the same path on ULM
/// (path parameters are ids, checked as UUIDs) and passes the answer back unchanged.
#[derive(Debug)]
pub struct Relay {
    pub method: Method,
    /// The route, the same on AAM and ULM.
    pub path: &'static str,
    pub perm: Perm,
    /// How the request is decoded before it is forwarded: with or without a body of ULM's type.
    endpoint: fn(&'static Relay) -> MethodRouter<AppState>,
}

/// Every relayed route. The OpenAPI descriptions are in [`doc`].
pub static RELAYS: &[Relay] = &[
    relay(Method::GET, "/api/v1/users", perm::USERS_READ, list_users),
    relay(
        Method::POST,
        "/api/v1/users",
        perm::USERS_WRITE,
        with_body::<CreateUserRequest>,
    ),
    relay(
        Method::GET,
        "/api/v1/users/{id}",
        perm::USERS_READ,
        bodyless,
    ),
    relay(
        Method::PATCH,
        "/api/v1/users/{id}",
        perm::USERS_WRITE,
        with_body::<UpdateUserRequest>,
    ),
    relay(
        Method::POST,
        "/api/v1/users/{id}/deactivate",
        perm::USERS_WRITE,
        with_body::<DeactivateRequest>,
    ),
    relay(
        Method::POST,
        "/api/v1/users/{id}/reactivate",
        perm::USERS_WRITE,
        bodyless,
    ),
    relay(
        Method::PUT,
        "/api/v1/users/{id}/roles/{role_id}",
        perm::ROLES_WRITE,
        bodyless,
    ),
    relay(
        Method::DELETE,
        "/api/v1/users/{id}/roles/{role_id}",
        perm::ROLES_WRITE,
        bodyless,
    ),
    relay(
        Method::GET,
        "/api/v1/users/{id}/sessions",
        perm::USERS_READ,
        bodyless,
    ),
    relay(
        Method::DELETE,
        "/api/v1/users/{id}/sessions",
        perm::USERS_WRITE,
        bodyless,
    ),
    relay(Method::GET, "/api/v1/roles", perm::ROLES_READ, bodyless),
    relay(
        Method::POST,
        "/api/v1/roles",
        perm::ROLES_WRITE,
        with_body::<CreateRoleRequest>,
    ),
    relay(
        Method::GET,
        "/api/v1/roles/{id}",
        perm::ROLES_READ,
        bodyless,
    ),
    relay(
        Method::PATCH,
        "/api/v1/roles/{id}",
        perm::ROLES_WRITE,
        with_body::<UpdateRoleRequest>,
    ),
    relay(
        Method::DELETE,
        "/api/v1/roles/{id}",
        perm::ROLES_WRITE,
        bodyless,
    ),
    relay(
        Method::GET,
        "/api/v1/permissions",
        perm::ROLES_READ,
        bodyless,
    ),
];

const fn relay(
    method: Method,
    path: &'static str,
    perm: Perm,
    endpoint: fn(&'static Relay) -> MethodRouter<AppState>,
) -> Relay {
    Relay {
        method,
        path,
        perm,
        endpoint,
    }
}

/// The path parameters of a route (none, `id`, or `id` and `role_id`).
type Ids = Vec<(String, Uuid)>;

/// The one forwarding path. The permission comes first; then the verdicts on the query and
/// the body, which were decoded before but whose rule failures wait (so a caller without the
/// permission gets 403 and learns nothing about the rules); then ULM.
async fn forward<B: Serialize>(
    relay: &Relay,
    state: &AppState,
    caller: &Caller,
    ids: &[(String, Uuid)],
    query: ApiResult<Vec<(&'static str, String)>>,
    body: ApiResult<Option<B>>,
) -> ApiResult<Response> {
    caller.require(relay.perm)?;
    let (query, body) = (query?, body?);
    let path = fill(relay.path, ids);
    Ok(state
        .ulm
        .call(caller, relay.method.clone(), &path, &query, body.as_ref())
        .await?
        .into_response())
}

/// The route with its `{name}` parameters replaced by the ids.
fn fill(template: &str, ids: &[(String, Uuid)]) -> String {
    ids.iter().fold(template.to_string(), |path, (name, id)| {
        path.replace(&format!("{{{name}}}"), &id.to_string())
    })
}

fn filter(relay: &Relay) -> MethodFilter {
    MethodFilter::try_from(relay.method.clone()).expect("the table holds only standard methods")
}

/// A route without a request body.
fn bodyless(relay: &'static Relay) -> MethodRouter<AppState> {
    on(
        filter(relay),
        move |State(state): State<AppState>, caller: Caller, Path(ids): Path<Ids>| async move {
            forward::<()>(relay, &state, &caller, &ids, Ok(vec![]), Ok(None)).await
        },
    )
}

/// A route whose body is ULM's `B`, decoded here first, so it has ULM's shape.
fn with_body<B>(relay: &'static Relay) -> MethodRouter<AppState>
where
    B: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    on(
        filter(relay),
        move |State(state): State<AppState>,
              caller: Caller,
              Path(ids): Path<Ids>,
              body: CheckedJson<B>| async move {
            match body.value_or_raw() {
                Ok(body) => forward(relay, &state, &caller, &ids, Ok(vec![]), Ok(Some(body))).await,
                // A field that breaks ULM's rules goes to ULM as sent: ULM owns the rules and
                // answers with the same error (AAM used to relay such bodies unjudged).
                Err((_, raw)) => {
                    let raw: serde_json::Value = serde_json::from_slice(&raw)
                        .map_err(|e| ApiError::malformed_json(e.to_string()))?;
                    forward(relay, &state, &caller, &ids, Ok(vec![]), Ok(Some(raw))).await
                }
            }
        },
    )
}

/// The user list: its query is checked here, so a bad one costs ULM nothing.
fn list_users(relay: &'static Relay) -> MethodRouter<AppState> {
    on(
        filter(relay),
        move |State(state): State<AppState>, caller: Caller, Query(q): Query<ListUsersQuery>| async move {
            forward::<()>(relay, &state, &caller, &[], list_query(q), Ok(None)).await
        },
    )
}

fn list_query(q: ListUsersQuery) -> ApiResult<Vec<(&'static str, String)>> {
    let mut query = Vec::new();
    if let Some(s) = q.q {
        no_nul("q", &s)?;
        query.push(("q", s));
    }
    if let Some(s) = q.status {
        query.push(("status", word(s)));
    }
    if let Some(l) = q.limit {
        if !(1..=200).contains(&l) {
            return Err(ApiError::field("limit", "limit must be 1–200"));
        }
        query.push(("limit", l.to_string()));
    }
    if let Some(o) = q.offset {
        if o < 0 {
            return Err(ApiError::field("offset", "offset must not be negative"));
        }
        query.push(("offset", o.to_string()));
    }
    if let Some(s) = q.sort {
        query.push(("sort", word(s)));
    }
    Ok(query)
}

fn word<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn no_nul(field: &str, v: &str) -> ApiResult<()> {
    if v.contains('\0') || v.len() > 1000 {
        return Err(ApiError::field(
            field,
            format!("{field} must be at most 1000 characters without NUL"),
        ));
    }
    Ok(())
}

// ---- the password reset -------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetSent {
    /// Always `sent`: ULM queued a reset link for its mail worker to deliver.
    pub status: String,
}

/// Send the user ULM's password-reset e-mail.
#[utoipa::path(post, path = "/api/v1/users/{id}/password-reset", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 202, description = "reset mail sent", body = ResetSent)))]
pub async fn password_reset(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    caller.require(perm::USERS_WRITE)?;
    // ULM has no admin-initiated reset: look the address up as the admin, then ask for the
    // same mail a user would request for themselves.
    let user: User = state
        .ulm
        .get(&caller, &format!("/api/v1/users/{id}"), &[])
        .await?
        .json()?;
    let reply = state
        .ulm
        .call(
            &caller,
            Method::POST,
            "/api/v1/auth/forgot-password",
            &[],
            Some(&serde_json::json!({"email": user.email})),
        )
        .await?;
    if !reply.is_success() {
        return Err(reply.error());
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(ResetSent {
            status: "sent".into(),
        }),
    )
        .into_response())
}

/// The OpenAPI descriptions of the routes in [`RELAYS`] (utoipa describes a route by a
/// function; these are never called). `relays_and_their_descriptions_agree` keeps the two
/// in step.
pub mod doc {
    use super::*;

    /// Search, filter, sort and page users (total in `X-Total-Count`).
    #[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListUsersQuery),
        responses((status = 200, description = "a page of users", body = Vec<User>,
            headers(("X-Total-Count" = i64, description = "matching users")))))]
    pub fn list_users() {}

    /// Create a user.
    #[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
        responses((status = 201, description = "created", body = User),
                  (status = 409, description = "e-mail or username taken", body = ovu_kit::ErrorBody)))]
    pub fn create_user() {}

    /// One user.
    #[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
        responses((status = 200, description = "the user", body = User)))]
    pub fn get_user() {}

    /// Change a user's profile fields.
    #[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
        request_body = UpdateUserRequest, responses((status = 200, description = "updated", body = User)))]
    pub fn update_user() {}

    /// Deactivate a user now or at a given time; ends their sessions when it takes effect.
    #[utoipa::path(post, path = "/api/v1/users/{id}/deactivate", tag = "users", params(("id" = Uuid, Path)),
        request_body = DeactivateRequest,
        responses((status = 200, description = "deactivated or scheduled", body = User)))]
    pub fn deactivate() {}

    /// Reactivate a user (also cancels a scheduled deactivation).
    #[utoipa::path(post, path = "/api/v1/users/{id}/reactivate", tag = "users", params(("id" = Uuid, Path)),
        responses((status = 200, description = "active again", body = User)))]
    pub fn reactivate() {}

    /// Give a user a role.
    #[utoipa::path(put, path = "/api/v1/users/{id}/roles/{role_id}", tag = "users",
        params(("id" = Uuid, Path), ("role_id" = Uuid, Path)),
        responses((status = 204, description = "assigned (idempotent)")))]
    pub fn assign_role() {}

    /// Take a role away from a user.
    #[utoipa::path(delete, path = "/api/v1/users/{id}/roles/{role_id}", tag = "users",
        params(("id" = Uuid, Path), ("role_id" = Uuid, Path)),
        responses((status = 204, description = "removed")))]
    pub fn unassign_role() {}

    /// A user's live sessions.
    #[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "users", params(("id" = Uuid, Path)),
        responses((status = 200, description = "live sessions", body = Vec<Session>)))]
    pub fn list_sessions() {}

    /// End every session of a user.
    #[utoipa::path(delete, path = "/api/v1/users/{id}/sessions", tag = "users", params(("id" = Uuid, Path)),
        responses((status = 204, description = "sessions ended")))]
    pub fn end_sessions() {}

    /// Every role with its permissions.
    #[utoipa::path(get, path = "/api/v1/roles", tag = "roles",
        responses((status = 200, description = "roles by name", body = Vec<Role>)))]
    pub fn list_roles() {}

    /// Create a role.
    #[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = CreateRoleRequest,
        responses((status = 201, description = "created", body = Role),
                  (status = 409, description = "name taken", body = ovu_kit::ErrorBody)))]
    pub fn create_role() {}

    /// One role.
    #[utoipa::path(get, path = "/api/v1/roles/{id}", tag = "roles", params(("id" = Uuid, Path)),
        responses((status = 200, description = "the role", body = Role)))]
    pub fn get_role() {}

    /// Rename a role or change its permissions.
    #[utoipa::path(patch, path = "/api/v1/roles/{id}", tag = "roles", params(("id" = Uuid, Path)),
        request_body = UpdateRoleRequest, responses((status = 200, description = "updated", body = Role)))]
    pub fn update_role() {}

    /// Delete a role (system roles cannot be deleted).
    #[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "roles", params(("id" = Uuid, Path)),
        responses((status = 204, description = "deleted"),
                  (status = 409, description = "a system role", body = ovu_kit::ErrorBody)))]
    pub fn delete_role() {}

    /// Every permission.
    #[utoipa::path(get, path = "/api/v1/permissions", tag = "roles",
        responses((status = 200, description = "permissions by name", body = Vec<Permission>)))]
    pub fn permissions() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fill_the_route_in_place() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            fill(
                "/api/v1/users/{id}/roles/{role_id}",
                &[("role_id".into(), b), ("id".into(), a)]
            ),
            format!("/api/v1/users/{a}/roles/{b}")
        );
        assert_eq!(fill("/api/v1/roles", &[]), "/api/v1/roles");
    }

    /// Each relayed route is described in the OpenAPI document under the same method, and
    /// every users/roles route the document describes is relayed (or is the reset).
    #[test]
    fn relays_and_their_descriptions_agree() {
        let doc = serde_json::to_value(crate::routes::docs::openapi()).unwrap();
        let mut described = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let tag = op["tags"][0].as_str().unwrap_or_default();
                if tag == "users" || tag == "roles" {
                    described.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        let mut relayed: Vec<(String, String)> = RELAYS
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        relayed.push(("POST".into(), "/api/v1/users/{id}/password-reset".into()));
        described.sort();
        relayed.sort();
        assert_eq!(described, relayed);
    }

    /// The permission each relayed route asks for, as the handlers asked before the table.
    #[test]
    fn each_route_asks_for_its_permission() {
        let want = |m: &str, p: &str| {
            RELAYS
                .iter()
                .find(|r| r.method.as_str() == m && r.path == p)
                .unwrap()
                .perm
        };
        assert_eq!(want("GET", "/api/v1/users"), Perm::UsersRead);
        assert_eq!(want("PATCH", "/api/v1/users/{id}"), Perm::UsersWrite);
        assert_eq!(
            want("PUT", "/api/v1/users/{id}/roles/{role_id}"),
            Perm::RolesWrite
        );
        assert_eq!(
            want("DELETE", "/api/v1/users/{id}/sessions"),
            Perm::UsersWrite
        );
        assert_eq!(want("GET", "/api/v1/users/{id}/sessions"), Perm::UsersRead);
        assert_eq!(want("GET", "/api/v1/permissions"), Perm::RolesRead);
        assert_eq!(want("DELETE", "/api/v1/roles/{id}"), Perm::RolesWrite);
        for r in RELAYS {
            let write = r.method != Method::GET;
            let users = r.path.starts_with("/api/v1/users") && !r.path.contains("/roles/");
            let expected = match (users, write) {
                (true, false) => Perm::UsersRead,
                (true, true) => Perm::UsersWrite,
                (false, false) => Perm::RolesRead,
                (false, true) => Perm::RolesWrite,
            };
            assert_eq!(r.perm, expected, "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn the_list_query_is_checked_before_ulm() {
        let bad = |q: ListUsersQuery| list_query(q).unwrap_err().details["field"].clone();
        assert_eq!(
            bad(ListUsersQuery {
                limit: Some(0),
                ..Default::default()
            }),
            "limit"
        );
        assert_eq!(
            bad(ListUsersQuery {
                q: Some("a\0".into()),
                ..Default::default()
            }),
            "q"
        );
        let ok = list_query(ListUsersQuery {
            q: Some("dana".into()),
            sort: Some(UserSort::EmailDesc),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            ok,
            [("q", "dana".to_string()), ("sort", "-email".to_string())]
        );
    }
}
