//! Where a kube client's configuration comes from, for every part of the binary that talks to a
//! cluster (the controller, the apiserver's delegated auth, `certs --apply`): an explicit
//! kubeconfig file when a flag names one, else kube's inference (in-cluster service account,
//! `$KUBECONFIG`, `~/.kube/config`).

use std::path::{Path, PathBuf};

/// Why no configuration could be loaded; callers add which flag to pass.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("loading the kubeconfig {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("not in a cluster and no kubeconfig found ({0})")]
    Infer(#[source] kube::config::InferConfigError),
}

/// The configuration from `path` when given, else inferred.
pub async fn load(path: Option<&Path>) -> Result<kube::Config, LoadError> {
    match path {
        Some(path) => {
            let file_error = |source| LoadError::File {
                path: path.to_path_buf(),
                source,
            };
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(file_error)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(file_error)
        }
        None => kube::Config::infer().await.map_err(LoadError::Infer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_named_file_that_is_not_a_kubeconfig_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.kubeconfig");
        std::fs::write(&path, "clusters: [not, a, kubeconfig").unwrap();
        let error = load(Some(&path)).await.unwrap_err();
        assert!(matches!(error, LoadError::File { .. }), "{error:?}");
        assert!(error.to_string().contains("broken.kubeconfig"), "{error}");
    }

    #[tokio::test]
    async fn a_named_kubeconfig_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ok.kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: t\n",
        )
        .unwrap();
        let config = load(Some(&path)).await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:6443/");
    }
}
