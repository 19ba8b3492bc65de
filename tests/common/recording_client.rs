//! A kube client of the envtest admin that records `METHOD path` of every request it sends: the
//! tests that count what the controller asks of a real kube-apiserver read this log.
#![allow(dead_code)] // each test binary uses its own subset

use std::sync::{Arc, Mutex};

use envtest::ControlPlane;

/// `METHOD path` of every request a client sent, in order.
pub type RequestLog = Arc<Mutex<Vec<String>>>;

/// The admin's client of `cp`; its requests go into `log` when there is one.
pub async fn admin_client(cp: &ControlPlane, log: Option<RequestLog>) -> kube::Client {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(cp.admin_kubeconfig()).expect("admin kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("a client config from the admin kubeconfig");
    let layer = tower::util::MapRequestLayer::new(move |request: http::Request<_>| {
        if let Some(log) = &log {
            log.lock().expect("request log").push(format!(
                "{} {}",
                request.method(),
                request.uri().path()
            ));
        }
        request
    });
    kube::client::ClientBuilder::try_from(config)
        .expect("a client from the config")
        .with_layer(&layer)
        .build()
}
