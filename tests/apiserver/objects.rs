//! The object layer of the aggregated apiserver through its public API (`Objects` on a
//! `MemoryStorage`): object metadata, validation, updates, patches, finalizers, dry runs and
//! deletes. Lists and watches are in `apiserver_objects_list_watch.rs`.

use std::sync::Arc;

use coder_k8s::api::registry::{ResourceDescriptor, find};
use coder_k8s::apiserver::objects::{
    DeleteOptions, Error, FieldValidation, ListOptions, Objects, Patch, Subresource, WriteOptions,
};
use coder_k8s::apiserver::storage::MemoryStorage;
use serde_json::{Value, json};

fn workspaces() -> &'static ResourceDescriptor {
    find("aggregation.coder.com", "v1alpha1", "coderworkspaces").unwrap()
}

fn templates() -> &'static ResourceDescriptor {
    find("aggregation.coder.com", "v1alpha1", "codertemplates").unwrap()
}

fn objects() -> Objects {
    Objects::new(Arc::new(MemoryStorage::new()))
}

fn ws(name: &str, running: bool) -> Value {
    json!({
        "apiVersion": "aggregation.coder.com/v1alpha1",
        "kind": "CoderWorkspace",
        "metadata": {"name": name},
        "spec": {"running": running},
    })
}

fn opts() -> WriteOptions {
    WriteOptions::default()
}

fn strict() -> WriteOptions {
    WriteOptions {
        field_validation: FieldValidation::Strict,
        ..Default::default()
    }
}

fn dry() -> WriteOptions {
    WriteOptions {
        dry_run: true,
        ..Default::default()
    }
}

fn rv(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn generation(object: &Value) -> i64 {
    object["metadata"]["generation"].as_i64().unwrap()
}

async fn create(o: &Objects, name: &str, running: bool) -> Value {
    o.create(workspaces(), Some("default"), ws(name, running), &opts())
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap()
}

#[tokio::test]
async fn create_sets_server_fields_and_get_returns_the_stored_object() {
    let o = objects();
    let body = json!({
        "metadata": {"name": "dev", "labels": {"team": "a"}, "annotations": {"note": "x"},
                      "uid": "client-uid", "generation": 7},
        "spec": {"running": true},
        "status": {"autoShutdown": "2030-01-01T18:00:00Z"},
    });
    let outcome = o
        .create(workspaces(), Some("default"), body, &opts())
        .await
        .unwrap();
    assert!(outcome.created);
    assert!(outcome.warnings.is_empty());
    let created = outcome.object.to_value().unwrap();
    assert_eq!(created["apiVersion"], "aggregation.coder.com/v1alpha1");
    assert_eq!(created["kind"], "CoderWorkspace");
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!(created["metadata"]["labels"], json!({"team": "a"}));
    assert_eq!(created["metadata"]["annotations"], json!({"note": "x"}));
    assert_eq!(generation(&created), 1);
    let uid = created["metadata"]["uid"].as_str().unwrap();
    assert_ne!(uid, "client-uid");
    assert_eq!(uid.len(), 36);
    let created_at = created["metadata"]["creationTimestamp"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.len() == 20,
        "{created_at}"
    );
    assert!(rv(&created) > 0);
    // Status belongs to the status subresource: create drops it.
    assert!(created.get("status").is_none());

    let got = o.get(workspaces(), Some("default"), "dev").await.unwrap();
    assert_eq!(got.to_value().unwrap(), created);
    assert_eq!(o.count().await, 1);

    // Each write takes the next revision of the one store counter, across kinds.
    let other = o
        .create(
            templates(),
            Some("default"),
            json!({"metadata": {"name": "t"}, "spec": {}}),
            &opts(),
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(rv(&other), rv(&created) + 1);
}

#[tokio::test]
async fn duplicate_missing_and_generated_names() {
    let o = objects();
    create(&o, "dev", true).await;
    let err = o
        .create(workspaces(), Some("default"), ws("dev", false), &opts())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"coderworkspaces.aggregation.coder.com "dev" already exists"#
    );
    assert!(matches!(err, Error::AlreadyExists { .. }));
    // Same name in another namespace is another object.
    o.create(workspaces(), Some("other"), ws("dev", false), &opts())
        .await
        .unwrap();

    let err = o
        .get(workspaces(), Some("default"), "nope")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"coderworkspaces.aggregation.coder.com "nope" not found"#
    );

    let mut names = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let body = json!({"metadata": {"generateName": "ws-"}, "spec": {"running": true}});
        let created = o
            .create(workspaces(), Some("default"), body, &opts())
            .await
            .unwrap()
            .object
            .to_value()
            .unwrap();
        let name = created["metadata"]["name"].as_str().unwrap().to_string();
        assert!(name.starts_with("ws-") && name.len() == 8, "{name}");
        assert_eq!(created["metadata"]["generateName"], "ws-");
        names.insert(name);
    }
    assert_eq!(names.len(), 20);
}

#[tokio::test]
async fn names_kinds_and_namespaces_are_checked() {
    let o = objects();
    let err = o
        .create(workspaces(), Some("default"), ws("Bad_Name", true), &opts())
        .await
        .unwrap_err();
    match &err {
        Error::Invalid {
            group_resource,
            kind,
            name,
            causes,
        } => {
            assert_eq!(group_resource, "CoderWorkspace.aggregation.coder.com");
            assert_eq!(kind, "CoderWorkspace");
            assert_eq!(name, "Bad_Name");
            assert_eq!(causes.len(), 1);
            assert_eq!(causes[0].field, "metadata.name");
            assert_eq!(causes[0].reason, "FieldValueInvalid");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(err.to_string().starts_with(
        r#"CoderWorkspace.aggregation.coder.com "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain"#
    ));

    let no_name = json!({"metadata": {}, "spec": {}});
    let err = o
        .create(workspaces(), Some("default"), no_name, &opts())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("metadata.name: Required value: name or generateName is required")
    );

    let mut wrong_ns = ws("a", true);
    wrong_ns["metadata"]["namespace"] = json!("other");
    assert_eq!(
        o.create(workspaces(), Some("default"), wrong_ns, &opts())
            .await
            .unwrap_err(),
        Error::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into()
        )
    );

    let mut wrong_kind = ws("a", true);
    wrong_kind["kind"] = json!("CoderTemplate");
    assert!(matches!(
        o.create(workspaces(), Some("default"), wrong_kind, &opts())
            .await,
        Err(Error::BadRequest(_))
    ));
    let mut wrong_version = ws("a", true);
    wrong_version["apiVersion"] = json!("aggregation.coder.com/v2");
    assert_eq!(
        o.create(workspaces(), Some("default"), wrong_version, &opts())
            .await
            .unwrap_err(),
        Error::BadRequest("the API version in the data (aggregation.coder.com/v2) does not match the expected API version (aggregation.coder.com/v1alpha1)".into())
    );
    assert_eq!(o.count().await, 0);
}

#[tokio::test]
async fn schema_types_are_enforced_with_field_causes() {
    let o = objects();
    let body = json!({"metadata": {"name": "x"}, "spec": {"running": "yes"}});
    let err = o
        .create(workspaces(), Some("default"), body, &opts())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"CoderWorkspace.aggregation.coder.com "x" is invalid: spec.running: Invalid value: "string": spec.running in body must be of type boolean: "string""#
    );
    match err {
        Error::Invalid { causes, .. } => {
            assert_eq!(causes[0].reason, "FieldValueTypeInvalid");
            assert_eq!(causes[0].field, "spec.running");
        }
        other => panic!("{other:?}"),
    }

    // Two bad fields: two causes, kube's bracketed list.
    let y = create(&o, "y", true).await;
    let body = json!({"metadata": {"name": "y", "labels": {"k": "bad value"},
                                   "resourceVersion": y["metadata"]["resourceVersion"]},
                      "spec": {"running": 3}});
    let err = o
        .update(workspaces(), Some("default"), "y", None, body, &opts())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(r#"CoderWorkspace.aggregation.coder.com "y" is invalid: [metadata.labels[k]: Invalid value: "bad value""#),
        "{message}"
    );
    assert!(message.contains(r#"spec.running: Invalid value: "integer": spec.running in body must be of type boolean: "integer"]"#), "{message}");
}

#[tokio::test]
async fn unknown_fields_follow_field_validation() {
    let o = objects();
    let body = || json!({"metadata": {"name": "x"}, "spec": {"running": true, "foo": 1}, "bar": 2});

    let err = o
        .create(workspaces(), Some("default"), body(), &strict())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::BadRequest(
            r#"CoderWorkspace in version "v1alpha1" cannot be handled as a CoderWorkspace: strict decoding error: unknown field "bar", unknown field "spec.foo""#.into()
        )
    );
    assert_eq!(o.count().await, 0);

    let warned = o
        .create(workspaces(), Some("default"), body(), &opts())
        .await
        .unwrap();
    assert_eq!(
        warned.warnings,
        vec![r#"unknown field "bar""#, r#"unknown field "spec.foo""#]
    );
    assert_eq!(
        warned.object.to_value().unwrap()["spec"],
        json!({"running": true})
    );
    assert!(warned.object.to_value().unwrap().get("bar").is_none());

    o.delete(
        workspaces(),
        Some("default"),
        "x",
        &DeleteOptions::default(),
    )
    .await
    .unwrap();
    let ignored = o
        .create(
            workspaces(),
            Some("default"),
            body(),
            &WriteOptions {
                field_validation: FieldValidation::Ignore,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(ignored.warnings.is_empty());
    assert_eq!(
        ignored.object.to_value().unwrap()["spec"],
        json!({"running": true})
    );
}

#[tokio::test]
async fn update_bumps_generation_on_spec_changes_only_and_ignores_status() {
    let o = objects();
    let created = create(&o, "dev", true).await;

    // A label change: new resourceVersion, same generation.
    let mut body = created.clone();
    body["metadata"]["labels"] = json!({"a": "b"});
    body["status"] = json!({"autoShutdown": "2030-01-01T18:00:00Z"});
    let labelled = o
        .update(workspaces(), Some("default"), "dev", None, body, &opts())
        .await
        .unwrap();
    assert!(!labelled.created);
    let labelled = labelled.object.to_value().unwrap();
    assert_eq!(generation(&labelled), 1);
    assert!(rv(&labelled) > rv(&created));
    assert_eq!(labelled["metadata"]["labels"], json!({"a": "b"}));
    assert!(
        labelled.get("status").is_none(),
        "main resource ignores status"
    );
    assert_eq!(labelled["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(
        labelled["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );

    // Custom resources refuse unconditional updates: 422 once the object is known to exist.
    let mut body = labelled.clone();
    body["spec"]["running"] = json!(false);
    body["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let err = o
        .update(
            workspaces(),
            Some("default"),
            "dev",
            None,
            body.clone(),
            &opts(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"coderworkspaces.aggregation.coder.com "dev" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update"#
    );
    let mut nameless = body.clone();
    nameless["metadata"].as_object_mut().unwrap().remove("name");
    let err = o
        .update(
            workspaces(),
            Some("default"),
            "dev",
            None,
            nameless,
            &opts(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::BadRequest(
            "the name of the object (dev based on URL) was undeterminable: name must be provided"
                .into()
        )
    );

    // A spec change bumps generation.
    body["metadata"]["resourceVersion"] = labelled["metadata"]["resourceVersion"].clone();
    let stopped = o
        .update(workspaces(), Some("default"), "dev", None, body, &opts())
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(generation(&stopped), 2);
    assert_eq!(stopped["spec"]["running"], false);

    // Writing the same object again changes nothing, not even the resourceVersion.
    let same = o
        .update(
            workspaces(),
            Some("default"),
            "dev",
            None,
            stopped.clone(),
            &opts(),
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(same, stopped);

    // Clients cannot move server-owned fields.
    let mut body = stopped.clone();
    body["metadata"]["generation"] = json!(40);
    body["metadata"]["creationTimestamp"] = json!("2000-01-01T00:00:00Z");
    body["metadata"]["labels"] = json!({"a": "c"});
    let kept = o
        .update(workspaces(), Some("default"), "dev", None, body, &opts())
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(generation(&kept), 2);
    assert_eq!(
        kept["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );
}

#[tokio::test]
async fn status_subresource_writes_only_status() {
    let o = objects();
    let created = create(&o, "dev", true).await;
    let mut body = created.clone();
    body["spec"]["running"] = json!(false);
    body["metadata"]["labels"] = json!({"ignored": "yes"});
    body["status"] = json!({"autoShutdown": "2030-01-01T18:00:00Z"});
    let updated = o
        .update(
            workspaces(),
            Some("default"),
            "dev",
            Some(Subresource::Status),
            body,
            &opts(),
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(updated["status"]["autoShutdown"], "2030-01-01T18:00:00Z");
    assert_eq!(updated["spec"]["running"], true);
    assert!(updated["metadata"].get("labels").is_none());
    assert_eq!(generation(&updated), 1);

    let bad = json!({"metadata": {"name": "dev", "resourceVersion": updated["metadata"]["resourceVersion"]},
                     "status": {"autoShutdown": "soon"}});
    let err = o
        .update(
            workspaces(),
            Some("default"),
            "dev",
            Some(Subresource::Status),
            bad,
            &opts(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with(r#"status.autoShutdown: Invalid value: "soon": autoShutdown in body must be of type date-time: "soon""#),
        "{err}"
    );
}

#[tokio::test]
async fn stale_resource_versions_conflict() {
    let o = objects();
    let created = create(&o, "dev", true).await;
    let mut first = created.clone();
    first["spec"]["running"] = json!(false);
    o.update(workspaces(), Some("default"), "dev", None, first, &opts())
        .await
        .unwrap();

    let mut stale = created.clone();
    stale["metadata"]["labels"] = json!({"late": "yes"});
    let err = o
        .update(workspaces(), Some("default"), "dev", None, stale, &opts())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Operation cannot be fulfilled on coderworkspaces.aggregation.coder.com "dev": the object has been modified; please apply your changes to the latest version and try again"#
    );

    let stale_patch = Patch::Merge(json!({
        "metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
        "spec": {"running": true}
    }));
    assert!(matches!(
        o.patch(
            workspaces(),
            Some("default"),
            "dev",
            None,
            stale_patch,
            &opts()
        )
        .await,
        Err(Error::Conflict { .. })
    ));

    let err = o
        .update(
            workspaces(),
            Some("default"),
            "gone",
            None,
            ws("gone", true),
            &opts(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "PUT never creates");

    let err = o
        .update(
            workspaces(),
            Some("default"),
            "dev",
            None,
            ws("other", true),
            &opts(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::BadRequest(
            "the name of the object (other) does not match the name on the URL (dev)".into()
        )
    );
}

#[tokio::test]
async fn json_and_merge_patches() {
    let o = objects();
    create(&o, "dev", true).await;
    let merged = o
        .patch(
            workspaces(),
            Some("default"),
            "dev",
            None,
            Patch::Merge(json!({"metadata": {"labels": {"a": "1"}}, "spec": {"running": false}})),
            &opts(),
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(merged["spec"]["running"], false);
    assert_eq!(merged["metadata"]["labels"]["a"], "1");
    assert_eq!(generation(&merged), 2);

    let patched = o
        .patch(
            workspaces(),
            Some("default"),
            "dev",
            None,
            Patch::Json(json!([
                {"op": "test", "path": "/spec/running", "value": false},
                {"op": "replace", "path": "/spec/running", "value": true},
                {"op": "remove", "path": "/metadata/labels/a"}
            ])),
            &opts(),
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(patched["spec"]["running"], true);
    assert_eq!(patched["metadata"]["labels"], json!({}));

    let failed = o
        .patch(
            workspaces(),
            Some("default"),
            "dev",
            None,
            Patch::Json(json!([{"op": "test", "path": "/spec/running", "value": false}])),
            &opts(),
        )
        .await;
    assert!(
        matches!(failed, Err(Error::UnprocessableEntity(_))),
        "{failed:?}"
    );

    let malformed = o
        .patch(
            workspaces(),
            Some("default"),
            "dev",
            None,
            Patch::Json(json!({"not": "a list"})),
            &opts(),
        )
        .await;
    assert!(matches!(malformed, Err(Error::BadRequest(_))));

    let invalid = o
        .patch(
            workspaces(),
            Some("default"),
            "dev",
            None,
            Patch::Merge(json!({"spec": {"running": "no"}})),
            &opts(),
        )
        .await;
    assert!(matches!(invalid, Err(Error::Invalid { .. })));

    let status = o
        .patch(
            workspaces(),
            Some("default"),
            "dev",
            Some(Subresource::Status),
            Patch::Merge(json!({"status": {"autoShutdown": "2030-01-01T18:00:00Z"},
                                "spec": {"running": false}})),
            &opts(),
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(status["status"]["autoShutdown"], "2030-01-01T18:00:00Z");
    assert_eq!(status["spec"]["running"], true);

    let missing = o
        .patch(
            workspaces(),
            Some("default"),
            "nope",
            None,
            Patch::Merge(json!({})),
            &opts(),
        )
        .await;
    assert!(matches!(missing, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let o = objects();
    let mut body = ws("dev", true);
    body["metadata"]["finalizers"] = json!(["coder.com/cleanup"]);
    let created = o
        .create(workspaces(), Some("default"), body, &opts())
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();

    let deleting = o
        .delete(
            workspaces(),
            Some("default"),
            "dev",
            &DeleteOptions::default(),
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(deleting["metadata"]["deletionGracePeriodSeconds"], 0);
    assert!(rv(&deleting) > rv(&created));
    // Setting the deletionTimestamp bumps generation (controllers filter on it).
    assert_eq!(generation(&created), 1);
    assert_eq!(generation(&deleting), 2);
    let still_there = o.get(workspaces(), Some("default"), "dev").await.unwrap();
    assert_eq!(still_there.to_value().unwrap(), deleting);

    // A second delete changes nothing.
    let again = o
        .delete(
            workspaces(),
            Some("default"),
            "dev",
            &DeleteOptions::default(),
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(again, deleting);

    // No new finalizers on a deleting object; the deletionTimestamp cannot be cleared.
    let err = o
        .patch(
            workspaces(),
            Some("default"),
            "dev",
            None,
            Patch::Merge(json!({"metadata": {"finalizers": ["coder.com/cleanup", "x.io/new"]}})),
            &opts(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(r#"metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"x.io/new"}"#),
        "{err}"
    );
    let kept = o
        .patch(
            workspaces(),
            Some("default"),
            "dev",
            None,
            Patch::Merge(
                json!({"metadata": {"deletionTimestamp": null}, "spec": {"running": false}}),
            ),
            &opts(),
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(
        kept["metadata"]["deletionTimestamp"],
        deleting["metadata"]["deletionTimestamp"]
    );

    // Removing the last finalizer completes the deletion; the answer is the object as last
    // stored, without finalizers.
    let finished = o
        .patch(
            workspaces(),
            Some("default"),
            "dev",
            None,
            Patch::Merge(json!({"metadata": {"finalizers": null}})),
            &opts(),
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert!(
        finished["metadata"].get("finalizers").is_none(),
        "{finished}"
    );
    assert_eq!(rv(&finished), rv(&kept));
    assert_eq!(finished["spec"]["running"], false);
    assert!(matches!(
        o.get(workspaces(), Some("default"), "dev").await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(o.count().await, 0);
}

#[tokio::test]
async fn delete_preconditions() {
    let o = objects();
    let created = create(&o, "dev", true).await;
    let uid = created["metadata"]["uid"].as_str().unwrap();
    let err = o
        .delete(
            workspaces(),
            Some("default"),
            "dev",
            &DeleteOptions {
                precondition_uid: Some("other".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            r#"Operation cannot be fulfilled on CoderWorkspace.aggregation.coder.com "dev": the UID in the precondition (other) does not match the UID in record ({uid}). The object might have been deleted and then recreated"#
        )
    );
    let err = o
        .delete(
            workspaces(),
            Some("default"),
            "dev",
            &DeleteOptions {
                precondition_resource_version: Some("1234".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("the ResourceVersion in the precondition (1234) does not match the ResourceVersion in record (1). The object might have been modified"),
        "{err}"
    );
    let deleted = o
        .delete(
            workspaces(),
            Some("default"),
            "dev",
            &DeleteOptions {
                precondition_uid: Some(uid.to_string()),
                precondition_resource_version: Some(rv(&created).to_string()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(deleted["metadata"]["name"], "dev");
    assert!(matches!(
        o.delete(
            workspaces(),
            Some("default"),
            "dev",
            &DeleteOptions::default()
        )
        .await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn dry_run_stores_nothing() {
    let o = objects();
    let dry_created = o
        .create(workspaces(), Some("default"), ws("dev", true), &dry())
        .await
        .unwrap();
    assert!(dry_created.created);
    assert!(dry_created.object.to_value().unwrap()["metadata"]["uid"].is_string());
    assert_eq!(o.count().await, 0);

    let created = create(&o, "dev", true).await;
    // Dry-run create still reports the clash.
    assert!(matches!(
        o.create(workspaces(), Some("default"), ws("dev", true), &dry())
            .await,
        Err(Error::AlreadyExists { .. })
    ));
    let mut body = created.clone();
    body["spec"]["running"] = json!(false);
    let dry_updated = o
        .update(workspaces(), Some("default"), "dev", None, body, &dry())
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(dry_updated["spec"]["running"], false);
    assert_eq!(generation(&dry_updated), 2);
    let dry_patched = o
        .patch(
            workspaces(),
            Some("default"),
            "dev",
            None,
            Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
            &dry(),
        )
        .await
        .unwrap()
        .object
        .to_value()
        .unwrap();
    assert_eq!(dry_patched["metadata"]["labels"]["a"], "b");
    o.delete(
        workspaces(),
        Some("default"),
        "dev",
        &DeleteOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let stored = o.get(workspaces(), Some("default"), "dev").await.unwrap();
    assert_eq!(
        stored.to_value().unwrap(),
        created,
        "dry runs left the object untouched"
    );
    let list = o
        .list(workspaces(), None, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(list.resource_version, rv(&created).to_string());
}

#[tokio::test]
async fn delete_collection_honours_selectors() {
    let o = objects();
    for (name, team) in [("a", "x"), ("b", "y"), ("c", "x")] {
        let mut body = ws(name, true);
        body["metadata"]["labels"] = json!({"team": team});
        o.create(workspaces(), Some("default"), body, &opts())
            .await
            .unwrap();
    }
    o.create(workspaces(), Some("other"), ws("d", true), &opts())
        .await
        .unwrap();
    let deleted = o
        .delete_collection(
            workspaces(),
            Some("default"),
            &ListOptions {
                label_selector: Some("team=x".into()),
                ..Default::default()
            },
            &DeleteOptions::default(),
        )
        .await
        .unwrap();
    let names: Vec<&str> = deleted.items.iter().map(|i| i.attrs().name()).collect();
    assert_eq!(names, ["a", "c"]);
    let left = o
        .list(workspaces(), None, &ListOptions::default())
        .await
        .unwrap();
    let names: Vec<&str> = left.items.iter().map(|i| i.attrs().name()).collect();
    // All namespaces, in (namespace, name) order.
    assert_eq!(names, ["b", "d"]);
}

/// The demo objects' status fields, by the paths their printer columns read.
fn demo_status(o: &Value, field: &str) -> String {
    o["status"][field]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            panic!(
                "status.{field} of {}: {}",
                o["metadata"]["name"], o["status"]
            )
        })
}

async fn demo_get(o: &Objects, r: &'static ResourceDescriptor, ns: &str, name: &str) -> Value {
    o.get(r, Some(ns), name).await.unwrap().to_value().unwrap()
}

#[tokio::test]
async fn demo_data_looks_like_a_coderd_behind_each_namespace() {
    use coder_k8s::apiserver::demo;
    let o = objects();
    let report = demo::seed(&o).await.unwrap();
    assert_eq!(report.created.len(), 6, "{report:?}");
    assert!(report.skipped.is_empty() && report.existing.is_empty());
    // Seeding again is harmless: everything is already there.
    let again = demo::seed(&o).await.unwrap();
    assert_eq!((again.created.len(), again.existing.len()), (0, 6));
    assert_eq!(o.count().await, 6);

    let now = jiff::Timestamp::now();
    let mut build_statuses = Vec::new();
    for (ns, name, running) in [
        ("default", "dev-workspace", true),
        ("default", "staging-workspace", false),
        ("sandbox", "sandbox-workspace", true),
    ] {
        let w = demo_get(&o, workspaces(), ns, name).await;
        assert_eq!(w["spec"]["running"], running, "{name}");
        assert_eq!(w["metadata"]["labels"][demo::DEMO_LABEL], "true");
        for field in ["ownerName", "organizationName", "id", "latestBuildID"] {
            assert!(!demo_status(&w, field).is_empty(), "{name}: {field}");
        }
        // The workspace's template is a demo template of the same namespace and organization.
        let template = demo_get(&o, templates(), ns, &demo_status(&w, "templateName")).await;
        assert_eq!(w["spec"]["templateName"], template["metadata"]["name"]);
        assert_eq!(
            demo_status(&w, "organizationName"),
            demo_status(&template, "organizationName")
        );
        // Last used in the past, and recently enough to read as an age.
        let used: jiff::Timestamp = demo_status(&w, "lastUsedAt").parse().unwrap();
        assert!(
            used < now && now.duration_since(used).as_hours() < 24 * 7,
            "{used}"
        );
        // As the Coder backend writes them: a Ready condition from the latest build.
        let ready = w["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap_or_else(|| panic!("{name}: no Ready condition"));
        let reachable = w["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "CoderReachable")
            .unwrap_or_else(|| panic!("{name}: no CoderReachable condition"));
        assert_eq!(
            (&reachable["status"], &reachable["reason"]),
            (&json!("Unknown"), &json!("DemoData")),
            "no coderd answered for a demo object"
        );
        let status = demo_status(&w, "latestBuildStatus");
        assert_eq!(
            ready["status"],
            if status == "running" { "True" } else { "False" }
        );
        // Only a running workspace has an automatic shutdown, in the future.
        match w["status"]["autoShutdown"].as_str() {
            Some(at) => {
                assert_eq!(status, "running", "{name}");
                assert!(at.parse::<jiff::Timestamp>().unwrap() > now);
            }
            None => assert_ne!(status, "running", "{name}"),
        }
        build_statuses.push(status);
    }
    assert_eq!(build_statuses, ["running", "stopped", "failed"]);

    let mut organizations = std::collections::BTreeSet::new();
    for (ns, name) in [
        ("default", "starter-template"),
        ("default", "platform-template"),
        ("sandbox", "docs-template"),
    ] {
        let t = demo_get(&o, templates(), ns, name).await;
        let version = demo_status(&t, "activeVersionID");
        assert!(uuid::Uuid::parse_str(&version).is_ok(), "{version}");
        assert!(t["status"]["deprecated"].is_boolean(), "{name}");
        let updated: jiff::Timestamp = demo_status(&t, "updatedAt").parse().unwrap();
        assert!(updated < now, "{name}");
        assert!(
            t["spec"]["displayName"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
        organizations.insert(demo_status(&t, "organizationName"));
    }
    assert_eq!(organizations.len(), 2, "{organizations:?}");
}

/// Namespaces for the demo test of namespace lifecycle: only `default` exists.
struct OnlyDefault;

impl coder_k8s::apiserver::objects::namespaces::NamespaceLookup for OnlyDefault {
    fn phase<'a>(
        &'a self,
        name: &'a str,
    ) -> futures::future::BoxFuture<
        'a,
        Result<Option<coder_k8s::apiserver::objects::namespaces::NamespacePhase>, String>,
    > {
        use coder_k8s::apiserver::objects::namespaces::NamespacePhase;
        Box::pin(async move { Ok((name == "default").then_some(NamespacePhase::Active)) })
    }
}

#[tokio::test]
async fn demo_data_skips_the_objects_of_missing_namespaces() {
    let o = objects().with_namespace_lifecycle(Arc::new(OnlyDefault));
    let report = coder_k8s::apiserver::demo::seed(&o).await.unwrap();
    let skipped: Vec<String> = report
        .skipped
        .iter()
        .map(|s| format!("{}: {}", s.object, s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            r#"codertemplates/sandbox/docs-template: namespaces "sandbox" not found"#,
            r#"coderworkspaces/sandbox/sandbox-workspace: namespaces "sandbox" not found"#,
        ]
    );
    assert_eq!(report.created.len(), 4, "{report:?}");
    assert_eq!(o.count().await, 4);
    // The default namespace's objects are complete (status set after the create).
    let dev = o
        .get(workspaces(), Some("default"), "dev-workspace")
        .await
        .unwrap()
        .to_value()
        .unwrap();
    assert_eq!(dev["status"]["latestBuildStatus"], "running");
}

#[tokio::test]
async fn owner_references_must_name_their_owner() {
    let o = objects();
    let mut body = ws("owned", true);
    body["metadata"]["ownerReferences"] = json!([{"name": "x"}]);
    let err = o
        .create(workspaces(), Some("default"), body, &opts())
        .await
        .unwrap_err();
    let Error::Invalid { causes, .. } = err else {
        panic!("{err:?}")
    };
    let got: Vec<(&str, &str)> = causes
        .iter()
        .map(|c| (c.field.as_str(), c.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "metadata.ownerReferences.apiVersion",
                r#"Invalid value: "": version must not be empty"#
            ),
            (
                "metadata.ownerReferences.kind",
                r#"Invalid value: "": must not be empty"#
            ),
            (
                "metadata.ownerReferences.uid",
                r#"Invalid value: "": must not be empty"#
            ),
        ]
    );
    assert_eq!(o.count().await, 0);

    let mut complete = ws("owned", true);
    complete["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "u"}]);
    o.create(workspaces(), Some("default"), complete, &opts())
        .await
        .unwrap();
}

#[tokio::test]
async fn duplicate_keys_are_refused_under_strict_and_warned_about_otherwise() {
    let o = objects();
    let raw = br#"{"metadata":{"name":"dup"},"spec":{"running":true,"running":false}}"#;
    let duplicates = coder_k8s::apiserver::objects::duplicates::find(raw);
    let body: Value = serde_json::from_slice(raw).unwrap();
    let err = o
        .create(
            workspaces(),
            Some("default"),
            body.clone(),
            &WriteOptions {
                field_validation: FieldValidation::Strict,
                duplicate_fields: duplicates.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::BadRequest(
            r#"CoderWorkspace in version "v1alpha1" cannot be handled as a CoderWorkspace: strict decoding error: duplicate field "spec.running""#.into()
        )
    );
    let warned = o
        .create(
            workspaces(),
            Some("default"),
            body,
            &WriteOptions {
                duplicate_fields: duplicates,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(warned.warnings, vec![r#"duplicate field "spec.running""#]);
    assert_eq!(
        warned.object.to_value().unwrap()["spec"]["running"],
        false,
        "the last key wins"
    );
}
