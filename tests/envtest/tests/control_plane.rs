//! The shared control plane is real: admin works, RBAC is enforced by the real authorizer for
//! ServiceAccount tokens and x509 users, kubectl talks to it, and kube-controller-manager
//! finalizes namespace deletion.

use std::time::Duration;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};

fn forbidden(result: &Result<impl Sized, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(status)) if status.code == 403)
}

#[tokio::test]
async fn admin_lists_namespaces() {
    let cp = envtest::shared();
    let namespaces: Api<Namespace> = Api::all(cp.admin_client().await);
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("admin lists namespaces")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for expected in ["default", "kube-system"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing in {names:?}"
        );
    }
}

#[tokio::test]
async fn service_account_token_is_authorized_by_real_rbac() {
    let cp = envtest::shared();
    let ns = cp.create_namespace("rbac").await;
    let kubeconfig = cp.service_account_kubeconfig(&ns, "reader").await;
    let as_reader: Api<ConfigMap> = Api::namespaced(cp.client_for(&kubeconfig).await, &ns);

    let before = as_reader.list(&ListParams::default()).await;
    assert!(
        forbidden(&before),
        "no RoleBinding yet, expected 403, got {before:?}"
    );

    let admin = cp.admin_client().await;
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "read-configmaps" },
        "rules": [{ "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"] }],
    }))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "reader" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-configmaps" },
        "subjects": [{ "kind": "ServiceAccount", "name": "reader", "namespace": ns }],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin, &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    // The RBAC authorizer reads bindings through an informer: allowed within moments.
    envtest::poll_until(
        "the RoleBinding to take effect",
        Duration::from_secs(15),
        || async {
            as_reader
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())
        },
    )
    .await;
    // The Role grants reads only.
    let write = as_reader
        .create(&PostParams::default(), &ConfigMap::default())
        .await;
    assert!(
        forbidden(&write),
        "create is not granted, expected 403, got {write:?}"
    );
}

async fn who_am_i(client: kube::Client) -> (String, Vec<String>) {
    let review: SelfSubjectReview = Api::all(client)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .expect("any authenticated user may review itself");
    let user = review.status.and_then(|s| s.user_info).expect("user info");
    (
        user.username.unwrap_or_default(),
        user.groups.unwrap_or_default(),
    )
}

#[tokio::test]
async fn x509_user_gets_its_name_and_groups_and_nothing_else() {
    let cp = envtest::shared();
    // Two groups and fewer are minted by rcgen, more by openssl: both paths.
    for (user, groups) in [
        ("alice", vec!["developers", "testers"]),
        ("bob", vec!["developers", "testers", "auditors"]),
    ] {
        let kubeconfig = cp.user_kubeconfig(user, &groups);
        let client = cp.client_for(&kubeconfig).await;
        let (name, seen) = who_am_i(client.clone()).await;
        assert_eq!(name, user);
        let mut expected: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        expected.push("system:authenticated".into());
        assert_eq!(seen, expected, "groups of {user}");

        let namespaces = Api::<Namespace>::all(client)
            .list(&ListParams::default())
            .await;
        assert!(
            forbidden(&namespaces),
            "{user} has no grants, expected 403, got {namespaces:?}"
        );
    }
}

#[tokio::test]
async fn kubectl_talks_to_the_control_plane() {
    let cp = envtest::shared();
    let output = cp
        .kubectl()
        .args(["get", "namespace", "kube-system", "-o", "name"])
        .output()
        .await
        .expect("run kubectl");
    assert!(
        output.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "namespace/kube-system"
    );
}

#[tokio::test]
async fn controller_manager_finalizes_namespace_deletion() {
    let cp = envtest::shared_with_controller_manager();
    let ns = cp.create_namespace("doomed").await;
    let admin = cp.admin_client().await;
    let config_map: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "content" }, "data": { "k": "v" }
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();

    let namespaces: Api<Namespace> = Api::all(admin);
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    envtest::poll_until(
        "the namespace to be finalized",
        Duration::from_secs(60),
        || async {
            match namespaces.get_opt(&ns).await {
                Ok(None) => Ok(()),
                Ok(Some(n)) => Err(format!("still there: {:?}", n.status)),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
}
