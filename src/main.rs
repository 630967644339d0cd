//! The server binary: load settings, then serve (or run an operator command). Nothing else.

use gatehouse::server::cli;
use gatehouse::server::config::Settings;
use gatehouse::server::startup::Application;
use gatehouse::server::telemetry;
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: faster on the proxy's many small allocations, and it returns
/// freed memory to the system instead of holding it in per-thread arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gatehouse: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    if cli::is_command(&args) {
        return cli::run(args, settings).await;
    }
    telemetry::init(settings.log_format);
    gatehouse::server::http::serve::raise_open_file_limit();
    let mode = settings.mode;
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "gatehouse could not start");
            eprintln!("gatehouse: {e}");
            return ExitCode::from(1);
        }
    };
    tracing::info!(url = %app.public_url(), ?mode, "Gatehouse is running");
    println!("Gatehouse is running: open {}", app.public_url());
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: server error: {e}");
            ExitCode::from(1)
        }
    }
}
