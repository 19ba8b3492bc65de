//! Server-side apply and managedFields over HTTP against the real aggregated apiserver: a table
//! of scenarios, each step asserting the status code, the object and every managedFields entry
//! exactly (times are checked for form and then left out of the comparison).

use crate::apiserver_support as support;

use http::Method;
use serde_json::{Value, json};
use support::*;

const GV: &str = "aggregation.coder.com/v1alpha1";

/// One request of a scenario.
struct Step<'a> {
    method: Method,
    /// Appended to the object path: `""`, `/status`, with a query.
    suffix: &'a str,
    content_type: &'a str,
    user_agent: &'a str,
    body: String,
}

fn apply(suffix: &str, body: Value) -> Step<'_> {
    Step {
        method: Method::PATCH,
        suffix,
        content_type: "application/apply-patch+yaml",
        user_agent: "test/1.0",
        body: body.to_string(),
    }
}

fn merge_patch<'a>(user_agent: &'a str, body: Value) -> Step<'a> {
    Step {
        method: Method::PATCH,
        suffix: "",
        content_type: "application/merge-patch+json",
        user_agent,
        body: body.to_string(),
    }
}

/// An apply configuration of workspace `name`.
fn config(name: &str, extra: Value) -> Value {
    let mut base = json!({
        "apiVersion": GV,
        "kind": "CoderWorkspace",
        "metadata": {"name": name},
    });
    merge_into(&mut base, extra);
    base
}

fn merge_into(target: &mut Value, extra: Value) {
    match (target, extra) {
        (Value::Object(t), Value::Object(e)) => {
            for (k, v) in e {
                merge_into(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, e) => *t = e,
    }
}

async fn send(server: &TestServer, name: &str, step: &Step<'_>) -> Raw {
    let path = format!("{}{}", ws_path("default", Some(name)), step.suffix);
    let path = if step.method == Method::POST {
        ws_path("default", None)
    } else {
        path
    };
    raw(
        &server.http(),
        step.method.clone(),
        &path,
        &[
            ("content-type", step.content_type),
            ("user-agent", step.user_agent),
        ],
        step.body.clone().into_bytes(),
    )
    .await
}

/// The managedFields of an object without their times (after checking each time's form),
/// ordered by operation, manager and subresource: the server orders entries by time first,
/// which depends on the clock (checked in the unit tests of `managed`).
fn entries(object: &Value) -> Value {
    let list = object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut list: Vec<Value> = list
        .into_iter()
        .map(|mut e| {
            if let Some(time) = e.as_object_mut().and_then(|m| m.remove("time")) {
                let t = time.as_str().unwrap_or_default();
                assert!(
                    t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
                    "time {t}"
                );
            }
            e
        })
        .collect();
    let key = |e: &Value| {
        let text = |f: &str| e[f].as_str().unwrap_or_default().to_string();
        (text("operation"), text("manager"), text("subresource"))
    };
    list.sort_by_key(key);
    Value::Array(list)
}

fn entry(manager: &str, operation: &str, fields: Value) -> Value {
    json!({"manager": manager, "operation": operation, "apiVersion": GV,
           "fieldsType": "FieldsV1", "fieldsV1": fields})
}

fn rv(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Sends a step and asserts a 200/201 with this spec, these labels and these entries.
async fn expect(
    server: &TestServer,
    name: &str,
    step: Step<'_>,
    code: u16,
    spec: Value,
    labels: Value,
    managed: Value,
) -> Value {
    let r = send(server, name, &step).await;
    assert_eq!(r.status.as_u16(), code, "{}", r.text());
    let object = r.json();
    assert_eq!(object["spec"], spec, "{object:#}");
    assert_eq!(
        object["metadata"]
            .get("labels")
            .cloned()
            .unwrap_or(Value::Null),
        labels,
        "{object:#}"
    );
    assert_eq!(entries(&object), managed, "{object:#}");
    // What the server stored is what it answered.
    let stored = get(&server.http(), &ws_path("default", Some(name)))
        .await
        .json();
    assert_eq!(stored, object);
    object
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_create_reapply_change_remove_share_conflict_force() {
    let server = TestServer::start().await;
    let n = "table";

    // Create: the object does not exist; the applier owns what it sent.
    let first = config(
        n,
        json!({"metadata": {"labels": {"team": "blue", "tier": "1"}}, "spec": {"running": true}}),
    );
    let created = expect(
        &server,
        n,
        apply("?fieldManager=alice", first.clone()),
        201,
        json!({"running": true}),
        json!({"team": "blue", "tier": "1"}),
        json!([entry(
            "alice",
            "Apply",
            json!({
                "f:metadata": {"f:labels": {"f:team": {}, "f:tier": {}}},
                "f:spec": {"f:running": {}}
            })
        )]),
    )
    .await;

    // Re-applying the same configuration writes nothing: same object, same resourceVersion.
    let again = send(&server, n, &apply("?fieldManager=alice", first.clone())).await;
    assert_eq!(again.status.as_u16(), 200, "{}", again.text());
    assert_eq!(again.json(), created);

    // A change: same ownership, new value, new resourceVersion.
    let changed = config(
        n,
        json!({"metadata": {"labels": {"team": "blue", "tier": "1"}}, "spec": {"running": false}}),
    );
    let after_change = expect(
        &server,
        n,
        apply("?fieldManager=alice", changed),
        200,
        json!({"running": false}),
        json!({"team": "blue", "tier": "1"}),
        json!([entry(
            "alice",
            "Apply",
            json!({
                "f:metadata": {"f:labels": {"f:team": {}, "f:tier": {}}},
                "f:spec": {"f:running": {}}
            })
        )]),
    )
    .await;
    assert_ne!(rv(&after_change), rv(&created));
    assert_eq!(after_change["metadata"]["generation"], 2);

    // Removing a field from the configuration removes it from the object.
    let without_tier = config(
        n,
        json!({"metadata": {"labels": {"team": "blue"}}, "spec": {"running": false}}),
    );
    expect(
        &server,
        n,
        apply("?fieldManager=alice", without_tier),
        200,
        json!({"running": false}),
        json!({"team": "blue"}),
        json!([entry(
            "alice",
            "Apply",
            json!({
                "f:metadata": {"f:labels": {"f:team": {}}},
                "f:spec": {"f:running": {}}
            })
        )]),
    )
    .await;

    // A second applier setting the same value shares ownership (no conflict).
    let bob = config(n, json!({"spec": {"running": false}}));
    expect(
        &server,
        n,
        apply("?fieldManager=bob", bob.clone()),
        200,
        json!({"running": false}),
        json!({"team": "blue"}),
        json!([
            entry(
                "alice",
                "Apply",
                json!({
                    "f:metadata": {"f:labels": {"f:team": {}}},
                    "f:spec": {"f:running": {}}
                })
            ),
            entry("bob", "Apply", json!({"f:spec": {"f:running": {}}})),
        ]),
    )
    .await;

    // alice drops spec.running: bob still owns it, so it stays.
    let alice_labels_only = config(n, json!({"metadata": {"labels": {"team": "blue"}}}));
    expect(
        &server,
        n,
        apply("?fieldManager=alice", alice_labels_only),
        200,
        json!({"running": false}),
        json!({"team": "blue"}),
        json!([
            entry(
                "alice",
                "Apply",
                json!({"f:metadata": {"f:labels": {"f:team": {}}}})
            ),
            entry("bob", "Apply", json!({"f:spec": {"f:running": {}}})),
        ]),
    )
    .await;
    // Nothing changed for bob's share, so (like kube) his entry has no time and sorts first.
    let shared = get(&server.http(), &ws_path("default", Some(n)))
        .await
        .json();
    let first = &shared["metadata"]["managedFields"][0];
    assert_eq!(first["manager"], "bob", "{shared:#}");
    assert!(first.get("time").is_none(), "{shared:#}");

    // A merge patch is an Update: its manager (from the User-Agent) takes the field over.
    expect(
        &server,
        n,
        merge_patch("editor/1.2 (linux)", json!({"spec": {"running": true}})),
        200,
        json!({"running": true}),
        json!({"team": "blue"}),
        json!([
            entry(
                "alice",
                "Apply",
                json!({"f:metadata": {"f:labels": {"f:team": {}}}})
            ),
            entry("editor", "Update", json!({"f:spec": {"f:running": {}}})),
        ]),
    )
    .await;

    // bob applying his old value now conflicts with editor: 409 worded like kube-apiserver.
    let conflict = send(&server, n, &apply("?fieldManager=bob", bob.clone())).await;
    let status = assert_status(&conflict, 409, "Conflict");
    assert_eq!(
        status["message"],
        format!("Apply failed with 1 conflict: conflict with \"editor\" using {GV}: .spec.running")
    );
    assert_eq!(
        status["details"],
        json!({"causes": [{
            "reason": "FieldManagerConflict",
            "message": format!("conflict with \"editor\" using {GV}"),
            "field": ".spec.running"
        }]})
    );

    // Two conflicting managers: grouped by manager, as kube prints them.
    let both = config(
        n,
        json!({"metadata": {"labels": {"team": "red"}}, "spec": {"running": false}}),
    );
    let conflict = send(&server, n, &apply("?fieldManager=carol", both)).await;
    let status = assert_status(&conflict, 409, "Conflict");
    assert_eq!(
        status["message"],
        format!(
            "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .metadata.labels.team\nconflicts with \"editor\" using {GV}:\n- .spec.running"
        )
    );

    // force=true takes the field over; editor's entry, now empty, disappears.
    expect(
        &server,
        n,
        apply("?fieldManager=bob&force=true", bob),
        200,
        json!({"running": false}),
        json!({"team": "blue"}),
        json!([
            entry(
                "alice",
                "Apply",
                json!({"f:metadata": {"f:labels": {"f:team": {}}}})
            ),
            entry("bob", "Apply", json!({"f:spec": {"f:running": {}}})),
        ]),
    )
    .await;

    // Dry run: the answer shows the change, nothing is stored.
    let before = get(&server.http(), &ws_path("default", Some(n)))
        .await
        .json();
    let dry = send(
        &server,
        n,
        &apply(
            "?fieldManager=bob&dryRun=All",
            config(n, json!({"spec": {"running": true}})),
        ),
    )
    .await;
    assert_eq!(dry.status.as_u16(), 200, "{}", dry.text());
    assert_eq!(dry.json()["spec"], json!({"running": true}));
    let after = get(&server.http(), &ws_path("default", Some(n)))
        .await
        .json();
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn sets_list_maps_status_and_updates_before_apply() {
    let server = TestServer::start().await;

    // finalizers is a set (v:), ownerReferences a list-map keyed by uid (k:).
    let n = "lists";
    let owner = |uid: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": format!("cm-{uid}"), "uid": uid});
    let a = config(
        n,
        json!({"metadata": {"finalizers": ["example.com/a"], "ownerReferences": [owner("u1")]}}),
    );
    let r = send(&server, n, &apply("?fieldManager=a", a)).await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    let b = config(
        n,
        json!({"metadata": {"finalizers": ["example.com/b"], "ownerReferences": [owner("u2")]}}),
    );
    let r = send(&server, n, &apply("?fieldManager=b", b)).await;
    let object = r.json();
    assert_eq!(
        object["metadata"]["finalizers"],
        json!(["example.com/a", "example.com/b"])
    );
    assert_eq!(
        object["metadata"]["ownerReferences"],
        json!([owner("u1"), owner("u2")])
    );
    // OwnerReference is an atomic struct in Kubernetes: each item is owned whole.
    let owner_fields = json!({});
    assert_eq!(
        entries(&object),
        json!([
            entry(
                "a",
                "Apply",
                json!({"f:metadata": {
                    "f:finalizers": {"v:\"example.com/a\"": {}},
                    "f:ownerReferences": {"k:{\"uid\":\"u1\"}": owner_fields}
                }})
            ),
            entry(
                "b",
                "Apply",
                json!({"f:metadata": {
                    "f:finalizers": {"v:\"example.com/b\"": {}},
                    "f:ownerReferences": {"k:{\"uid\":\"u2\"}": owner_fields}
                }})
            ),
        ])
    );
    // a drops its items: only b's remain.
    let r = send(&server, n, &apply("?fieldManager=a", config(n, json!({})))).await;
    let object = r.json();
    assert_eq!(object["metadata"]["finalizers"], json!(["example.com/b"]));
    assert_eq!(object["metadata"]["ownerReferences"], json!([owner("u2")]));
    assert_eq!(entries(&object).as_array().map(Vec::len), Some(1));

    // Delete with a finalizer marks the object; its managedFields are kept as they were.
    let deleting = raw(
        &server.http(),
        Method::DELETE,
        &ws_path("default", Some(n)),
        &[],
        Vec::new(),
    )
    .await
    .json();
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        deleting["metadata"]["managedFields"],
        object["metadata"]["managedFields"]
    );

    // Created by an Update (POST): `.` marks the objects it created.
    let n = "updated";
    let created = raw(
        &server.http(),
        Method::POST,
        &ws_path("default", None),
        &[
            ("content-type", "application/json"),
            (
                "user-agent",
                "kubectl-create/v1.36.2 (linux/amd64) kubernetes/abc",
            ),
        ],
        json!({"apiVersion": GV, "kind": "CoderWorkspace",
               "metadata": {"name": n, "labels": {"a": "1"}}, "spec": {"running": true}})
        .to_string(),
    )
    .await
    .json();
    let creator = entry(
        "kubectl-create",
        "Update",
        json!({
            "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
            "f:spec": {".": {}, "f:running": {}}
        }),
    );
    assert_eq!(entries(&created), json!([creator.clone()]));

    // Applying the value an Update set is no conflict; both own it.
    let same = config(n, json!({"spec": {"running": true}}));
    expect(
        &server,
        n,
        apply("?fieldManager=ctl", same),
        200,
        json!({"running": true}),
        json!({"a": "1"}),
        json!([
            entry("ctl", "Apply", json!({"f:spec": {"f:running": {}}})),
            creator.clone()
        ]),
    )
    .await;

    // Status apply: only status counts, the entry names the subresource.
    let status_config = config(
        n,
        json!({"spec": {"running": false}, "status": {"autoShutdown": "2026-01-01T00:00:00Z"}}),
    );
    let r = send(
        &server,
        n,
        &apply("/status?fieldManager=ctl", status_config),
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    let object = r.json();
    assert_eq!(object["spec"], json!({"running": true}));
    assert_eq!(
        object["status"],
        json!({"autoShutdown": "2026-01-01T00:00:00Z"})
    );
    let mut status_entry = entry("ctl", "Apply", json!({"f:status": {"f:autoShutdown": {}}}));
    status_entry["subresource"] = json!("status");
    assert_eq!(
        entries(&object),
        json!([
            entry("ctl", "Apply", json!({"f:spec": {"f:running": {}}})),
            status_entry,
            creator.clone()
        ])
    );
    // Applying status to an object that does not exist is a 404.
    let missing = send(
        &server,
        "nothing",
        &apply("/status?fieldManager=ctl", config("nothing", json!({}))),
    )
    .await;
    assert_status(&missing, 404, "NotFound");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_sent_managed_fields_and_bad_requests() {
    let server = TestServer::start().await;
    let n = "mf";
    let created = raw(
        &server.http(),
        Method::POST,
        &ws_path("default", None),
        &[
            ("content-type", "application/json"),
            ("user-agent", "maker/1"),
        ],
        json!({"apiVersion": GV, "kind": "CoderWorkspace", "metadata": {"name": n},
               "spec": {"running": true}})
        .to_string(),
    )
    .await
    .json();
    let maker = entry(
        "maker",
        "Update",
        json!({"f:spec": {".": {}, "f:running": {}}}),
    );
    assert_eq!(entries(&created), json!([maker.clone()]));

    // Entries that do not decode are ignored: the server keeps its own tracking.
    let bogus = json!({"metadata": {"managedFields": [{"manager": "x", "operation": "Bogus",
        "fieldsType": "FieldsV1", "fieldsV1": {}}]}, "spec": {"running": false}});
    let object = send(&server, n, &merge_patch("third/1", bogus))
        .await
        .json();
    assert_eq!(
        entries(&object),
        json!([
            entry("maker", "Update", json!({"f:spec": {}})),
            entry("third", "Update", json!({"f:spec": {"f:running": {}}})),
        ])
    );
    // An empty list keeps them too (clients that do not know the field cannot wipe it).
    let empty = json!({"metadata": {"managedFields": []}, "spec": {"running": true}});
    let object = send(&server, n, &merge_patch("fourth/1", empty))
        .await
        .json();
    assert_eq!(
        entries(&object),
        json!([
            entry("fourth", "Update", json!({"f:spec": {"f:running": {}}})),
            entry("maker", "Update", json!({"f:spec": {}})),
        ])
    );
    // Entries that decode replace the server's.
    let sent = entry("hand", "Update", json!({"f:spec": {"f:running": {}}}));
    let replace = json!({"metadata": {"managedFields": [sent.clone()]}});
    let object = send(&server, n, &merge_patch("fifth/1", replace))
        .await
        .json();
    assert_eq!(entries(&object), json!([sent]));
    // `[{}]` resets them; an untracked object stays untracked until it is applied.
    let reset = json!({"metadata": {"managedFields": [{}]}, "spec": {"running": false}});
    let object = send(&server, n, &merge_patch("sixth/1", reset))
        .await
        .json();
    assert!(
        object["metadata"].get("managedFields").is_none(),
        "{object}"
    );
    let object = send(
        &server,
        n,
        &merge_patch("seventh/1", json!({"metadata": {"labels": {"q": "1"}}})),
    )
    .await
    .json();
    assert!(
        object["metadata"].get("managedFields").is_none(),
        "{object}"
    );
    // The first apply then attributes what exists to "before-first-apply".
    let conflict = send(
        &server,
        n,
        &apply(
            "?fieldManager=ctl",
            config(n, json!({"spec": {"running": true}})),
        ),
    )
    .await;
    let status = assert_status(&conflict, 409, "Conflict");
    assert_eq!(
        status["message"],
        format!(
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using {GV}: .spec.running"
        )
    );

    // fieldManager is required for apply: kube's 422 on PatchOptions.
    let r = send(&server, n, &apply("", config(n, json!({})))).await;
    let status = assert_status(&r, 422, "Invalid");
    assert_eq!(
        status["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    assert_eq!(status["details"]["kind"], "PatchOptions");
    // force belongs to apply only.
    let mut forced = merge_patch("x/1", json!({}));
    forced.suffix = "?force=true";
    let r = send(&server, n, &forced).await;
    assert_status(&r, 422, "Invalid");
    // CBOR apply bodies are not served.
    let mut cbor = apply("?fieldManager=ctl", config(n, json!({})));
    cbor.content_type = "application/apply-patch+cbor";
    let r = send(&server, n, &cbor).await;
    assert_status(&r, 415, "UnsupportedMediaType");
    // A configuration without kind, or one carrying managedFields, is refused.
    let r = send(
        &server,
        n,
        &apply(
            "?fieldManager=ctl",
            json!({"apiVersion": GV, "metadata": {"name": n}}),
        ),
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    let r = send(
        &server,
        n,
        &apply(
            "?fieldManager=ctl",
            config(
                n,
                json!({"metadata": {"managedFields": [entry("x", "Apply", json!({}))]}}),
            ),
        ),
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    // YAML bodies (what kubectl sends).
    let mut yaml = apply("?fieldManager=yaml", json!({}));
    yaml.body = format!(
        "apiVersion: {GV}\nkind: CoderWorkspace\nmetadata:\n  name: yaml\nspec:\n  running: true\n"
    );
    let r = send(&server, "yaml", &yaml).await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    assert_eq!(
        entries(&r.json()),
        json!([entry("yaml", "Apply", json!({"f:spec": {"f:running": {}}}))])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_fields_decode_with_k8s_openapi() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    let server = TestServer::start().await;
    let r = send(
        &server,
        "typed",
        &apply(
            "?fieldManager=typed",
            config("typed", json!({"spec": {"running": true}})),
        ),
    )
    .await;
    let object = r.json();
    let list: Vec<ManagedFieldsEntry> =
        serde_json::from_value(object["metadata"]["managedFields"].clone()).unwrap();
    assert_eq!(list.len(), 1);
    let e = &list[0];
    assert_eq!(e.manager.as_deref(), Some("typed"));
    assert_eq!(e.operation.as_deref(), Some("Apply"));
    assert_eq!(e.api_version.as_deref(), Some(GV));
    assert_eq!(e.fields_type.as_deref(), Some("FieldsV1"));
    assert!(e.time.is_some());
    assert_eq!(
        e.fields_v1.as_ref().map(|f| f.0.clone()),
        Some(json!({"f:spec": {"f:running": {}}}))
    );
}
