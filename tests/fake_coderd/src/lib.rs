//! A fake coderd for coder-k8s' tests: an in-process HTTP server on 127.0.0.1 serving the part of
//! Coder's REST API (`/api/v2`) that coder-k8s uses, written from coderd's handlers (each module
//! names the coderd file/function it follows) so that it keeps our client honest.
//!
//! # API summary
//! ```text
//! FakeCoderd::start().await                 empty deployment: no users yet (first-user setup
//!                                           pending), the default organization "coder"
//! FakeCoderd::start_with(FakeConfig).await  job timings, file size limit
//! fake.url()                                "http://127.0.0.1:PORT"
//! fake.stop().await / fake.restart().await  connections refused while stopped; the data
//!                                           survives (like coderd's database); same port
//! fake.set_unavailable(true)                every request answers 503 text/plain (a proxy in
//!                                           front of a coderd that is down)
//! fake.set_latency(Duration)                every request waits that long first
//! fake.inject_fault(method, prefix, status, n)  the next n matching requests fail with status
//! fake.requests() / fake.clear_requests()   what was asked: method, path, query, user, status
//! fake.hide_from_lists(&[id])               GET /templates, /organizations/{org}/templates and
//!                                           /workspaces leave these ids out; reads by id still
//!                                           answer (a short list: another filter default, a
//!                                           lost page)
//! fake.admin()                              direct state access, as coderd's UI/CLI would act
//! ```
//! `Admin` (synchronous, bypasses HTTP and authorization): `create_first_user`, `create_user`,
//! `create_organization`, `api_token`, `create_template_with_files`, `create_workspace`,
//! `start_workspace` / `stop_workspace` / `delete_workspace`, `suspend_user`, `expire_key`,
//! and snapshot getters in codersdk's JSON shape: `users`, `organizations`, `templates`,
//! `template_versions`, `workspaces`, `builds`, `files`.
//!
//! Enterprise parts of `Admin`:
//! ```text
//! set_entitlement(feature, Entitlement)     force one feature (codersdk FeatureName, e.g.
//!                                           "external_provisioner_daemons", "workspace_proxy")
//!                                           entitled / grace_period / not_entitled over what
//!                                           the licenses grant; the feature gates follow
//! clear_entitlement(feature)                the licenses decide again
//! entitlements()                            GET /entitlements' JSON
//! add_license(jwt) / licenses()             upload as POST /licenses would; codersdk.License
//! deployment_id()                           for a license's deployment_ids claim
//! create_provisioner_key(org, name, tags)   returns the secret
//! provisioner_keys()                        codersdk.ProvisionerKey JSON (reserved ones left out)
//! provisioner_key_valid(secret)             whether a secret is a live key's (coderd keeps hashes)
//! workspace_proxies()                       codersdk.WorkspaceProxy JSON, deleted ones included
//! workspace_proxy_token_valid(token)        whether `<id>:<secret>` authenticates a live proxy
//! register_workspace_proxy(proxy, url, ok)  as a started `coder wsproxy server` would: the
//!                                           proxy gets its URL and reports `ok` (healthy) or
//!                                           `unreachable` instead of `unregistered`
//! ```
//! Licenses for tests: [`license::claims`] (version-3 claims for a feature set and a term),
//! [`license::sign`] (signed with the test key the fake trusts, kid [`license::KEY_ID`]),
//! [`license::sign_untrusted`] (a bad signature).
//!
//! # Enterprise behaviour worth knowing (coderd's, kept on purpose)
//! - Without a license every feature is `not_entitled` and `enabled: false`; the enterprise
//!   routes answer 403 `"<Feature> is a Premium feature. Contact sales!"`. On
//!   `/workspaceproxies` that check comes before authentication; on
//!   `/organizations/{org}/provisionerkeys` after authentication and the organization lookup.
//! - `GET /entitlements` needs no session.
//! - Every golang-jwt finding on an uploaded license (garbage, bad signature, unknown key,
//!   expired) is the same 400: `Invalid license` / `license has multiple issues; contact
//!   support`. coderd's own claim checks have their own details.
//! - Uploading a JWT that is already stored is a 500 (`Unable to add license to database`,
//!   the unique constraint `licenses_jwt_key` in the detail), not a 409 and not a no-op.
//! - `GET /licenses` with nothing to show answers `null`, not `[]`.
//! - A provisioner key's organization is under `organization` (not `organization_id`); names
//!   are stored lowercased (created "K8s", listed "k8s"), unique per organization and
//!   otherwise only length-limited.
//! - `POST /workspaceproxies` answers `{proxy, proxy_token}`; `GET /workspaceproxies` answers
//!   `{regions: [...]}` with the primary first; `PATCH` needs `id`, `name`, `display_name`
//!   and `icon` every time; `DELETE` is soft (the proxy stays readable by id).
//!
//! # Provisioner jobs
//! Template version imports and workspace builds are asynchronous jobs: `pending` for
//! `FakeConfig::job_pending`, then `running` for `FakeConfig::job_running`, then `succeeded` or
//! `failed`; a cancel makes a pending job `canceled` at once and a running one `canceling` for
//! `FakeConfig::job_cancel`. The outcome comes from marker lines in the uploaded tar (see
//! [`markers`]): `# fake-coderd: fail <message>`, `# fake-coderd: hang`, `# fake-coderd:
//! fail-build <message>`, `fail-start` / `fail-stop` / `fail-delete`, `hang-build`.
//!
//! Job progress is computed from the clock whenever the state is read, so jobs keep moving while
//! the server is stopped (coderd's provisioners do not stop with one coderd replica either).
//!
//! # Endpoints (all under `/api/v2`, plus `/healthz`)
//! `GET /buildinfo`; `GET|POST /users/first`; `POST /users/login`, `/users/logout`;
//! `GET|POST /users`; `GET /users/{user}`; `GET /users/{user}/organizations`;
//! `POST /users/{user}/keys`; `GET|POST /users/{user}/keys/tokens`;
//! `GET /users/{user}/keys/tokens/tokenconfig`; `GET /users/{user}/keys/tokens/{name}`;
//! `GET|DELETE /users/{user}/keys/{id}`; `GET|POST /organizations`;
//! `GET /organizations/{org}`, `/organizations/{org}/members`; `POST /files`, `GET /files/{id}`;
//! `POST /organizations/{org}/templateversions`; `GET /templateversions/{id}` and `/logs`;
//! `PATCH /templateversions/{id}/cancel`; `GET|POST /organizations/{org}/templates`;
//! `GET /organizations/{org}/templates/{name}`; `GET /templates`;
//! `GET|PATCH|DELETE /templates/{id}`; `GET|PATCH /templates/{id}/versions`;
//! `GET /templates/{id}/versions/{name}`; `POST /users/{user}/workspaces`;
//! `POST /organizations/{org}/members/{user}/workspaces`; `GET /workspaces`;
//! `GET /workspaces/{id}`; `GET /users/{user}/workspace/{name}`; `PUT /workspaces/{id}/ttl`,
//! `/autostart`; `GET|POST /workspaces/{id}/builds`; `GET /workspacebuilds/{id}` and `/logs`;
//! `PATCH /workspacebuilds/{id}/cancel`; `GET /entitlements`; `GET|POST /licenses`,
//! `DELETE /licenses/{id}`; `GET|POST /organizations/{org}/provisionerkeys`,
//! `GET /organizations/{org}/provisionerkeys/daemons`,
//! `DELETE /organizations/{org}/provisionerkeys/{name}`; `GET|POST /workspaceproxies`,
//! `GET|PATCH|DELETE /workspaceproxies/{name or id or "primary"}`. Anything else: 404
//! `Route not found.`
//!
//! # Not modelled
//! Provisioner daemons (no daemon ever connects: key daemon lists are empty) and job tags,
//! real provisioner logs (the fake synthesizes one line per stage, and no `follow`
//! streaming), resources and agents, parameters and presets, audit logs, groups and custom
//! roles (only `owner` vs member: no organization admins), license add-ons, trial-license
//! requests and `POST /licenses/refresh-entitlements`, workspace proxy registration over HTTP
//! (`/workspaceproxies/me/*`; the admin knob stands in), OIDC/GitHub login, autostart/autostop
//! schedulers (schedules are stored and validated, never acted upon), dormancy, prebuilds,
//! version archiving, websockets/SSE watches, zip-to-tar conversion, rate limits.

pub mod license;
pub mod markers;

mod admin;
mod admin_enterprise;
mod api;
mod auth;
mod entitlements;
mod error;
mod model;
mod names;
mod ops;
mod sdk;
mod sdk_enterprise;
mod search;
mod server;
mod shared;
mod tarball;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jiff::Timestamp;
use tokio::task::JoinHandle;

pub use admin::{Admin, AdminError};
pub use entitlements::FEATURE_NAMES;
pub use model::Entitlement;
pub use shared::RecordedRequest;
pub use tarball::{TemplateFile, tar_of};

use model::{JobTimings, State};
use shared::Shared;

/// Knobs for a fake deployment.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// How long a new provisioner job stays `pending`.
    pub job_pending: Duration,
    /// How long a started job stays `running` before it completes.
    pub job_running: Duration,
    /// How long a running job stays `canceling` after a cancel.
    pub job_cancel: Duration,
    /// Upload limit of POST /files (coderd: 100 MiB).
    pub max_file_bytes: usize,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            job_pending: Duration::from_millis(50),
            job_running: Duration::from_millis(150),
            job_cancel: Duration::from_millis(50),
            max_file_bytes: 10 * (10 << 20),
        }
    }
}

/// A running (or stopped) fake coderd. Dropping it stops the server.
pub struct FakeCoderd {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

impl FakeCoderd {
    /// An empty deployment with default timings.
    pub async fn start() -> FakeCoderd {
        FakeCoderd::start_with(FakeConfig::default()).await
    }

    /// An empty deployment: the default organization exists (coderd's migrations create it),
    /// no user does (GET /api/v2/users/first answers 404).
    ///
    /// # Panics
    /// When no loopback port can be bound (the test cannot run at all then).
    pub async fn start_with(config: FakeConfig) -> FakeCoderd {
        let now = Timestamp::now();
        let mut state = State::default();
        ops::ensure_default_org(&mut state, now);
        ops::insert_reserved_provisioner_keys(&mut state, now);
        state.deployment_id = uuid::Uuid::new_v4();
        state.entitlements_refreshed_at = Some(now);
        let timings = JobTimings {
            pending: config.job_pending,
            running: config.job_running,
            cancel: config.job_cancel,
        };
        let shared = Arc::new(Shared::new(state, timings, config.max_file_bytes));
        let (listener, addr) = match server::bind(0).await {
            Ok(bound) => bound,
            Err(e) => panic!("fake-coderd: cannot bind 127.0.0.1:0: {e}"),
        };
        shared.state().access_url = format!("http://{addr}");
        let server = server::spawn(listener, api::router(shared.clone()));
        FakeCoderd {
            shared,
            addr,
            server: Some(server),
        }
    }

    /// `http://127.0.0.1:PORT`, stable across `restart`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving: new connections are refused and open ones are cut. The data stays.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Stops (if running) and serves again on the same port with the same data.
    ///
    /// # Panics
    /// When the port cannot be bound again within about two seconds.
    pub async fn restart(&mut self) {
        self.stop().await;
        let (listener, _) = match server::bind(self.addr.port()).await {
            Ok(bound) => bound,
            Err(e) => panic!("fake-coderd: cannot re-bind {}: {e}", self.addr),
        };
        self.server = Some(server::spawn(listener, api::router(self.shared.clone())));
    }

    /// Whether the server is currently serving.
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    /// While on, every request answers `503 Service Unavailable` with a text/plain body, as a
    /// reverse proxy does when coderd behind it is down.
    pub fn set_unavailable(&self, on: bool) {
        self.shared.unavailable.store(on, Ordering::SeqCst);
    }

    /// Delay added before every request is handled.
    pub fn set_latency(&self, d: Duration) {
        self.shared.set_latency(d);
    }

    /// Answers the next `times` requests whose method is `method` (any when None) and whose
    /// path starts with `path_prefix` (e.g. `/api/v2/workspaces`) with `status`, before any
    /// handler runs (nothing changes). A 500 carries httpapi.InternalServerError's body.
    pub fn inject_fault(&self, method: Option<&str>, path_prefix: &str, status: u16, times: usize) {
        self.shared.add_fault(shared::Fault {
            method: method.map(str::to_string),
            path_prefix: path_prefix.to_string(),
            status,
            remaining: times,
        });
    }

    /// Makes the list endpoints (`GET /templates`, `GET /organizations/{org}/templates`,
    /// `GET /workspaces`) leave out the templates and workspaces with these ids, replacing the
    /// previous set (empty: lists are whole again). Reads by id and everything else are
    /// unchanged: a list that is short for reasons of its own (a coderd whose filter defaults
    /// differ, a page lost between two requests), while the objects exist.
    pub fn hide_from_lists(&self, ids: &[uuid::Uuid]) {
        self.shared.set_hidden(ids);
    }

    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Every request served so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Direct access to the deployment, as an administrator using Coder's UI or CLI.
    pub fn admin(&self) -> Admin {
        Admin {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for FakeCoderd {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
