//! Command-line flags and the dispatch from `--app` to the app that runs.

use std::future::Future;
use std::pin::Pin;

use clap::{CommandFactory, Parser, ValueEnum};

use crate::shutdown::Shutdown;
use crate::telemetry::LogFormat;

/// Which application this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum App {
    /// Reconciles CoderControlPlane objects into running Coder control planes.
    Controller,
    /// Serves CoderWorkspace and CoderTemplate behind the kube-aggregator.
    AggregatedApiserver,
}

impl App {
    pub fn valid_values() -> String {
        App::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// coder-k8s: a Kubernetes operator and aggregated API server for Coder.
#[derive(Debug, Parser)]
#[command(name = "coder-k8s", version, about, long_about = None)]
pub struct Cli {
    /// Application to run.
    #[arg(long, env = "CODER_K8S_APP", value_enum)]
    pub app: Option<App>,

    /// Log format; the level comes from RUST_LOG (default info).
    #[arg(long, env = "CODER_K8S_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub apiserver: crate::apiserver::ApiserverArgs,

    #[command(flatten)]
    pub controller: crate::controller::ControllerArgs,
}

/// Errors that end the process, with the exit code each maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("aggregated apiserver: {0}")]
    Apiserver(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("controller: {0}")]
    Controller(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// 2 for bad usage (like clap), 1 for failures while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Apiserver(_) | Error::Controller(_) => 1,
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The two apps, behind a seam so dispatch can be tested without starting either.
pub trait Runners {
    fn controller(
        &self,
        args: crate::controller::ControllerArgs,
        shutdown: Shutdown,
    ) -> BoxFuture<'static, Result<(), Error>>;
    fn apiserver(
        &self,
        args: crate::apiserver::ApiserverArgs,
        shutdown: Shutdown,
    ) -> BoxFuture<'static, Result<(), Error>>;
}

/// The real apps.
pub struct ProductionRunners;

impl Runners for ProductionRunners {
    fn controller(
        &self,
        args: crate::controller::ControllerArgs,
        shutdown: Shutdown,
    ) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async move {
            crate::controller::run(args, shutdown)
                .await
                .map_err(|e| Error::Controller(Box::new(e)))
        })
    }

    fn apiserver(
        &self,
        args: crate::apiserver::ApiserverArgs,
        shutdown: Shutdown,
    ) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async move {
            crate::apiserver::run(args, shutdown)
                .await
                .map_err(|e| Error::Apiserver(Box::new(e)))
        })
    }
}

/// The usage error for a missing `--app`, worded like clap's own errors.
pub fn missing_app_error() -> Error {
    let mut cmd = Cli::command();
    let message = cmd
        .error(
            clap::error::ErrorKind::MissingRequiredArgument,
            format!(
                "the --app flag (or CODER_K8S_APP) is required; valid values: {}",
                App::valid_values()
            ),
        )
        .to_string();
    Error::Usage(message.trim_end().to_string())
}

/// Runs the app `cli` selects.
pub async fn dispatch(cli: Cli, runners: &dyn Runners, shutdown: Shutdown) -> Result<(), Error> {
    match cli.app {
        None => Err(missing_app_error()),
        Some(App::Controller) => runners.controller(cli.controller, shutdown).await,
        Some(App::AggregatedApiserver) => runners.apiserver(cli.apiserver, shutdown).await,
    }
}
