//! `coder-k8s certs` without a cluster: how it parses next to `--app`, and what it prints (the
//! certificate's names, validity and key usage, read back with openssl). The cluster side
//! (`--apply`, `--rotate`, TLS with the Secret) is in tests/deploy/cluster.rs.

use crate::our_binary;

use std::process::Command;

use k8s_openapi::api::core::v1::Secret;

fn openssl_text(pem: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cert.pem");
    std::fs::write(&file, pem).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&file)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn prints_a_tls_secret_for_the_service_names_with_a_bounded_validity() {
    let out = our_binary::bare()
        .args([
            "certs",
            "--namespace=team",
            "--service=api",
            "--secret=api-tls",
            "--validity-days=30",
        ])
        // The image may set CODER_K8S_APP; the subcommand still runs.
        .env("CODER_K8S_APP", "controller")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret: Secret = serde_saphyr::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(secret.metadata.name.as_deref(), Some("api-tls"));
    assert_eq!(secret.metadata.namespace.as_deref(), Some("team"));
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = secret.data.unwrap();
    assert!(String::from_utf8_lossy(&data["tls.key"].0).contains("PRIVATE KEY"));
    let leaf = openssl_text(&data["tls.crt"].0);
    assert!(
        leaf.contains("DNS:api.team.svc, DNS:api.team.svc.cluster.local"),
        "{leaf}"
    );
    assert!(leaf.contains("TLS Web Server Authentication"), "{leaf}");
    assert!(!leaf.contains("CA:TRUE"), "{leaf}");
    // 30 days (+1 for the backdated start), not rcgen's default of year 4096.
    let year = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .year();
    let not_after = leaf.lines().find(|l| l.contains("Not After")).unwrap();
    assert!(
        not_after.contains(&year.to_string()) || not_after.contains(&(year + 1).to_string()),
        "{not_after}"
    );
    let ca = openssl_text(&data["ca.crt"].0);
    assert!(ca.contains("CA:TRUE"), "{ca}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("kubectl patch apiservice v1alpha1.aggregation.coder.com --type=merge -p '{\"spec\":{\"caBundle\":\""),
        "{stderr}"
    );
}

#[test]
fn output_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.yaml");
    let out = our_binary::bare()
        .args(["certs", "-o"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("kind: Secret")
    );
}

#[test]
fn app_flags_and_the_subcommand_do_not_mix() {
    let out = our_binary::bare()
        .args(["--app=controller", "certs"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = our_binary::bare()
        .args(["certs", "--rotate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--rotate needs --apply");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--apply"));
    let out = our_binary::bare()
        .args(["certs", "--validity-days=0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn apply_without_a_reachable_cluster_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("missing");
    let out = our_binary::bare()
        .args(["certs", "--apply", "--kubeconfig"])
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("certs: kubeconfig:") && stderr.contains("missing"),
        "{stderr}"
    );
}
