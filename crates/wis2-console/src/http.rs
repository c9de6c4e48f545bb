//! The page and the API (axum).
//!
//! Read-only views are open on the address the console binds, unless
//! `WIS2_CONSOLE_PASSWORD` is set (then every page and call needs HTTP basic auth with
//! that password, or the operator's). Replaying a dead letter needs the operator's
//! account (user `operator`, `WIS2_OPERATOR_PASSWORD`) and the header
//! `X-Requested-With: wis2-console`, which a cross-site form cannot send; a request
//! whose `Origin` is another host, or that the browser marks cross-site, is refused.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use wis2_bus::Bus;
use wis2_bus::status::Status;

use crate::journal::{FileRecord, LetterView, State as FileState, Step};
use crate::stats::Stats;
use crate::store::{Query as FileQuery, Store};

/// What the live page is told.
#[derive(Debug, Clone)]
pub enum Live {
    File(FileView),
    Status(Status),
    Letter(LetterView),
    Monitor(crate::journal::MonitorView),
    Unreadable(crate::journal::UnreadableView),
}

/// A file as the API gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileView {
    pub path: String,
    pub data_id: Option<String>,
    pub state: FileState,
    pub message_id: Option<String>,
    pub steps: Vec<Step>,
    pub reason: Option<String>,
}

impl From<&FileRecord> for FileView {
    fn from(r: &FileRecord) -> Self {
        FileView {
            path: r.path.clone(),
            data_id: r.data_id.clone(),
            state: r.state,
            message_id: r.message_id.clone(),
            steps: r.steps.clone(),
            reason: r.reason.clone(),
        }
    }
}

/// Who may do what.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The operator's password (replay); none: replay is refused.
    pub operator_password: Option<String>,
    /// When set, every page and call needs it (or the operator's).
    pub console_password: Option<String>,
}

/// What the handlers share.
pub struct App {
    pub store: Store,
    pub stats: Stats,
    pub statuses: Mutex<BTreeMap<String, Status>>,
    pub live: broadcast::Sender<Live>,
    /// True once the console stops: the live streams end, so that the web server
    /// (and the history it holds) can be let go.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    pub bus: Bus,
    pub access: Access,
}

type Shared = Arc<App>;

/// An answer with a status and a JSON `{"error": ...}` body.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Runs a store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(internal(e)),
        Err(e) => Err(internal(e)),
    }
}

/// The user and password of a basic `Authorization` header.
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Equal strings, compared in a time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn unauthorized(why: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, why);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"wis2-console\""),
    );
    r
}

/// With `WIS2_CONSOLE_PASSWORD` set, every request needs it (or the operator's).
async fn require_password(State(app): State<Shared>, req: Request, next: Next) -> Response {
    if let Some(expected) = &app.access.console_password {
        let ok = basic_auth(req.headers()).is_some_and(|(_, p)| {
            same(&p, expected)
                || app
                    .access
                    .operator_password
                    .as_deref()
                    .is_some_and(|o| same(&p, o))
        });
        if !ok && req.uri().path() != "/healthz" {
            return unauthorized("this console needs its password (WIS2_CONSOLE_PASSWORD)");
        }
    }
    next.run(req).await
}

/// The routes, on `app`, with `/healthz` and `/metrics` of its connection.
pub fn router(app: Shared) -> Router {
    let health = wis2_bus::health::router(app.bus.health());
    Router::new()
        .route("/", get(page))
        .route("/assets/{name}", get(asset))
        .route("/{name}", get(asset))
        .route("/api/files", get(files))
        .route("/api/file", get(file))
        .route("/api/status", get(status))
        .route("/api/deadletters", get(deadletters))
        .route("/api/deadletters/{id}/replay", post(replay))
        .route("/api/stats", get(stats))
        .route("/api/metadata", get(metadata))
        .route("/api/monitor", get(monitor_events))
        .route("/api/unreadable", get(unreadable))
        .route("/api/events", get(events))
        .route("/collections/messages/items", get(messages))
        .merge(health)
        .layer(middleware::from_fn_with_state(
            app.clone(),
            require_password,
        ))
        .with_state(app)
}

async fn page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("../assets/index.html"),
    )
        .into_response()
}

/// The page's files, embedded in the binary (no CDN: the page works offline).
async fn asset(Path(name): Path<String>) -> Response {
    let (ty, body): (&str, &'static str) = match name.as_str() {
        "console.js" => ("text/javascript", include_str!("../assets/console.js")),
        "console.css" => ("text/css", include_str!("../assets/console.css")),
        "uPlot.iife.min.js" => (
            "text/javascript",
            include_str!("../assets/uPlot.iife.min.js"),
        ),
        "uPlot.min.css" => ("text/css", include_str!("../assets/uPlot.min.css")),
        _ => return error(StatusCode::NOT_FOUND, format!("no asset {name}")),
    };
    ([(header::CONTENT_TYPE, ty)], body).into_response()
}

#[derive(Debug, Deserialize)]
struct FilesParams {
    q: Option<String>,
    state: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// An RFC 3339 time (or a `datetime-local` one, taken as UTC) in Unix seconds.
fn unix_of(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
                .ok()
                .map(|t| t.and_utc().timestamp())
        })
}

fn bad(what: &str, value: &str, fix: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!("{what} `{value}` is not valid: {fix}"),
    )
}

async fn files(State(app): State<Shared>, Query(p): Query<FilesParams>) -> Response {
    let state = match p.state.as_deref().filter(|s| !s.is_empty() && *s != "all") {
        None => None,
        Some(s) => match FileState::parse(s) {
            Some(s) => Some(s),
            None => return bad("state", s, "use pending, published, rejected or deadletter"),
        },
    };
    let mut times = [None, None];
    for (i, t) in [&p.from, &p.to].into_iter().enumerate() {
        if let Some(t) = t.as_deref().filter(|t| !t.is_empty()) {
            match unix_of(t) {
                Some(u) => times[i] = Some(u),
                None => {
                    return bad(
                        "time",
                        t,
                        "give an RFC 3339 time, like 2026-12-07T10:00:00Z",
                    );
                }
            }
        }
    }
    let query = FileQuery {
        q: p.q.filter(|q| !q.trim().is_empty()),
        state,
        from: times[0],
        to: times[1],
        limit: p.limit.unwrap_or(100).min(1000),
        offset: p.offset.unwrap_or(0),
    };
    let store = app.store.clone();
    match blocking(move || store.files(&query)).await {
        Ok((files, total)) => {
            let files: Vec<FileView> = files.iter().map(FileView::from).collect();
            axum::Json(json!({ "files": files, "total": total })).into_response()
        }
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
struct FileParams {
    path: String,
}

async fn file(State(app): State<Shared>, Query(p): Query<FileParams>) -> Response {
    let store = app.store.clone();
    let found = blocking(move || {
        let Some(r) = store.file(&p.path)? else {
            return Ok(None);
        };
        let message = match &r.message_id {
            Some(id) => store.message(id)?.map(|m| m.message),
            None => None,
        };
        let letter = match &r.deadletter {
            Some(id) => store.letter(id)?.map(|l| l.view),
            None => None,
        };
        Ok(Some((r, message, letter)))
    })
    .await;
    match found {
        Ok(Some((r, message, letter))) => {
            // The link the message as published gives, when the record has none (the
            // console does not read `chain/created`).
            let link = r.link.clone().or_else(|| {
                message
                    .as_ref()
                    .and_then(|m| crate::journal::link_of(m.get()))
            });
            let mut v = serde_json::to_value(FileView::from(&r)).unwrap_or(Value::Null);
            v["message"] = message
                .and_then(|m| serde_json::from_str(m.get()).ok())
                .unwrap_or(Value::Null);
            v["report"] = r.report.clone().unwrap_or(Value::Null);
            v["deadletter"] = letter
                .map(|l| json!({"id": l.id, "stage": l.stage, "reason": l.reason, "time": l.time}))
                .unwrap_or(Value::Null);
            v["link"] = link.map(Value::String).unwrap_or(Value::Null);
            axum::Json(json!({ "file": v })).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "no such file in the history"),
        Err(r) => r,
    }
}

async fn status(State(app): State<Shared>) -> Response {
    let services: Vec<Value> = app
        .statuses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .map(|s| json!({"service": s.service, "state": s.state, "time": s.time}))
        .collect();
    axum::Json(json!({ "services": services })).into_response()
}

async fn deadletters(State(app): State<Shared>) -> Response {
    let store = app.store.clone();
    match blocking(move || store.letters()).await {
        Ok(letters) => {
            let list: Vec<Value> = letters
                .iter()
                .map(|l| {
                    json!({
                        "id": l.view.id, "stage": l.view.stage, "reason": l.view.reason,
                        "time": l.view.time, "path": l.view.path, "replayed": l.replayed,
                    })
                })
                .collect();
            axum::Json(json!({ "deadletters": list })).into_response()
        }
        Err(r) => r,
    }
}

/// Whether the request comes from the console's own page: the custom header (a
/// cross-site form cannot send it, and no CORS is allowed), no other origin.
fn same_site(headers: &HeaderMap) -> Result<(), &'static str> {
    if headers
        .get("x-requested-with")
        .and_then(|v| v.to_str().ok())
        != Some("wis2-console")
    {
        return Err("send the header X-Requested-With: wis2-console (the console's page does)");
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err("cross-site request refused");
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let origin_host = origin.split("://").nth(1).unwrap_or(origin);
        if origin_host != host {
            return Err("cross-origin request refused");
        }
    }
    Ok(())
}

async fn replay(State(app): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let Some(expected) = app.access.operator_password.as_deref() else {
        return error(
            StatusCode::FORBIDDEN,
            "replay is off: set WIS2_OPERATOR_PASSWORD for the console",
        );
    };
    match basic_auth(&headers) {
        Some((user, password)) if user == "operator" && same(&password, expected) => {}
        // No WWW-Authenticate: the page asks for the password itself, and the
        // browser's own login box would come on top of it.
        _ => {
            return error(
                StatusCode::UNAUTHORIZED,
                "replay needs the operator's account (user operator) and its password",
            );
        }
    }
    if let Err(why) = same_site(&headers) {
        return error(StatusCode::FORBIDDEN, why);
    }
    let store = app.store.clone();
    let key = id.clone();
    let letter = match blocking(move || store.letter(&key)).await {
        Ok(Some(l)) => l,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no dead letter {id}")),
        Err(r) => return r,
    };
    let payload = match letter.letter.original() {
        Ok(p) => p,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    if let Some(n) = letter.letter.truncated_from {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the letter holds only the beginning of a {n}-byte payload: replay it from the dead-letter folder (wis2-publish replay)"
            ),
        );
    }
    let topic = letter.letter.topic.clone();
    if let Err(e) = app.bus.publish(&topic, payload).await {
        return error(
            StatusCode::BAD_GATEWAY,
            format!("not published on {topic}: {e}"),
        );
    }
    let now = wis2::message::rfc3339(&chrono::Utc::now());
    let store = app.store.clone();
    let key = id.clone();
    if let Err(r) = blocking(move || store.replayed(&key, &now)).await {
        return r;
    }
    tracing::info!(id, topic, "dead letter replayed from the console");
    axum::Json(json!({ "replayed": id, "topic": topic })).into_response()
}

#[derive(Debug, Deserialize)]
struct StatsParams {
    window: Option<String>,
}

async fn stats(State(app): State<Shared>, Query(p): Query<StatsParams>) -> Response {
    let span = match p.window.as_deref().unwrap_or("hour") {
        "hour" => 3600,
        "day" => 86_400,
        other => return bad("window", other, "use hour or day"),
    };
    let since = chrono::Utc::now().timestamp() - span;
    axum::Json(json!({ "minutes": app.stats.since(since) })).into_response()
}

async fn metadata(State(app): State<Shared>) -> Response {
    let store = app.store.clone();
    match blocking(move || store.records()).await {
        Ok(records) => axum::Json(json!({ "records": records })).into_response(),
        Err(r) => r,
    }
}

async fn monitor_events(State(app): State<Shared>) -> Response {
    let store = app.store.clone();
    match blocking(move || store.monitor_events(500)).await {
        Ok(events) => axum::Json(json!({ "events": events })).into_response(),
        Err(r) => r,
    }
}

async fn unreadable(State(app): State<Shared>) -> Response {
    let store = app.store.clone();
    match blocking(move || store.unreadable(200)).await {
        Ok(payloads) => axum::Json(json!({ "unreadable": payloads })).into_response(),
        Err(r) => r,
    }
}

async fn events(State(app): State<Shared>) -> Response {
    // The live events, until the console stops.
    let stop = tokio_stream::wrappers::WatchStream::new(app.stopping.clone())
        .filter(|s| *s)
        .map(|_| None);
    let stream = BroadcastStream::new(app.live.subscribe())
        .map(Some)
        .merge(stop)
        .take_while(Option::is_some)
        .filter_map(|item| {
            let live = item?.ok()?;
            let (name, data) = match live {
                Live::File(f) => ("file", serde_json::to_string(&f)),
                Live::Status(s) => ("status", serde_json::to_string(&s)),
                Live::Letter(l) => ("deadletter", serde_json::to_string(&l)),
                Live::Monitor(m) => ("monitor", serde_json::to_string(&m)),
                Live::Unreadable(u) => ("unreadable", serde_json::to_string(&u)),
            };
            Some(Ok::<Event, Infallible>(
                Event::default().event(name).data(data.ok()?),
            ))
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[derive(Debug, Deserialize)]
struct ItemsParams {
    datetime: Option<String>,
    data_id: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// An OGC API `datetime`: an instant, or an interval `a/b` with `..` (or nothing)
/// for an open end. In Unix milliseconds.
fn interval(text: &str) -> Option<(Option<i64>, Option<i64>)> {
    let at = |t: &str| -> Option<Option<i64>> {
        if t.is_empty() || t == ".." {
            return Some(None);
        }
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|d| Some(d.timestamp_millis()))
    };
    match text.split_once('/') {
        Some((a, b)) => Some((at(a)?, at(b)?)),
        None => {
            let t = at(text)??;
            Some((Some(t), Some(t)))
        }
    }
}

async fn messages(
    State(app): State<Shared>,
    Query(p): Query<ItemsParams>,
    headers: HeaderMap,
) -> Response {
    let window = match p.datetime.as_deref() {
        None => (None, None),
        Some(d) => match interval(d) {
            Some(w) => w,
            None => {
                return bad(
                    "datetime",
                    d,
                    "give an RFC 3339 instant or interval (2026-12-07T00:00:00Z/.. )",
                );
            }
        },
    };
    let limit = p.limit.unwrap_or(10).clamp(1, 10_000);
    let offset = p.offset.unwrap_or(0);
    let data_id = p.data_id.clone();
    let store = app.store.clone();
    let found = blocking(move || store.messages(data_id.as_deref(), window, limit, offset)).await;
    let (items, matched) = match found {
        Ok(v) => v,
        Err(r) => return r,
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("http://{host}/collections/messages/items");
    let mut params = Vec::new();
    if let Some(d) = &p.datetime {
        params.push(format!("datetime={d}"));
    }
    if let Some(d) = &p.data_id {
        params.push(format!("data_id={d}"));
    }
    params.push(format!("limit={limit}"));
    let href = |offset: usize| {
        let mut q = params.clone();
        q.push(format!("offset={offset}"));
        format!("{base}?{}", q.join("&"))
    };
    let mut links =
        vec![json!({"rel": "self", "type": "application/geo+json", "href": href(offset)})];
    if offset + items.len() < matched {
        links.push(json!({"rel": "next", "type": "application/geo+json", "href": href(offset + items.len())}));
    }
    let features: Vec<Value> = items
        .iter()
        .filter_map(|m| serde_json::from_str(m.message.get()).ok())
        .collect();
    (
        [(header::CONTENT_TYPE, "application/geo+json")],
        axum::Json(json!({
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": matched,
            "numberReturned": features.len(),
            "links": links,
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_instants_and_intervals() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-07T00:00:00Z")
            .expect("time")
            .timestamp_millis();
        assert_eq!(interval("2026-12-07T00:00:00Z"), Some((Some(t), Some(t))));
        assert_eq!(interval("2026-12-07T00:00:00Z/.."), Some((Some(t), None)));
        assert_eq!(interval("../2026-12-07T00:00:00Z"), Some((None, Some(t))));
        assert_eq!(interval("/2026-12-07T00:00:00Z"), Some((None, Some(t))));
        assert_eq!(interval("yesterday"), None);
    }

    #[test]
    fn basic_auth_and_same_site() {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode("operator:s3cret");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {v}").parse().expect("header"),
        );
        assert_eq!(basic_auth(&h), Some(("operator".into(), "s3cret".into())));
        assert!(same_site(&h).is_err(), "without the custom header");
        h.insert("x-requested-with", "wis2-console".parse().expect("header"));
        h.insert(header::HOST, "localhost:8090".parse().expect("header"));
        assert!(same_site(&h).is_ok());
        h.insert(
            header::ORIGIN,
            "http://evil.example".parse().expect("header"),
        );
        assert!(same_site(&h).is_err());
        h.insert(
            header::ORIGIN,
            "http://localhost:8090".parse().expect("header"),
        );
        h.insert("sec-fetch-site", "cross-site".parse().expect("header"));
        assert!(same_site(&h).is_err());
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
