//! The Service in front of coderd: HTTP on `service.port`, plus 443 when coderd serves TLS.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{SERVICE_HTTPS_PORT, Target};

pub fn service(target: &Target<'_>) -> Service {
    let spec = &target.spec.service;
    let mut ports = vec![ServicePort {
        name: Some("http".into()),
        port: spec.port,
        protocol: Some("TCP".into()),
        // By name, so the Service follows the container port if it ever moves.
        target_port: Some(IntOrString::String("http".into())),
        ..ServicePort::default()
    }];
    if target.tls_enabled() {
        ports.push(ServicePort {
            name: Some("https".into()),
            port: SERVICE_HTTPS_PORT,
            protocol: Some("TCP".into()),
            target_port: Some(IntOrString::String("https".into())),
            ..ServicePort::default()
        });
    }
    let mut metadata = target.owned_meta(target.name);
    metadata.annotations = spec.annotations.clone().filter(|a| !a.is_empty());
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(spec.r#type.as_str().to_string()),
            selector: Some(target.selector_labels()),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::ccp;
    use super::*;
    use serde_json::json;

    #[test]
    fn table() {
        // (spec, type, [(name, port, targetPort)], annotation)
        let cases = [
            (json!({}), "ClusterIP", vec![("http", 80, "http")], None),
            (
                json!({"service": {"type": "LoadBalancer", "port": 8000, "annotations": {"lb": "internal"}}}),
                "LoadBalancer",
                vec![("http", 8000, "http")],
                Some(("lb", "internal")),
            ),
            (
                json!({"service": {"type": "NodePort"}, "tls": {"secretNames": ["a", "b"]}}),
                "NodePort",
                vec![("http", 80, "http"), ("https", 443, "https")],
                None,
            ),
            (
                json!({"tls": {"secretNames": []}}),
                "ClusterIP",
                vec![("http", 80, "http")],
                None,
            ),
        ];
        for (spec, type_, ports, annotation) in cases {
            let obj = ccp("coder", "ns", spec.clone());
            let svc = service(&Target::new(&obj).unwrap());
            assert_eq!(svc.metadata.name.as_deref(), Some("coder"));
            assert_eq!(svc.metadata.owner_references.as_ref().unwrap().len(), 1);
            let s = svc.spec.unwrap();
            assert_eq!(s.type_.as_deref(), Some(type_), "{spec}");
            let selector = s.selector.unwrap();
            assert_eq!(selector.len(), 2);
            assert_eq!(selector["app.kubernetes.io/instance"], "coder");
            let got: Vec<(String, i32, IntOrString)> = s
                .ports
                .unwrap()
                .into_iter()
                .map(|p| (p.name.unwrap(), p.port, p.target_port.unwrap()))
                .collect();
            let want: Vec<(String, i32, IntOrString)> = ports
                .into_iter()
                .map(|(n, p, t)| (n.to_string(), p, IntOrString::String(t.into())))
                .collect();
            assert_eq!(got, want, "{spec}");
            match annotation {
                Some((k, v)) => assert_eq!(svc.metadata.annotations.unwrap()[k], v),
                None => assert!(svc.metadata.annotations.is_none()),
            }
        }
    }
}
