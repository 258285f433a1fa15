//! One audit feed: ULM's security events and AAM's own changes, merged newest first, with
//! the same filters and a cursor that works across both; and the same feed as CSV.
//!
//! Order key: (occurred_at, source, id) descending, ULM ranking above AAM on equal times. The
//! cursor is that key of the last item served, so the next page is everything strictly
//! below it in both sources. When ULM cannot answer, AAM's events are still served and
//! `sources.ulm` says why ULM's are missing.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use ovu_kit::ApiError;
use ovu_kit::error::ApiResult;
use ovu_kit::extract::{Json, Query};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit::AamEvent;
use crate::auth::{Caller, perm};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(feed))
        .route("/api/v1/audit/export.csv", get(export))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Ulm,
    Aam,
}

impl Source {
    fn rank(self) -> u8 {
        match self {
            Source::Ulm => 1,
            Source::Aam => 0,
        }
    }
}

/// One event of either service.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedItem {
    /// `<source>-<id>`, unique across the feed.
    pub id: String,
    pub source: Source,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    /// Known for AAM events; ULM events carry only the id.
    pub actor_name: Option<String>,
    /// ULM's event type (`login_failed`, `user_created`, …) or AAM's action (`app.update`, …).
    pub action: String,
    /// `user` for ULM events about a user; `app`, `dependency` or `setting` for AAM's.
    pub resource_type: String,
    pub resource_id: String,
    pub ip: String,
    pub user_agent: String,
    pub request_id: String,
    /// AAM: the value before the change (masked where sensitive).
    pub old_value: Option<Value>,
    /// AAM: the value after the change (masked where sensitive).
    pub new_value: Option<Value>,
    /// ULM: the event's details.
    pub details: Option<Value>,
    #[serde(skip)]
    seq: i64,
}

impl FeedItem {
    fn key(&self) -> Cursor {
        Cursor {
            micros: self.occurred_at.timestamp_micros(),
            rank: self.source.rank(),
            id: self.seq,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Cursor {
    micros: i64,
    rank: u8,
    id: i64,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}.{}", self.micros, self.rank, self.id))
    }

    fn decode(s: &str) -> Option<Self> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s.as_bytes()).ok()?).ok()?;
        let mut it = raw.split('.');
        let c = Cursor {
            micros: it.next()?.parse().ok()?,
            rank: it.next()?.parse().ok().filter(|r| *r <= 1)?,
            id: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(c)
    }

    fn time(&self) -> Option<DateTime<Utc>> {
        Utc.timestamp_micros(self.micros).single()
    }
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Events by this user (ULM: also events about them).
    pub actor: Option<Uuid>,
    /// Exact action / event type.
    pub action: Option<String>,
    /// Resource type: `user` (ULM), `app`, `dependency`, `setting` (AAM).
    pub resource: Option<String>,
    /// Only one service's events.
    pub source: Option<Source>,
    /// Inclusive lower bound.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub until: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceStatus {
    /// `ok`, `skipped` (filtered out), `unavailable` or `forbidden`.
    pub aam: String,
    pub ulm: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    pub items: Vec<FeedItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    pub sources: SourceStatus,
}

#[derive(Debug, Deserialize)]
struct UlmEvent {
    id: i64,
    occurred_at: DateTime<Utc>,
    #[serde(rename = "type")]
    event_type: String,
    actor_id: Option<Uuid>,
    subject_id: Option<Uuid>,
    ip: String,
    user_agent: String,
    request_id: String,
    details: Value,
}

struct Filters {
    q: FeedQuery,
    cursor: Option<Cursor>,
    limit: i64,
}

fn parse(q: FeedQuery, max_limit: i64) -> ApiResult<Filters> {
    for (f, v) in [("action", &q.action), ("resource", &q.resource)] {
        if v.as_deref()
            .is_some_and(|s| s.is_empty() || s.len() > 100 || s.contains('\0'))
        {
            return Err(ApiError::field(f, format!("{f} must be 1–100 characters")));
        }
    }
    if let (Some(s), Some(u)) = (q.since, q.until)
        && s > u
    {
        return Err(ApiError::field("since", "since must not be after until"));
    }
    let cursor = match &q.cursor {
        Some(c) => Some(
            Cursor::decode(c)
                .ok_or_else(|| ApiError::field("cursor", "cursor is not one this API issued"))?,
        ),
        None => None,
    };
    if cursor.is_some_and(|c| c.time().is_none()) {
        return Err(ApiError::field(
            "cursor",
            "cursor is not one this API issued",
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=max_limit).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("limit must be 1–{max_limit}"),
        ));
    }
    Ok(Filters { q, cursor, limit })
}

async fn aam_page(state: &AppState, f: &Filters) -> Result<Vec<FeedItem>, ApiError> {
    // Below the cursor: strictly earlier, or the same instant with a lower (rank, id).
    let (before_t, before_id) = match f.cursor {
        Some(c) if c.rank > Source::Aam.rank() => (c.time(), i64::MAX),
        Some(c) => (c.time(), c.id),
        None => (None, 0),
    };
    let rows = sqlx::query_as!(
        AamEvent,
        "SELECT id, occurred_at, actor_id, actor_name, action, resource_type, resource_id,
                old_value, new_value, ip, user_agent, request_id
         FROM audit_log
         WHERE ($1::uuid IS NULL OR actor_id = $1) AND ($2::text IS NULL OR action = $2)
           AND ($3::text IS NULL OR resource_type = $3)
           AND ($4::timestamptz IS NULL OR occurred_at >= $4) AND ($5::timestamptz IS NULL OR occurred_at < $5)
           AND ($6::timestamptz IS NULL OR (occurred_at, id) < ($6, $7))
         ORDER BY occurred_at DESC, id DESC LIMIT $8",
        f.q.actor,
        f.q.action.as_deref(),
        f.q.resource.as_deref(),
        f.q.since,
        f.q.until,
        before_t,
        before_id,
        f.limit
    )
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|e| FeedItem {
            id: format!("aam-{}", e.id),
            source: Source::Aam,
            occurred_at: e.occurred_at,
            actor_id: e.actor_id,
            actor_name: Some(e.actor_name),
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            ip: e.ip,
            user_agent: e.user_agent,
            request_id: e.request_id,
            old_value: e.old_value,
            new_value: e.new_value,
            details: None,
            seq: e.id,
        })
        .collect())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// ULM's page; `Ok(None)` when filters exclude ULM's events altogether.
async fn ulm_page(
    state: &AppState,
    caller: &Caller,
    f: &Filters,
) -> Result<Option<(Vec<FeedItem>, bool)>, ApiError> {
    if f.q.resource.as_deref().is_some_and(|r| r != "user") {
        return Ok(None);
    }
    // ULM's `until` is exclusive: include the cursor's own instant and drop what was served below.
    let until = match (f.cursor.and_then(|c| c.time()), f.q.until) {
        (Some(c), Some(u)) => Some(u.min(c + chrono::Duration::microseconds(1))),
        (Some(c), None) => Some(c + chrono::Duration::microseconds(1)),
        (None, u) => u,
    };
    // A few extra for the events at the cursor's instant that were already served.
    let fetch = (f.limit + 20).min(1000);
    let mut query = vec![("limit", fetch.to_string())];
    if let Some(a) = f.q.actor {
        query.push(("user_id", a.to_string()));
    }
    if let Some(a) = &f.q.action {
        query.push(("type", a.clone()));
    }
    if let Some(s) = f.q.since {
        query.push(("since", rfc3339(s)));
    }
    if let Some(u) = until {
        query.push(("until", rfc3339(u)));
    }
    let events: Vec<UlmEvent> = state
        .ulm
        .get(caller, "/api/v1/audit", &query)
        .await?
        .json()?;
    let full = events.len() as i64 >= fetch;
    let items = events
        .into_iter()
        // ULM matches actor *or* subject; the feed's filter is the actor.
        .filter(|e| f.q.actor.is_none() || e.actor_id == f.q.actor)
        .map(|e| FeedItem {
            id: format!("ulm-{}", e.id),
            source: Source::Ulm,
            occurred_at: e.occurred_at,
            actor_id: e.actor_id,
            actor_name: None,
            action: e.event_type,
            resource_type: if e.subject_id.is_some() {
                "user".into()
            } else {
                String::new()
            },
            resource_id: e.subject_id.map(|s| s.to_string()).unwrap_or_default(),
            ip: e.ip,
            user_agent: e.user_agent,
            request_id: e.request_id,
            old_value: None,
            new_value: None,
            details: Some(e.details),
            seq: e.id,
        })
        .filter(|i| f.cursor.is_none_or(|c| i.key() < c))
        .filter(|i| f.q.resource.is_none() || i.resource_type == "user")
        .collect();
    Ok(Some((items, full)))
}

async fn page(state: &AppState, caller: &Caller, f: &Filters) -> ApiResult<FeedPage> {
    let want_aam = f.q.source.is_none_or(|s| s == Source::Aam);
    let want_ulm = f.q.source.is_none_or(|s| s == Source::Ulm);
    let aam = async {
        if want_aam {
            aam_page(state, f).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let ulm = async {
        if want_ulm {
            ulm_page(state, caller, f).await
        } else {
            Ok(None)
        }
    };
    let (aam, ulm) = tokio::join!(aam, ulm);
    let aam = aam?;
    let mut more = false;
    let mut items = Vec::new();
    let aam_status = match aam {
        Some(a) => {
            more |= a.len() as i64 >= f.limit;
            items.extend(a);
            "ok"
        }
        None => "skipped",
    };
    let ulm_status = match ulm {
        Ok(Some((u, full))) => {
            more |= full;
            items.extend(u);
            "ok"
        }
        Ok(None) => "skipped",
        Err(e) if e.status == axum::http::StatusCode::FORBIDDEN => "forbidden",
        Err(e) if e.status.is_client_error() => return Err(e),
        Err(_) => "unavailable",
    };
    items.sort_by_key(|i| std::cmp::Reverse(i.key()));
    if items.len() as i64 > f.limit {
        items.truncate(f.limit as usize);
        more = true;
    }
    let next_cursor = if more {
        items.last().map(|i| i.key().encode())
    } else {
        None
    };
    Ok(FeedPage {
        items,
        next_cursor,
        sources: SourceStatus {
            aam: aam_status.into(),
            ulm: ulm_status.into(),
        },
    })
}

/// ULM's and AAM's audit events, newest first, filtered, cursor-paged.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(FeedQuery),
    responses((status = 200, description = "a page of events", body = FeedPage)))]
pub async fn feed(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<FeedQuery>,
) -> ApiResult<Json<FeedPage>> {
    caller.require(perm::AUDIT_READ)?;
    let f = parse(q, 500)?;
    Ok(Json(page(&state, &caller, &f).await?))
}

const CSV_HEADER: &str = "occurred_at,source,id,actor_id,actor_name,action,resource_type,resource_id,ip,user_agent,request_id,old_value,new_value,details\r\n";
/// Rows per page fetched while streaming, and the most an export holds.
const CSV_PAGE: i64 = 500;
const CSV_MAX_ROWS: usize = 100_000;

/// One CSV cell: quoted when needed, and defused when a spreadsheet would run it as a formula.
pub fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv_row(i: &FeedItem) -> String {
    let json = |v: &Option<Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let cells = [
        rfc3339(i.occurred_at),
        match i.source {
            Source::Ulm => "ulm".into(),
            Source::Aam => "aam".into(),
        },
        i.id.clone(),
        i.actor_id.map(|a| a.to_string()).unwrap_or_default(),
        i.actor_name.clone().unwrap_or_default(),
        i.action.clone(),
        i.resource_type.clone(),
        i.resource_id.clone(),
        i.ip.clone(),
        i.user_agent.clone(),
        i.request_id.clone(),
        json(&i.old_value),
        json(&i.new_value),
        json(&i.details),
    ];
    let mut line = cells
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// The same feed as CSV, streamed page by page (at most 100 000 rows).
#[utoipa::path(get, path = "/api/v1/audit/export.csv", tag = "audit", params(FeedQuery),
    responses((status = 200, description = "CSV with a header row", content_type = "text/csv", body = String)))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Query(mut q): Query<FeedQuery>,
) -> ApiResult<Response> {
    caller.require(perm::AUDIT_READ)?;
    q.limit = Some(CSV_PAGE);
    let f = parse(q, CSV_PAGE)?;
    // The first page is fetched before answering, so a bad request still gets a proper status.
    let first = page(&state, &caller, &f).await?;
    struct St {
        state: AppState,
        caller: Caller,
        f: Filters,
        pending: Option<FeedPage>,
        rows: usize,
        header: bool,
    }
    let st = St {
        state,
        caller,
        f,
        pending: Some(first),
        rows: 0,
        header: true,
    };
    let stream = futures::stream::unfold(st, |mut st| async move {
        if st.header {
            st.header = false;
            return Some((
                Ok::<Bytes, std::io::Error>(Bytes::from_static(CSV_HEADER.as_bytes())),
                st,
            ));
        }
        let p = match st.pending.take() {
            Some(p) => p,
            None => return None,
        };
        let mut out = String::new();
        for i in &p.items {
            if st.rows >= CSV_MAX_ROWS {
                break;
            }
            out.push_str(&csv_row(i));
            st.rows += 1;
        }
        if st.rows < CSV_MAX_ROWS
            && let Some(c) = p.next_cursor
        {
            st.f.q.cursor = Some(c.clone());
            st.f.cursor = Cursor::decode(&c);
            match page(&st.state, &st.caller, &st.f).await {
                Ok(next) => st.pending = Some(next),
                Err(e) => tracing::warn!(error = %e, "audit export stopped early"),
            }
        }
        Some((Ok(Bytes::from(out)), st))
    });
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit.csv\""),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            micros: 1_700_000_000_123_456,
            rank: 1,
            id: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("not-base64!"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("1.7.2")), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("1.1.2.3")), None);
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_cell("-1,2"), "\"'-1,2\"");
    }
}
