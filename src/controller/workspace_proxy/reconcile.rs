//! One reconcile of a CoderWorkspaceProxy: resolve coderd, check the licence, register the proxy
//! (or bring coderd's copy in line with the spec), store its token, run the Deployment and the
//! Service, report status. Every step records its verdict in an [`Observed`], which becomes
//! the status whether the reconcile succeeds or fails.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{debug, info, instrument, warn};

use super::access::{self, Access, Coderd};
use super::builders::{self, TOKEN_KEY, Target, TokenRef};
use super::error::{ProxyError, Result};
use super::finalizer;
use super::status::{
    self, DEPLOYMENT_READY, ENTITLED, Observed, REGISTERED, Registration, TOKEN_SECRET_READY,
};
use super::{ProxyContext, key};
use crate::api::coder::v1alpha1::CoderWorkspaceProxy;
use crate::coder::{
    CreateWorkspaceProxy, FEATURE_WORKSPACE_PROXY, PatchWorkspaceProxy, ProxyToken, WorkspaceProxy,
};
use crate::controller::drift;
use crate::controller::labels::MANAGER;
use crate::controller::status_write::{freshest, write_changed};

/// Resync of a healthy proxy: catches what no watch shows (coderd-side edits, a licence change).
const RESYNC: Duration = Duration::from_secs(300);
/// Retry of a proxy waiting on something outside the cluster's watches (a credentials Secret
/// created later, a control plane's operator access).
const WAIT: Duration = Duration::from_secs(30);

#[instrument(skip(obj, ctx), fields(namespace = obj.namespace(), name = obj.name_any()))]
pub async fn reconcile(obj: Arc<CoderWorkspaceProxy>, ctx: Arc<ProxyContext>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started();
    let key = key(&obj);
    let result = if finalizer::deleting(obj.as_ref()) {
        finalize(&obj, &ctx).await
    } else {
        apply(&obj, &ctx).await
    };
    match result {
        Ok(action) => {
            ctx.backoff.reset(&key);
            ctx.warnings.clear(&key);
            Ok(action)
        }
        Err(error) => {
            // One Warning per kind of failure, however often the retry fails the same way.
            if ctx.warnings.first(&key, error.reason()) {
                publish(
                    &ctx,
                    &obj,
                    EventType::Warning,
                    error.reason(),
                    error.to_string(),
                )
                .await;
            }
            Err(error)
        }
    }
}

/// Requeue after an error, later each time the same proxy fails again.
pub fn error_policy(
    obj: Arc<CoderWorkspaceProxy>,
    error: &ProxyError,
    ctx: Arc<ProxyContext>,
) -> Action {
    ctx.metrics
        .failures
        .get_or_create(&crate::controller::metrics::ErrorLabels {
            reason: error.metric_label().to_string(),
        })
        .inc();
    let delay = ctx.backoff.next_delay(&key(&obj));
    warn!(%error, name = %obj.name_any(), retry_in = ?delay, "workspace proxy reconcile failed");
    Action::requeue(delay)
}

async fn apply(obj: &CoderWorkspaceProxy, ctx: &ProxyContext) -> Result<Action> {
    let target = Target::new(obj)?;
    let mut observed = Observed::default();
    let result = converge(obj, ctx, &target, &mut observed).await;
    // The status tells what happened even when a step failed; a failure to write it must not
    // hide the step's own error.
    match (write_status(ctx, obj, &observed).await, result) {
        (Ok(()), result) => result,
        (Err(status_error), Ok(_)) => Err(status_error),
        (Err(status_error), Err(error)) => {
            debug!(%status_error, "cannot record the failure in status");
            Err(error)
        }
    }
}

async fn converge(
    obj: &CoderWorkspaceProxy,
    ctx: &ProxyContext,
    target: &Target<'_>,
    observed: &mut Observed,
) -> Result<Action> {
    let Some(bootstrap) = &target.spec.bootstrap else {
        // Registered elsewhere: run the proxy with the token and URL the spec names.
        let (Some(url), Some(token)) = (
            &target.spec.primary_access_url,
            &target.spec.proxy_session_token_secret_ref,
        ) else {
            // The CRD's validation rules make this unreachable for objects it admitted.
            observed.check(
                TOKEN_SECRET_READY,
                status::Check::failed(
                    "InvalidSpec",
                    "without bootstrap, primaryAccessURL and proxySessionTokenSecretRef are required",
                ),
            );
            return Ok(Action::await_change());
        };
        let token = TokenRef {
            name: token.name.clone(),
            key: token.key.clone(),
        };
        observed.check(
            TOKEN_SECRET_READY,
            status::Check::ok("Provided", format!("token from Secret {}", token.name)),
        );
        return run_proxy(ctx, target, url, token, observed).await;
    };

    let coderd = match access::resolve(ctx, target, bootstrap, observed).await? {
        Access::Ready(coderd) => coderd,
        Access::Blocked { .. } => return Ok(Action::requeue(WAIT)),
    };
    ctx.remember_coderd(&key(obj), &coderd);

    let entitlements = coderd
        .client
        .entitlements()
        .await
        .map_err(ProxyError::coderd("reading coderd's entitlements"))
        .inspect_err(|e| {
            observed.check(ENTITLED, status::Check::failed(e.reason(), e.to_string()))
        })?;
    if !entitlements.allows(FEATURE_WORKSPACE_PROXY) {
        observed.check(
            ENTITLED,
            status::Check::failed(
                "NotEntitled",
                format!(
                    "coderd's licence does not include workspace proxies ({FEATURE_WORKSPACE_PROXY}: {}); add a licence that does",
                    entitlements.entitlement(FEATURE_WORKSPACE_PROXY).as_str()
                ),
            ),
        );
        // A proxy coderd would refuse must not run.
        delete_child::<Deployment>(ctx, obj, &ctx.deployments, target).await?;
        delete_child::<Service>(ctx, obj, &ctx.services, target).await?;
        return Ok(Action::requeue(RESYNC));
    }
    observed.check(
        ENTITLED,
        status::Check::ok("Entitled", "coderd's licence includes workspace proxies"),
    );

    // Before coderd has anything to clean up.
    if !finalizer::holds(obj) {
        finalizer::add(&ctx.client, obj).await?;
    }
    let token = register(obj, ctx, target, &coderd, observed)
        .await
        .inspect_err(|e| {
            observed.check(REGISTERED, status::Check::failed(e.reason(), e.to_string()))
        })?;
    let primary = target
        .spec
        .primary_access_url
        .clone()
        .unwrap_or_else(|| coderd.url.clone());
    run_proxy(ctx, target, &primary, token, observed).await
}

/// What coderd should show for this proxy.
#[derive(Debug, PartialEq, Eq)]
struct Wanted {
    name: String,
    display_name: String,
    icon: String,
}

impl Wanted {
    fn of(target: &Target<'_>) -> Self {
        let bootstrap = target.spec.bootstrap.as_ref();
        let name = bootstrap
            .and_then(|b| b.proxy_name.clone())
            .unwrap_or_else(|| target.name.to_string());
        let display_name = bootstrap
            .and_then(|b| b.display_name.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| name.clone());
        let icon = bootstrap
            .and_then(|b| b.icon.clone())
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| builders::DEFAULT_ICON.to_string());
        Self {
            name,
            display_name,
            icon,
        }
    }

    fn matches(&self, proxy: &WorkspaceProxy) -> bool {
        proxy.name == self.name
            && proxy.display_name == self.display_name
            && proxy.icon_url == self.icon
    }
}

/// Ensures coderd has the proxy as the spec says and the token Secret holds a token for it.
async fn register(
    obj: &CoderWorkspaceProxy,
    ctx: &ProxyContext,
    target: &Target<'_>,
    coderd: &Coderd,
    observed: &mut Observed,
) -> Result<TokenRef> {
    let wanted = Wanted::of(target);
    let known_id = obj.status.as_ref().and_then(|s| s.proxy_id.clone());
    // By id first: after a rename in the spec, coderd still has the proxy under its old name.
    let mut existing = match &known_id {
        Some(id) => coderd
            .client
            .workspace_proxy(id)
            .await
            .map_err(ProxyError::coderd("looking up the proxy in coderd"))?
            // coderd still answers for a deleted proxy by id; it is gone all the same.
            .filter(|p| !p.deleted),
        None => None,
    };
    if existing.is_none() {
        existing = coderd
            .client
            .workspace_proxy(&wanted.name)
            .await
            .map_err(ProxyError::coderd("looking up the proxy in coderd"))?;
    }
    let secret_name = target.token_secret_name();
    let has_token = stored_token(ctx, target.namespace, &secret_name).await?;

    let proxy = match existing {
        None => {
            let created = coderd
                .client
                .create_workspace_proxy(&CreateWorkspaceProxy {
                    name: wanted.name.clone(),
                    display_name: wanted.display_name.clone(),
                    icon: wanted.icon.clone(),
                })
                .await
                .map_err(ProxyError::coderd("registering the proxy in coderd"))?;
            // coderd shows the token only now: store it before anything else can fail.
            let token = created.proxy_token.ok_or(ProxyError::Coderd {
                doing: "registering the proxy in coderd",
                source: Box::new(crate::coder::CoderError::Encode {
                    what: "coderd's answer",
                    reason: "it carries no proxy_token".into(),
                }),
            })?;
            store_token(ctx, target, &token).await?;
            info!(proxy = %created.proxy.name, id = %created.proxy.id, "registered the workspace proxy in coderd");
            publish(
                ctx,
                obj,
                EventType::Normal,
                "Registered",
                format!(
                    "Registered workspace proxy {} in coderd",
                    created.proxy.name
                ),
            )
            .await;
            created.proxy
        }
        Some(proxy) if wanted.matches(&proxy) && has_token => proxy,
        Some(proxy) => {
            let regenerate = !has_token;
            let patched = coderd
                .client
                .patch_workspace_proxy(&PatchWorkspaceProxy {
                    id: proxy.id,
                    name: wanted.name.clone(),
                    display_name: wanted.display_name.clone(),
                    icon: wanted.icon.clone(),
                    regenerate_token: regenerate,
                })
                .await
                .map_err(ProxyError::coderd("updating the proxy in coderd"))?;
            if regenerate {
                let token = patched.proxy_token.ok_or(ProxyError::Coderd {
                    doing: "regenerating the proxy token",
                    source: Box::new(crate::coder::CoderError::Encode {
                        what: "coderd's answer",
                        reason: "it carries no proxy_token".into(),
                    }),
                })?;
                store_token(ctx, target, &token).await?;
                publish(
                    ctx,
                    obj,
                    EventType::Normal,
                    "TokenRegenerated",
                    format!(
                        "Regenerated the token of workspace proxy {} (Secret {secret_name} had none)",
                        patched.proxy.name
                    ),
                )
                .await;
            }
            if !wanted.matches(&proxy) {
                publish(
                    ctx,
                    obj,
                    EventType::Normal,
                    "Updated",
                    format!(
                        "Updated workspace proxy {} in coderd (name {}, display name {:?}, icon {:?})",
                        proxy.name, wanted.name, wanted.display_name, wanted.icon
                    ),
                )
                .await;
            }
            patched.proxy
        }
    };
    observed.registration = Some(Some(Registration {
        id: proxy.id.to_string(),
        name: proxy.name.clone(),
    }));
    observed.check(
        REGISTERED,
        status::Check::ok(
            "Registered",
            format!("registered in coderd as {} ({})", proxy.name, proxy.id),
        ),
    );
    observed.check(
        TOKEN_SECRET_READY,
        status::Check::ok("Stored", format!("token in Secret {secret_name}")),
    );
    Ok(TokenRef {
        name: secret_name,
        key: TOKEN_KEY.to_string(),
    })
}

/// Whether the token Secret holds a token (a GET: Secrets are not watched, see `run`).
async fn stored_token(ctx: &ProxyContext, namespace: &str, name: &str) -> Result<bool> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let live = api
        .get_opt(name)
        .await
        .map_err(|source| ProxyError::Object {
            action: "get",
            object: format!("Secret {namespace}/{name}"),
            source,
        })?;
    Ok(live
        .as_ref()
        .and_then(|secret| secret.data.as_ref())
        .and_then(|data| data.get(TOKEN_KEY))
        .is_some_and(|value| !value.0.is_empty()))
}

async fn store_token(ctx: &ProxyContext, target: &Target<'_>, token: &ProxyToken) -> Result<()> {
    let secret = builders::token_secret(target, token);
    server_side_apply(ctx, &secret).await.map(|_| ())
}

/// Applies the Deployment and the Service and checks the rollout.
async fn run_proxy(
    ctx: &ProxyContext,
    target: &Target<'_>,
    primary_url: &str,
    token: TokenRef,
    observed: &mut Observed,
) -> Result<Action> {
    let deployment = builders::deployment(target, primary_url, &token);
    observed.token = Some(token);
    let deployment = apply_child(ctx, &ctx.deployments, &deployment).await?;
    apply_child(ctx, &ctx.services, &builders::service(target)).await?;
    let wanted = target.spec.replicas;
    let ready = deployment
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    observed.replicas = Some((wanted, ready));
    let check = if ready >= wanted {
        status::Check::ok("Available", format!("{ready}/{wanted} proxy pods ready"))
    } else {
        status::Check::failed("Unavailable", format!("{ready}/{wanted} proxy pods ready"))
    };
    observed.check(DEPLOYMENT_READY, check);
    Ok(Action::requeue(RESYNC))
}

/// Server-side applies `child` unless the cached copy already holds every value we apply;
/// returns the child as stored (or cached).
async fn apply_child<K>(ctx: &ProxyContext, cache: &Store<K>, child: &K) -> Result<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    let namespace = child.namespace().unwrap_or_default();
    if let Some(cached) = cache.get(&ObjectRef::new(&child.name_any()).within(&namespace))
        && in_sync(cached.as_ref(), child)
    {
        return Ok(cached);
    }
    server_side_apply(ctx, child).await.map(Arc::new)
}

fn in_sync<K: Serialize>(cached: &K, wanted: &K) -> bool {
    match (serde_json::to_value(cached), serde_json::to_value(wanted)) {
        (Ok(cached), Ok(wanted)) => drift::contains(&cached, &wanted),
        _ => false,
    }
}

async fn server_side_apply<K>(ctx: &ProxyContext, child: &K) -> Result<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let namespace = child
        .namespace()
        .ok_or(ProxyError::MissingObjectKey("metadata.namespace"))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    api.patch(
        &child.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(child),
    )
    .await
    .map_err(|source| ProxyError::Object {
        action: "apply",
        object: format!("{} {namespace}/{}", K::kind(&()), child.name_any()),
        source,
    })
}

/// Deletes this proxy's child of kind `K` if the cache has it and the proxy controls it.
async fn delete_child<K>(
    ctx: &ProxyContext,
    owner: &CoderWorkspaceProxy,
    cache: &Store<K>,
    target: &Target<'_>,
) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let name = target.child_name();
    let Some(existing) = cache.get(&ObjectRef::new(&name).within(target.namespace)) else {
        return Ok(());
    };
    let controlled = existing
        .owner_references()
        .iter()
        .any(|r| r.controller == Some(true) && Some(&r.uid) == owner.meta().uid.as_ref());
    if !controlled {
        return Ok(());
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), target.namespace);
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(source) => {
            return Err(ProxyError::Object {
                action: "delete",
                object: format!("{} {}/{name}", K::kind(&()), target.namespace),
                source,
            });
        }
    }
    publish(
        ctx,
        owner,
        EventType::Normal,
        "Deleted",
        format!("Deleted {} {name}: the proxy is not entitled", K::kind(&())),
    )
    .await;
    Ok(())
}

/// Being deleted: deregister the proxy in coderd, then let the object go (the children follow
/// through garbage collection).
async fn finalize(obj: &CoderWorkspaceProxy, ctx: &ProxyContext) -> Result<Action> {
    if !finalizer::holds(obj) {
        return Ok(Action::await_change());
    }
    let target = Target::new(obj)?;
    let Some(bootstrap) = &target.spec.bootstrap else {
        finalizer::remove(&ctx.client, obj).await?;
        return Ok(Action::await_change());
    };
    let mut observed = Observed::default();
    let proxy = obj
        .status
        .as_ref()
        .and_then(|s| s.proxy_id.clone())
        .unwrap_or_else(|| Wanted::of(&target).name);
    match access::resolve(ctx, &target, bootstrap, &mut observed).await? {
        Access::Ready(coderd) => {
            if let Err(skipped) = deregister(&coderd, &proxy).await? {
                return release_with_warning(ctx, obj, &proxy, &skipped).await;
            }
        }
        Access::Blocked { gone: false } => return Ok(Action::requeue(WAIT)),
        Access::Blocked { gone: true } => {
            let why = observed
                .checks
                .last()
                .map(|(_, check)| check.message.clone())
                .unwrap_or_default();
            // The control plane went first (deleted together): its token may still work.
            let Some(coderd) = ctx.last_coderd(&key(obj)) else {
                return release_with_warning(ctx, obj, &proxy, &why).await;
            };
            match deregister(&coderd, &proxy).await {
                Ok(Ok(())) => {}
                Ok(Err(skipped)) => return release_with_warning(ctx, obj, &proxy, &skipped).await,
                Err(error) => {
                    let why = format!("{why}; with the last credentials that worked: {error}");
                    return release_with_warning(ctx, obj, &proxy, &why).await;
                }
            }
        }
    }
    info!(%proxy, "deregistered the workspace proxy in coderd");
    publish(
        ctx,
        obj,
        EventType::Normal,
        "Deregistered",
        format!("Deregistered workspace proxy {proxy} in coderd"),
    )
    .await;
    finalizer::remove(&ctx.client, obj).await?;
    Ok(Action::await_change())
}

/// Deletes the proxy in coderd. `Ok(Err(why))`: coderd cannot delete it for a reason waiting
/// will not fix (its licence no longer covers proxies, so every proxy call is refused).
async fn deregister(coderd: &Coderd, proxy: &str) -> Result<Result<(), String>> {
    let entitlements = coderd
        .client
        .entitlements()
        .await
        .map_err(ProxyError::coderd("reading coderd's entitlements"))?;
    if !entitlements.allows(FEATURE_WORKSPACE_PROXY) {
        return Ok(Err(
            "coderd's licence no longer includes workspace proxies".to_string()
        ));
    }
    coderd
        .client
        .delete_workspace_proxy(proxy)
        .await
        .map_err(ProxyError::coderd("deregistering the proxy in coderd"))?;
    Ok(Ok(()))
}

/// Lets the object go without deregistering: holding it would block its namespace's deletion
/// for ever. The Warning names the proxy to delete in coderd by hand.
async fn release_with_warning(
    ctx: &ProxyContext,
    obj: &CoderWorkspaceProxy,
    proxy: &str,
    why: &str,
) -> Result<Action> {
    warn!(%proxy, why, "cannot deregister the workspace proxy; releasing the object");
    publish(
        ctx,
        obj,
        EventType::Warning,
        "DeregistrationSkipped",
        format!(
            "Cannot deregister workspace proxy {proxy} in coderd: {why}; delete it there by hand"
        ),
    )
    .await;
    finalizer::remove(&ctx.client, obj).await?;
    Ok(Action::await_change())
}

/// Writes status with server-side apply on /status, unless nothing changed (judged against our
/// own last write when the cached object does not show it yet).
async fn write_status(
    ctx: &ProxyContext,
    obj: &CoderWorkspaceProxy,
    observed: &Observed,
) -> Result<()> {
    let base = freshest(&ctx.written_status, obj);
    let status = status::compute(&base, observed, Timestamp::now());
    write_changed(
        &ctx.client,
        &ctx.written_status,
        base.as_ref(),
        &status,
        |object, source| ProxyError::Object {
            action: "write the status of",
            object: format!("CoderWorkspaceProxy {object}"),
            source,
        },
    )
    .await
}

async fn publish(
    ctx: &ProxyContext,
    obj: &CoderWorkspaceProxy,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        // Events are advisory; failing a reconcile over one would hide the real outcome.
        debug!(%error, "cannot publish event");
    }
}
