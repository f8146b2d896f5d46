//! `tonegate run --config FILE`: the SIP B2BUA on UDP and TCP.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, ConfigError};
use crate::sip_driver::{self, DriverError};

/// What can stop `tonegate run`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The sockets failed.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Run the gateway until SIGINT or SIGTERM; prints `listening ADDR` on
/// stdout once both sockets are bound (tests read it when `listen` has
/// port 0).
pub fn main(config: &Path) -> ExitCode {
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tonegate: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(path: &Path) -> Result<(), RunError> {
    let config = Config::load(path)?;
    // The SIP core is single-threaded; one thread drives it and the sockets.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    rt.block_on(async {
        let mut driver = sip_driver::bind(config.sip.listen).await?;
        driver.set_connect_timeout(std::time::Duration::from_millis(
            config.sip.tcp_connect_timeout_ms,
        ));
        driver.set_max_message(config.sip.max_message_size);
        let local = driver.local_addr();
        let b2b = config.b2bua(local)?;
        println!("listening {local}");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32);
        driver.run(b2b, seed, shutdown_signal()).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
