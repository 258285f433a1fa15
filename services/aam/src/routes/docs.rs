//! `/api/openapi.json` (generated from the handlers' annotations, so it cannot drift) and a
//! small self-contained docs page at `/api/docs`.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, ResponseBuilder, Responses};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "OVU AAM", description = "Admin Area Manager: the admin panel's API. Every /api/v1 route needs a ULM access token with aam:access."),
    paths(
        ovu_kit::health::health, crate::ready::ready,
        super::dashboard::dashboard,
        super::users::doc::list_users, super::users::doc::create_user, super::users::doc::get_user, super::users::doc::update_user,
        super::users::doc::deactivate, super::users::doc::reactivate, super::users::doc::assign_role, super::users::doc::unassign_role,
        super::users::doc::list_sessions, super::users::doc::end_sessions, super::users::password_reset,
        super::users::doc::list_roles, super::users::doc::create_role, super::users::doc::get_role, super::users::doc::update_role,
        super::users::doc::delete_role, super::users::doc::permissions,
        super::apps::list, super::apps::create, super::apps::get_app, super::apps::update, super::apps::remove,
        super::apps::list_dependencies, super::apps::add_dependency, super::apps::remove_dependency,
        super::settings::list, super::settings::get_one, super::settings::put_one, super::settings::history,
        super::settings::reset,
        super::audit::feed, super::audit::export,
        super::system::health, super::system::history,
    ),
    components(schemas(ovu_kit::ErrorBody, super::apps::AppSort, super::apps::AppStatus, super::apps::AppType,
        super::system::Component, super::users::StatusFilter, super::users::UserSort, super::audit::Source)),
    tags((name = "dashboard"), (name = "users"), (name = "roles"), (name = "apps"), (name = "settings"),
         (name = "audit"), (name = "system"), (name = "health"))
)]
pub struct ApiDoc;

/// The document, with the bearer scheme and the error answers every protected route can give.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    let err = |desc: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(desc)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    let common = [
        ("400", "malformed request (JSON, query or path)"),
        ("401", "missing, invalid or expired token"),
        ("403", "the token lacks a needed permission"),
        ("404", "no such resource"),
        ("413", "request body too large"),
        ("415", "body is not JSON"),
        ("422", "a value failed validation"),
        ("503", "a dependency (ULM, the database) is unavailable"),
    ];
    for (path, item) in doc.paths.paths.iter_mut() {
        let protected = path.starts_with("/api/v1/");
        for op in [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if protected {
                op.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]);
                let r: &mut Responses = &mut op.responses;
                for (code, desc) in common {
                    r.responses
                        .entry(code.to_string())
                        .or_insert_with(|| err(desc));
                }
                // Proxied routes can also pass on ULM's refusals.
                for (code, desc) in [
                    ("409", "conflicts with the current state"),
                    ("429", "rate limited"),
                ] {
                    r.responses
                        .entry(code.to_string())
                        .or_insert_with(|| err(desc));
                }
            }
        }
    }
    doc
}

async fn openapi_json() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOC.get_or_init(|| openapi().to_json().unwrap_or_else(|_| "{}".into()));
    let mut resp = body.clone().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OVU AAM API</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}h2{margin-top:2rem}
code{background:#f3f4f6;padding:.1rem .3rem}.m{display:inline-block;width:4.5rem;font-weight:bold}
li{margin:.3rem 0}</style></head>
<body><h1>OVU AAM API</h1><p>The machine-readable document is <a href="/api/openapi.json">/api/openapi.json</a>.</p>
<div id="ops">Loading…</div>
<script src="/api/docs/app.js"></script></body></html>"#;

const DOCS_JS: &str = r#"fetch('/api/openapi.json').then(r => r.json()).then(doc => {
  const root = document.getElementById('ops'); root.textContent = '';
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ['other'])[0];
      (byTag[tag] = byTag[tag] || []).push([method.toUpperCase(), path, op.summary || op.description || '']);
    }
  }
  for (const [tag, ops] of Object.entries(byTag)) {
    const h = document.createElement('h2'); h.textContent = tag; root.appendChild(h);
    const ul = document.createElement('ul');
    for (const [m, p, s] of ops) {
      const li = document.createElement('li');
      const b = document.createElement('span'); b.className = 'm'; b.textContent = m;
      const c = document.createElement('code'); c.textContent = p;
      li.append(b, c, document.createTextNode(' ' + s)); ul.appendChild(li);
    }
    root.appendChild(ul);
  }
});"#;

async fn docs_page() -> Response {
    let mut resp = DOCS_HTML.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(docs_page))
        .route("/api/docs/app.js", get(docs_js))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if k == "$ref"
                        && let Some(s) = v.as_str()
                    {
                        out.push(s.to_string());
                    }
                    refs(v, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_protected_routes_document_errors() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "unresolved {r}"
            );
        }
        let op = &doc["paths"]["/api/v1/users"]["get"];
        for code in ["401", "403", "503"] {
            assert!(op["responses"][code].is_object(), "{code}");
        }
        assert!(op["security"].is_array());
    }
}
