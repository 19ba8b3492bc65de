//! Which coderd a bootstrapped proxy registers in, and with which token: the referenced
//! CoderControlPlane's URL and operator token, or `coderURL` with the session token in
//! `credentialsSecretRef`. Only reads: the controller never writes these objects.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use super::ProxyContext;
use super::builders::Target;
use super::error::{ProxyError, Result};
use super::status::{CONTROL_PLANE_READY, CREDENTIALS_READY, Check, Observed};
use crate::api::coder::v1alpha1::CoderWorkspaceProxyBootstrap;
use crate::coder::{ClientOptions, CoderClient, SessionToken};

/// Bound of one coderd call: a slow coderd delays this proxy's reconcile, nobody else's.
const CODERD_TIMEOUT: Duration = Duration::from_secs(15);

/// A coderd the controller can call.
#[derive(Clone)]
pub struct Coderd {
    pub client: CoderClient,
    pub url: String,
}

pub enum Access {
    Ready(Box<Coderd>),
    /// Not usable yet; the check says why. `gone`: the source itself (control plane, Secret)
    /// does not exist, so waiting will not help a deletion.
    Blocked {
        gone: bool,
    },
}

/// Resolves coderd for `bootstrap`, recording the verdict in `observed`.
pub async fn resolve(
    ctx: &ProxyContext,
    target: &Target<'_>,
    bootstrap: &CoderWorkspaceProxyBootstrap,
    observed: &mut Observed,
) -> Result<Access> {
    if let Some(reference) = &bootstrap.control_plane_ref {
        return from_control_plane(ctx, target, &reference.name, observed).await;
    }
    let (Some(url), Some(credentials)) = (&bootstrap.coder_url, &bootstrap.credentials_secret_ref)
    else {
        // The CRD's validation rules make this unreachable for objects it admitted.
        observed.check(
            CREDENTIALS_READY,
            Check::failed(
                "InvalidSpec",
                "bootstrap needs controlPlaneRef, or coderURL with credentialsSecretRef",
            ),
        );
        return Ok(Access::Blocked { gone: true });
    };
    let token = match read_key(ctx, target.namespace, &credentials.name, &credentials.key).await? {
        Ok(token) => token,
        Err(check) => {
            observed.check(CREDENTIALS_READY, check);
            return Ok(Access::Blocked { gone: true });
        }
    };
    match client(url, token) {
        Ok(coderd) => {
            observed.check(
                CREDENTIALS_READY,
                Check::ok(
                    "Found",
                    format!("session token from Secret {}", credentials.name),
                ),
            );
            Ok(Access::Ready(Box::new(coderd)))
        }
        Err(check) => {
            observed.check(CREDENTIALS_READY, check);
            Ok(Access::Blocked { gone: true })
        }
    }
}

async fn from_control_plane(
    ctx: &ProxyContext,
    target: &Target<'_>,
    name: &str,
    observed: &mut Observed,
) -> Result<Access> {
    // From the watch cache: its events are what starts this reconcile when the control plane
    // changes, so it is as fresh as the trigger.
    let ccp = ctx
        .control_planes
        .get(&ObjectRef::new(name).within(target.namespace));
    let Some(ccp) = ccp else {
        observed.check(
            CONTROL_PLANE_READY,
            Check::failed(
                "NotFound",
                format!("CoderControlPlane {name} does not exist"),
            ),
        );
        return Ok(Access::Blocked { gone: true });
    };
    if ccp.metadata.deletion_timestamp.is_some() {
        observed.check(
            CONTROL_PLANE_READY,
            Check::failed(
                "Deleting",
                format!("CoderControlPlane {name} is being deleted"),
            ),
        );
        return Ok(Access::Blocked { gone: true });
    }
    let status = ccp.status.clone().unwrap_or_default();
    let token_ref = status
        .operator_token_secret_ref
        .as_ref()
        .and_then(|r| r.name.clone().zip(r.key.clone()));
    let (Some(url), Some((secret, key)), Some(true)) =
        (status.url.clone(), token_ref, status.operator_access_ready)
    else {
        observed.check(
            CONTROL_PLANE_READY,
            Check::failed(
                "OperatorAccessNotReady",
                format!(
                    "CoderControlPlane {} has no working operator token yet (status.operatorAccessReady)",
                    ccp.name_any()
                ),
            ),
        );
        return Ok(Access::Blocked { gone: false });
    };
    let token = match read_key(ctx, target.namespace, &secret, &key).await? {
        Ok(token) => token,
        Err(check) => {
            observed.check(CONTROL_PLANE_READY, check);
            return Ok(Access::Blocked { gone: false });
        }
    };
    match client(&url, token) {
        Ok(coderd) => {
            observed.check(
                CONTROL_PLANE_READY,
                Check::ok("OperatorAccessReady", format!("coderd at {url}")),
            );
            Ok(Access::Ready(Box::new(coderd)))
        }
        Err(check) => {
            observed.check(CONTROL_PLANE_READY, check);
            Ok(Access::Blocked { gone: false })
        }
    }
}

fn client(url: &str, token: SessionToken) -> Result<Coderd, Check> {
    let options = ClientOptions {
        timeout: CODERD_TIMEOUT,
        tls: None,
    };
    CoderClient::new(url, options)
        .map(|client| Coderd {
            client: client.with_token(token),
            url: client.base_url().to_string(),
        })
        .map_err(|e| Check::failed("InvalidURL", e.to_string()))
}

/// The value of `key` in Secret `name`, or the check saying why there is none.
async fn read_key(
    ctx: &ProxyContext,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Result<SessionToken, Check>> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = api
        .get_opt(name)
        .await
        .map_err(|source| ProxyError::Object {
            action: "get",
            object: format!("Secret {namespace}/{name}"),
            source,
        })?;
    let Some(secret) = secret else {
        return Ok(Err(Check::failed(
            "SecretNotFound",
            format!("Secret {name} does not exist"),
        )));
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
        .filter(|v| !v.is_empty());
    Ok(match value {
        Some(value) => Ok(SessionToken::new(value)),
        None => Err(Check::failed(
            "SecretKeyMissing",
            format!("Secret {name} has no value under key {key:?}"),
        )),
    })
}
