//! The Ingress in front of the Service, when `expose.ingress` is set.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};

use super::Target;

pub fn ingress(target: &Target<'_>) -> Option<Ingress> {
    let spec = target.spec.expose.as_ref()?.ingress.as_ref()?;
    let hosts = std::iter::once(spec.host.as_str())
        .chain(spec.wildcard_host.as_deref().filter(|h| !h.is_empty()));
    let rules = hosts.map(|host| rule(target, host)).collect();
    let mut tls = Vec::new();
    if let Some(t) = &spec.tls {
        if let Some(secret) = t.secret_name.as_deref().filter(|s| !s.is_empty()) {
            tls.push(IngressTLS {
                hosts: Some(vec![spec.host.clone()]),
                secret_name: Some(secret.to_string()),
            });
        }
        if let (Some(host), Some(secret)) = (
            spec.wildcard_host.as_deref().filter(|h| !h.is_empty()),
            t.wildcard_secret_name.as_deref().filter(|s| !s.is_empty()),
        ) {
            tls.push(IngressTLS {
                hosts: Some(vec![host.to_string()]),
                secret_name: Some(secret.to_string()),
            });
        }
    }
    let mut metadata = target.owned_meta(target.name);
    metadata.annotations = spec.annotations.clone().filter(|a| !a.is_empty());
    Some(Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone().filter(|c| !c.is_empty()),
            rules: Some(rules),
            tls: (!tls.is_empty()).then_some(tls),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    })
}

fn rule(target: &Target<'_>, host: &str) -> IngressRule {
    IngressRule {
        host: Some(host.to_string()),
        http: Some(HTTPIngressRuleValue {
            paths: vec![HTTPIngressPath {
                path: Some("/".into()),
                path_type: "Prefix".into(),
                backend: IngressBackend {
                    service: Some(IngressServiceBackend {
                        name: target.name.to_string(),
                        port: Some(ServiceBackendPort {
                            name: Some("http".into()),
                            number: None,
                        }),
                    }),
                    resource: None,
                },
            }],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::ccp;
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_without_expose_ingress() {
        for spec in [json!({}), json!({"expose": {}})] {
            let obj = ccp("coder", "ns", spec);
            assert!(ingress(&Target::new(&obj).unwrap()).is_none());
        }
    }

    #[test]
    fn table() {
        // (spec, class, hosts, [(tls host, secret)], annotation)
        let cases = [
            (
                json!({"expose": {"ingress": {"host": "coder.example.com"}}}),
                None,
                vec!["coder.example.com"],
                vec![],
                None,
            ),
            (
                json!({"expose": {"ingress": {
                    "host": "coder.example.com", "wildcardHost": "*.coder.example.com",
                    "className": "nginx", "annotations": {"a": "b"},
                    "tls": {"secretName": "main", "wildcardSecretName": "wild"}}}}),
                Some("nginx"),
                vec!["coder.example.com", "*.coder.example.com"],
                vec![
                    ("coder.example.com", "main"),
                    ("*.coder.example.com", "wild"),
                ],
                Some(("a", "b")),
            ),
            (
                // A wildcard secret without a wildcard host has nothing to serve.
                json!({"expose": {"ingress": {"host": "h", "tls": {"wildcardSecretName": "wild"}}}}),
                None,
                vec!["h"],
                vec![],
                None,
            ),
        ];
        for (spec, class, hosts, tls, annotation) in cases {
            let obj = ccp("coder", "ns", spec.clone());
            let ing = ingress(&Target::new(&obj).unwrap()).unwrap();
            assert_eq!(ing.metadata.name.as_deref(), Some("coder"));
            assert_eq!(ing.metadata.owner_references.as_ref().unwrap().len(), 1);
            let s = ing.spec.unwrap();
            assert_eq!(s.ingress_class_name.as_deref(), class, "{spec}");
            let rules = s.rules.unwrap();
            let got_hosts: Vec<&str> = rules.iter().map(|r| r.host.as_deref().unwrap()).collect();
            assert_eq!(got_hosts, hosts, "{spec}");
            for r in &rules {
                let path = &r.http.as_ref().unwrap().paths[0];
                assert_eq!(path.path.as_deref(), Some("/"));
                assert_eq!(path.path_type, "Prefix");
                let backend = path.backend.service.as_ref().unwrap();
                assert_eq!(backend.name, "coder");
                assert_eq!(backend.port.as_ref().unwrap().name.as_deref(), Some("http"));
            }
            let got_tls: Vec<(String, String)> = s
                .tls
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.hosts.unwrap().join(","), t.secret_name.unwrap()))
                .collect();
            let want_tls: Vec<(String, String)> = tls
                .iter()
                .map(|(h, s)| (h.to_string(), s.to_string()))
                .collect();
            assert_eq!(got_tls, want_tls, "{spec}");
            match annotation {
                Some((k, v)) => assert_eq!(ing.metadata.annotations.unwrap()[k], v),
                None => assert!(ing.metadata.annotations.is_none()),
            }
        }
    }
}
