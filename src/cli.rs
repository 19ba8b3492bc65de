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
    /// The MCP server for AI agents (Streamable HTTP on --mcp-bind-address).
    McpHttp,
    /// Controller, aggregated apiserver and MCP server in one process (small installs): one
    /// shutdown, every app's flags and probes.
    All,
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
///
/// Runs the app --app names, or a one-shot tool given as a subcommand (`coder-k8s certs`).
#[derive(Debug, Parser)]
#[command(
    name = "coder-k8s",
    version,
    about,
    long_about = None,
    // `coder-k8s certs ...` takes only its own flags: app flags before it are a usage error.
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// One-shot tools; without one, the app --app names runs.
    #[command(subcommand)]
    pub command: Option<Command>,

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

    #[command(flatten)]
    pub mcp: crate::mcp::McpArgs,
}

/// Subcommands: tools that run once and exit, next to the long-running apps.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make the aggregated apiserver's serving certificate (a Secret) and its CA bundle for the
    /// APIService; print the Secret, or apply both with --apply.
    Certs(crate::certs::CertsArgs),
    /// Serve MCP (Model Context Protocol) on stdin/stdout for a local agent or IDE, acting as
    /// the kubeconfig's user.
    Mcp(crate::mcp::McpStdioArgs),
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
    #[error("certs: {0}")]
    Certs(#[from] crate::certs::Error),
    #[error("MCP server: {0}")]
    Mcp(#[from] crate::mcp::Error),
}

impl Error {
    /// 2 for bad usage (like clap), 1 for failures while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Apiserver(_) | Error::Controller(_) | Error::Certs(_) | Error::Mcp(_) => 1,
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The apps, behind a seam so dispatch can be tested without starting either.
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
    /// `kubeconfig` is the process's `--kubeconfig` (a controller flag the MCP server shares).
    fn mcp(
        &self,
        args: crate::mcp::McpArgs,
        kubeconfig: Option<std::path::PathBuf>,
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

    fn mcp(
        &self,
        args: crate::mcp::McpArgs,
        kubeconfig: Option<std::path::PathBuf>,
        shutdown: Shutdown,
    ) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async move { Ok(crate::mcp::run(args, kubeconfig, shutdown).await?) })
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

/// Runs the subcommand or the app `cli` selects.
pub async fn dispatch(cli: Cli, runners: &dyn Runners, shutdown: Shutdown) -> Result<(), Error> {
    match cli.command {
        Some(Command::Certs(args)) => return Ok(crate::certs::run(args).await?),
        Some(Command::Mcp(args)) => return Ok(crate::mcp::stdio::run(args, shutdown).await?),
        None => {}
    }
    match cli.app {
        None => Err(missing_app_error()),
        Some(App::Controller) => runners.controller(cli.controller, shutdown).await,
        Some(App::AggregatedApiserver) => runners.apiserver(cli.apiserver, shutdown).await,
        Some(App::McpHttp) => {
            let kubeconfig = cli.controller.kubeconfig.clone();
            runners.mcp(cli.mcp, kubeconfig, shutdown).await
        }
        Some(App::All) => {
            crate::all::run(cli.controller, cli.apiserver, cli.mcp, runners, shutdown).await
        }
    }
}
