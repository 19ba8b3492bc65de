//! Registering an aggregated API server that listens on 127.0.0.1 with the kube-aggregator.
//!
//! Endpoints may not hold loopback addresses, so the APIService points at a Service of type
//! ExternalName `localhost`; kube-apiserver (with `--enable-aggregator-routing=false`) resolves
//! that to localhost:PORT and proxies there as `front-proxy-client`.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Patch, PatchParams};

const AVAILABLE_TIMEOUT: Duration = Duration::from_secs(60);
const FIELD_MANAGER: &str = "coder-k8s-envtest";
/// Namespace of the ExternalName Services.
pub const SERVICE_NAMESPACE: &str = "default";

/// Where the aggregator should send `/apis/<group>/<version>`.
#[derive(Clone, Debug)]
pub struct ApiServiceRegistration<'a> {
    pub group: &'a str,
    pub version: &'a str,
    /// Port on 127.0.0.1 (reached as `localhost:PORT`; the serving certificate must cover
    /// [`ApiServiceRegistration::service_dns_name`]).
    pub port: u16,
    /// PEM of the CA that signed the aggregated server's serving certificate.
    pub ca_bundle_pem: &'a str,
    pub group_priority_minimum: i32,
    pub version_priority: i32,
}

impl<'a> ApiServiceRegistration<'a> {
    /// Priorities 1000/15 (what sample-apiserver uses).
    pub fn new(
        group: &'a str,
        version: &'a str,
        port: u16,
        ca_bundle_pem: &'a str,
    ) -> ApiServiceRegistration<'a> {
        ApiServiceRegistration {
            group,
            version,
            port,
            ca_bundle_pem,
            group_priority_minimum: 1000,
            version_priority: 15,
        }
    }

    /// `<version>.<group>`, the APIService's name.
    pub fn api_service_name(&self) -> String {
        format!("{}.{}", self.version, self.group)
    }

    /// The name the aggregator verifies the serving certificate against: kube-aggregator dials
    /// `localhost:PORT` but checks the certificate for `<service>.<namespace>.svc`, so the
    /// aggregated server's certificate must list this name (besides localhost/127.0.0.1).
    pub fn service_dns_name(&self) -> String {
        format!("{}.{SERVICE_NAMESPACE}.svc", self.service_name())
    }

    /// The ExternalName Service's name (a DNS-1035 label derived from group and version).
    pub fn service_name(&self) -> String {
        let mut name: String = format!("api-{}-{}", self.version, self.group)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        name.truncate(63);
        name.trim_end_matches('-').to_string()
    }
}

/// Serving certificate files for an aggregated API server on 127.0.0.1, from a fresh CA:
/// valid for localhost, 127.0.0.1 and the name the aggregator checks
/// ([`ApiServiceRegistration::service_dns_name`]). Pass `ca_pem` as the registration's bundle.
#[derive(Clone, Debug)]
pub struct AggregatedServingCert {
    pub ca_pem: String,
    pub cert_file: std::path::PathBuf,
    pub key_file: std::path::PathBuf,
}

/// Applies (creates or replaces) the Service and APIService, then waits until the APIService is
/// Available and `/apis/<group>/<version>` answers through kube-apiserver. Panics with the
/// APIService's conditions after a minute.
pub(crate) async fn register(client: kube::Client, reg: &ApiServiceRegistration<'_>) {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let service_name = reg.service_name();
    let service = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": service_name, "namespace": SERVICE_NAMESPACE },
        "spec": {
            "type": "ExternalName",
            "externalName": "localhost",
            "ports": [{ "name": "https", "port": reg.port, "protocol": "TCP" }],
        },
    });
    let services: kube::Api<Service> = kube::Api::namespaced(client.clone(), SERVICE_NAMESPACE);
    services
        .patch(&service_name, &params, &Patch::Apply(&service))
        .await
        .unwrap_or_else(|e| panic!("envtest: applying Service {service_name}: {e}"));

    use base64::Engine;
    let api_service_name = reg.api_service_name();
    let api_service = serde_json::json!({
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": { "name": api_service_name },
        "spec": {
            "group": reg.group,
            "version": reg.version,
            "groupPriorityMinimum": reg.group_priority_minimum,
            "versionPriority": reg.version_priority,
            "caBundle": base64::engine::general_purpose::STANDARD.encode(reg.ca_bundle_pem),
            "service": { "namespace": SERVICE_NAMESPACE, "name": service_name, "port": reg.port },
        },
    });
    let api_services: kube::Api<APIService> = kube::Api::all(client.clone());
    api_services
        .patch(&api_service_name, &params, &Patch::Apply(&api_service))
        .await
        .unwrap_or_else(|e| panic!("envtest: applying APIService {api_service_name}: {e}"));

    let deadline = Instant::now() + AVAILABLE_TIMEOUT;
    let discovery_path = format!("/apis/{}/{}", reg.group, reg.version);
    loop {
        let current = api_services.get_opt(&api_service_name).await.ok().flatten();
        let conditions = current
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let available = conditions
            .iter()
            .any(|c| c.type_ == "Available" && c.status == "True");
        // Available can be left over from an earlier registration of the same group/version:
        // also require that the aggregator reaches the new backend.
        if available {
            let request = http::Request::get(&discovery_path)
                .body(Vec::new())
                .expect("valid request");
            if client.request_text(request).await.is_ok() {
                return;
            }
        }
        if Instant::now() >= deadline {
            let described: Vec<String> = conditions
                .iter()
                .map(|c| {
                    format!(
                        "{}={} ({}: {})",
                        c.type_,
                        c.status,
                        c.reason.as_deref().unwrap_or(""),
                        c.message.as_deref().unwrap_or("")
                    )
                })
                .collect();
            panic!(
                "envtest: APIService {api_service_name} (-> localhost:{}) not usable after \
                 {AVAILABLE_TIMEOUT:?}; conditions: [{}]",
                reg.port,
                described.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
