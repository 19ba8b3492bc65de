//! `--app=controller`: reconciles CoderControlPlane objects into running Coder control planes.

/// Flags of the controller.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Controller (--app=controller)")]
pub struct ControllerArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long)]
    pub namespace: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the controller is not built yet")]
    NotBuilt,
}

pub async fn run(_args: ControllerArgs, _shutdown: crate::shutdown::Shutdown) -> Result<(), Error> {
    Err(Error::NotBuilt)
}
