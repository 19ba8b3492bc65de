//! `--app=aggregated-apiserver`: serves the aggregated kinds of `schema/` behind the
//! kube-aggregator.

pub mod objects;
pub mod storage;

/// Flags of the aggregated apiserver.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Aggregated apiserver (--app=aggregated-apiserver)")]
pub struct ApiserverArgs {
    /// Port of the HTTPS listener.
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the aggregated apiserver is not built yet")]
    NotBuilt,
}

pub async fn run(_args: ApiserverArgs, _shutdown: crate::shutdown::Shutdown) -> Result<(), Error> {
    Err(Error::NotBuilt)
}
