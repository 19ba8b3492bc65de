//! Shared by the deploy tests: the kustomize layers of deploy/ and their rendered objects.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// A kustomization users apply.
pub struct Layer {
    /// Relative to the repository root.
    pub dir: &'static str,
    /// Skips TLS verification (dev only).
    pub insecure: bool,
    /// cert-manager makes the certificate.
    pub cert_manager: bool,
}

pub const LAYERS: &[Layer] = &[
    Layer {
        dir: "deploy",
        insecure: false,
        cert_manager: false,
    },
    Layer {
        dir: "deploy/overlays/cert-manager",
        insecure: false,
        cert_manager: true,
    },
    Layer {
        dir: "deploy/overlays/all-in-one",
        insecure: false,
        cert_manager: false,
    },
    Layer {
        dir: "deploy/overlays/dev",
        insecure: true,
        cert_manager: false,
    },
    Layer {
        dir: "deploy/overlays/monitoring",
        insecure: false,
        cert_manager: false,
    },
];

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn layer_path(layer: &Layer) -> PathBuf {
    repo().join(layer.dir)
}

/// Layers rendered so far, by directory.
type Rendered = Vec<(&'static str, Vec<Value>)>;

/// `kubectl kustomize <layer>` split into objects (memoized: the tests render each layer often).
pub fn build(layer: &Layer) -> Vec<Value> {
    static CACHE: OnceLock<Mutex<Rendered>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((_, docs)) = cache.lock().unwrap().iter().find(|(d, _)| *d == layer.dir) {
        return docs.clone();
    }
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(layer_path(layer))
        .output()
        .expect("kubectl is on PATH (hack/test.sh installs it)");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        layer.dir,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let docs: Vec<Value> = text
        .split("\n---\n")
        .filter(|chunk| !chunk.trim().is_empty())
        .map(|chunk| {
            serde_saphyr::from_str(chunk)
                .unwrap_or_else(|e| panic!("{}: kustomize output is not YAML: {e}", layer.dir))
        })
        .collect();
    cache.lock().unwrap().push((layer.dir, docs.clone()));
    docs
}

/// The objects of one kind, typed.
pub fn of_kind<T: serde::de::DeserializeOwned>(docs: &[Value], kind: &str) -> Vec<T> {
    docs.iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| {
            serde_json::from_value(d.clone())
                .unwrap_or_else(|e| panic!("invalid {kind} {}: {e}", d["metadata"]["name"]))
        })
        .collect()
}

/// The one place the coder-k8s image is set: the kustomize component every layer includes.
pub const IMAGE_COMPONENT: &str = "deploy/base/image/kustomization.yaml";

/// The name every coder-k8s container of deploy/ is written with, before kustomize sets it.
pub const IMAGE_PLACEHOLDER: &str = "coder-k8s-rs";

/// `newName:newTag` of the placeholder's entry in [`IMAGE_COMPONENT`].
pub fn configured_image() -> String {
    let path = repo().join(IMAGE_COMPONENT);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{IMAGE_COMPONENT}: {e}"));
    let doc: Value =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{IMAGE_COMPONENT}: {e}"));
    let images = doc["images"].as_array().expect("an images: list");
    assert_eq!(images.len(), 1, "{IMAGE_COMPONENT}: one image entry");
    let entry = &images[0];
    assert_eq!(entry["name"], IMAGE_PLACEHOLDER, "{IMAGE_COMPONENT}");
    let name = entry["newName"].as_str().expect("newName");
    let tag = entry["newTag"].as_str().expect("newTag (quoted)");
    format!("{name}:{tag}")
}

/// Images of other projects that deploy/ runs on purpose, by repository.
pub const THIRD_PARTY_IMAGES: &[&str] = &["registry.k8s.io/etcd"];

/// Every container (init containers too) of every workload in `docs`, as
/// (`Kind name container`, image).
pub fn container_images(docs: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let spec = match kind {
            "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "ReplicaSet" => {
                &doc["spec"]["template"]["spec"]
            }
            "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            "Pod" => &doc["spec"],
            _ => continue,
        };
        for list in ["initContainers", "containers"] {
            for c in spec[list].as_array().into_iter().flatten() {
                out.push((
                    format!("{kind} {} container {}", doc["metadata"]["name"], c["name"]),
                    c["image"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    out
}
