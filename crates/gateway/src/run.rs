//! `tonegate run --config FILE`: the SIP B2BUA on UDP and TCP.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tonegate_classify::Library;
use tonegate_rtp::RelayConfig;
use tracing::info;

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::warn;

use crate::calls::{Calls, RecordLinks};
use crate::config::{Config, ConfigError};
use crate::delivery::Delivery;
use crate::http::{self, HttpState};
use crate::library::{self, LibraryError};
use crate::media::MediaSettings;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, OutboxError};
use crate::signing;
use crate::sip_driver::{self, DriverError};
use crate::sip_driver::{Reload, Setup};
use tokio::sync::mpsc::UnboundedSender;

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
    /// The announcement library could not be loaded.
    #[error(transparent)]
    Library(#[from] LibraryError),
    /// The event outbox could not be opened.
    #[error("event outbox: {0}")]
    Outbox(#[from] OutboxError),
    /// The HTTP listener could not be bound.
    #[error("cannot bind HTTP {addr}: {source}")]
    Http {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The recordings directory could not be created.
    #[error("recordings dir {path}: {source}")]
    Recordings {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What the calls' media tasks share, when `[rtp]` is configured: the
/// library is loaded and the recordings directory made here, so a bad
/// path stops the start with a clear error.
fn media_settings(config: &Config) -> Result<Option<Arc<MediaSettings>>, RunError> {
    let Some(rtp) = &config.rtp else {
        return Ok(None);
    };
    let lib = load_library(config)?;
    let recordings = match &config.recordings {
        Some(r) => {
            std::fs::create_dir_all(&r.dir).map_err(|source| RunError::Recordings {
                path: r.dir.clone(),
                source,
            })?;
            Some(r.dir.clone())
        }
        None => None,
    };
    Ok(Some(Arc::new(MediaSettings {
        bind: rtp.bind.unwrap_or(rtp.address),
        relay: RelayConfig {
            strict: rtp.strict_latching,
            timeout: (rtp.timeout_s > 0).then(|| Duration::from_secs(rtp.timeout_s)),
        },
        jitter_frames: (rtp.jitter_ms as usize).div_ceil(20),
        recordings,
        whole_call: config.recordings.as_ref().is_some_and(|r| r.whole_call),
        library: std::sync::RwLock::new(Some(lib)),
    })))
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
    let media = media_settings(&config)?;
    // The SIP core is one task; the calls' media tasks spread over the
    // worker threads (one per core).
    let rt = tokio::runtime::Builder::new_multi_thread()
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
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32);

        // Events: the durable outbox and its delivery task, when a trunk has a callback.
        let delivery = if config.trunks.iter().any(|t| t.callback_url.is_some()) {
            // Opening blocks (redb recovers the file), once, before any call.
            let outbox = Outbox::open(&config.events.outbox)?;
            Some(Delivery::start(outbox, config.events.concurrency).0)
        } else {
            None
        };

        // HTTP: recordings (and health).
        let ready = Arc::new(AtomicBool::new(true));
        let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let mut links = None;
        let mut http_state = None;
        let mut http_listener = None;
        if let Some(http) = &config.http {
            let listener = tokio::net::TcpListener::bind(http.listen)
                .await
                .map_err(|source| RunError::Http {
                    addr: http.listen,
                    source,
                })?;
            let secret = match &http.secret {
                Some(s) => s.as_bytes().to_vec(),
                None => signing::hmac_hex(&seed.to_le_bytes(), b"recordings").into_bytes(),
            };
            let base = http
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", http.listen));
            links = Some(RecordLinks {
                base,
                secret: secret.clone(),
            });
            http_state = Some(HttpState {
                recordings: config.recordings.as_ref().map(|r| r.dir.clone()),
                secret,
                ready: Arc::clone(&ready),
                metrics: None,
            });
            http_listener = Some(listener);
        }
        if let Some(r) = config.recordings.as_ref().filter(|r| r.retention_days > 0) {
            tokio::spawn(http::retention_task(
                r.dir.clone(),
                r.retention_days,
                Duration::from_secs(3600),
            ));
        }
        let tz = jiff::tz::TimeZone::get(&config.events.time_zone).map_err(|_| {
            ConfigError::InvalidTimeZone {
                value: config.events.time_zone.clone(),
            }
        })?;
        let metrics = Metrics::new(delivery.as_ref().map(Delivery::stats));
        if let Some(state) = http_state.as_mut() {
            let m = metrics.clone();
            state.metrics = Some(Arc::new(move || m.render()));
        }
        if let Some((listener, state)) = http_listener.zip(http_state) {
            tokio::spawn(async move {
                if let Err(e) = http::serve(listener, state, async {
                    let _ = http_stopped.await;
                })
                .await
                {
                    warn!(error = %e, "HTTP listener failed");
                }
            });
        }
        let records = Calls::new(
            &config.trunks,
            delivery.as_ref().map(Delivery::submitter),
            links,
            tz,
            metrics.clone(),
        );
        // Everything is bound: tell whoever waits for us. A gateway whose stdout nobody
        // reads goes on serving.
        use std::io::Write as _;
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening {local}").and_then(|()| stdout.flush());
        let (reload_tx, reloads) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(reload_on_sighup(
            path.to_path_buf(),
            media.is_some(),
            reload_tx,
        ));
        let setup = Setup {
            config: b2b,
            media,
            records,
            metrics,
            reloads,
            ready: Some(Arc::clone(&ready)),
            drain_timeout: Duration::from_secs(config.limits.drain_timeout_s),
            seed,
        };
        let result = driver.run(setup, shutdown_signal()).await;
        ready.store(false, Ordering::Relaxed);
        let _ = http_stop.send(());
        if let Some(d) = delivery {
            // What is queued is committed and due events get a last chance
            // (what is still undelivered stays in the outbox for the next start).
            d.shutdown(Duration::from_secs(5)).await;
        }
        result?;
        Ok(())
    })
}

/// On SIGHUP: the configuration file is read again and its trunks (and
/// their event settings) replace the running ones; the library is loaded
/// again. Anything else in the file needs a restart. A file or library
/// that fails to load is reported and the running one stays.
async fn reload_on_sighup(path: PathBuf, with_media: bool, tx: UnboundedSender<Reload>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            warn!("cannot listen for SIGHUP: no reloads");
            return;
        };
        while hup.recv().await.is_some() {
            let path = path.clone();
            let loaded =
                tokio::task::spawn_blocking(move || load_for_reload(&path, with_media)).await;
            match loaded {
                Ok(Ok(r)) => {
                    if tx.send(r).is_err() {
                        return;
                    }
                }
                Ok(Err(e)) => warn!(error = %e, "reload failed; the running configuration stays"),
                Err(e) => warn!(error = %e, "reload failed"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, with_media, tx);
    }
}

/// The configured library (`[classify] library`, else the shipped one).
fn load_library(config: &Config) -> Result<Arc<Library>, RunError> {
    let root = config
        .classify
        .library
        .clone()
        .unwrap_or_else(library::default_root);
    let lib = library::load(&root)?;
    info!(references = lib.len(), root = %root.display(), "library loaded");
    Ok(lib)
}

fn load_for_reload(path: &Path, with_media: bool) -> Result<Reload, RunError> {
    let config = Config::load(path)?;
    let trunks = config.trunks()?;
    let library = if with_media {
        Some(load_library(&config)?)
    } else {
        None
    };
    Ok(Reload {
        trunks,
        trunk_configs: config.trunks.clone(),
        library,
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
