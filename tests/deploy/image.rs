//! The image `kubectl apply -k deploy/` runs, checked offline: every layer runs our image
//! (never the Go coder-k8s project's `ghcr.io/coder/coder-k8s`), named in one place that a user
//! can override; the Dockerfile's build stage matches the repository (sources, binary, flags,
//! toolchain, protoc); `.dockerignore` keeps the build context small without losing a build
//! input; and hack/build-image-binary.sh runs the Dockerfile's cargo command.

use crate::support as deploy_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use deploy_support::{
    IMAGE_PLACEHOLDER, LAYERS, THIRD_PARTY_IMAGES, build, configured_image, container_images,
    layer_path, repo,
};
use serde_json::Value;

/// The Go project's image: it does not know this binary's flags and crash-loops.
const GO_PROJECT_IMAGE: &str = "ghcr.io/coder/coder-k8s";

fn is_third_party(image: &str) -> bool {
    THIRD_PARTY_IMAGES
        .iter()
        .any(|repo| image.starts_with(&format!("{repo}:")))
}

/// Every container of ours in `docs` runs `image`; returns how many there are.
fn assert_ours_run(layer: &str, docs: &[Value], image: &str) -> usize {
    let mut ours = 0;
    for (id, actual) in container_images(docs) {
        if is_third_party(&actual) {
            continue;
        }
        assert_eq!(actual, image, "{layer}: {id}");
        ours += 1;
    }
    ours
}

#[test]
fn every_layer_runs_the_one_configured_image_and_never_the_go_projects() {
    let image = configured_image();
    assert!(!image.starts_with(GO_PROJECT_IMAGE), "{image}");
    for layer in LAYERS {
        let docs = build(layer);
        let text = serde_json::to_string(&docs).unwrap();
        assert!(
            !text.contains(GO_PROJECT_IMAGE),
            "{}: names {GO_PROJECT_IMAGE}",
            layer.dir
        );
        // Nothing is left unset: the placeholder alone would mean `:latest` from Docker Hub.
        for (id, actual) in container_images(&docs) {
            assert_ne!(actual, IMAGE_PLACEHOLDER, "{}: {id}", layer.dir);
        }
        let ours = assert_ours_run(layer.dir, &docs, &image);
        assert!(ours >= 1, "{}: no coder-k8s container", layer.dir);
    }
}

/// The tag a release is built and pushed with is the crate's version, so a version bump that
/// forgets deploy/ fails here.
#[test]
fn the_configured_tag_is_the_crate_version() {
    let image = configured_image();
    let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
    assert_eq!(tag, env!("CARGO_PKG_VERSION"), "{image}");
}

/// `../..` from `from` up to `/`, then `to`: kustomize takes only relative resource paths.
fn relative_from(from: &Path, to: &Path) -> PathBuf {
    let mut path = PathBuf::new();
    for _ in from.components().skip(1) {
        path.push("..");
    }
    path.join(to.strip_prefix("/").expect("an absolute path"))
}

/// What docs/getting-started.md tells users: an `images:` entry for `coder-k8s-rs` in the
/// kustomization they apply (what `kustomize edit set image` writes) points every coder-k8s
/// container of every layer at their registry.
#[test]
fn a_users_images_entry_replaces_the_image_in_every_layer() {
    const MINE: &str = "registry.example.com/team/coder-k8s-rs";
    let configured = configured_image();
    for layer in LAYERS {
        let dir = tempfile::tempdir().unwrap();
        let kustomization = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {}\nimages:\n  - name: {IMAGE_PLACEHOLDER}\n    newName: {MINE}\n    newTag: v9.9.9\n",
            relative_from(dir.path(), &layer_path(layer)).display()
        );
        std::fs::write(dir.path().join("kustomization.yaml"), kustomization).unwrap();
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(dir.path())
            .output()
            .expect("kubectl is on PATH (hack/test.sh installs it)");
        assert!(
            out.status.success(),
            "{}: {}",
            layer.dir,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            !text.contains(&configured),
            "{}: {configured} left",
            layer.dir
        );
        let docs: Vec<Value> = text
            .split("\n---\n")
            .filter(|chunk| !chunk.trim().is_empty())
            .map(|chunk| serde_saphyr::from_str(chunk).unwrap())
            .collect();
        let ours = assert_ours_run(layer.dir, &docs, &format!("{MINE}:v9.9.9"));
        assert!(ours >= 1, "{}", layer.dir);
    }
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head.trim_end());
                current.push(' ');
            }
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    instructions
}

/// The image every manifest runs: multi-stage, a static (musl) binary on a distroless static
/// base, non-root, the binary as entrypoint (the manifests pass only `args`).
#[test]
fn dockerfile_builds_a_static_nonroot_image_with_the_binary_as_entrypoint() {
    let instructions = dockerfile();
    let stages: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("FROM "))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(stages.len(), 2, "{instructions:?}");
    let runtime = &instructions[stages[1]..];
    assert!(runtime[0].contains("distroless/static"), "{}", runtime[0]);
    assert!(
        runtime.iter().any(|l| l == "USER 65532:65532"),
        "{runtime:?}"
    );
    assert!(
        runtime
            .iter()
            .any(|l| l.starts_with("COPY --from=build /coder-k8s /coder-k8s")),
        "{runtime:?}"
    );
    assert!(
        runtime.iter().any(|l| l == "ENTRYPOINT [\"/coder-k8s\"]"),
        "{runtime:?}"
    );
}

/// `cargo metadata` of the workspace (no dependencies, offline).
fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version=1", "--no-deps", "--offline"])
        .current_dir(repo())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The flags of the build stage's `cargo build` (a `--flag value` pair as one string).
fn cargo_build_flags(instructions: &[String]) -> Vec<String> {
    let run = instructions
        .iter()
        .find(|l| l.starts_with("RUN ") && l.contains("cargo build"))
        .expect("a RUN cargo build");
    let command = run.split("cargo build").nth(1).unwrap_or_default();
    let command = command.split("&&").next().unwrap_or_default();
    let mut flags = Vec::new();
    let mut words = command.split_whitespace().peekable();
    while let Some(word) = words.next() {
        match words.peek() {
            Some(next) if !next.starts_with("--") && !word.contains('=') => {
                flags.push(format!("{word} {next}"));
                words.next();
            }
            _ => flags.push(word.to_string()),
        }
    }
    flags
}

/// The build stage as a reproducible recipe: it copies what exists, builds the binary the
/// package declares with the lockfile, for the musl target, on a toolchain no older than the
/// crate's rust-version, and installs protoc exactly when a dependency compiles protos.
#[test]
fn dockerfile_build_stage_matches_the_repository() {
    let instructions = dockerfile();
    let meta = metadata();
    let package = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "coder-k8s")
        .expect("the coder-k8s package");
    let bins: Vec<&str> = package["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.contains(&"bin".into()))
        })
        .filter_map(|t| t["name"].as_str())
        .collect();

    // COPY from the build context: every source exists.
    for copy in instructions.iter().filter(|l| l.starts_with("COPY ")) {
        let words: Vec<&str> = copy.split_whitespace().skip(1).collect();
        if words.iter().any(|w| w.starts_with("--from=")) {
            continue;
        }
        let sources: Vec<&&str> = words.iter().filter(|w| !w.starts_with("--")).collect();
        for source in &sources[..sources.len() - 1] {
            assert!(repo().join(source).exists(), "{copy}: {source} is missing");
        }
    }

    // cargo build: the declared binary, locked, release, musl.
    let flags = cargo_build_flags(&instructions);
    for wanted in [
        "--release",
        "--locked",
        "--target x86_64-unknown-linux-musl",
    ] {
        assert!(flags.iter().any(|f| f == wanted), "{wanted} in {flags:?}");
    }
    let bin = flags
        .iter()
        .find_map(|f| f.strip_prefix("--bin "))
        .expect("cargo build --bin");
    assert!(bins.contains(&bin), "--bin {bin}: the package has {bins:?}");
    assert!(
        repo().join("Cargo.lock").exists(),
        "--locked needs Cargo.lock"
    );
    let artifact = format!("target/x86_64-unknown-linux-musl/release/{bin} /{bin}");
    assert!(
        instructions.iter().any(|l| l.contains(&artifact)),
        "the build stage copies out {artifact}"
    );
    assert!(
        instructions
            .iter()
            .any(|l| l == &format!("ENTRYPOINT [\"/{bin}\"]")),
        "the entrypoint is /{bin}"
    );

    // Toolchain: the builder image's Rust is at least the crate's rust-version.
    let from = &instructions[0];
    let rust = from
        .strip_prefix("FROM rust:")
        .and_then(|r| r.split('-').next())
        .unwrap_or_else(|| panic!("the build stage is FROM rust:<version>-...: {from}"));
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    let msrv = package["rust_version"].as_str().expect("rust-version");
    assert!(
        version(rust) >= version(msrv),
        "rust:{rust} < rust-version {msrv}"
    );
    assert!(
        instructions
            .iter()
            .any(|l| l.contains("rustup target add x86_64-unknown-linux-musl")),
        "the musl std is installed"
    );
    assert!(
        instructions.iter().any(|l| l.contains("musl-tools")),
        "musl-gcc compiles the C parts (ring, jemalloc)"
    );

    // protoc: wanted exactly when a dependency runs prost-build.
    let lock = std::fs::read_to_string(repo().join("Cargo.lock")).unwrap();
    let needs_protoc = lock.contains("\nname = \"prost-build\"\n");
    let installs_protoc = instructions.iter().any(|l| l.contains("protobuf-compiler"));
    assert_eq!(
        installs_protoc, needs_protoc,
        "the Dockerfile installs protobuf-compiler iff Cargo.lock has prost-build"
    );
}

/// `.dockerignore` patterns (plain paths: the check below does not implement globs).
fn dockerignore() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            assert!(
                !l.contains(['*', '?', '[', '!']),
                ".dockerignore: {l}: extend this test before using patterns"
            );
            l.trim_matches('/').to_string()
        })
        .collect()
}

#[test]
fn dockerignore_keeps_target_and_git_out_and_every_build_input_in() {
    let ignored = dockerignore();
    for must in ["target", ".git"] {
        assert!(ignored.iter().any(|p| p == must), "{must} is not ignored");
    }
    // What `cargo build` reads: every workspace member's manifest and targets (benches too:
    // cargo refuses a manifest whose [[bench]] file is missing), build.rs and its inputs.
    let meta = metadata();
    let root = PathBuf::from(meta["workspace_root"].as_str().unwrap());
    let mut inputs: BTreeSet<PathBuf> = BTreeSet::from([
        "Cargo.toml".into(),
        "Cargo.lock".into(),
        "build.rs".into(),
        "schema".into(),
    ]);
    for package in meta["packages"].as_array().unwrap() {
        let manifest = Path::new(package["manifest_path"].as_str().unwrap());
        inputs.insert(manifest.strip_prefix(&root).unwrap().to_path_buf());
        for target in package["targets"].as_array().unwrap() {
            let src = Path::new(target["src_path"].as_str().unwrap());
            inputs.insert(src.strip_prefix(&root).unwrap().to_path_buf());
        }
    }
    for input in &inputs {
        assert!(root.join(input).exists(), "{} is missing", input.display());
        for pattern in &ignored {
            assert!(
                !input.starts_with(pattern),
                ".dockerignore's {pattern} drops the build input {}",
                input.display()
            );
        }
    }
}

/// hack/build-image-binary.sh is the build stage outside Docker: the same cargo flags.
#[test]
fn build_script_runs_the_dockerfiles_cargo_command() {
    let script = std::fs::read_to_string(repo().join("hack/build-image-binary.sh"))
        .expect("hack/build-image-binary.sh");
    for flag in cargo_build_flags(&dockerfile()) {
        assert!(script.contains(&flag), "the script does not pass {flag}");
    }
    assert!(script.contains("rustup target add x86_64-unknown-linux-musl"));
}

/// The GitOps examples apply a layer of deploy/ from git, where `kustomize edit` cannot reach:
/// they set the image in the Argo CD Application / Flux Kustomization instead.
#[test]
fn gitops_examples_set_the_coder_k8s_image() {
    let dir = repo().join("examples/gitops");
    let doc_of_kind = |file: &str, kind: &str| -> Value {
        let text = std::fs::read_to_string(dir.join(file)).expect("example");
        text.split("\n---\n")
            .map(|chunk| serde_saphyr::from_str::<Value>(chunk).expect("YAML"))
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("{file}: no {kind}"))
    };
    let argo = doc_of_kind("argocd-application.yaml", "Application");
    let images = argo["spec"]["source"]["kustomize"]["images"]
        .as_array()
        .expect("Application spec.source.kustomize.images");
    assert!(
        images.iter().any(|i| i
            .as_str()
            .is_some_and(|i| i.starts_with(&format!("{IMAGE_PLACEHOLDER}=")))),
        "{images:?}"
    );
    let flux = doc_of_kind("flux-kustomization.yaml", "Kustomization");
    let images = flux["spec"]["images"]
        .as_array()
        .expect("Kustomization spec.images");
    assert!(
        images.iter().any(|i| i["name"] == IMAGE_PLACEHOLDER),
        "{images:?}"
    );
}
