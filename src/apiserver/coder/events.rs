//! Kubernetes Events from the Coder backend, on the namespace's CoderControlPlane: that is the
//! object a user looks at (`kubectl describe codercontrolplane`) when a namespace's templates
//! and workspaces do not follow coderd, and the one the controller already reports operator
//! access on. Events are advisory: a failure to publish one is logged, never fatal.

use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::directory::Directory;

/// The reporting component of the apiserver's Events.
pub const REPORTER: &str = "coder-k8s-apiserver";

pub struct ControlPlaneEvents {
    recorder: Recorder,
}

impl ControlPlaneEvents {
    /// Publishes through `client` (needs `create` and `patch` on events.k8s.io events; kube's
    /// recorder patches a repeated Event into a series). `instance` names this replica.
    pub fn new(client: kube::Client, instance: Option<String>) -> Self {
        ControlPlaneEvents {
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: REPORTER.to_string(),
                    instance,
                },
            ),
        }
    }

    /// A Warning Event on `namespace`'s control plane `name`.
    pub async fn warn(
        &self,
        directory: &Directory,
        namespace: &str,
        name: &str,
        reason: &str,
        note: String,
    ) {
        let Some(reference) = directory.control_plane_ref(namespace, name) else {
            return;
        };
        let event = Event {
            type_: EventType::Warning,
            reason: reason.to_string(),
            note: Some(truncate_note(note)),
            action: "Sync".to_string(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &reference).await {
            tracing::debug!(namespace, %error, "cannot publish an Event on the CoderControlPlane");
        }
    }
}

/// events.k8s.io limits a note to 1 KiB.
fn truncate_note(mut note: String) -> String {
    const LIMIT: usize = 1000;
    if note.len() > LIMIT {
        let mut end = LIMIT;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push('…');
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        let cut = truncate_note("é".repeat(800));
        assert!(cut.len() <= 1003, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_note("short".into()), "short");
    }
}
