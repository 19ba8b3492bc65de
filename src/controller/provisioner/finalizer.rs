//! The key-cleanup finalizer (coder/coder-k8s' name): a CoderProvisioner is not gone until its
//! provisioner key is deleted in coderd, which garbage collection cannot do.
//!
//! Both patches are JSON patches guarded by a `test` of the finalizer list, so a concurrent
//! change by someone else fails them (and is retried) instead of being overwritten.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation, TestOperation};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::Value;

use super::context::Context;
use crate::api::coder::v1alpha1::CoderProvisioner;
use crate::controller::builders::MANAGER;
use crate::controller::error::{Error, Result};

pub const FINALIZER: &str = "coder.com/provisioner-key-cleanup";

pub fn holds(obj: &CoderProvisioner) -> bool {
    obj.finalizers().iter().any(|f| f == FINALIZER)
}

pub fn deleting(obj: &CoderProvisioner) -> bool {
    obj.metadata.deletion_timestamp.is_some()
}

/// Adds the finalizer (the caller checked it is missing).
pub async fn add(ctx: &Context, obj: &CoderProvisioner) -> Result<()> {
    let present = obj.finalizers();
    let operations = if present.is_empty() {
        vec![
            test("/metadata/finalizers", Value::Null)?,
            PatchOperation::Add(AddOperation {
                path: pointer("/metadata/finalizers")?,
                value: serde_json::json!([FINALIZER]),
            }),
        ]
    } else {
        vec![
            test("/metadata/finalizers", serde_json::json!(present))?,
            PatchOperation::Add(AddOperation {
                path: pointer("/metadata/finalizers/-")?,
                value: FINALIZER.into(),
            }),
        ]
    };
    patch(ctx, obj, "add", operations).await
}

/// Removes the finalizer, if present.
pub async fn remove(ctx: &Context, obj: &CoderProvisioner) -> Result<()> {
    let Some(index) = obj.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{index}");
    let operations = vec![
        test(&path, FINALIZER.into())?,
        PatchOperation::Remove(RemoveOperation {
            path: pointer(&path)?,
        }),
    ];
    patch(ctx, obj, "remove", operations).await
}

async fn patch(
    ctx: &Context,
    obj: &CoderProvisioner,
    action: &'static str,
    operations: Vec<PatchOperation>,
) -> Result<()> {
    let namespace = obj
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<CoderProvisioner> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams {
        field_manager: Some(MANAGER.to_string()),
        ..PatchParams::default()
    };
    api.patch(
        &obj.name_any(),
        &params,
        &Patch::Json::<()>(json_patch::Patch(operations)),
    )
    .await
    .map_err(|source| Error::Finalizer {
        action,
        object: format!("CoderProvisioner {namespace}/{}", obj.name_any()),
        source,
    })?;
    Ok(())
}

fn pointer(path: &str) -> Result<PointerBuf> {
    PointerBuf::parse(path).map_err(|e| Error::Encode(e.to_string()))
}

fn test(path: &str, value: Value) -> Result<PatchOperation> {
    Ok(PatchOperation::Test(TestOperation {
        path: pointer(path)?,
        value,
    }))
}
