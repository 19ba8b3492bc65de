//! The CoderProvisioner reconciler: control plane → operator token → entitlement → key and
//! Secret → Deployment, each step a condition; then status, written only when it changed.
//!
//! coderd being down or refusing is a condition and a retry with backoff (one Warning Event
//! per failure, not one per attempt), never a reconcile error: errors are for the Kubernetes
//! API. Every step reads the watch caches first, so a converged object costs no request.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use tracing::{debug, info, instrument, warn};

use super::builders::{self, DeploymentInputs, KeyRecord, Target};
use super::context::Context;
use super::finalizer;
use super::key::{self, KeyError, Wanted};
use super::status::{self, Findings, Found};
use crate::api::coder::v1alpha1::{CoderControlPlane, CoderProvisioner, CoderProvisionerStatus};
use crate::coder::{CoderClient, FEATURE_EXTERNAL_PROVISIONER_DAEMONS, SessionToken};
use crate::controller::drift;
use crate::controller::error::{Error, Result};
use crate::controller::labels::MANAGER;
use crate::controller::remembered::object_key;
use crate::controller::status_write::{freshest, write_changed};

/// Resync of a converged provisioner.
const RESYNC: Duration = Duration::from_secs(300);
/// How soon a missing entitlement or operator token is looked at again (coder/coder-k8s
/// waits 2 minutes and 15 seconds; a licence upload should not wait that long here).
const ENTITLEMENT_RECHECK: Duration = Duration::from_secs(60);
const OPERATOR_TOKEN_RECHECK: Duration = Duration::from_secs(15);

pub fn key(obj: &CoderProvisioner) -> String {
    object_key(obj)
}

/// What to do after a reconcile that did not fail.
enum Next {
    Resync,
    After(Duration),
    /// coderd failed: back off, and warn once.
    Coderd {
        reason: &'static str,
        message: String,
    },
}

#[instrument(skip(obj, ctx), fields(namespace = obj.namespace(), name = obj.name_any()))]
pub async fn reconcile(obj: Arc<CoderProvisioner>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started();
    let owner = key(&obj);
    let result = if finalizer::deleting(obj.as_ref()) {
        finalize(&obj, &ctx).await
    } else {
        apply(&obj, &ctx).await
    };
    let next = match result {
        Ok(next) => next,
        Err(error) => {
            publish(
                &ctx,
                &obj,
                EventType::Warning,
                &error.reason(),
                error.to_string(),
            )
            .await;
            return Err(error);
        }
    };
    ctx.backoff.reset(&owner);
    Ok(match next {
        Next::Resync => {
            ctx.recovered(&owner);
            Action::requeue(RESYNC)
        }
        Next::After(delay) => Action::requeue(delay),
        Next::Coderd { reason, message } => {
            if ctx.first_warning(&owner, reason) {
                publish(&ctx, &obj, EventType::Warning, reason, message).await;
            }
            let delay = ctx.coderd_backoff.next_delay(&owner);
            debug!(retry_in = ?delay, "coderd failed; retrying later");
            Action::requeue(delay)
        }
    })
}

/// Requeue after a Kubernetes API error, later each time the same object fails again.
pub fn error_policy(obj: Arc<CoderProvisioner>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(error);
    let delay = ctx.backoff.next_delay(&key(&obj));
    warn!(%error, name = %obj.name_any(), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn apply(obj: &CoderProvisioner, ctx: &Context) -> Result<Next> {
    let target = Target::new(obj)?;
    // Before any key exists in coderd, so none can outlive the object.
    if !finalizer::holds(obj) {
        finalizer::add(&ctx.client, obj).await?;
    }
    let mut findings = Findings::default();
    let next = converge(ctx, &target, &mut findings).await;
    // Also after a failure: the conditions say how far it got.
    write_status(ctx, obj, &findings).await?;
    next
}

async fn converge(ctx: &Context, target: &Target<'_>, findings: &mut Findings) -> Result<Next> {
    let Some(control_plane) = control_plane(ctx, target, findings) else {
        // The control plane watch starts the next reconcile.
        return Ok(Next::Resync);
    };
    let url = control_plane
        .status
        .as_ref()
        .and_then(|s| s.url.clone())
        .unwrap_or_default();
    let Some(token) = operator_token(ctx, target, &control_plane, findings).await? else {
        return Ok(Next::After(OPERATOR_TOKEN_RECHECK));
    };
    let coderd = match ctx.coderd(&url) {
        Ok(client) => client.with_token(token.clone()),
        Err(error) => {
            findings.push(Found::not(
                status::CONTROL_PLANE_READY,
                "InvalidControlPlaneURL",
                format!("status.url of the control plane is not usable: {error}"),
            ));
            return Ok(Next::Resync);
        }
    };
    if let Some(next) = entitlement(ctx, &url, &coderd, findings).await {
        return Ok(next);
    }

    let wanted = Wanted::of(target, &url);
    let secret = ctx.key_secret(target.namespace, &target.secret_name());
    let previous = secret
        .as_ref()
        .filter(|s| controlled_by(*s, target))
        .and_then(KeyRecord::of);
    let usable = secret
        .as_ref()
        .filter(|s| controlled_by(*s, target))
        .and_then(|s| s.data.as_ref()?.get(target.secret_key()))
        .is_some_and(|value| !value.0.is_empty());
    let why = match &previous {
        None => Some("no key stored yet"),
        Some(_) if !usable => Some("the Secret lost the key"),
        Some(record) => wanted.differs_from(record),
    };
    let record = match why {
        None => previous
            .clone()
            .ok_or(Error::MissingObjectKey("key record"))?,
        Some(why) => {
            // The key to delete: the Secret's, else the one status last reported (the Secret
            // was renamed or deleted, and the key may carry another name than the new one).
            let stale = previous.clone().or_else(|| recorded_in_status(target.obj));
            match key::replace(ctx, target, &coderd, &token, &wanted, stale.as_ref()).await {
                Ok(replaced) => {
                    let note = if previous.is_some() {
                        format!(
                            "Replaced provisioner key {:?} ({why}); deleted in coderd: {}",
                            replaced.record.key_name,
                            list(&replaced.deleted)
                        )
                    } else {
                        format!(
                            "Created provisioner key {:?} in organization {:?}",
                            replaced.record.key_name, replaced.record.organization_name
                        )
                    };
                    let reason = if previous.is_some() {
                        "ProvisionerKeyRotated"
                    } else {
                        "ProvisionerKeyCreated"
                    };
                    publish_for(ctx, target.obj, EventType::Normal, reason, note).await;
                    replaced.record
                }
                Err(KeyError::Kube(error)) => {
                    findings.push(Found::not(
                        status::KEY_SECRET_READY,
                        "SecretFailed",
                        error.to_string(),
                    ));
                    return Err(error);
                }
                Err(KeyError::Coderd {
                    reason, message, ..
                }) => {
                    findings.push(Found::not(status::KEY_READY, reason, message.clone()));
                    return Ok(Next::Coderd { reason, message });
                }
            }
        }
    };
    findings.push(Found::ok(
        status::KEY_READY,
        "ProvisionerKeyReady",
        format!(
            "Provisioner key {:?} exists in organization {:?}",
            record.key_name, record.organization_name
        ),
    ));
    findings.push(Found::ok(
        status::KEY_SECRET_READY,
        "SecretReady",
        format!(
            "Secret {} holds the key under {:?}",
            target.secret_name(),
            target.secret_key()
        ),
    ));
    findings.secret_ref = Some((target.secret_name(), target.secret_key().to_string()));

    let image = target
        .obj
        .spec
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| control_plane.spec.image.clone());
    let desired = builders::deployment(
        target,
        &DeploymentInputs {
            coder_url: &url,
            image: &image,
            key_id: &record.key_id,
        },
    );
    findings.key = Some(record);
    let stores = &ctx.stores;
    apply_owned(
        ctx,
        &stores.service_accounts,
        target,
        &builders::service_account(target),
    )
    .await?;
    apply_owned(ctx, &stores.roles, target, &builders::role(target)).await?;
    apply_owned(
        ctx,
        &stores.role_bindings,
        target,
        &builders::role_binding(target),
    )
    .await?;
    let deployment = apply_owned(ctx, &stores.deployments, target, &desired).await?;
    let ready = deployment
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    findings.ready_replicas = Some(ready);
    findings.push(if ready > 0 {
        Found::ok(
            status::DEPLOYMENT_READY,
            "MinimumReplicasReady",
            format!(
                "{ready} of {} provisioner pods ready",
                target.obj.spec.replicas
            ),
        )
    } else {
        Found::not(
            status::DEPLOYMENT_READY,
            "NoReplicasReady",
            "No provisioner pods are ready yet",
        )
    });
    Ok(Next::Resync)
}

/// The key status last reported, as far as deleting it needs (name, organization, coderd).
fn recorded_in_status(obj: &CoderProvisioner) -> Option<KeyRecord> {
    let status = obj.status.as_ref()?;
    Some(KeyRecord {
        key_name: status.provisioner_key_name.clone()?,
        key_id: status.provisioner_key_id.clone().unwrap_or_default(),
        organization_id: status.organization_id.clone()?,
        organization_name: status.organization_name.clone().unwrap_or_default(),
        tags_hash: status.tags_hash.clone().unwrap_or_default(),
        control_plane: status.control_plane_ref_name.clone().unwrap_or_default(),
        control_plane_url: status.control_plane_url.clone()?,
    })
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn controlled_by<K: Resource>(child: &K, target: &Target<'_>) -> bool {
    child
        .meta()
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|r| r.controller == Some(true) && Some(&r.uid) == target.obj.metadata.uid.as_ref())
}

/// The referenced control plane, if it exists and reports its URL.
fn control_plane(
    ctx: &Context,
    target: &Target<'_>,
    findings: &mut Findings,
) -> Option<Arc<CoderControlPlane>> {
    let name = &target.obj.spec.control_plane_ref.name;
    let found = ctx
        .stores
        .control_planes
        .get(&ObjectRef::new(name).within(target.namespace));
    let Some(ccp) = found else {
        findings.push(Found::not(
            status::CONTROL_PLANE_READY,
            "ControlPlaneNotFound",
            format!(
                "CoderControlPlane {}/{name} does not exist",
                target.namespace
            ),
        ));
        return None;
    };
    if ccp.metadata.deletion_timestamp.is_some() {
        findings.push(Found::not(
            status::CONTROL_PLANE_READY,
            "ControlPlaneDeleting",
            format!(
                "CoderControlPlane {}/{name} is being deleted",
                target.namespace
            ),
        ));
        return None;
    }
    let has_url = ccp
        .status
        .as_ref()
        .and_then(|s| s.url.as_deref())
        .is_some_and(|u| !u.is_empty());
    if !has_url {
        findings.push(Found::not(
            status::CONTROL_PLANE_READY,
            "ControlPlaneURLMissing",
            format!(
                "Waiting for CoderControlPlane {}/{name} to report status.url",
                target.namespace
            ),
        ));
        return None;
    }
    findings.push(Found::ok(
        status::CONTROL_PLANE_READY,
        "ControlPlaneAvailable",
        "Referenced control plane is available and has a URL",
    ));
    Some(ccp)
}

/// The control plane's operator token (the Secret its status names), when operator access is
/// ready. Err only when reading the Secret fails for another reason than its absence.
async fn operator_token(
    ctx: &Context,
    target: &Target<'_>,
    ccp: &CoderControlPlane,
    findings: &mut Findings,
) -> Result<Option<SessionToken>> {
    let ccp_name = ccp.name_any();
    let status = ccp.status.clone().unwrap_or_default();
    let mut not_ready = |reason: &'static str, message: String| {
        findings.push(Found::not(status::OPERATOR_ACCESS_READY, reason, message));
        Ok(None)
    };
    if status.operator_access_ready != Some(true) {
        return not_ready(
            "OperatorAccessNotReady",
            format!(
                "Waiting for CoderControlPlane {}/{ccp_name} status.operatorAccessReady=true",
                target.namespace
            ),
        );
    }
    let Some((secret_name, secret_key)) = status
        .operator_token_secret_ref
        .as_ref()
        .and_then(|r| Some((r.name.clone()?, r.key.clone().unwrap_or("token".into()))))
        .filter(|(name, _)| !name.is_empty())
    else {
        return not_ready(
            "OperatorTokenSecretRefMissing",
            format!(
                "Waiting for CoderControlPlane {}/{ccp_name} status.operatorTokenSecretRef",
                target.namespace
            ),
        );
    };
    // The minted token's Secret is ours (labelled) and cached; a user's is read.
    let cached = ctx
        .stores
        .secrets
        .get(&ObjectRef::new(&secret_name).within(target.namespace));
    let secret = match cached {
        Some(secret) => Some((*secret).clone()),
        None => {
            let api: Api<Secret> = Api::namespaced(ctx.client.clone(), target.namespace);
            api.get_opt(&secret_name)
                .await
                .map_err(|source| Error::Child {
                    action: "read",
                    child: format!("Secret {}/{secret_name}", target.namespace),
                    source,
                })?
        }
    };
    let token = secret.as_ref().and_then(|s| {
        let bytes = s.data.as_ref()?.get(&secret_key)?;
        let text = std::str::from_utf8(&bytes.0).ok()?.trim();
        (!text.is_empty()).then(|| SessionToken::new(text))
    });
    let Some(token) = token else {
        return not_ready(
            "OperatorTokenSecretUnavailable",
            format!(
                "Secret {}/{secret_name} has no token under {secret_key:?}",
                target.namespace
            ),
        );
    };
    findings.push(Found::ok(
        status::OPERATOR_ACCESS_READY,
        "OperatorAccessReady",
        "Operator token of the referenced control plane is available",
    ));
    Ok(Some(token))
}

/// `None` when the deployment may run external provisioners; else what to do instead.
async fn entitlement(
    ctx: &Context,
    url: &str,
    coderd: &CoderClient,
    findings: &mut Findings,
) -> Option<Next> {
    match ctx.entitlements(url, coderd).await {
        Ok(entitlements) if entitlements.allows(FEATURE_EXTERNAL_PROVISIONER_DAEMONS) => {
            findings.push(Found::ok(
                status::ENTITLED,
                "Entitled",
                "Coder deployment is entitled to external provisioner daemons",
            ));
            None
        }
        Ok(entitlements) => {
            let state = entitlements.entitlement(FEATURE_EXTERNAL_PROVISIONER_DAEMONS);
            findings.push(Found::not(
                status::ENTITLED,
                "NotEntitled",
                format!(
                    "Coder deployment is not entitled to external provisioner daemons \
                     (entitlement {}); add a Premium license to run them",
                    state.as_str()
                ),
            ));
            Some(Next::After(ENTITLEMENT_RECHECK))
        }
        Err(error) => {
            let reason = if error.is_unavailable() {
                "CoderdUnreachable"
            } else if error.is_not_found() {
                "NotSupported"
            } else if error.is_unauthorized() || error.status() == Some(http::StatusCode::FORBIDDEN)
            {
                "Forbidden"
            } else {
                "EntitlementsQueryFailed"
            };
            let message = format!("cannot read coderd's entitlements: {error}");
            findings.push(Found::not(status::ENTITLED, reason, message.clone()));
            Some(Next::Coderd { reason, message })
        }
    }
}

/// Server-side applies a child unless the cached copy already has every value we set, and
/// returns it as stored.
async fn apply_owned<K>(
    ctx: &Context,
    store: &Store<K>,
    target: &Target<'_>,
    desired: &K,
) -> Result<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let name = desired.name_any();
    let kind = K::kind(&());
    let cached = store.get(&ObjectRef::new(&name).within(target.namespace));
    if let Some(cached) = &cached
        && in_sync(cached.as_ref(), desired)
    {
        return Ok((**cached).clone());
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), target.namespace);
    let stored = api
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(desired),
        )
        .await
        .map_err(|source| Error::Child {
            action: "apply",
            child: format!("{kind} {}/{name}", target.namespace),
            source,
        })?;
    let reason = if cached.is_some() {
        "Updated"
    } else {
        "Created"
    };
    info!(child = %format!("{kind} {name}"), "{} provisioner child", reason.to_lowercase());
    publish_for(
        ctx,
        target.obj,
        EventType::Normal,
        reason,
        format!("{reason} {kind} {}/{name}", target.namespace),
    )
    .await;
    Ok(stored)
}

fn in_sync<K: serde::Serialize>(cached: &K, wanted: &K) -> bool {
    match (serde_json::to_value(cached), serde_json::to_value(wanted)) {
        (Ok(cached), Ok(wanted)) => drift::contains(&cached, &wanted),
        _ => false,
    }
}

/// Writes status with server-side apply on /status, unless nothing changed (judged against our
/// own last write when the cached object does not show it yet).
async fn write_status(ctx: &Context, obj: &CoderProvisioner, findings: &Findings) -> Result<()> {
    let base = freshest(&ctx.written_status, obj);
    let status: CoderProvisionerStatus = status::compute(&base, findings, Timestamp::now());
    write_changed(
        &ctx.client,
        &ctx.written_status,
        base.as_ref(),
        &status,
        |object, source| Error::Child {
            action: "write the status of",
            child: format!("CoderProvisioner {object}"),
            source,
        },
    )
    .await
}

/// Being deleted: delete the key in coderd, then let go. coderd down while the control plane
/// still exists is retried (the key would otherwise outlive the object); a control plane or
/// token that is gone cannot be waited for, so the object is released with a Warning.
async fn finalize(obj: &CoderProvisioner, ctx: &Context) -> Result<Next> {
    if !finalizer::holds(obj) {
        return Ok(Next::Resync);
    }
    let target = Target::new(obj)?;
    match delete_key(ctx, &target).await? {
        Cleanup::Done(note) => {
            if let Some(note) = note {
                publish(ctx, obj, EventType::Normal, "ProvisionerKeyDeleted", note).await;
            }
        }
        Cleanup::Abandoned(note) => {
            publish(
                ctx,
                obj,
                EventType::Warning,
                "ProvisionerKeyNotDeleted",
                note,
            )
            .await;
        }
        Cleanup::Retry { reason, message } => {
            return Ok(Next::Coderd { reason, message });
        }
    }
    finalizer::remove(&ctx.client, obj).await?;
    ctx.forget(
        &key(obj),
        Some(&format!("{}/{}", target.namespace, target.secret_name())),
    );
    Ok(Next::Resync)
}

enum Cleanup {
    /// Deleted (the note says which key), or there was none to delete.
    Done(Option<String>),
    /// Cannot be deleted from here; the note says why and what is left.
    Abandoned(String),
    Retry {
        reason: &'static str,
        message: String,
    },
}

async fn delete_key(ctx: &Context, target: &Target<'_>) -> Result<Cleanup> {
    let status = target.obj.status.clone().unwrap_or_default();
    let record = ctx
        .key_secret(target.namespace, &target.secret_name())
        .filter(|s| controlled_by(s, target))
        .and_then(|s| KeyRecord::of(&s));
    let key_name = record
        .as_ref()
        .map(|r| r.key_name.clone())
        .or(status.provisioner_key_name.clone())
        .unwrap_or_else(|| target.key_name());
    let organization = record
        .as_ref()
        .map(|r| r.organization_id.clone())
        .or(status.organization_id.clone());

    // No key was ever recorded (say the entitlement was missing): nothing to warn about when
    // coderd cannot be asked.
    let known = record.is_some() || status.provisioner_key_name.is_some();
    let mut findings = Findings::default();
    let left = |why: String| {
        if !known {
            return Ok(Cleanup::Done(None));
        }
        Ok(Cleanup::Abandoned(format!(
            "provisioner key {key_name:?} may be left in coderd ({why}); delete it with \
             `coder provisioner keys delete {key_name}`"
        )))
    };
    let Some(ccp) = control_plane(ctx, target, &mut findings) else {
        let why = findings
            .first_failure()
            .map(|f| f.message.clone())
            .unwrap_or_default();
        return left(why);
    };
    let Some(token) = operator_token(ctx, target, &ccp, &mut findings).await? else {
        let why = findings
            .first_failure()
            .map(|f| f.message.clone())
            .unwrap_or_default();
        return left(why);
    };
    let url = record
        .as_ref()
        .map(|r| r.control_plane_url.clone())
        .or(status.control_plane_url.clone())
        .or(ccp.status.as_ref().and_then(|s| s.url.clone()))
        .unwrap_or_default();
    let coderd = match ctx.coderd(&url) {
        Ok(client) => client.with_token(token),
        Err(error) => return left(error.to_string()),
    };
    let organization = match organization {
        Some(id) => id,
        None => match coderd.organization(target.organization()).await {
            Ok(org) => org.id.to_string(),
            Err(error) if error.is_unavailable() => {
                return Ok(Cleanup::Retry {
                    reason: "CoderdUnreachable",
                    message: format!("cannot delete provisioner key {key_name:?}: {error}"),
                });
            }
            // No such organization: no key of ours can be in it.
            Err(error) if error.is_not_found() => return Ok(Cleanup::Done(None)),
            Err(error) => return left(error.to_string()),
        },
    };
    match key::delete(&coderd, &organization, &key_name).await {
        Ok(()) => {
            Ok(Cleanup::Done(known.then(|| {
                format!("Deleted provisioner key {key_name:?} in coderd")
            })))
        }
        Err(KeyError::Coderd {
            reason,
            message,
            unavailable: true,
        }) => Ok(Cleanup::Retry { reason, message }),
        Err(error) => left(error.to_string()),
    }
}

async fn publish(
    ctx: &Context,
    obj: &CoderProvisioner,
    type_: EventType,
    reason: &str,
    note: String,
) {
    publish_for(ctx, obj, type_, reason, note).await;
}

async fn publish_for(
    ctx: &Context,
    obj: &CoderProvisioner,
    type_: EventType,
    reason: &str,
    mut note: String,
) {
    // events.k8s.io limits the note to 1 KiB.
    if note.len() > 1000 {
        let mut end = 1000;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push('…');
    }
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
