//! The identity of the object being reconciled, as every kind's builders need it: its name,
//! its namespace, and the controller owner reference its children carry.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;

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
