//! The OpenAPI document (generated from the handlers and types), a small docs page that
//! renders it without any CDN, and the JWKS other services verify our tokens with.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ovu_kit::ErrorBody;
use ovu_kit::jwt::Jwks;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::models::*;
use crate::routes::{admin, api_keys, auth, me, mfa, roles, users};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(docs_page))
        .route("/api/docs/docs.js", get(docs_js))
        .route("/api/v1/.well-known/jwks.json", get(jwks))
        .route("/.well-known/jwks.json", get(jwks))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "OVU ULM — User Login Manager", version = "1",
         description = "Identity for OVU: accounts, sessions, MFA, roles, API keys and audit. Errors are always {\"error\": {\"code\", \"message\", \"details\"}}."),
    paths(
        ovu_kit::health::health, ovu_kit::health::ready, jwks,
        auth::register, auth::verify_email, auth::login, auth::login_mfa, auth::refresh, auth::logout,
        auth::forgot_password, auth::reset_password,
        mfa::setup, mfa::enable, mfa::disable,
        me::get_me, me::update_me, me::change_password, me::list_sessions, me::end_session, me::check_session,
        api_keys::create, api_keys::list, api_keys::revoke,
        users::list, users::create, users::get_user, users::update, users::remove, users::deactivate,
        users::reactivate, users::list_sessions, users::end_all_sessions, users::get_session, users::end_session,
        users::assign_role, users::unassign_role,
        roles::list, roles::create, roles::get_role, roles::update, roles::remove, roles::permissions,
        admin::audit_log, admin::stats, admin::get_policy, admin::put_policy, admin::outbox,
    ),
    components(schemas(ErrorBody, Jwks, LoginResponse, TokenResponse, MfaChallenge, User, StatusFilter, UserSort)),
    modifiers(&Security, &ErrorResponses),
    tags((name = "auth"), (name = "mfa"), (name = "me"), (name = "api_keys"), (name = "users"),
         (name = "roles"), (name = "admin"), (name = "health"), (name = "keys"))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// Every API operation can answer with these errors, all in the one shape; documenting
/// them per operation keeps clients (and schemathesis) honest about it.
struct ErrorResponses;

const ERRORS: &[(&str, &str)] = &[
    ("400", "malformed request (bad JSON, query or path)"),
    ("401", "not authenticated, or a bad/expired token"),
    ("403", "not allowed (permission, MFA, account state)"),
    ("404", "no such resource"),
    (
        "409",
        "conflicts with the current state (duplicate, system role, …)",
    ),
    ("413", "request body too large"),
    ("415", "body is not application/json"),
    ("422", "validation failed"),
    ("429", "rate limited; see Retry-After"),
    ("503", "a dependency (database, cache) is unavailable"),
];

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") || path.contains(".well-known") {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                for (code, desc) in ERRORS {
                    op.responses
                        .responses
                        .entry((*code).to_string())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(*desc)
                                .content(
                                    "application/json",
                                    ContentBuilder::new()
                                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                                        .build(),
                                )
                                .build()
                                .into()
                        });
                }
            }
        }
    }
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi_json() -> Response {
    axum::Json(openapi()).into_response()
}

/// Public keys for verifying access tokens.
#[utoipa::path(get, path = "/api/v1/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "the JWKS", body = Jwks)))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut resp = axum::Json(state.signer.jwks().clone()).into_response();
    // Verifiers may cache briefly; a key rotation publishes the new key before using it.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ULM API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h2{margin-top:2rem;border-bottom:1px solid #ddd}
.op{margin:.4rem 0;padding:.4rem .6rem;border:1px solid #e4e4e4;border-radius:6px}
.m{display:inline-block;min-width:4.5rem;font-weight:600;font-family:monospace}
.p{font-family:monospace}.s{color:#555}.lock{color:#a60}
</style></head>
<body><h1>ULM API</h1>
<p>Machine-readable document: <a href="/api/openapi.json">/api/openapi.json</a>.
Errors always have the shape <code>{"error": {"code", "message", "details"}}</code>.</p>
<div id="ops">loading…</div>
<script src="/api/docs/docs.js"></script>
</body></html>"#;

const DOCS_JS: &str = r#"
fetch('/api/openapi.json').then(r => r.json()).then(doc => {
  const root = document.getElementById('ops');
  root.textContent = '';
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || 'other';
      (byTag[tag] = byTag[tag] || []).push({ method, path, op });
    }
  }
  for (const [tag, ops] of Object.entries(byTag)) {
    const h = document.createElement('h2'); h.textContent = tag; root.appendChild(h);
    for (const { method, path, op } of ops) {
      const d = document.createElement('div'); d.className = 'op';
      const m = document.createElement('span'); m.className = 'm'; m.textContent = method.toUpperCase();
      const p = document.createElement('span'); p.className = 'p'; p.textContent = path;
      d.append(m, p);
      if (op.security && op.security.some(s => Object.keys(s).length)) {
        const l = document.createElement('span'); l.className = 'lock'; l.textContent = ' 🔒'; d.append(l);
      }
      const s = document.createElement('div'); s.className = 's';
      s.textContent = (op.summary || '') + (op.description ? ' — ' + op.description : '');
      d.append(s); root.appendChild(d);
    }
  }
});
"#;

async fn docs_page() -> Response {
    let mut resp = axum::response::Html(DOCS_HTML).into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    resp
}

async fn docs_js() -> Response {
    let mut resp = DOCS_JS.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    resp
}
