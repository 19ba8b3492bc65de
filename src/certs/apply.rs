//! `coder-k8s certs --apply`: the Secret through server-side apply, the caBundle through a merge
//! patch (so a later `kubectl apply -k deploy/` does not take it away: it is not in the
//! manifests' last-applied configuration).

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use super::manifest::{self, FIELD_MANAGER};
use super::{CertsArgs, Error, mint};

async fn client(args: &CertsArgs) -> Result<Client, Error> {
    let config = crate::client_config::load(args.kubeconfig.as_deref())
        .await
        .map_err(|e| Error::Config(e.to_string()))?;
    Client::try_from(config).map_err(|e| Error::Config(e.to_string()))
}

/// Keeps an existing Secret (unless --rotate), else issues and applies a new one; then points
/// every APIService's caBundle at its CA. Returns a summary for the user.
pub async fn apply(args: &CertsArgs) -> Result<String, Error> {
    crate::tls::install_crypto_provider();
    let client = client(args).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &args.namespace);
    let existing = if args.rotate {
        None
    } else {
        secrets
            .get_opt(&args.secret)
            .await
            .map_err(|source| Error::Api {
                action: format!("reading Secret {}/{}", args.namespace, args.secret),
                source,
            })?
    };
    let mut summary = Vec::new();
    let ca_pem = match existing {
        Some(secret) => {
            let data = secret.data.unwrap_or_default();
            for key in ["tls.crt", "tls.key", "ca.crt"] {
                if !data.contains_key(key) {
                    return Err(Error::IncompleteSecret {
                        namespace: args.namespace.clone(),
                        name: args.secret.clone(),
                        key,
                    });
                }
            }
            summary.push(format!(
                "kept Secret {}/{} (use --rotate to re-issue)",
                args.namespace, args.secret
            ));
            String::from_utf8_lossy(&data["ca.crt"].0).into_owned()
        }
        None => {
            let minted = mint::mint(&args.dns_names(), args.validity_days)?;
            let secret = manifest::secret(&args.namespace, &args.secret, &minted);
            secrets
                .patch(
                    &args.secret,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&secret),
                )
                .await
                .map_err(|source| Error::Api {
                    action: format!("applying Secret {}/{}", args.namespace, args.secret),
                    source,
                })?;
            summary.push(format!(
                "applied Secret {}/{} for {}",
                args.namespace,
                args.secret,
                args.dns_names().join(", ")
            ));
            if args.rotate {
                summary.push(format!(
                    "restart the apiserver to serve the new certificate: kubectl -n {} rollout restart deployment",
                    args.namespace
                ));
            }
            minted.ca_pem
        }
    };
    let api_services: Api<APIService> = Api::all(client);
    let patch = manifest::ca_bundle_patch(&ca_pem);
    for name in args.api_service_names() {
        api_services
            .patch(
                &name,
                &PatchParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PatchParams::default()
                },
                &Patch::Merge(&patch),
            )
            .await
            .map_err(|source| Error::Api {
                action: format!("setting the caBundle of APIService {name} (apply deploy/ first)"),
                source,
            })?;
        summary.push(format!("set the caBundle of APIService {name}"));
    }
    Ok(summary.join("\n"))
}
