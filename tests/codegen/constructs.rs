//! Compiles the generator's snapshot for a schema using every construct
//! (codegen/tests/fixtures/everything.yaml) against the real kube, k8s-openapi and serde, and
//! checks that the mapping behaves: defaults fill in, enums keep their JSON spelling, keywords
//! and references work. The codegen crate's own tests keep the snapshot equal to its output.

#[allow(clippy::all, dead_code)]
mod widget {
    include!("../../codegen/tests/snapshots/widget.rs");
}

use kube::Resource;
use serde_json::json;
use widget::{Widget, WidgetMode, WidgetSpec};

#[test]
fn defaults_apply_when_fields_are_absent() {
    let widget: Widget = serde_json::from_value(json!({
        "apiVersion": "example.coder.com/v1beta1",
        "kind": "Widget",
        "metadata": { "name": "w" },
        "spec": { "name": "w" },
    }))
    .expect("minimal widget");
    assert_eq!(widget.spec.size, 3);
    assert_eq!(widget.spec.ratio, 0.5);
    assert!(widget.spec.enabled);
    assert_eq!(widget.spec.mode, WidgetMode::ClusterIp);
    assert_eq!(widget.spec.args, vec!["--verbose".to_string()]);
    assert_eq!(
        widget.spec.nested.deep, 7,
        "default {{}} applies the nested defaults"
    );
    assert_eq!(
        widget.spec.port,
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080)
    );
    assert_eq!(widget.spec.count, None);
}

#[test]
fn values_serialize_with_their_json_names() {
    let spec: WidgetSpec = serde_json::from_value(json!({
        "name": "w",
        "mode": "load-balancer",
        "type": "special",
        "port": "http",
        "expires": "2030-01-01T18:00:00Z",
        "env": [{ "name": "A", "value": "1" }],
        "raw": { "anything": [1, "two"] },
        "rules": [{ "key": "k", "value": null }],
    }))
    .expect("spec");
    assert_eq!(spec.mode, WidgetMode::LoadBalancer);
    assert_eq!(spec.mode.to_string(), "load-balancer");
    assert_eq!(spec.r#type.as_deref(), Some("special"));
    assert_eq!(spec.env.as_ref().map(|e| e[0].name.as_str()), Some("A"));
    let out = serde_json::to_value(&spec).expect("serialize");
    assert_eq!(out["mode"], "load-balancer");
    assert_eq!(out["type"], "special");
    assert_eq!(out["port"], "http");
    assert_eq!(out["expires"], "2030-01-01T18:00:00Z");
    assert_eq!(out["raw"], json!({ "anything": [1, "two"] }));
    assert!(
        out.get("count").is_none(),
        "absent optional fields are not serialized"
    );
}

#[test]
fn unknown_enum_values_and_missing_required_fields_are_errors() {
    let bad_enum = serde_json::from_value::<WidgetSpec>(json!({ "name": "w", "mode": "Ingress" }));
    assert!(
        bad_enum
            .expect_err("enum")
            .to_string()
            .contains("unknown variant `Ingress`")
    );
    let missing = serde_json::from_value::<WidgetSpec>(json!({ "size": 1 }));
    assert!(
        missing
            .expect_err("required")
            .to_string()
            .contains("missing field `name`")
    );
}

#[test]
fn the_kind_is_a_namespaced_kube_resource() {
    assert_eq!(Widget::api_version(&()), "example.coder.com/v1beta1");
    assert_eq!(Widget::plural(&()), "widgets");
    assert_eq!(
        Widget::url_path(&(), Some("ns")),
        "/apis/example.coder.com/v1beta1/namespaces/ns/widgets"
    );
}
