//! Which coderd serves a namespace: the CoderControlPlane in it whose status says operator
//! access is ready (`status.operatorAccessReady`, `status.url`, `status.operatorTokenSecretRef`).
//! CoderControlPlanes are followed with a reflector on untyped objects (the apiserver never
//! imports the controller's types); the token Secret is read when a namespace's coderd is first
//! needed and kept until the control plane's URL or Secret reference changes, or coderd rejects
//! the token (401: it was rotated, or revoked). A rejection is also reported on the control
//! plane (annotation [`OPERATOR_TOKEN_REJECTED_AT`]) so that the controller checks and replaces
//! the token within seconds instead of at its next periodic attempt.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::api::annotations::OPERATOR_TOKEN_REJECTED_AT;
use crate::coder::{ClientOptions, CoderClient, SessionToken};

/// How long a request waits for the first list of CoderControlPlanes after startup.
const FIRST_SYNC_WAIT: Duration = Duration::from_secs(10);
/// Retry-After of a namespace whose coderd is not usable now. Short: client-go (kubectl)
/// retries a 503 that carries Retry-After up to ten times before it reports the failure.
pub const RETRY_AFTER_SECONDS: u32 = 1;
/// At most one rejection report per namespace this often: every sync round and every write
/// meets the same 401 until the controller has replaced the token, and one report makes it
/// look. Short enough that a second rejection after a replacement is reported promptly.
const REJECTION_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// Why a namespace has no usable coderd.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error(
        "namespace {namespace} has no CoderControlPlane: with --coder-backend=enabled, CoderWorkspaces and CoderTemplates live in namespaces whose CoderControlPlane gives operator access to a coderd"
    )]
    NoControlPlane { namespace: String },
    #[error(
        "CoderControlPlane {namespace}/{name} has no operator access to coderd yet ({condition}); retry once its status.operatorAccessReady is true"
    )]
    NotReady {
        namespace: String,
        name: String,
        condition: String,
    },
    #[error(
        "namespace {namespace} has several CoderControlPlanes with operator access ({}); the Coder backend needs exactly one", names.join(", ")
    )]
    Ambiguous {
        namespace: String,
        names: Vec<String>,
    },
    #[error("reading the operator token of CoderControlPlane {namespace}/{name}: {reason}")]
    Token {
        namespace: String,
        name: String,
        reason: String,
    },
    #[error("the list of CoderControlPlanes is not loaded yet")]
    NotSynced,
}

/// A namespace's coderd, ready to call.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub namespace: String,
    /// The CoderControlPlane's name.
    pub control_plane: String,
    pub client: CoderClient,
}

/// What a control plane's status says about operator access.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Access {
    name: String,
    url: String,
    secret: String,
    key: String,
}

pub struct Directory {
    store: Store<DynamicObject>,
    secrets: kube::Client,
    options: ClientOptions,
    /// Per namespace: the access it was built from and the client.
    clients: Mutex<HashMap<String, (Access, CoderClient)>>,
    /// Per namespace: when a rejected token was last reported on its control plane.
    rejections: Mutex<HashMap<String, Instant>>,
}

/// The CoderControlPlane resource (coder.com/v1alpha1), untyped.
pub fn control_plane_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("coder.com", "v1alpha1", "CoderControlPlane"),
        "codercontrolplanes",
    )
}

impl Directory {
    /// Follows CoderControlPlanes of all namespaces with `client` until `stop`.
    pub fn start(
        client: kube::Client,
        options: ClientOptions,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let resource = control_plane_resource();
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let writer = reflector::store::Writer::new(resource);
        let store = writer.as_reader();
        let events = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .applied_objects();
        crate::apiserver::cluster::reflect::spawn(events, "CoderControlPlane", stop);
        Arc::new(Directory {
            store,
            secrets: client,
            options,
            clients: Mutex::new(HashMap::new()),
            rejections: Mutex::new(HashMap::new()),
        })
    }

    async fn synced(&self) -> Result<(), DirectoryError> {
        match tokio::time::timeout(FIRST_SYNC_WAIT, self.store.wait_until_ready()).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(DirectoryError::NotSynced),
        }
    }

    /// Whether the first list of CoderControlPlanes has arrived (waits a little for it).
    pub async fn ready(&self) -> bool {
        self.synced().await.is_ok()
    }

    /// Namespaces with at least one CoderControlPlane (the ones the sync visits).
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.store
            .state()
            .iter()
            .filter_map(|ccp| ccp.metadata.namespace.clone())
            .collect()
    }

    /// The coderd serving `namespace`.
    pub async fn resolve(&self, namespace: &str) -> Result<Deployment, DirectoryError> {
        self.synced().await?;
        let planes: Vec<Arc<DynamicObject>> = self
            .store
            .state()
            .into_iter()
            .filter(|ccp| ccp.metadata.namespace.as_deref() == Some(namespace))
            .collect();
        let access = choose(namespace, &planes)?;
        let cached = self
            .clients
            .lock()
            .ok()
            .and_then(|clients| clients.get(namespace).cloned());
        if let Some((known, client)) = cached
            && known == access
        {
            return Ok(Deployment {
                namespace: namespace.to_string(),
                control_plane: access.name,
                client,
            });
        }
        let token = self.read_token(namespace, &access).await?;
        let client = CoderClient::new(&access.url, self.options.clone())
            .map_err(|e| DirectoryError::Token {
                namespace: namespace.to_string(),
                name: access.name.clone(),
                reason: format!("status.url: {e}"),
            })?
            .with_token(token);
        if let Ok(mut clients) = self.clients.lock() {
            clients.insert(namespace.to_string(), (access.clone(), client.clone()));
        }
        Ok(Deployment {
            namespace: namespace.to_string(),
            control_plane: access.name,
            client,
        })
    }

    /// Drops the cached token of `namespace` (coderd rejected it: rotated or revoked).
    pub fn forget_token(&self, namespace: &str) {
        if let Ok(mut clients) = self.clients.lock() {
            clients.remove(namespace);
        }
    }

    /// coderd answered 401 to the operator token of `namespace`'s control plane `name`: the
    /// cached token is dropped (the next call reads the Secret again, in case it was rotated)
    /// and the rejection is recorded on the control plane, at most every
    /// [`REJECTION_REPORT_INTERVAL`], for the controller to check and replace the token.
    /// Recording needs `patch` on codercontrolplanes; it runs in the background and a failure
    /// is logged (the controller's periodic check still replaces the token).
    pub fn token_rejected(&self, namespace: &str, name: &str) {
        self.forget_token(namespace);
        let now = Instant::now();
        {
            let Ok(mut reported) = self.rejections.lock() else {
                return;
            };
            if reported
                .get(namespace)
                .is_some_and(|at| now.duration_since(*at) < REJECTION_REPORT_INTERVAL)
            {
                return;
            }
            reported.insert(namespace.to_string(), now);
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.secrets.clone(), namespace, &control_plane_resource());
        let patch = serde_json::json!({"metadata": {"annotations": {
            OPERATOR_TOKEN_REJECTED_AT: jiff::Timestamp::now().to_string(),
        }}});
        let (namespace, name) = (namespace.to_string(), name.to_string());
        tokio::spawn(async move {
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => tracing::info!(
                    namespace,
                    control_plane = name,
                    "coderd rejected the operator token; reported on the CoderControlPlane for the controller to replace it"
                ),
                Err(error) => tracing::warn!(
                    namespace,
                    control_plane = name,
                    %error,
                    "coderd rejected the operator token, and reporting it on the CoderControlPlane failed (needs patch on codercontrolplanes)"
                ),
            }
        });
    }

    /// A reference to `namespace`'s control plane `name`, for Events about it.
    pub fn control_plane_ref(&self, namespace: &str, name: &str) -> Option<ObjectReference> {
        let resource = control_plane_resource();
        self.store
            .state()
            .into_iter()
            .find(|ccp| {
                ccp.metadata.namespace.as_deref() == Some(namespace)
                    && ccp.metadata.name.as_deref() == Some(name)
            })
            .map(|ccp| ccp.object_ref(&resource))
    }

    async fn read_token(
        &self,
        namespace: &str,
        access: &Access,
    ) -> Result<SessionToken, DirectoryError> {
        let error = |reason: String| DirectoryError::Token {
            namespace: namespace.to_string(),
            name: access.name.clone(),
            reason,
        };
        let secrets: Api<Secret> = Api::namespaced(self.secrets.clone(), namespace);
        let secret = secrets
            .get_opt(&access.secret)
            .await
            .map_err(|e| error(format!("Secret {}: {e}", access.secret)))?
            .ok_or_else(|| error(format!("Secret {} not found", access.secret)))?;
        let bytes = secret
            .data
            .as_ref()
            .and_then(|data| data.get(&access.key))
            .map(|b| b.0.clone())
            .ok_or_else(|| {
                error(format!(
                    "Secret {} has no key {:?}",
                    access.secret, access.key
                ))
            })?;
        let token = String::from_utf8(bytes).map_err(|_| {
            error(format!(
                "Secret {} key {:?} is not text",
                access.secret, access.key
            ))
        })?;
        let token = token.trim();
        if token.is_empty() {
            return Err(error(format!(
                "Secret {} key {:?} is empty",
                access.secret, access.key
            )));
        }
        Ok(SessionToken::new(token))
    }
}

fn status_str<'a>(ccp: &'a DynamicObject, field: &str) -> Option<&'a str> {
    ccp.data
        .get("status")
        .and_then(|s| s.get(field))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The access a control plane's status grants, if complete.
fn access_of(ccp: &DynamicObject) -> Option<Access> {
    let status = ccp.data.get("status")?;
    if status.get("operatorAccessReady").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let reference = status.get("operatorTokenSecretRef")?;
    let secret = reference
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?;
    let key = reference
        .get("key")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("token");
    Some(Access {
        name: ccp.metadata.name.clone().unwrap_or_default(),
        url: status_str(ccp, "url")?.to_string(),
        secret: secret.to_string(),
        key: key.to_string(),
    })
}

/// The OperatorAccessReady condition, for the message of a control plane without access.
fn access_condition(ccp: &DynamicObject) -> String {
    let condition = ccp
        .data
        .get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|all| {
            all.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("OperatorAccessReady"))
        });
    match condition {
        Some(c) => {
            let field = |name: &str| c.get(name).and_then(Value::as_str).unwrap_or("");
            format!(
                "OperatorAccessReady={} reason {}: {}",
                field("status"),
                field("reason"),
                field("message")
            )
        }
        None => "no OperatorAccessReady condition yet".into(),
    }
}

/// The one usable control plane among a namespace's.
fn choose(namespace: &str, planes: &[Arc<DynamicObject>]) -> Result<Access, DirectoryError> {
    let ready: Vec<Access> = planes.iter().filter_map(|p| access_of(p)).collect();
    match ready.as_slice() {
        [one] => Ok(one.clone()),
        [] => match planes.first() {
            None => Err(DirectoryError::NoControlPlane {
                namespace: namespace.to_string(),
            }),
            Some(plane) => Err(DirectoryError::NotReady {
                namespace: namespace.to_string(),
                name: plane.metadata.name.clone().unwrap_or_default(),
                condition: access_condition(plane),
            }),
        },
        many => {
            let mut names: Vec<String> = many.iter().map(|a| a.name.clone()).collect();
            names.sort();
            Err(DirectoryError::Ambiguous {
                namespace: namespace.to_string(),
                names,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(name: &str, status: Value) -> Arc<DynamicObject> {
        let mut object = DynamicObject::new(name, &control_plane_resource()).within("team");
        object.data = serde_json::json!({ "status": status });
        Arc::new(object)
    }

    fn ready(name: &str) -> Arc<DynamicObject> {
        plane(
            name,
            serde_json::json!({
                "operatorAccessReady": true,
                "url": "http://127.0.0.1:3000",
                "operatorTokenSecretRef": {"name": format!("{name}-operator-token")}
            }),
        )
    }

    #[test]
    fn one_ready_control_plane_serves_the_namespace() {
        let access = choose("team", &[ready("coder")]).unwrap();
        assert_eq!(access.url, "http://127.0.0.1:3000");
        assert_eq!(access.secret, "coder-operator-token");
        assert_eq!(access.key, "token");
    }

    #[test]
    fn no_control_plane_is_named_in_the_error() {
        let error = choose("team", &[]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("namespace team has no CoderControlPlane")
        );
    }

    #[test]
    fn a_control_plane_without_access_says_why() {
        let pending = plane(
            "coder",
            serde_json::json!({
                "operatorAccessReady": false,
                "conditions": [{"type": "OperatorAccessReady", "status": "False",
                    "reason": "CoderdUnreachable", "message": "connection refused"}]
            }),
        );
        let error = choose("team", &[pending]).unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, DirectoryError::NotReady { .. }));
        assert!(text.contains("team/coder"), "{text}");
        assert!(text.contains("CoderdUnreachable"), "{text}");
    }

    #[test]
    fn several_ready_control_planes_are_a_conflict_naming_them() {
        let error = choose("team", &[ready("b"), ready("a")]).unwrap_err();
        assert!(error.to_string().contains("(a, b)"), "{error}");
    }
}
