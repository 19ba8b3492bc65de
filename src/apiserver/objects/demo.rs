//! The original project's six demo objects, for `--demo-data`: three CoderWorkspaces and three
//! CoderTemplates with their `running` flags and `autoShutdown` times.

use serde_json::json;

use super::{Error, Objects, Patch, Subresource, WriteOptions};
use crate::api::registry::{ResourceDescriptor, find};

/// (plural, namespace, name, running, autoShutdown)
const DEMO: &[(&str, &str, &str, bool, &str)] = &[
    (
        "coderworkspaces",
        "default",
        "dev-workspace",
        true,
        "2030-01-01T18:00:00Z",
    ),
    (
        "coderworkspaces",
        "default",
        "staging-workspace",
        false,
        "2030-01-02T18:00:00Z",
    ),
    (
        "coderworkspaces",
        "sandbox",
        "sandbox-workspace",
        true,
        "2030-01-03T18:00:00Z",
    ),
    (
        "codertemplates",
        "default",
        "starter-template",
        true,
        "2030-01-04T18:00:00Z",
    ),
    (
        "codertemplates",
        "default",
        "platform-template",
        false,
        "2030-01-05T18:00:00Z",
    ),
    (
        "codertemplates",
        "sandbox",
        "docs-template",
        true,
        "2030-01-06T18:00:00Z",
    ),
];

fn resource(plural: &str) -> Result<&'static ResourceDescriptor, Error> {
    find("aggregation.coder.com", "v1alpha1", plural)
        .ok_or_else(|| Error::Internal(format!("{plural}.aggregation.coder.com is not generated")))
}

/// Creates the demo objects; ones that already exist are left alone.
pub async fn seed(objects: &Objects) -> Result<(), Error> {
    let opts = WriteOptions::default();
    for (plural, namespace, name, running, auto_shutdown) in DEMO {
        let r = resource(plural)?;
        let body = json!({
            "apiVersion": r.api_version(),
            "kind": r.kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"running": running},
        });
        match objects.create(r, Some(namespace), body, &opts).await {
            Ok(_) => {}
            Err(Error::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e),
        }
        // Create drops status (it belongs to the status subresource), so set it there.
        let status = Patch::Merge(json!({"status": {"autoShutdown": auto_shutdown}}));
        objects
            .patch(
                r,
                Some(namespace),
                name,
                Some(Subresource::Status),
                status,
                &opts,
            )
            .await?;
    }
    Ok(())
}
