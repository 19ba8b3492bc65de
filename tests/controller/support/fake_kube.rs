//! An in-process fake Kubernetes API server for controller tests and benchmarks.
//!
//! It is a tower service handed to `kube::Client::new`, so requests never leave the process.
//! It stores objects as JSON, keyed by API group, resource, namespace and name, and handles
//! GET, LIST (with equality label selectors), WATCH (replay from a resourceVersion, then live),
//! POST, PUT (with resourceVersion conflicts), PATCH and DELETE (finalizers and owner-reference
//! garbage collection). It records every request for assertions (and for the RBAC coverage
//! test) and can inject failures.
//!
//! Simplifications, on purpose:
//! - Server-side apply replaces every top-level field the patch carries (except metadata, where
//!   labels and annotations are merged and owner references replaced) instead of tracking field
//!   ownership per manager. For a single field manager that owns everything it applies, which is
//!   the controller's case, the result is the same; fields dropped from an apply are only
//!   removed when their whole top-level field is rewritten.
//! - A write that changes nothing keeps the resourceVersion and emits no watch event, like the
//!   real API server, so an idempotent controller settles.
//! - `generation` is bumped when anything outside metadata and status changes, and when
//!   deletion starts on an object with finalizers.
//! - No defaulting, validation, admission or pagination (`limit` is ignored).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// Past watch events kept for watches that start from an older resourceVersion. Older starts get
/// 410 Gone and the client re-lists, as with a compacted etcd.
const HISTORY_LIMIT: usize = 20_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    pub group: String,
    pub resource: String,
}

/// One request as the fake saw it, in RBAC terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The tag of the client that sent it (see [`FakeKube::client`]).
    pub client: String,
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub status: u16,
    /// `content-type` of the request body (empty without one).
    pub content_type: String,
    /// The `fieldManager` query parameter, if any.
    pub field_manager: Option<String>,
    /// The `force` query parameter was `true`.
    pub force: bool,
}

/// A failure to inject: the next `times` matching requests get `code`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub verb: Option<String>,
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub client: Option<String>,
    pub code: u16,
    pub times: usize,
    /// Answer as the API server does for a write into a namespace being deleted.
    pub terminating_namespace: Option<String>,
}

impl Fault {
    pub fn new(code: u16, times: usize) -> Self {
        Self {
            verb: None,
            resource: None,
            subresource: None,
            client: None,
            code,
            times,
            terminating_namespace: None,
        }
    }
    /// 403 with the `NamespaceTerminating` cause, for requests in `namespace`.
    pub fn namespace_terminating(namespace: &str, times: usize) -> Self {
        Self {
            terminating_namespace: Some(namespace.into()),
            ..Self::new(403, times)
        }
    }
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.into());
        self
    }
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.into());
        self
    }
    pub fn subresource(mut self, subresource: &str) -> Self {
        self.subresource = Some(subresource.into());
        self
    }
    pub fn client(mut self, client: &str) -> Self {
        self.client = Some(client.into());
        self
    }
    fn matches(&self, r: &Recorded) -> bool {
        self.verb.as_ref().is_none_or(|v| *v == r.verb)
            && self.resource.as_ref().is_none_or(|v| *v == r.resource)
            && self
                .subresource
                .as_ref()
                .is_none_or(|v| Some(v) == r.subresource.as_ref())
            && self.client.as_ref().is_none_or(|v| *v == r.client)
            && self
                .terminating_namespace
                .as_ref()
                .is_none_or(|ns| Some(ns) == r.namespace.as_ref())
    }
}

#[derive(Clone, Debug)]
struct WatchEvent {
    rv: u64,
    key: ResourceKey,
    namespace: Option<String>,
    type_: &'static str,
    object: Arc<Value>,
}

#[derive(Default)]
struct Store {
    rv: u64,
    objects: BTreeMap<ResourceKey, BTreeMap<(String, String), Value>>,
    history: std::collections::VecDeque<WatchEvent>,
    /// resourceVersion of the oldest event still in `history` minus one.
    floor: u64,
}

struct State {
    store: Mutex<Store>,
    events: broadcast::Sender<WatchEvent>,
    requests: Mutex<Vec<Recorded>>,
    faults: Mutex<Vec<Fault>>,
    uid: AtomicU64,
    /// How long LIST requests take to answer, like a real API server across a network.
    list_latency: Mutex<std::time::Duration>,
    /// How long PATCH requests take to answer, so overlapping reconciles overlap in their writes.
    patch_latency: Mutex<std::time::Duration>,
    /// PATCH requests being answered right now, and the most there ever were at once.
    patches_in_flight: AtomicU64,
    most_patches_in_flight: AtomicU64,
}

/// The fake API server. Clones share state.
#[derive(Clone)]
pub struct FakeKube {
    state: Arc<State>,
}

impl Default for FakeKube {
    fn default() -> Self {
        Self::new()
    }
}

type BoxBody = axum::body::Body;

impl FakeKube {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(65_536);
        Self {
            state: Arc::new(State {
                store: Mutex::default(),
                events,
                requests: Mutex::default(),
                faults: Mutex::default(),
                uid: AtomicU64::new(1),
                list_latency: Mutex::default(),
                patch_latency: Mutex::default(),
                patches_in_flight: AtomicU64::new(0),
                most_patches_in_flight: AtomicU64::new(0),
            }),
        }
    }

    /// A kube client whose requests are recorded with `tag`.
    pub fn client(&self, tag: &str) -> kube::Client {
        let state = self.state.clone();
        let tag = tag.to_string();
        let service = tower::service_fn(move |req: Request<kube::client::Body>| {
            let state = state.clone();
            let tag = tag.clone();
            async move { Ok::<_, Infallible>(handle(&state, &tag, req).await) }
        });
        kube::Client::new(service, "default")
    }

    pub fn inject(&self, fault: Fault) {
        self.state.faults.lock().unwrap().push(fault);
    }

    /// Every LIST answers only after `latency` (watches and writes stay immediate).
    pub fn set_list_latency(&self, latency: std::time::Duration) {
        *self.state.list_latency.lock().unwrap() = latency;
    }

    /// Every PATCH answers only after `latency`.
    pub fn set_patch_latency(&self, latency: std::time::Duration) {
        *self.state.patch_latency.lock().unwrap() = latency;
    }

    /// The most PATCH requests (of any client) that were ever being answered at the same time.
    pub fn most_patches_in_flight(&self) -> u64 {
        self.state.most_patches_in_flight.load(Ordering::SeqCst)
    }

    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn clear_requests(&self) {
        self.state.requests.lock().unwrap().clear();
    }

    /// The stored object, if any.
    pub fn get(&self, group: &str, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let store = self.state.store.lock().unwrap();
        store
            .objects
            .get(&key(group, resource))
            .and_then(|m| m.get(&(namespace.to_string(), name.to_string())))
            .cloned()
    }

    /// Every stored object of a resource, in all namespaces.
    pub fn list(&self, group: &str, resource: &str) -> Vec<Value> {
        let store = self.state.store.lock().unwrap();
        store
            .objects
            .get(&key(group, resource))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// How many stored objects of a resource satisfy `check` (evaluated in place, no copies).
    pub fn count_where(
        &self,
        group: &str,
        resource: &str,
        check: impl Fn(&Value) -> bool,
    ) -> usize {
        let store = self.state.store.lock().unwrap();
        store
            .objects
            .get(&key(group, resource))
            .map_or(0, |m| m.values().filter(|o| check(o)).count())
    }

    pub fn count(&self, group: &str, resource: &str) -> usize {
        let store = self.state.store.lock().unwrap();
        store
            .objects
            .get(&key(group, resource))
            .map_or(0, BTreeMap::len)
    }
}

fn key(group: &str, resource: &str) -> ResourceKey {
    ResourceKey {
        group: group.to_string(),
        resource: resource.to_string(),
    }
}

/// What a request path names.
#[derive(Debug)]
struct Target {
    group: String,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => (String::new(), rest),
        ["apis", group, _version, rest @ ..] => (group.to_string(), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        rest => (None, rest),
    };
    let (resource, name, subresource) = match rest {
        [resource] => (resource, None, None),
        [resource, name] => (resource, Some(name.to_string()), None),
        [resource, name, sub] => (resource, Some(name.to_string()), Some(sub.to_string())),
        _ => return None,
    };
    Some(Target {
        group,
        resource: resource.to_string(),
        namespace,
        name,
        subresource,
    })
}

fn query_params(query: Option<&str>) -> HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

fn json_response(code: u16, body: &Value) -> Response<BoxBody> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(BoxBody::from(serde_json::to_vec(body).unwrap_or_default()))
        .unwrap_or_default()
}

fn error(code: u16, reason: &str, message: &str) -> Response<BoxBody> {
    json_response(code, &status_body(code, reason, message))
}

async fn handle(
    state: &Arc<State>,
    tag: &str,
    req: Request<kube::client::Body>,
) -> Response<BoxBody> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let Some(target) = parse_path(uri.path()) else {
        return error(404, "NotFound", &format!("no route for {}", uri.path()));
    };
    let params = query_params(uri.query());
    let watch = matches!(params.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = match (&method, &target.name) {
        (&Method::GET, Some(_)) => "get",
        (&Method::GET, None) if watch => "watch",
        (&Method::GET, None) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        (&Method::DELETE, None) => "deletecollection",
        _ => "unknown",
    };
    let mut record = Recorded {
        client: tag.to_string(),
        verb: verb.to_string(),
        group: target.group.clone(),
        resource: target.resource.clone(),
        subresource: target.subresource.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        status: 0,
        content_type: content_type.clone(),
        field_manager: params.get("fieldManager").cloned(),
        force: params.get("force").is_some_and(|f| f == "true"),
    };
    if verb == "list" {
        let latency = *state.list_latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
    if verb == "patch" {
        let now = state.patches_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state
            .most_patches_in_flight
            .fetch_max(now, Ordering::SeqCst);
        let latency = *state.patch_latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        state.patches_in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    let fault = {
        let mut faults = state.faults.lock().unwrap();
        let hit = faults
            .iter_mut()
            .find(|f| f.times > 0 && f.matches(&record));
        hit.map(|f| {
            f.times -= 1;
            (f.code, f.terminating_namespace.clone())
        })
    };
    let response = match fault {
        Some((_, Some(namespace))) => {
            let mut body = status_body(
                403,
                "Forbidden",
                &format!(
                    "{} {:?} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                    target.resource,
                    target.name.as_deref().unwrap_or_default()
                ),
            );
            body["details"] = json!({"causes": [{
                "reason": "NamespaceTerminating",
                "message": format!("namespace {namespace} is being terminated"),
                "field": "metadata.namespace",
            }]});
            json_response(403, &body)
        }
        Some((code, None)) => {
            let reason = match code {
                403 => "Forbidden",
                404 => "NotFound",
                409 => "Conflict",
                422 => "Invalid",
                _ => "InternalError",
            };
            error(
                code,
                reason,
                &format!("injected fault: {verb} {}", target.resource),
            )
        }
        None => {
            let k = key(&target.group, &target.resource);
            match verb {
                "get" => get(state, &k, &target),
                "list" => list(state, &k, &target, &params),
                "watch" => watch_stream(state, k, &target, &params),
                "create" => create(state, &k, &target, &body),
                "update" => update(state, &k, &target, &body),
                "patch" => patch(state, &k, &target, &content_type, &body),
                "delete" => delete(state, &k, &target),
                _ => error(405, "MethodNotAllowed", "unsupported"),
            }
        }
    };
    record.status = response.status().as_u16();
    state.requests.lock().unwrap().push(record);
    response
}

fn names(target: &Target) -> (String, String) {
    (
        target.namespace.clone().unwrap_or_default(),
        target.name.clone().unwrap_or_default(),
    )
}

fn get(state: &State, k: &ResourceKey, target: &Target) -> Response<BoxBody> {
    let store = state.store.lock().unwrap();
    match store.objects.get(k).and_then(|m| m.get(&names(target))) {
        Some(obj) => json_response(200, obj),
        None => not_found(target),
    }
}

fn not_found(target: &Target) -> Response<BoxBody> {
    error(
        404,
        "NotFound",
        &format!(
            "{} {:?} not found",
            target.resource,
            target.name.as_deref().unwrap_or_default()
        ),
    )
}

/// Equality-based selectors: `a=b`, `a==b`, `a!=b`, `a` (exists), `!a`.
fn matches_selector(obj: &Value, selector: Option<&String>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector.split(',').all(|term| {
        let term = term.trim();
        if let Some((k, v)) = term.split_once("!=") {
            label(k.trim()) != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            label(k.trim()) == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            label(k.trim()).is_none()
        } else {
            label(term).is_some()
        }
    })
}

fn list(
    state: &State,
    k: &ResourceKey,
    target: &Target,
    params: &HashMap<String, String>,
) -> Response<BoxBody> {
    let store = state.store.lock().unwrap();
    let items: Vec<Value> = store
        .objects
        .get(k)
        .map(|m| {
            m.iter()
                .filter(|((ns, _), _)| target.namespace.as_ref().is_none_or(|want| want == ns))
                .filter(|(_, obj)| matches_selector(obj, params.get("labelSelector")))
                .map(|(_, obj)| obj.clone())
                .collect()
        })
        .unwrap_or_default();
    json_response(
        200,
        &json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": { "resourceVersion": store.rv.to_string() },
            "items": items,
        }),
    )
}

fn watch_stream(
    state: &Arc<State>,
    k: ResourceKey,
    target: &Target,
    params: &HashMap<String, String>,
) -> Response<BoxBody> {
    let since: u64 = params
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let namespace = target.namespace.clone();
    let selector = params.get("labelSelector").cloned();
    // Subscribe before reading history so nothing falls between the two.
    let live = state.events.subscribe();
    let (replay, last, expired) = {
        let store = state.store.lock().unwrap();
        if since < store.floor {
            (Vec::new(), since, true)
        } else {
            let replay: Vec<WatchEvent> = store
                .history
                .iter()
                .filter(|e| e.rv > since)
                .cloned()
                .collect();
            (replay, store.rv.max(since), false)
        }
    };
    let filter = Filter {
        key: k,
        namespace,
        selector,
    };
    let body = if expired {
        let mut text = serde_json::to_vec(&json!({
            "type": "ERROR",
            "object": status_body(410, "Expired", "too old resource version"),
        }))
        .unwrap_or_default();
        text.push(b'\n');
        BoxBody::from(text)
    } else {
        let first: Vec<Result<Bytes, Infallible>> = replay
            .iter()
            .filter(|e| filter.wants(e))
            .map(|e| Ok(watch_line(e)))
            .collect();
        let rest = futures::stream::unfold((live, filter), move |(mut live, filter)| async move {
            loop {
                match live.recv().await {
                    Ok(e) if e.rv > last && filter.wants(&e) => {
                        return Some((Ok::<_, Infallible>(watch_line(&e)), (live, filter)));
                    }
                    Ok(_) => continue,
                    // Lagged or closed: end the watch; the client re-lists.
                    Err(_) => return None,
                }
            }
        });
        BoxBody::from_stream(futures::stream::iter(first).chain(rest))
    };
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body)
        .unwrap_or_default()
}

struct Filter {
    key: ResourceKey,
    namespace: Option<String>,
    selector: Option<String>,
}

impl Filter {
    fn wants(&self, e: &WatchEvent) -> bool {
        e.key == self.key
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| e.namespace.as_ref() == Some(ns))
            && matches_selector(&e.object, self.selector.as_ref())
    }
}

fn watch_line(e: &WatchEvent) -> Bytes {
    let mut text =
        serde_json::to_vec(&json!({ "type": e.type_, "object": &*e.object })).unwrap_or_default();
    text.push(b'\n');
    Bytes::from(text)
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl State {
    /// Stores `obj` as a new version and emits `type_`; returns the stored value.
    fn commit(
        &self,
        store: &mut Store,
        k: &ResourceKey,
        mut obj: Value,
        type_: &'static str,
    ) -> Value {
        store.rv += 1;
        let rv = store.rv;
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let objects = store.objects.entry(k.clone()).or_default();
        if type_ == "DELETED" {
            objects.remove(&(ns.clone(), name));
        } else {
            objects.insert((ns.clone(), name), obj.clone());
        }
        let event = WatchEvent {
            rv,
            key: k.clone(),
            namespace: (!ns.is_empty()).then_some(ns),
            type_,
            object: Arc::new(obj.clone()),
        };
        store.history.push_back(event.clone());
        while store.history.len() > HISTORY_LIMIT {
            if let Some(old) = store.history.pop_front() {
                store.floor = old.rv;
            }
        }
        let _ = self.events.send(event);
        obj
    }

    fn new_uid(&self) -> String {
        format!("uid-{}", self.uid.fetch_add(1, Ordering::Relaxed))
    }
}

fn parse_body(body: &Bytes) -> Result<Value, Box<Response<BoxBody>>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(error(400, "BadRequest", &format!("body is not JSON: {e}"))))
}

fn create(state: &State, k: &ResourceKey, target: &Target, body: &Bytes) -> Response<BoxBody> {
    let mut obj = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut store = state.store.lock().unwrap();
    let ns = target.namespace.clone().unwrap_or_default();
    let Some(name) = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return error(422, "Invalid", "metadata.name is required");
    };
    if store
        .objects
        .get(k)
        .is_some_and(|m| m.contains_key(&(ns.clone(), name.clone())))
    {
        return error(
            409,
            "AlreadyExists",
            &format!("{} {name:?} already exists", target.resource),
        );
    }
    initialise(state, &mut obj, &ns);
    let stored = state.commit(&mut store, k, obj, "ADDED");
    json_response(201, &stored)
}

fn initialise(state: &State, obj: &mut Value, ns: &str) {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    let meta = &mut obj["metadata"];
    if !ns.is_empty() {
        meta["namespace"] = json!(ns);
    }
    meta["uid"] = json!(state.new_uid());
    meta["creationTimestamp"] = json!(now());
    meta["generation"] = json!(1);
    if let Some(m) = meta.as_object_mut() {
        m.remove("resourceVersion");
        m.remove("deletionTimestamp");
    }
}

/// Fields the server owns and clients cannot change through a write.
fn carry_server_fields(old: &Value, new: &mut Value) {
    for field in [
        "uid",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "namespace",
        "name",
    ] {
        match old.pointer(&format!("/metadata/{field}")) {
            Some(v) => new["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove(field);
                }
            }
        }
    }
}

fn without_meta_and_status(obj: &Value) -> Value {
    let mut copy = obj.clone();
    if let Some(m) = copy.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    copy
}

fn same_ignoring_rv(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        v
    };
    strip(a) == strip(b)
}

/// Writes `new` over `old` (already merged by the caller): keeps server fields, bumps the
/// generation on spec changes, finishes a deletion whose last finalizer went away.
fn write(
    state: &State,
    store: &mut Store,
    k: &ResourceKey,
    old: &Value,
    mut new: Value,
) -> Response<BoxBody> {
    carry_server_fields(old, &mut new);
    if same_ignoring_rv(old, &new) {
        return json_response(200, old);
    }
    if without_meta_and_status(old) != without_meta_and_status(&new) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        new["metadata"]["generation"] = json!(generation + 1);
    }
    let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
    let finalizers_left = new
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if deleting && !finalizers_left {
        let stored = state.commit(store, k, new, "DELETED");
        collect_garbage(state, store, &stored);
        return json_response(200, &stored);
    }
    let stored = state.commit(store, k, new, "MODIFIED");
    json_response(200, &stored)
}

fn update(state: &State, k: &ResourceKey, target: &Target, body: &Bytes) -> Response<BoxBody> {
    let new = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut store = state.store.lock().unwrap();
    let Some(old) = store
        .objects
        .get(k)
        .and_then(|m| m.get(&names(target)))
        .cloned()
    else {
        return not_found(target);
    };
    if let Some(rv) = new
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && Some(rv)
            != old
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return error(
            409,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version and try again",
        );
    }
    let merged = match target.subresource.as_deref() {
        Some("status") => {
            let mut merged = old.clone();
            merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            merged
        }
        _ => {
            let mut merged = new;
            if let Some(status) = old.get("status") {
                merged["status"] = status.clone();
            }
            merged
        }
    };
    write(state, &mut store, k, &old, merged)
}

fn patch(
    state: &State,
    k: &ResourceKey,
    target: &Target,
    content_type: &str,
    body: &Bytes,
) -> Response<BoxBody> {
    let patch_body = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut store = state.store.lock().unwrap();
    let existing = store
        .objects
        .get(k)
        .and_then(|m| m.get(&names(target)))
        .cloned();
    let status_only = target.subresource.as_deref() == Some("status");
    if content_type.starts_with("application/apply-patch") {
        let Some(old) = existing else {
            if status_only {
                return not_found(target);
            }
            let mut obj = patch_body;
            obj["metadata"]["name"] = json!(target.name.clone().unwrap_or_default());
            initialise(
                state,
                &mut obj,
                target.namespace.as_deref().unwrap_or_default(),
            );
            let stored = state.commit(&mut store, k, obj, "ADDED");
            return json_response(201, &stored);
        };
        let mut merged = old.clone();
        if status_only {
            if let Some(status) = patch_body.get("status") {
                let mut s = old.get("status").cloned().unwrap_or(json!({}));
                json_patch::merge(&mut s, status);
                merged["status"] = s;
            }
        } else if let Some(fields) = patch_body.as_object() {
            for (field, value) in fields {
                match field.as_str() {
                    "status" => {}
                    "metadata" => {
                        for map in ["labels", "annotations"] {
                            if let Some(v) = value.get(map) {
                                let mut current =
                                    merged["metadata"].get(map).cloned().unwrap_or(json!({}));
                                json_patch::merge(&mut current, v);
                                merged["metadata"][map] = current;
                            }
                        }
                        for list in ["ownerReferences", "finalizers"] {
                            if let Some(v) = value.get(list) {
                                merged["metadata"][list] = v.clone();
                            }
                        }
                    }
                    _ => merged[field.as_str()] = value.clone(),
                }
            }
        }
        return write(state, &mut store, k, &old, merged);
    }
    let Some(old) = existing else {
        return not_found(target);
    };
    let mut merged = old.clone();
    if content_type.starts_with("application/json-patch") {
        let ops: json_patch::Patch = match serde_json::from_value(patch_body) {
            Ok(p) => p,
            Err(e) => return error(400, "BadRequest", &format!("invalid JSON patch: {e}")),
        };
        // Like the API server's JSON patch, `test` for null passes on a missing path (kube's
        // finalizer helper tests `/metadata/finalizers` for null before adding the list).
        let ops: Vec<json_patch::PatchOperation> = ops
            .0
            .into_iter()
            .filter(|op| match op {
                json_patch::PatchOperation::Test(t) => {
                    !(t.value.is_null() && merged.pointer(t.path.as_str()).is_none())
                }
                _ => true,
            })
            .collect();
        if let Err(e) = json_patch::patch(&mut merged, &ops) {
            // A failed `test` op is how clients do optimistic concurrency.
            return error(422, "Invalid", &format!("JSON patch failed: {e}"));
        }
    } else {
        json_patch::merge(&mut merged, &patch_body);
    }
    if status_only {
        let status = merged.get("status").cloned();
        merged = old.clone();
        if let Some(s) = status {
            merged["status"] = s;
        }
    } else if let Some(s) = old.get("status") {
        merged["status"] = s.clone();
    }
    write(state, &mut store, k, &old, merged)
}

fn delete(state: &State, k: &ResourceKey, target: &Target) -> Response<BoxBody> {
    let mut store = state.store.lock().unwrap();
    let Some(old) = store
        .objects
        .get(k)
        .and_then(|m| m.get(&names(target)))
        .cloned()
    else {
        return not_found(target);
    };
    let has_finalizers = old
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return json_response(200, &old);
        }
        let mut new = old.clone();
        new["metadata"]["deletionTimestamp"] = json!(now());
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        new["metadata"]["generation"] = json!(generation + 1);
        let stored = state.commit(&mut store, k, new, "MODIFIED");
        return json_response(200, &stored);
    }
    let stored = state.commit(&mut store, k, old, "DELETED");
    collect_garbage(state, &mut store, &stored);
    json_response(200, &stored)
}

/// Deletes every object whose owner references name `owner`'s uid, recursively (foreground
/// finalizers and blockOwnerDeletion are not modelled).
fn collect_garbage(state: &State, store: &mut Store, owner: &Value) {
    let Some(uid) = owner
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let mut dependents = Vec::new();
    for (k, objects) in &store.objects {
        for obj in objects.values() {
            let owned = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid.as_str()))
                });
            if owned {
                dependents.push((k.clone(), obj.clone()));
            }
        }
    }
    for (k, obj) in dependents {
        let stored = state.commit(store, &k, obj, "DELETED");
        collect_garbage(state, store, &stored);
    }
}
