//! Webhook delivery: one task POSTs the events of the [`Outbox`] to their
//! trunk's `callback_url`.
//!
//! - An event is committed to the outbox before its first attempt; the task
//!   takes what was submitted in one batch and commits it in one transaction
//!   (group commit).
//! - Each attempt POSTs the stored body with `Content-Type: application/json`,
//!   `X-Tonegate-Event-Id` (the same on every attempt: receivers de-duplicate
//!   on it) and, with a secret, `X-Tonegate-Signature: sha256=<hex>`
//!   (HMAC-SHA256 of the body). Only HTTP 200 is success; any other status,
//!   a redirect, a timeout or a connection error is a failed attempt, tried
//!   again `retry_interval_ms` later, and given up after `max_retries`
//!   retries (moved to the outbox's `given_up` list).
//! - At most `concurrency` requests are in flight; the submit queue is
//!   bounded ([`QUEUE_CAPACITY`]), and so is every batch read from the store.
//! - Outbox reads and commits (fsync) run on tokio's blocking pool. If the
//!   store fails, the task logs it, counts it, and tries again a second later:
//!   it neither attempts an event it could not store nor forgets an outcome
//!   it could not record (that event is not attempted again meanwhile).
//! - After a restart everything pending is due at once.
//!
//! Logs carry the event id, kind, attempt and status; the body (phone
//! numbers) only at `trace`, the URL only at `debug`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::outbox::{Envelope, Outbox, OutboxError, Settle};
use crate::signing::hmac_hex;

/// Events submitted and not yet taken by the task, at most.
pub const QUEUE_CAPACITY: usize = 10_000;
/// Events committed in one transaction, at most.
const MAX_BATCH: usize = 1_000;
/// Wait before trying the store again after it failed.
const STORE_RETRY: Duration = Duration::from_secs(1);
/// The longest the task sleeps without looking at the clock again (a wall
/// clock that steps is noticed within this).
const MAX_SLEEP: Duration = Duration::from_secs(30);
/// Response body read (then dropped) so that the connection can be reused.
const MAX_RESPONSE_DRAIN: usize = 64 * 1024;

/// Header with the event id.
pub const EVENT_ID_HEADER: &str = "X-Tonegate-Event-Id";
/// Header with the signature, `sha256=<lowercase hex>`.
pub const SIGNATURE_HEADER: &str = "X-Tonegate-Signature";

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Events delivered (HTTP 200, recorded in the outbox).
    pub delivered: AtomicU64,
    /// Attempts that failed (status other than 200, timeout, connection).
    pub failed_attempts: AtomicU64,
    /// Events given up (moved to the outbox's given-up list).
    pub given_up: AtomicU64,
    /// Events pending in the outbox, as of the last commit (a gauge).
    pub pending: AtomicU64,
    /// Outbox reads or commits that failed (each is tried again).
    pub store_errors: AtomicU64,
}

/// Why an event was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The delivery task has stopped (shut down, or it panicked).
    #[error("the webhook delivery task has stopped")]
    Closed,
    /// The queue of submitted events is full: the task is not keeping up,
    /// or the outbox cannot be written.
    #[error("the webhook delivery queue is full ({capacity} events waiting to be stored)")]
    QueueFull { capacity: usize },
    /// The event id is empty, too long, or not printable ASCII (it goes in a
    /// header).
    #[error("event id {event_id:?} is not 1 to 200 printable ASCII characters")]
    InvalidEventId { event_id: String },
    /// The callback URL is not an absolute http or https URL.
    #[error("event {event_id}: callback URL is not an absolute http(s) URL: {reason}")]
    InvalidUrl { event_id: String, reason: String },
    /// `timeout_ms` is 0.
    #[error("event {event_id}: the timeout must be above 0 ms")]
    ZeroTimeout { event_id: String },
}

type Ack = oneshot::Sender<Result<(), DeliveryError>>;

#[derive(Debug)]
struct Submission {
    env: Envelope,
    ack: Option<Ack>,
}

/// A cheap, clonable handle that submits events to a running [`Delivery`].
#[derive(Debug, Clone)]
pub struct DeliverySubmitter {
    tx: mpsc::Sender<Submission>,
    stats: Arc<DeliveryStats>,
}

impl DeliverySubmitter {
    /// Queues an event; the task commits it to the outbox before its first
    /// attempt. Returns at once: use [`DeliverySubmitter::submit_stored`] to
    /// wait for the commit.
    pub fn submit(&self, env: Envelope) -> Result<(), DeliveryError> {
        validate(&env)?;
        self.send(Submission { env, ack: None })
    }

    /// Queues an event and waits until it is committed to the outbox (one
    /// fsync shared with the other events of its batch). While the outbox
    /// cannot be written this waits (the task keeps trying); if the task
    /// stops first, [`DeliveryError::Closed`]. (The gateway submits from its
    /// synchronous call table and does not wait; the tests do.)
    #[cfg(test)]
    pub async fn submit_stored(&self, env: Envelope) -> Result<(), DeliveryError> {
        validate(&env)?;
        let (ack, stored) = oneshot::channel();
        self.send(Submission {
            env,
            ack: Some(ack),
        })?;
        stored.await.map_err(|_| DeliveryError::Closed)?
    }

    /// The counters.
    pub fn stats(&self) -> Arc<DeliveryStats> {
        Arc::clone(&self.stats)
    }

    fn send(&self, submission: Submission) -> Result<(), DeliveryError> {
        self.tx.try_send(submission).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => DeliveryError::QueueFull {
                capacity: self.tx.max_capacity(),
            },
            mpsc::error::TrySendError::Closed(_) => DeliveryError::Closed,
        })
    }
}

/// The running delivery task and the way to feed it. Dropping it stops the
/// task as [`Delivery::shutdown`] would with no grace.
#[derive(Debug)]
pub struct Delivery {
    submitter: DeliverySubmitter,
    // Read by the tests (`outbox()`), which list what the task stored.
    #[cfg_attr(not(test), allow(dead_code))]
    outbox: Arc<Outbox>,
    stop: Option<oneshot::Sender<Duration>>,
    done: Option<oneshot::Receiver<()>>,
}

impl Delivery {
    /// Starts the task on `outbox` (must be called inside a tokio runtime),
    /// with at most `concurrency` requests in flight (at least 1). Pending
    /// events from a previous run are due at once. HTTP proxies from the
    /// environment (`HTTPS_PROXY`, `NO_PROXY`, ...) are honoured; redirects
    /// are not followed.
    ///
    /// # Panics
    /// If the HTTP client cannot be built (the TLS backend fails to
    /// initialise), or outside a tokio runtime.
    pub fn start(outbox: Outbox, concurrency: usize) -> (Self, JoinHandle<()>) {
        let client = http_client()
            .build()
            .expect("the webhook HTTP client (rustls) could not be built");
        Self::start_with_client(outbox, concurrency, client)
    }

    /// [`Delivery::start`] with a given client (it should not follow
    /// redirects: only a 200 from the callback URL itself counts).
    pub fn start_with_client(
        outbox: Outbox,
        concurrency: usize,
        client: reqwest::Client,
    ) -> (Self, JoinHandle<()>) {
        Self::spawn(outbox, concurrency, client, QUEUE_CAPACITY)
    }

    fn spawn(
        outbox: Outbox,
        concurrency: usize,
        client: reqwest::Client,
        capacity: usize,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity);
        let (stop, stop_rx) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        let stats = Arc::new(DeliveryStats::default());
        let outbox = Arc::new(outbox);
        let task = Task {
            outbox: Arc::clone(&outbox),
            client,
            concurrency: concurrency.max(1),
            stats: Arc::clone(&stats),
            in_flight: HashSet::new(),
            attempts: JoinSet::new(),
            task_events: HashMap::new(),
            due_hint_ms: None,
            unstored: Vec::new(),
            unsettled: Vec::new(),
            store_retry_at: None,
        };
        let handle = tokio::spawn(async move {
            task.run(rx, stop_rx).await;
            let _ = done_tx.send(());
        });
        let delivery = Delivery {
            submitter: DeliverySubmitter { tx, stats },
            outbox,
            stop: Some(stop),
            done: Some(done),
        };
        (delivery, handle)
    }

    /// Queues an event: the task writes it to the outbox (group commit)
    /// before its first attempt.
    #[cfg(test)]
    pub fn submit(&self, env: Envelope) -> Result<(), DeliveryError> {
        self.submitter.submit(env)
    }

    /// Queues an event and waits until it is committed to the outbox.
    #[cfg(test)]
    pub async fn submit_stored(&self, env: Envelope) -> Result<(), DeliveryError> {
        self.submitter.submit_stored(env).await
    }

    /// A clonable handle for other tasks.
    pub fn submitter(&self) -> DeliverySubmitter {
        self.submitter.clone()
    }

    /// The counters.
    pub fn stats(&self) -> Arc<DeliveryStats> {
        self.submitter.stats()
    }

    /// The outbox, e.g. to list the given-up events (its methods block: call
    /// them through `spawn_blocking`).
    #[cfg(test)]
    pub fn outbox(&self) -> Arc<Outbox> {
        Arc::clone(&self.outbox)
    }

    /// Stops taking events, commits what is queued, and waits up to `grace`
    /// for the attempts in flight (their outcomes are recorded); the others
    /// are abandoned and, like every undelivered event, stay in the outbox
    /// for the next start.
    pub async fn shutdown(mut self, grace: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(grace);
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

/// The client [`Delivery::start`] uses: no redirects, a user agent.
pub fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tonegate/", env!("CARGO_PKG_VERSION")))
}

fn validate(env: &Envelope) -> Result<(), DeliveryError> {
    let id = &env.event_id;
    if id.is_empty() || id.len() > 200 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DeliveryError::InvalidEventId {
            event_id: id.clone(),
        });
    }
    match reqwest::Url::parse(&env.url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
        Ok(url) => {
            return Err(DeliveryError::InvalidUrl {
                event_id: id.clone(),
                reason: format!("scheme {:?} or no host", url.scheme()),
            })
        }
        Err(e) => {
            return Err(DeliveryError::InvalidUrl {
                event_id: id.clone(),
                reason: e.to_string(),
            })
        }
    }
    if env.timeout_ms == 0 {
        return Err(DeliveryError::ZeroTimeout {
            event_id: id.clone(),
        });
    }
    Ok(())
}

/// Unix time in ms.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How one attempt went.
#[derive(Debug)]
struct Attempt {
    env: Envelope,
    status: Option<u16>,
    error: Option<String>,
}

struct Task {
    outbox: Arc<Outbox>,
    client: reqwest::Client,
    concurrency: usize,
    stats: Arc<DeliveryStats>,
    /// Events attempted and not yet settled in the store.
    in_flight: HashSet<String>,
    attempts: JoinSet<Attempt>,
    task_events: HashMap<tokio::task::Id, String>,
    /// The earliest time an event not in flight may be due.
    due_hint_ms: Option<u64>,
    /// Received, not yet committed (the store failed).
    unstored: Vec<Submission>,
    /// Outcomes not yet committed (the store failed); their events stay in
    /// `in_flight`.
    unsettled: Vec<Settle>,
    store_retry_at: Option<Instant>,
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Submission>,
        mut stop_rx: oneshot::Receiver<Duration>,
    ) {
        let now = now_ms();
        match self
            .blocking(move |ob| Ok((ob.make_all_due(now)?, ob.pending_len()?)))
            .await
        {
            Ok((moved, pending)) => {
                self.stats.pending.store(pending, Ordering::Relaxed);
                if pending > 0 {
                    tracing::info!(
                        pending,
                        made_due = moved,
                        "webhook outbox: resuming delivery"
                    );
                    self.due_hint_ms = Some(now);
                }
            }
            Err(e) => {
                self.store_failed("resume", &e);
                self.due_hint_ms = Some(now);
            }
        }

        let mut rx_open = true;
        let mut deadline: Option<Instant> = None;
        loop {
            if deadline.is_none() {
                self.start_due().await;
            } else if self.attempts.is_empty() {
                break;
            }
            let wake = match deadline {
                Some(d) => Some(d),
                None => self.wake_at(),
            };
            tokio::select! {
                biased;
                grace = &mut stop_rx, if deadline.is_none() => {
                    let grace = grace.unwrap_or(Duration::ZERO);
                    deadline = Some(Instant::now() + grace);
                    rx.close();
                    while let Ok(s) = rx.try_recv() {
                        self.unstored.push(s);
                    }
                    self.store_unstored().await;
                    tracing::info!(
                        in_flight = self.attempts.len(),
                        grace_ms = grace.as_millis() as u64,
                        "webhook delivery stopping"
                    );
                }
                Some(joined) = self.attempts.join_next_with_id(), if !self.attempts.is_empty() => {
                    let mut done = vec![joined];
                    while let Some(more) = self.attempts.try_join_next_with_id() {
                        done.push(more);
                    }
                    self.settle(done).await;
                }
                received = rx.recv(), if rx_open && deadline.is_none() && self.unstored.is_empty() => {
                    match received {
                        Some(first) => {
                            self.unstored.push(first);
                            while self.unstored.len() < MAX_BATCH {
                                match rx.try_recv() {
                                    Ok(s) => self.unstored.push(s),
                                    Err(_) => break,
                                }
                            }
                            self.store_unstored().await;
                        }
                        None => rx_open = false,
                    }
                }
                _ = sleep_until(wake), if wake.is_some() => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                }
            }
            if self.store_retry_at.is_some_and(|at| Instant::now() >= at) {
                self.store_retry_at = None;
                self.store_unstored().await;
                self.store_unsettled().await;
            }
        }

        let abandoned = self.attempts.len();
        self.attempts.shutdown().await;
        // Last chances for what the store refused; what is still refused is
        // lost (a new event) or attempted again next start (an outcome).
        self.store_unstored().await;
        self.store_unsettled().await;
        for s in self.unstored.drain(..) {
            tracing::error!(event_id = %s.env.event_id, kind = %s.env.kind, "webhook event lost: not stored before shutdown");
        }
        tracing::info!(
            abandoned,
            unrecorded = self.unsettled.len(),
            "webhook delivery stopped; undelivered events stay in the outbox"
        );
    }

    /// When the loop must look again without a message: the next due event
    /// (if a slot is free) or the next try of the store.
    fn wake_at(&self) -> Option<Instant> {
        let mut wake = self.store_retry_at;
        if self.in_flight.len() < self.concurrency {
            if let Some(due) = self.due_hint_ms {
                let at = Instant::now() + Duration::from_millis(due.saturating_sub(now_ms()));
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        }
        wake.map(|w| w.min(Instant::now() + MAX_SLEEP))
    }

    /// Starts attempts for the due events, as many as there are free slots.
    async fn start_due(&mut self) {
        let free = self.concurrency.saturating_sub(self.in_flight.len());
        let now = now_ms();
        if free == 0 || !self.due_hint_ms.is_some_and(|t| t <= now) {
            return;
        }
        let skip = self.in_flight.clone();
        let batch = match self
            .blocking(move |ob| ob.due_batch(now, free, &skip))
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                self.store_failed("read due events", &e);
                self.due_hint_ms = Some(now + STORE_RETRY.as_millis() as u64);
                return;
            }
        };
        self.due_hint_ms = batch.next_due_ms;
        for env in batch.envelopes {
            tracing::debug!(
                event_id = %env.event_id,
                kind = %env.kind,
                attempt = env.attempts + 1,
                url = %env.url,
                "webhook attempt"
            );
            tracing::trace!(event_id = %env.event_id, body = %env.body, "webhook body");
            self.in_flight.insert(env.event_id.clone());
            let event_id = env.event_id.clone();
            let handle = self.attempts.spawn(attempt(self.client.clone(), env));
            self.task_events.insert(handle.id(), event_id);
        }
    }

    /// Records finished attempts in the store, in one transaction.
    async fn settle(
        &mut self,
        done: Vec<Result<(tokio::task::Id, Attempt), tokio::task::JoinError>>,
    ) {
        let now = now_ms();
        for joined in done {
            let (id, a) = match joined {
                Ok(ok) => ok,
                Err(e) => {
                    // Cannot happen (an attempt neither panics nor is aborted
                    // before shutdown); the event is attempted again.
                    if let Some(event_id) = self.task_events.remove(&e.id()) {
                        tracing::error!(%event_id, error = %e, "webhook attempt task failed");
                        self.in_flight.remove(&event_id);
                        self.due_hint_ms = Some(now);
                    }
                    continue;
                }
            };
            self.task_events.remove(&id);
            let mut env = a.env;
            match a.error {
                None => {
                    tracing::info!(
                        event_id = %env.event_id,
                        kind = %env.kind,
                        attempt = env.attempts + 1,
                        status = 200,
                        "webhook delivered"
                    );
                    self.unsettled.push(Settle::Delivered(env.event_id));
                }
                Some(error) => {
                    self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    env.attempts = env.attempts.saturating_add(1);
                    env.last_error = Some(error);
                    if env.attempts > env.max_retries {
                        tracing::error!(
                            event_id = %env.event_id,
                            kind = %env.kind,
                            attempts = env.attempts,
                            status = a.status,
                            error = env.last_error.as_deref().unwrap_or(""),
                            "webhook given up"
                        );
                        self.unsettled.push(Settle::GiveUp(env));
                    } else {
                        env.next_attempt_ms = now.saturating_add(env.retry_interval_ms);
                        tracing::warn!(
                            event_id = %env.event_id,
                            kind = %env.kind,
                            attempt = env.attempts,
                            status = a.status,
                            error = env.last_error.as_deref().unwrap_or(""),
                            retry_in_ms = env.retry_interval_ms,
                            "webhook attempt failed"
                        );
                        self.unsettled.push(Settle::Reschedule(env));
                    }
                }
            }
        }
        self.store_unsettled().await;
    }

    /// Commits the outcomes waiting in `unsettled`.
    async fn store_unsettled(&mut self) {
        if self.unsettled.is_empty() {
            return;
        }
        let changes = std::mem::take(&mut self.unsettled);
        let result = {
            let changes = changes.clone();
            self.blocking(move |ob| {
                ob.settle(&changes)?;
                ob.pending_len()
            })
            .await
        };
        match result {
            Ok(pending) => {
                self.stats.pending.store(pending, Ordering::Relaxed);
                for change in changes {
                    match change {
                        Settle::Delivered(event_id) => {
                            self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                            self.in_flight.remove(&event_id);
                        }
                        Settle::GiveUp(env) => {
                            self.stats.given_up.fetch_add(1, Ordering::Relaxed);
                            self.in_flight.remove(&env.event_id);
                        }
                        Settle::Reschedule(env) => {
                            self.in_flight.remove(&env.event_id);
                            self.due_hint_ms = Some(
                                self.due_hint_ms
                                    .map_or(env.next_attempt_ms, |t| t.min(env.next_attempt_ms)),
                            );
                        }
                    }
                }
            }
            Err(e) => {
                self.store_failed("record attempts", &e);
                self.unsettled = changes;
            }
        }
    }

    /// Commits the submissions waiting in `unstored`, then acknowledges them.
    async fn store_unstored(&mut self) {
        while !self.unstored.is_empty() {
            let n = self.unstored.len().min(MAX_BATCH);
            let envs: Vec<Envelope> = self.unstored[..n].iter().map(|s| s.env.clone()).collect();
            let earliest = envs.iter().map(|e| e.next_attempt_ms).min();
            let result = self
                .blocking(move |ob| {
                    ob.put_all(&envs)?;
                    ob.pending_len()
                })
                .await;
            match result {
                Ok(pending) => {
                    self.stats.pending.store(pending, Ordering::Relaxed);
                    if let Some(t) = earliest {
                        self.due_hint_ms = Some(self.due_hint_ms.map_or(t, |h| h.min(t)));
                    }
                    for s in self.unstored.drain(..n) {
                        tracing::debug!(event_id = %s.env.event_id, kind = %s.env.kind, "webhook event stored");
                        if let Some(ack) = s.ack {
                            let _ = ack.send(Ok(()));
                        }
                    }
                }
                Err(e) => {
                    self.store_failed("store new events", &e);
                    return;
                }
            }
        }
    }

    fn store_failed(&mut self, what: &str, e: &Arc<OutboxError>) {
        self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, "webhook outbox: cannot {what}; trying again");
        self.store_retry_at = Some(Instant::now() + STORE_RETRY);
    }

    /// Runs `f` on the outbox on the blocking pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T, Arc<OutboxError>>
    where
        T: Send + 'static,
        F: FnOnce(&Outbox) -> Result<T, OutboxError> + Send + 'static,
    {
        let outbox = Arc::clone(&self.outbox);
        match tokio::task::spawn_blocking(move || f(&outbox)).await {
            Ok(result) => result.map_err(Arc::new),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {
                // Cancelled: the runtime is shutting down; this task goes too.
                std::future::pending().await
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One POST; `error` is `None` only for HTTP 200.
async fn attempt(client: reqwest::Client, env: Envelope) -> Attempt {
    let mut request = client
        .post(&env.url)
        .timeout(Duration::from_millis(env.timeout_ms))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_ID_HEADER, &env.event_id);
    if let Some(secret) = &env.secret {
        let tag = hmac_hex(secret.as_bytes(), env.body.as_bytes());
        request = request.header(SIGNATURE_HEADER, format!("sha256={tag}"));
    }
    let request = request.body(env.body.clone());
    match request.send().await {
        Ok(mut response) => {
            let status = response.status();
            let mut drained = 0;
            while drained < MAX_RESPONSE_DRAIN {
                match response.chunk().await {
                    Ok(Some(chunk)) => drained += chunk.len(),
                    _ => break,
                }
            }
            let error = (status != reqwest::StatusCode::OK).then(|| format!("HTTP {status}"));
            Attempt {
                env,
                status: Some(status.as_u16()),
                error,
            }
        }
        Err(e) => {
            let error = describe(&e, env.timeout_ms);
            Attempt {
                env,
                status: None,
                error: Some(error),
            }
        }
    }
}

/// The reason an attempt failed, without the URL.
fn describe(e: &reqwest::Error, timeout_ms: u64) -> String {
    let mut out = String::from(if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connect failed"
    } else if e.is_builder() {
        "invalid request"
    } else {
        "request failed"
    });
    if e.is_timeout() {
        out.push_str(&format!(" after {timeout_ms} ms"));
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::verify_hex;
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::Semaphore;

    /// One request as the receiver saw it.
    #[derive(Debug, Clone)]
    struct Received {
        /// Header names in lowercase.
        headers: HashMap<String, String>,
        body: String,
        at: std::time::Instant,
    }

    impl Received {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .get(&name.to_ascii_lowercase())
                .map(String::as_str)
        }
    }

    #[derive(Default)]
    struct Shared {
        requests: Mutex<Vec<Received>>,
        /// Statuses to answer, in order; then `default_status`.
        script: Mutex<VecDeque<u16>>,
        default_status: AtomicU64,
        active: AtomicUsize,
        max_active: AtomicUsize,
    }

    /// A local webhook receiver on 127.0.0.1: HTTP/1.1, one request per
    /// connection (it answers `Connection: close`).
    struct TestReceiver {
        addr: SocketAddr,
        shared: Arc<Shared>,
        task: tokio::task::JoinHandle<()>,
    }

    impl TestReceiver {
        /// Answers `script` in order, then `default_status`; with `hold`,
        /// each request waits for a permit before it is answered.
        async fn start(
            addr: &str,
            script: &[u16],
            default_status: u16,
            hold: Option<Arc<Semaphore>>,
        ) -> Self {
            let listener = TcpListener::bind(addr).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let shared = Arc::new(Shared::default());
            shared.script.lock().unwrap().extend(script);
            shared
                .default_status
                .store(u64::from(default_status), Ordering::SeqCst);
            let served = Arc::clone(&shared);
            let task = tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    tokio::spawn(serve(stream, Arc::clone(&served), hold.clone()));
                }
            });
            TestReceiver { addr, shared, task }
        }

        fn url(&self) -> String {
            format!("http://{}/hooks/call-end", self.addr)
        }

        fn requests(&self) -> Vec<Received> {
            self.shared.requests.lock().unwrap().clone()
        }

        fn count(&self) -> usize {
            self.shared.requests.lock().unwrap().len()
        }
    }

    impl Drop for TestReceiver {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn serve(stream: TcpStream, shared: Arc<Shared>, hold: Option<Arc<Semaphore>>) {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        assert!(
            line.starts_with("POST /hooks/call-end HTTP/1.1"),
            "{line:?}"
        );
        let mut headers = HashMap::new();
        loop {
            line.clear();
            reader.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (name, value) = l.split_once(':').unwrap();
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
        let len: usize = headers["content-length"].parse().unwrap();
        let mut body = vec![0; len];
        reader.read_exact(&mut body).await.unwrap();
        let now_active = shared.active.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_active.fetch_max(now_active, Ordering::SeqCst);
        shared.requests.lock().unwrap().push(Received {
            headers,
            body: String::from_utf8(body).unwrap(),
            at: std::time::Instant::now(),
        });
        if let Some(hold) = hold {
            hold.acquire().await.unwrap().forget();
        }
        let status = shared
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(shared.default_status.load(Ordering::SeqCst) as u16);
        shared.active.fetch_sub(1, Ordering::SeqCst);
        let mut stream = reader.into_inner();
        let response =
            format!("HTTP/1.1 {status} Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    /// A loopback address nothing listens on (connection refused).
    fn refused_addr() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    fn client() -> reqwest::Client {
        http_client().no_proxy().build().unwrap()
    }

    fn event(id: &str, url: &str) -> Envelope {
        Envelope::new(
            id,
            "HangupCauseEvent",
            url,
            format!(r#"{{"eventId":"{id}","hangupGcode":"4001","caller":"+15550100"}}"#),
            now_ms(),
        )
    }

    fn start(dir: &tempfile::TempDir, concurrency: usize) -> Delivery {
        let outbox = Outbox::open(&dir.path().join("outbox.redb")).unwrap();
        Delivery::start_with_client(outbox, concurrency, client()).0
    }

    /// Waits (polling) until `cond` holds; fails after a generous 30 s.
    async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }

    async fn pending_len(d: &Delivery) -> u64 {
        let outbox = d.outbox();
        tokio::task::spawn_blocking(move || outbox.pending_len())
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delivery_200_is_delivered_once_signed() {
        let rx = TestReceiver::start("127.0.0.1:0", &[], 200, None).await;
        let dir = tempfile::tempdir().unwrap();
        let d = start(&dir, 4);
        let mut env = event("evt-200", &rx.url());
        env.secret = Some("trunk-secret".into());
        let body = env.body.clone();
        d.submit(env).unwrap();
        let stats = d.stats();
        wait_for("delivered", || get(&stats.delivered) == 1).await;

        let reqs = rx.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(r.body, body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header(EVENT_ID_HEADER), Some("evt-200"));
        let sig = r.header(SIGNATURE_HEADER).unwrap();
        let hex = sig.strip_prefix("sha256=").unwrap();
        assert!(verify_hex(b"trunk-secret", r.body.as_bytes(), hex));
        assert!(!verify_hex(b"other-secret", r.body.as_bytes(), hex));

        assert_eq!(pending_len(&d).await, 0);
        assert_eq!(get(&stats.pending), 0);
        assert_eq!(get(&stats.failed_attempts), 0);
        assert!(d.outbox().given_up().unwrap().is_empty());
        d.shutdown(Duration::from_secs(5)).await;
        assert_eq!(rx.count(), 1, "delivered once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delivery_500_twice_then_200_retries_on_schedule() {
        let rx = TestReceiver::start("127.0.0.1:0", &[500, 500], 200, None).await;
        let dir = tempfile::tempdir().unwrap();
        let d = start(&dir, 4);
        let mut env = event("evt-retry", &rx.url());
        env.retry_interval_ms = 200;
        // No secret: no signature header.
        let body = env.body.clone();
        d.submit_stored(env).await.unwrap();
        let stats = d.stats();
        wait_for("delivered", || get(&stats.delivered) == 1).await;

        let reqs = rx.requests();
        assert_eq!(reqs.len(), 3);
        for r in &reqs {
            assert_eq!(r.header(EVENT_ID_HEADER), Some("evt-retry"));
            assert_eq!(r.body, body, "the same body on each attempt");
            assert_eq!(r.header(SIGNATURE_HEADER), None);
        }
        // Retries wait the interval at least (a lower bound cannot flake).
        for pair in reqs.windows(2) {
            let gap = pair[1].at - pair[0].at;
            assert!(gap >= Duration::from_millis(190), "{gap:?}");
        }
        assert_eq!(get(&stats.failed_attempts), 2);
        assert_eq!(get(&stats.given_up), 0);
        assert_eq!(pending_len(&d).await, 0);
        d.shutdown(Duration::from_secs(5)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delivery_always_500_is_given_up_after_max_retries() {
        let rx = TestReceiver::start("127.0.0.1:0", &[], 500, None).await;
        let dir = tempfile::tempdir().unwrap();
        let d = start(&dir, 4);
        let mut env = event("evt-500", &rx.url());
        env.retry_interval_ms = 100;
        env.max_retries = 2;
        d.submit(env).unwrap();
        let stats = d.stats();
        wait_for("given up", || get(&stats.given_up) == 1).await;

        assert_eq!(rx.count(), 3, "1 attempt + 2 retries");
        assert_eq!(get(&stats.failed_attempts), 3);
        assert_eq!(get(&stats.delivered), 0);
        let outbox = d.outbox();
        assert_eq!(outbox.pending_len().unwrap(), 0);
        let given_up = outbox.given_up().unwrap();
        assert_eq!(given_up.len(), 1);
        assert_eq!(given_up[0].event_id, "evt-500");
        assert_eq!(given_up[0].attempts, 3);
        let err = given_up[0].last_error.as_deref().unwrap();
        assert!(err.starts_with("HTTP 500"), "{err}");
        drop(outbox);
        d.shutdown(Duration::from_secs(5)).await;
        assert_eq!(rx.count(), 3, "nothing after giving up");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delivery_timeout_redirect_and_refused_are_failures() {
        let hold = Arc::new(Semaphore::new(0));
        let silent = TestReceiver::start("127.0.0.1:0", &[], 200, Some(hold.clone())).await;
        let redirect = TestReceiver::start("127.0.0.1:0", &[], 302, None).await;
        let dir = tempfile::tempdir().unwrap();
        let d = start(&dir, 4);
        let mut slow = event("evt-timeout", &silent.url());
        slow.timeout_ms = 200;
        slow.max_retries = 0;
        let mut moved = event("evt-302", &redirect.url());
        moved.max_retries = 0;
        let mut refused = event(
            "evt-refused",
            &format!("http://{}/hooks/call-end", refused_addr()),
        );
        refused.max_retries = 0;
        for e in [slow, moved, refused] {
            d.submit(e).unwrap();
        }
        let stats = d.stats();
        wait_for("given up", || get(&stats.given_up) == 3).await;
        hold.add_permits(10);

        let given_up = d.outbox().given_up().unwrap();
        let error = |id: &str| {
            let e = given_up.iter().find(|e| e.event_id == id).unwrap();
            assert_eq!(e.attempts, 1);
            e.last_error.clone().unwrap()
        };
        let e = error("evt-timeout");
        assert!(e.starts_with("timed out after 200 ms"), "{e}");
        let e = error("evt-302");
        assert!(e.starts_with("HTTP 302"), "{e}");
        let e = error("evt-refused");
        assert!(e.starts_with("connect failed"), "{e}");
        assert!(!e.contains("127.0.0.1"), "no URL in the error: {e}");
        assert_eq!(redirect.count(), 1);
        d.shutdown(Duration::from_secs(5)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delivery_keeps_at_most_concurrency_requests_in_flight() {
        let hold = Arc::new(Semaphore::new(0));
        let rx = TestReceiver::start("127.0.0.1:0", &[], 200, Some(hold.clone())).await;
        let dir = tempfile::tempdir().unwrap();
        let d = start(&dir, 2);
        for i in 0..6 {
            let mut e = event(&format!("evt-{i}"), &rx.url());
            e.timeout_ms = 60_000;
            d.submit(e).unwrap();
        }
        wait_for("two requests held", || rx.count() == 2).await;
        // A third request would arrive while two are held; give it time to
        // (a pass here cannot be a false failure).
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rx.count(), 2);
        hold.add_permits(100);
        let stats = d.stats();
        wait_for("all delivered", || get(&stats.delivered) == 6).await;
        assert_eq!(rx.count(), 6);
        assert!(rx.shared.max_active.load(Ordering::SeqCst) <= 2);
        assert_eq!(pending_len(&d).await, 0);
        d.shutdown(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn delivery_submit_errors_are_clear() {
        // On this single-threaded runtime the task cannot run before the
        // test yields, so the queue (capacity 2) fills deterministically.
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&dir.path().join("outbox.redb")).unwrap();
        let (d, handle) = Delivery::spawn(outbox, 1, client(), 2);
        let url = format!("http://{}/hooks/call-end", refused_addr());
        d.submit(event("a", &url)).unwrap();
        d.submit(event("b", &url)).unwrap();
        let err = d.submit(event("c", &url)).unwrap_err();
        assert!(
            matches!(err, DeliveryError::QueueFull { capacity: 2 }),
            "{err}"
        );

        let err = d.submit(event("d", "ftp://example.invalid/x")).unwrap_err();
        assert!(matches!(err, DeliveryError::InvalidUrl { .. }), "{err}");
        let err = d.submit(event("d", "not a url")).unwrap_err();
        assert!(matches!(err, DeliveryError::InvalidUrl { .. }), "{err}");
        let err = d.submit(event("bad id\n", &url)).unwrap_err();
        assert!(matches!(err, DeliveryError::InvalidEventId { .. }), "{err}");
        let err = d.submit(event("", &url)).unwrap_err();
        assert!(matches!(err, DeliveryError::InvalidEventId { .. }), "{err}");
        let mut zero = event("d", &url);
        zero.timeout_ms = 0;
        let err = d.submit(zero).unwrap_err();
        assert!(matches!(err, DeliveryError::ZeroTimeout { .. }), "{err}");

        let submitter = d.submitter();
        d.shutdown(Duration::ZERO).await;
        handle.await.unwrap();
        let err = submitter.submit(event("e", &url)).unwrap_err();
        assert!(matches!(err, DeliveryError::Closed), "{err}");
        // What was queued was stored on shutdown, for the next start.
        let outbox = Outbox::open(&dir.path().join("outbox.redb")).unwrap();
        let (d, _) = Delivery::start(outbox, 1);
        assert_eq!(d.outbox().pending_len().unwrap(), 2);
        d.shutdown(Duration::ZERO).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delivery_shutdown_leaves_undelivered_events_in_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let d = start(&dir, 4);
        let url = format!("http://{}/hooks/call-end", refused_addr());
        for i in 0..3 {
            let mut e = event(&format!("evt-{i}"), &url);
            e.retry_interval_ms = 3_600_000;
            d.submit_stored(e).await.unwrap();
        }
        let stats = d.stats();
        wait_for("first attempts", || get(&stats.failed_attempts) == 3).await;
        d.shutdown(Duration::from_secs(5)).await;

        let outbox = Outbox::open(&dir.path().join("outbox.redb")).unwrap();
        assert_eq!(outbox.pending_len().unwrap(), 3);
        for e in outbox.due(u64::MAX, 10).unwrap() {
            assert_eq!(e.attempts, 1);
            assert!(e.next_attempt_ms > now_ms() + 3_000_000);
            assert!(e.last_error.unwrap().starts_with("connect failed"));
        }
    }

    /// A run that ends without any clean stop, after the events were stored
    /// and attempted once (receiver down), then a new run with the receiver
    /// up: every event is delivered, with its own event id.
    #[test]
    fn delivery_resumes_after_the_runtime_dies() {
        let dir = tempfile::tempdir().unwrap();
        let addr = refused_addr();
        let url = format!("http://{addr}/hooks/call-end");
        let ids: Vec<String> = (0..5).map(|i| format!("evt-crash-{i}")).collect();

        let rt = runtime();
        let d = rt.block_on(async {
            let d = start(&dir, 4);
            for id in &ids {
                let mut e = event(id, &url);
                e.retry_interval_ms = 3_600_000; // not again in this run
                d.submit_stored(e).await.unwrap();
            }
            let stats = d.stats();
            wait_for("first attempts", || get(&stats.failed_attempts) == 5).await;
            d
        });
        // The runtime goes first: the task is dropped mid-loop, no shutdown.
        drop(rt);
        drop(d);

        let rt = runtime();
        rt.block_on(async {
            let rx = TestReceiver::start(&addr.to_string(), &[], 200, None).await;
            let d = start(&dir, 4);
            let stats = d.stats();
            wait_for("delivered", || get(&stats.delivered) == 5).await;
            check_received(&rx.requests(), &ids);
            assert_eq!(pending_len(&d).await, 0);
            d.shutdown(Duration::from_secs(5)).await;
        });
    }

    // A real `kill -9` of the whole gateway is tested end to end in
    // tests/events_e2e.rs (events_survive_sigkill_while_the_receiver_is_down).

    /// Every id arrived, each request's header id matches its body, and
    /// nothing else arrived.
    fn check_received(reqs: &[Received], ids: &[String]) {
        let mut seen = HashSet::new();
        for r in reqs {
            let id = r.header(EVENT_ID_HEADER).unwrap();
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(body["eventId"], id, "a duplicate carries the same eventId");
            assert!(ids.iter().any(|i| i == id), "unexpected event {id}");
            seen.insert(id.to_owned());
        }
        assert_eq!(seen.len(), ids.len(), "every event delivered");
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }
}
