//! The identity of the object being reconciled, as every kind's builders need it: its name,
//! its namespace, and the controller owner reference its children carry; and [`Target`], that
//! identity with the labels and metadata every child of the object carries. Each kind adds the
//! names and fields of its own children in an `impl Target<'_, Kind>` of its builders.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::Resource;
use kube::core::object::HasSpec;

use super::error::KindError;
use super::labels::{INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGER, NAME_LABEL};

pub struct Identity<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub owner: OwnerReference,
}

/// `obj`'s identity; Err names the metadata field it lacks (an object the API server returned
/// always has all three).
pub fn identity<K: Resource<DynamicType = ()>>(obj: &K) -> Result<Identity<'_>, &'static str> {
    let meta = obj.meta();
    let name = meta.name.as_deref().ok_or("metadata.name")?;
    let namespace = meta.namespace.as_deref().ok_or("metadata.namespace")?;
    let owner = obj.controller_owner_ref(&()).ok_or("metadata.uid")?;
    Ok(Identity {
        name,
        namespace,
        owner,
    })
}

/// A kind whose objects own children: what its children are labelled with.
pub trait Owner: Resource<DynamicType = ()> + HasSpec {
    /// The kind's controller's error type.
    type Error: KindError;
    /// `app.kubernetes.io/name` of every child: what is running, independent of the instance.
    const APP_NAME: &'static str;

    /// `app.kubernetes.io/instance` of the children of the object named `name` (a label value
    /// holds at most 63 characters; each kind keeps its own way of shortening a longer name).
    fn instance_label(name: &str) -> String;
}

/// The pods of a kind's Deployment: what the kind decides about them.
pub struct Pods {
    /// Labels of the kind's own (a user's podLabels, say): every child's labels win over them.
    pub labels: BTreeMap<String, String>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub spec: PodSpec,
}

/// The object being reconciled, with what every builder of its children needs.
pub struct Target<'a, K: Owner> {
    pub obj: &'a K,
    pub spec: &'a K::Spec,
    pub name: &'a str,
    pub namespace: &'a str,
    owner: OwnerReference,
}

impl<'a, K: Owner> Target<'a, K> {
    pub fn new(obj: &'a K) -> Result<Self, K::Error> {
        let Identity {
            name,
            namespace,
            owner,
        } = identity(obj).map_err(K::Error::missing_object_key)?;
        Ok(Self {
            obj,
            spec: obj.spec(),
            name,
            namespace,
            owner,
        })
    }

    /// Labels the pods are selected by.
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (NAME_LABEL.to_string(), K::APP_NAME.to_string()),
            (INSTANCE_LABEL.to_string(), K::instance_label(self.name)),
        ])
    }

    /// Labels of every child; the managed-by label puts them in the controller's watches.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.selector_labels();
        labels.insert(MANAGED_BY_LABEL.to_string(), MANAGER.to_string());
        labels
    }

    /// Metadata of a child in the object's namespace, owned by it (garbage-collected).
    pub fn owned_meta(&self, name: impl Into<String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(self.namespace.to_string()),
            labels: Some(self.labels()),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }

    /// The owned Deployment `name` of `replicas` `pods`, selected by the selector labels. The
    /// pods carry every child's labels over their own, so that none can drop the selector
    /// labels (a pod without them would no longer belong to its Deployment or Service).
    pub fn deployment(&self, name: impl Into<String>, replicas: i32, pods: Pods) -> Deployment {
        let mut pod_labels = pods.labels;
        pod_labels.extend(self.labels());
        Deployment {
            metadata: self.owned_meta(name),
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some(self.selector_labels()),
                    match_expressions: None,
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(pod_labels),
                        annotations: pods.annotations,
                        ..ObjectMeta::default()
                    }),
                    spec: Some(pods.spec),
                },
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn object(metadata: serde_json::Value) -> ConfigMap {
        serde_json::from_value(serde_json::json!({"metadata": metadata})).unwrap()
    }

    #[test]
    fn names_the_first_missing_field() {
        let complete = object(serde_json::json!({"name": "a", "namespace": "ns", "uid": "u"}));
        let found = identity(&complete).unwrap();
        assert_eq!((found.name, found.namespace), ("a", "ns"));
        assert_eq!(found.owner.uid, "u");
        assert_eq!(found.owner.controller, Some(true));
        let no_name = object(serde_json::json!({"namespace": "ns", "uid": "u"}));
        assert_eq!(identity(&no_name).err(), Some("metadata.name"));
        let no_namespace = object(serde_json::json!({"name": "a", "uid": "u"}));
        assert_eq!(identity(&no_namespace).err(), Some("metadata.namespace"));
        let no_uid = object(serde_json::json!({"name": "a", "namespace": "ns"}));
        assert_eq!(identity(&no_uid).err(), Some("metadata.uid"));
    }
}
