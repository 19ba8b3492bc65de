//! The coder-k8s binary: parse flags, set up logging and signals, run the app `--app` names.

use std::process::ExitCode;

/// jemalloc with background threads that purge unused pages (after a 1 s decay, set in
/// .cargo/config.toml), so the memory a burst of LISTs took goes back to the OS; glibc's malloc
/// kept it (docs/storage.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::Parser;
use coder_k8s::cli::{Cli, dispatch};
use coder_k8s::runners::ProductionRunners;

fn main() -> ExitCode {
    // clap prints its own usage errors and exits with code 2 (unknown --app values included).
    let cli = Cli::parse();
    if cli.app.is_none() && cli.command.is_none() {
        let error = coder_k8s::cli::missing_app_error();
        eprintln!("{error}");
        return ExitCode::from(error.exit_code());
    }
    coder_k8s::telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = coder_k8s::shutdown::on_signals();
        dispatch(cli, &ProductionRunners, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "exiting");
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
