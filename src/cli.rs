//! Command-line flags and the dispatch from `--app` to the app that runs.

use clap::{CommandFactory, Parser, ValueEnum};

use crate::runners::{Error, Runners};
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
