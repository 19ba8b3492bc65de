//! The Service in front of coderd: HTTP on `service.port`, plus 443 when coderd serves TLS.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{SERVICE_HTTPS_PORT, Target};

pub fn service(target: &Target<'_>) -> Service {
    let spec = &target.spec.service;
    // The chart's rules (and Kubernetes'): node ports and the traffic policy exist only on
    // NodePort and LoadBalancer Services, the load balancer's address and class only on
    // LoadBalancer ones. The CRD refuses them elsewhere; they are left out here too.
    let exposed = spec.r#type.as_str() != "ClusterIP";
    let balanced = spec.r#type.as_str() == "LoadBalancer";
    let mut ports = vec![ServicePort {
        name: Some("http".into()),
        port: spec.port,
        protocol: Some("TCP".into()),
        // By name, so the Service follows the container port if it ever moves.
        target_port: Some(IntOrString::String("http".into())),
        node_port: spec.http_node_port.filter(|_| exposed),
        ..ServicePort::default()
    }];
    if target.tls_enabled() {
        ports.push(ServicePort {
            name: Some("https".into()),
            port: SERVICE_HTTPS_PORT,
            protocol: Some("TCP".into()),
            target_port: Some(IntOrString::String("https".into())),
            node_port: spec.https_node_port.filter(|_| exposed),
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
            external_traffic_policy: spec
                .external_traffic_policy
                .as_ref()
                .filter(|_| exposed)
                .map(|p| p.as_str().to_string()),
            session_affinity: spec
                .session_affinity
                .as_ref()
                .map(|a| a.as_str().to_string()),
            load_balancer_ip: spec
                .load_balancer_ip
                .clone()
                .filter(|ip| balanced && !ip.is_empty()),
            load_balancer_class: spec
                .load_balancer_class
                .clone()
                .filter(|class| balanced && !class.is_empty()),
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

    #[test]
    fn load_balancer_and_node_port_settings_follow_the_type() {
        let spec = |type_: &str| {
            json!({"tls": {"secretNames": ["t"]}, "service": {
                "type": type_, "externalTrafficPolicy": "Local", "sessionAffinity": "ClientIP",
                "loadBalancerIP": "10.0.0.9", "loadBalancerClass": "internal",
                "httpNodePort": 30080, "httpsNodePort": 30443,
            }})
        };
        let build = |type_: &str| {
            let obj = ccp("coder", "ns", spec(type_));
            service(&Target::new(&obj).unwrap()).spec.unwrap()
        };
        let lb = build("LoadBalancer");
        assert_eq!(lb.external_traffic_policy.as_deref(), Some("Local"));
        assert_eq!(lb.session_affinity.as_deref(), Some("ClientIP"));
        assert_eq!(lb.load_balancer_ip.as_deref(), Some("10.0.0.9"));
        assert_eq!(lb.load_balancer_class.as_deref(), Some("internal"));
        let ports = lb.ports.unwrap();
        assert_eq!(ports[0].node_port, Some(30080));
        assert_eq!(ports[1].node_port, Some(30443));
        let node_port = build("NodePort");
        assert_eq!(node_port.external_traffic_policy.as_deref(), Some("Local"));
        assert_eq!(node_port.load_balancer_ip, None);
        assert_eq!(node_port.load_balancer_class, None);
        assert_eq!(node_port.ports.unwrap()[0].node_port, Some(30080));
        let cluster_ip = build("ClusterIP");
        assert_eq!(cluster_ip.external_traffic_policy, None);
        assert_eq!(cluster_ip.session_affinity.as_deref(), Some("ClientIP"));
        assert_eq!(cluster_ip.ports.unwrap()[0].node_port, None);
    }
}
