//! One coderd client (connection pool) per coderd URL, reused across reconciles: every kind
//! that calls coderd keeps one of these rather than building a client per reconcile.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::coder::{ClientOptions, CoderClient, CoderError};

pub struct CoderdClients {
    /// Upper bound for one call to coderd.
    timeout: Duration,
    clients: Mutex<HashMap<String, CoderClient>>,
}

impl CoderdClients {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            clients: Mutex::default(),
        }
    }

    /// The client for `url`, built on first use.
    pub fn get(&self, url: &str) -> Result<CoderClient, CoderError> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(url) {
            return Ok(client.clone());
        }
        let client = CoderClient::new(
            url,
            ClientOptions {
                timeout: self.timeout,
                ..ClientOptions::default()
            },
        )?;
        clients.insert(url.to_string(), client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_per_url_and_a_bad_url_is_an_error() {
        let clients = CoderdClients::new(Duration::from_secs(1));
        let first = clients.get("http://127.0.0.1:1").unwrap();
        let again = clients.get("http://127.0.0.1:1").unwrap();
        assert_eq!(first.base_url(), again.base_url());
        assert_eq!(clients.clients.lock().unwrap().len(), 1);
        clients.get("http://127.0.0.1:2").unwrap();
        assert_eq!(clients.clients.lock().unwrap().len(), 2);
        assert!(clients.get("not a url").is_err());
        assert_eq!(clients.clients.lock().unwrap().len(), 2);
    }
}
