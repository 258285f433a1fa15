//! An in-memory Kubernetes API behind kube's tower-test mock service.
//!
//! It stores objects by path, answers GET/LIST/POST/PATCH/DELETE the way the API server
//! does for the operations the operator uses, and logs every request, so tests can assert
//! which writes a reconcile made. With `auto_ready` it plays the workload controllers:
//! a StatefulSet or Deployment is reported ready as soon as it is applied.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

#[derive(Default)]
pub struct Fake {
    pub objects: Mutex<BTreeMap<String, Value>>,
    pub log: Mutex<Vec<(Method, String)>>,
    pub auto_ready: AtomicBool,
    /// Time each request takes to answer (0: none), like a busy API server and etcd.
    pub latency_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// Most requests that were being answered at the same time.
    pub max_in_flight: AtomicUsize,
    rv: AtomicU64,
    /// API groups this cluster does not serve (a CRD not installed): every request under
    /// `/apis/<group>/` is answered 404, as the API server does.
    pub absent_groups: Mutex<Vec<String>>,
    /// Namespaces being deleted: a create in one (a POST, an apply of an absent object) is
    /// answered 403 with the cause `NamespaceTerminating`, as the API server's
    /// NamespaceLifecycle admission does; reads, updates and deletes still work.
    pub terminating_namespaces: Mutex<Vec<String>>,
}

impl Fake {
    pub fn start() -> (Client, Arc<Fake>) {
        let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let fake = Arc::new(Fake::default());
        let f = fake.clone();
        tokio::spawn(async move {
            let mut handle = std::pin::pin!(handle);
            // Each request on its own task, so that requests overlap as on an API server.
            while let Some((req, send)) = handle.next_request().await {
                let f = f.clone();
                tokio::spawn(async move {
                    let resp = f.serve(req).await;
                    send.send_response(resp);
                });
            }
        });
        (Client::new(svc, "default"), fake)
    }

    pub fn put(&self, path: &str, obj: Value) {
        let obj = self.stamp(obj, None);
        self.objects.lock().unwrap().insert(path.to_string(), obj);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.objects.lock().unwrap().get(path).cloned()
    }

    pub fn remove(&self, path: &str) -> Option<Value> {
        self.objects.lock().unwrap().remove(path)
    }

    pub fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }

    /// (method, path) of every non-GET request since the last clear.
    pub fn writes(&self) -> Vec<(Method, String)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| *m != Method::GET)
            .cloned()
            .collect()
    }

    pub fn requests(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn stamp(&self, mut obj: Value, prev: Option<&Value>) -> Value {
        let rv = self.rv.fetch_add(1, Ordering::Relaxed) + 1;
        let uid = prev
            .and_then(|p| p.pointer("/metadata/uid").cloned())
            .unwrap_or_else(|| json!(format!("uid-{rv}")));
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            m.entry("uid").or_insert(uid);
            m.entry("creationTimestamp")
                .or_insert(json!("2026-01-01T00:00:00Z"));
        }
        if self.auto_ready.load(Ordering::Relaxed) {
            let kind = obj["kind"].as_str().unwrap_or_default().to_string();
            if kind == "StatefulSet" || kind == "Deployment" {
                let n = obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1));
                obj["status"] = json!({"replicas": n, "readyReplicas": n,
                    "availableReplicas": n, "updatedReplicas": n});
            }
        }
        obj
    }

    async fn serve(&self, req: Request<Body>) -> Response<Body> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let latency = self.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
        }
        let resp = self.answer(req).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        resp
    }

    async fn answer(&self, req: Request<Body>) -> Response<Body> {
        let method = req.method().clone();
        let uri = req.uri().clone();
        let path = uri.path().to_string();
        let query = uri.query().unwrap_or("").to_string();
        self.log
            .lock()
            .unwrap()
            .push((method.clone(), path.clone()));
        let ctype = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = req.into_body().collect_bytes().await.unwrap();
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        };
        let (status_sub, key) = match path.strip_suffix("/status") {
            Some(k) => (true, k.to_string()),
            None => (false, path.clone()),
        };
        let absent = self
            .absent_groups
            .lock()
            .unwrap()
            .iter()
            .any(|g| path.starts_with(&format!("/apis/{g}/")));
        if absent {
            return not_found(&key);
        }
        let mut objects = self.objects.lock().unwrap();
        let creates = method == Method::POST
            || (method == Method::PATCH
                && ctype.contains("apply-patch")
                && !objects.contains_key(&key));
        if creates
            && let Some(ns) = namespace_of(&key)
            && self
                .terminating_namespaces
                .lock()
                .unwrap()
                .iter()
                .any(|t| t == ns)
        {
            return namespace_terminating(ns);
        }
        match method {
            Method::GET => {
                if let Some(o) = objects.get(&key) {
                    return ok(o);
                }
                if is_collection(&key) {
                    let sel = label_selector(&query);
                    let items: Vec<Value> = objects
                        .iter()
                        .filter(|(k, _)| in_collection(k, &key))
                        .map(|(_, v)| v.clone())
                        .filter(|v| matches(v, &sel))
                        .collect();
                    return ok(&json!({"apiVersion": "v1", "kind": "List",
                        "metadata": {"resourceVersion": "1"}, "items": items}));
                }
                not_found(&key)
            }
            Method::POST => {
                let name = body
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("x");
                let k = format!("{key}/{name}");
                if objects.contains_key(&k) {
                    return status(StatusCode::CONFLICT, "AlreadyExists");
                }
                let o = self.stamp(body, None);
                objects.insert(k, o.clone());
                respond(StatusCode::CREATED, &o)
            }
            Method::PUT => {
                let prev = objects.get(&key).cloned();
                let (Some(prev), true) = (prev, true) else {
                    return not_found(&key);
                };
                let want = body.pointer("/metadata/resourceVersion");
                if want.is_some() && want != prev.pointer("/metadata/resourceVersion") {
                    return status(StatusCode::CONFLICT, "Conflict");
                }
                let o = self.stamp(body, Some(&prev));
                objects.insert(key, o.clone());
                ok(&o)
            }
            Method::PATCH => {
                let prev = objects.get(&key).cloned();
                if status_sub {
                    let Some(mut o) = prev else {
                        return not_found(&key);
                    };
                    o["status"] = body["status"].clone();
                    let o = self.stamp(o, None);
                    objects.insert(key, o.clone());
                    return ok(&o);
                }
                if ctype.contains("apply-patch") {
                    let mut o = body;
                    if let Some(p) = &prev {
                        if let Some(s) = p.get("status") {
                            o["status"] = s.clone();
                        }
                        if let Some(u) = p.pointer("/metadata/uid") {
                            o["metadata"]["uid"] = u.clone();
                        }
                    }
                    let o = self.stamp(o, prev.as_ref());
                    objects.insert(key, o.clone());
                    return ok(&o);
                }
                // json / merge patches (finalizers, events): accept, apply finalizer removal.
                let Some(mut o) = prev else {
                    return ok(&body);
                };
                if ctype.contains("merge-patch") {
                    merge(&mut o, &body);
                }
                if ctype.contains("json-patch") {
                    for op in body.as_array().into_iter().flatten() {
                        if op["op"] == "remove"
                            && op["path"]
                                .as_str()
                                .is_some_and(|p| p.starts_with("/metadata/finalizers"))
                        {
                            o["metadata"]["finalizers"] = json!([]);
                        }
                    }
                }
                let o = self.stamp(o, None);
                objects.insert(key, o.clone());
                ok(&o)
            }
            Method::DELETE => match objects.remove(&key) {
                Some(o) => ok(&o),
                None => not_found(&key),
            },
            _ => status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
        }
    }
}

/// RFC 7386 JSON merge patch: objects merge key by key, `null` removes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn is_collection(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // api/v1/namespaces/ns/plural  or  apis/g/v/namespaces/ns/plural, and the cluster-scoped
    // or all-namespaces api/v1/plural (nodes, the watch caches' lists) and apis/g/v/plural
    (parts.first() == Some(&"api") && (parts.len() == 5 || parts.len() == 3))
        || (parts.first() == Some(&"apis") && (parts.len() == 6 || parts.len() == 4))
}

/// Whether the object at `key` is in the collection `coll`: directly under it, or, for an
/// all-namespaces collection (`/api/v1/secrets`), under it in any namespace.
fn in_collection(key: &str, coll: &str) -> bool {
    let direct = |c: &str| {
        key.strip_prefix(&format!("{c}/"))
            .is_some_and(|rest| !rest.contains('/'))
    };
    if direct(coll) {
        return true;
    }
    let Some((prefix, plural)) = coll.rsplit_once('/') else {
        return false;
    };
    if prefix.ends_with("/namespaces/") || prefix.contains("/namespaces/") {
        return false;
    }
    // <prefix>/namespaces/<ns>/<plural>/<name>
    key.strip_prefix(&format!("{prefix}/namespaces/"))
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, rest)| {
            rest.strip_prefix(&format!("{plural}/"))
                .is_some_and(|name| !name.contains('/'))
        })
}

fn label_selector(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("labelSelector="))
        .flat_map(|v| {
            let v = v
                .replace("%3D", "=")
                .replace("%2C", ",")
                .replace("%2F", "/");
            v.split(',')
                .filter_map(|p| {
                    p.split_once('=')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn matches(v: &Value, sel: &[(String, String)]) -> bool {
    sel.iter().all(|(k, want)| {
        v.pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
            == Some(want)
    })
}

fn respond(code: StatusCode, v: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

fn ok(v: &Value) -> Response<Body> {
    respond(StatusCode::OK, v)
}

fn status(code: StatusCode, reason: &str) -> Response<Body> {
    respond(
        code,
        &json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
            "message": reason, "reason": reason, "code": code.as_u16()}),
    )
}

/// The namespace in an object or collection path (`…/namespaces/<ns>/…`).
fn namespace_of(path: &str) -> Option<&str> {
    let (_, rest) = path.split_once("/namespaces/")?;
    let ns = rest.split('/').next()?;
    // `/api/v1/namespaces/<name>` is the namespace itself, not something in it.
    rest.contains('/').then_some(ns)
}

fn namespace_terminating(ns: &str) -> Response<Body> {
    respond(
        StatusCode::FORBIDDEN,
        &json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
            "message": format!("unable to create new content in namespace {ns} because it is being terminated"),
            "reason": "Forbidden",
            "details": {"causes": [{"reason": "NamespaceTerminating",
                "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]},
            "code": 403}),
    )
}

fn not_found(path: &str) -> Response<Body> {
    respond(
        StatusCode::NOT_FOUND,
        &json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
            "message": format!("{path} not found"), "reason": "NotFound", "code": 404}),
    )
}
