//! What `--app` dispatch and `--app=all` both stand on: the [`Runners`] seam that starts each
//! app (real or, in tests, recorded), and the [`Error`] that ends the process with its exit
//! code. Kept apart from `cli` (flags, dispatch) and `all` (joining the apps) so both import
//! it downward instead of each other.

use std::future::Future;
use std::pin::Pin;

use crate::shutdown::Shutdown;

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
