//! Finding the control-plane binaries: `$KUBEBUILDER_ASSETS` first (controller-runtime's
//! convention, what `setup-envtest use 1.36` prints), then the project's `shared/envtest` folder
//! next to (an ancestor of) the repository for the Kubernetes components, then `PATH`.

use std::path::{Path, PathBuf};

/// A binary the harness runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Etcd,
    KubeApiserver,
    KubeControllerManager,
    Kubectl,
}

impl Binary {
    pub fn file_name(self) -> &'static str {
        match self {
            Binary::Etcd => "etcd",
            Binary::KubeApiserver => "kube-apiserver",
            Binary::KubeControllerManager => "kube-controller-manager",
            Binary::Kubectl => "kubectl",
        }
    }

    fn how_to_get(self) -> &'static str {
        match self {
            Binary::Etcd => {
                "install Debian's etcd 3.4 (`apt-get install -y etcd-server`; hack/test.sh does it), \
                 or run `setup-envtest use 1.36` and export KUBEBUILDER_ASSETS"
            }
            Binary::KubeApiserver => {
                "the repository expects kube-apiserver v1.36 in ../shared/envtest/ (see its README), \
                 or run `setup-envtest use 1.36` and export KUBEBUILDER_ASSETS"
            }
            Binary::KubeControllerManager => {
                "the repository expects kube-controller-manager v1.36 in ../shared/envtest/ \
                 (setup-envtest does not ship it; put it in KUBEBUILDER_ASSETS or shared/envtest)"
            }
            Binary::Kubectl => {
                "install kubectl (`apt-get install -y kubectl`), or run `setup-envtest use 1.36` \
                 and export KUBEBUILDER_ASSETS"
            }
        }
    }

    /// The Kubernetes components are looked up in shared/envtest; etcd and kubectl on PATH.
    fn in_shared_folder(self) -> bool {
        matches!(self, Binary::KubeApiserver | Binary::KubeControllerManager)
    }
}

/// The path of `binary`; panics with where it looked and how to get it when it is nowhere.
pub fn locate(binary: Binary) -> PathBuf {
    let name = binary.file_name();
    let mut looked = Vec::new();

    match std::env::var_os("KUBEBUILDER_ASSETS") {
        Some(dir) if !dir.is_empty() => {
            let candidate = Path::new(&dir).join(name);
            if is_executable(&candidate) {
                return candidate;
            }
            looked.push(format!("$KUBEBUILDER_ASSETS ({})", candidate.display()));
        }
        _ => looked.push("$KUBEBUILDER_ASSETS (unset)".to_string()),
    }

    if binary.in_shared_folder() {
        for dir in shared_envtest_dirs() {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return candidate;
            }
            looked.push(candidate.display().to_string());
        }
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return candidate;
            }
        }
        looked.push(format!("PATH ({})", path.to_string_lossy()));
    }

    panic!(
        "envtest: `{name}` not found. Looked in: {}. To get it: {}.",
        looked.join(", "),
        binary.how_to_get()
    );
}

/// `<ancestor>/shared/envtest` for every ancestor of the repository, nearest first
/// (`<repo>/../shared/envtest` in CI; a git worktree one level deeper also finds it).
fn shared_envtest_dirs() -> Vec<PathBuf> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // tests/envtest -> repository root
    let repo = crate_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(crate_dir);
    repo.ancestors()
        .skip(1)
        .map(|a| a.join("shared").join("envtest"))
        .collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
