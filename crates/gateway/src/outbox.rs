//! The durable outbox of webhook events: every event is committed here
//! (fsync) before its first delivery attempt, and leaves `pending` only when
//! it was delivered (removed) or given up (moved to `given_up`, where it stays
//! listable). After a restart, even after `kill -9`, what is still pending is
//! delivered again, with the same `eventId`: delivery is at-least-once.
//!
//! The store is a single [redb] file with three tables:
//! - `pending`: event id → envelope (JSON);
//! - `pending_by_due`: (next attempt in unix ms, event id) → (), the schedule,
//!   so that finding what is due reads only what is due;
//! - `given_up`: event id → envelope (JSON), with the last error.
//!
//! Every method is blocking (a write commits with fsync): from async code,
//! call it through `tokio::task::spawn_blocking`.
//!
//! The envelopes hold the HMAC secret and the body (which may carry phone
//! numbers): on Unix the file is created readable by its owner only.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

/// Time between two attempts unless the trunk says otherwise: 5 minutes.
pub const DEFAULT_RETRY_INTERVAL_MS: u64 = 300_000;
/// Retries after the first attempt unless the trunk says otherwise (so at
/// most 4 attempts).
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Time allowed for one attempt (connect, send, response head) unless the
/// trunk says otherwise.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

const PENDING: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("pending");
const PENDING_BY_DUE: TableDefinition<'static, (u64, &str), ()> =
    TableDefinition::new("pending_by_due");
const GIVEN_UP: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("given_up");

/// One event to deliver, and where its delivery stands.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Stable id (UUID-like, given by the caller): the key, and the
    /// `X-Tonegate-Event-Id` header, the same on every attempt.
    pub event_id: String,
    /// `"HangupCauseEvent"` or `"SipDockingCallEnd"`.
    pub kind: String,
    /// The trunk's `callback_url`.
    pub url: String,
    /// The JSON document to POST, exactly as sent on each attempt.
    pub body: String,
    /// HMAC key: when set, each attempt carries
    /// `X-Tonegate-Signature: sha256=<hex of hmac(secret, body)>`.
    pub secret: Option<String>,
    /// Time allowed for one attempt.
    pub timeout_ms: u64,
    /// Time from a failed attempt to the next one.
    pub retry_interval_ms: u64,
    /// Retries after the first attempt: at most `max_retries + 1` attempts.
    pub max_retries: u32,
    /// Attempts made so far (failed ones: a delivered event leaves the store).
    pub attempts: u32,
    /// When the next attempt is due, unix ms.
    pub next_attempt_ms: u64,
    /// When the event was made, unix ms.
    pub created_ms: u64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl Envelope {
    /// A new event due at `now_ms`, with the default timeout, retry interval
    /// and retry count, and no secret; the fields are public to set others.
    pub fn new(
        event_id: impl Into<String>,
        kind: impl Into<String>,
        url: impl Into<String>,
        body: impl Into<String>,
        now_ms: u64,
    ) -> Self {
        Envelope {
            event_id: event_id.into(),
            kind: kind.into(),
            url: url.into(),
            body: body.into(),
            secret: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            retry_interval_ms: DEFAULT_RETRY_INTERVAL_MS,
            max_retries: DEFAULT_MAX_RETRIES,
            attempts: 0,
            next_attempt_ms: now_ms,
            created_ms: now_ms,
            last_error: None,
        }
    }
}

/// Without the body and the secret: the body may hold phone numbers.
impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("event_id", &self.event_id)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("body_len", &self.body.len())
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("timeout_ms", &self.timeout_ms)
            .field("retry_interval_ms", &self.retry_interval_ms)
            .field("max_retries", &self.max_retries)
            .field("attempts", &self.attempts)
            .field("next_attempt_ms", &self.next_attempt_ms)
            .field("created_ms", &self.created_ms)
            .field("last_error", &self.last_error)
            .finish()
    }
}

/// What went wrong with the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The folder of the outbox file could not be made.
    #[error("cannot create the outbox folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The outbox file could not be created with owner-only permissions.
    #[error("cannot create the outbox file {path}: {source}")]
    CreateFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// redb could not open the file (another process holds it, it is not a
    /// redb file, its format is newer, or an I/O error).
    #[error("cannot open the outbox {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    /// The file holds something else than a redb database (redb would
    /// overwrite it).
    #[error("{path} is not an outbox (not a redb file); refusing to overwrite it")]
    NotAnOutbox { path: PathBuf },
    /// A transaction could not begin.
    #[error("outbox transaction: {0}")]
    Transaction(#[source] Box<redb::TransactionError>),
    /// A table could not be opened.
    #[error("outbox table: {0}")]
    Table(#[from] redb::TableError),
    /// Reading or writing the file failed (I/O, corruption, a value too large).
    #[error("outbox storage: {0}")]
    Storage(#[from] redb::StorageError),
    /// A write transaction could not commit: nothing of it was written.
    #[error("outbox commit: {0}")]
    Commit(#[from] redb::CommitError),
    /// A stored envelope is not valid JSON for [`Envelope`].
    #[error("outbox envelope {event_id} cannot be read: {source}")]
    Decode {
        event_id: String,
        #[source]
        source: serde_json::Error,
    },
    /// An envelope could not be written as JSON.
    #[error("outbox envelope {event_id} cannot be written: {source}")]
    Encode {
        event_id: String,
        #[source]
        source: serde_json::Error,
    },
}

impl From<redb::TransactionError> for OutboxError {
    fn from(e: redb::TransactionError) -> Self {
        OutboxError::Transaction(Box::new(e))
    }
}

/// One change to a pending event, for [`Outbox::settle`].
#[derive(Debug, Clone)]
pub enum Settle {
    /// Delivered: remove it.
    Delivered(String),
    /// Failed, to be tried again: store it (its `next_attempt_ms`, `attempts`
    /// and `last_error` as given).
    Reschedule(Envelope),
    /// Failed for the last time: move it to `given_up`.
    GiveUp(Envelope),
}

/// What [`Outbox::due_batch`] found.
#[derive(Debug, Default)]
pub struct DueBatch {
    /// Due events not skipped, oldest due first, at most the limit.
    pub envelopes: Vec<Envelope>,
    /// The earliest `next_attempt_ms` of the pending events neither skipped
    /// nor returned: at or before `now_ms` when the limit cut the batch,
    /// `None` when there is none.
    pub next_due_ms: Option<u64>,
}

/// The durable store (one redb file).
pub struct Outbox {
    db: Database,
    path: PathBuf,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox").field("path", &self.path).finish()
    }
}

impl Outbox {
    /// Opens the outbox at `path`, creating the file and its folder when
    /// missing. A file left by a process that was killed is recovered by redb
    /// (the last committed state). Fails with [`OutboxError::Open`] if another
    /// `Outbox` (in this or another process) has the file open.
    pub fn open(path: &Path) -> Result<Self, OutboxError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OutboxError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        create_private_file(path)?;
        check_is_redb(path)?;
        let db = Database::create(path).map_err(|source| OutboxError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let tx = db.begin_write()?;
        {
            tx.open_table(PENDING)?;
            tx.open_table(PENDING_BY_DUE)?;
            tx.open_table(GIVEN_UP)?;
        }
        tx.commit()?;
        Ok(Outbox {
            db,
            path: path.to_path_buf(),
        })
    }

    /// The file.
    #[cfg(test)] // the delivery task uses due_batch and settle
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores `envs` as pending in one durable write transaction (one fsync
    /// for the lot). An event id already pending is replaced.
    pub fn put_all(&self, envs: &[Envelope]) -> Result<(), OutboxError> {
        if envs.is_empty() {
            return Ok(());
        }
        let encoded = envs
            .iter()
            .map(|e| encode(e).map(|bytes| (e, bytes)))
            .collect::<Result<Vec<_>, _>>()?;
        let tx = self.db.begin_write()?;
        {
            let mut pending = tx.open_table(PENDING)?;
            let mut by_due = tx.open_table(PENDING_BY_DUE)?;
            for (env, bytes) in &encoded {
                put_pending(&mut pending, &mut by_due, env, bytes)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Pending events with `next_attempt_ms <= now_ms`, the oldest due
    /// first, at most `limit`.
    #[cfg(test)] // the delivery task uses due_batch and settle
    pub fn due(&self, now_ms: u64, limit: usize) -> Result<Vec<Envelope>, OutboxError> {
        Ok(self.due_batch(now_ms, limit, &HashSet::new())?.envelopes)
    }

    /// Like [`Outbox::due`], passing over the event ids in `skip` (those
    /// in flight), and telling when the next event not skipped is due.
    pub fn due_batch(
        &self,
        now_ms: u64,
        limit: usize,
        skip: &HashSet<String>,
    ) -> Result<DueBatch, OutboxError> {
        let tx = self.db.begin_read()?;
        let pending = tx.open_table(PENDING)?;
        let by_due = tx.open_table(PENDING_BY_DUE)?;
        let mut batch = DueBatch::default();
        for entry in by_due.iter()? {
            let (key, _) = entry?;
            let (due_ms, event_id) = key.value();
            if skip.contains(event_id) {
                continue;
            }
            if due_ms > now_ms || batch.envelopes.len() >= limit {
                batch.next_due_ms = Some(due_ms);
                break;
            }
            // The schedule and `pending` change in the same transactions:
            // an entry without its envelope cannot happen; pass over it if
            // it does rather than stop delivering everything else.
            if let Some(bytes) = pending.get(event_id)? {
                batch.envelopes.push(decode(event_id, bytes.value())?);
            }
        }
        Ok(batch)
    }

    /// When the earliest pending event is due, unix ms; `None` when nothing
    /// is pending.
    #[cfg(test)] // the delivery task uses due_batch and settle
    pub fn next_due_ms(&self) -> Result<Option<u64>, OutboxError> {
        let tx = self.db.begin_read()?;
        let by_due = tx.open_table(PENDING_BY_DUE)?;
        let first = by_due.first()?;
        Ok(first.map(|(key, _)| key.value().0))
    }

    /// Removes a delivered event (no error if it is not pending).
    #[cfg(test)] // the delivery task uses due_batch and settle
    pub fn delivered(&self, event_id: &str) -> Result<(), OutboxError> {
        self.settle(&[Settle::Delivered(event_id.to_owned())])
    }

    /// Stores a failed event again, with its new `attempts`, `last_error` and
    /// `next_attempt_ms`.
    #[cfg(test)] // the delivery task uses due_batch and settle
    pub fn reschedule(&self, env: &Envelope) -> Result<(), OutboxError> {
        self.settle(&[Settle::Reschedule(env.clone())])
    }

    /// Moves an event from pending to `given_up`, as given (with its last
    /// error).
    #[cfg(test)] // the delivery task uses due_batch and settle
    pub fn give_up(&self, env: &Envelope) -> Result<(), OutboxError> {
        self.settle(&[Settle::GiveUp(env.clone())])
    }

    /// Applies the outcomes of several attempts in one durable write
    /// transaction.
    pub fn settle(&self, changes: &[Settle]) -> Result<(), OutboxError> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        {
            let mut pending = tx.open_table(PENDING)?;
            let mut by_due = tx.open_table(PENDING_BY_DUE)?;
            let mut given_up = tx.open_table(GIVEN_UP)?;
            for change in changes {
                match change {
                    Settle::Delivered(event_id) => {
                        remove_pending(&mut pending, &mut by_due, event_id)?;
                    }
                    Settle::Reschedule(env) => {
                        put_pending(&mut pending, &mut by_due, env, &encode(env)?)?;
                    }
                    Settle::GiveUp(env) => {
                        remove_pending(&mut pending, &mut by_due, &env.event_id)?;
                        given_up.insert(env.event_id.as_str(), encode(env)?.as_slice())?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Makes every pending event due at `now_ms` at the latest (for a restart:
    /// what a previous run left is tried at once). Returns how many moved.
    pub fn make_all_due(&self, now_ms: u64) -> Result<u64, OutboxError> {
        let tx = self.db.begin_write()?;
        let mut moved = 0;
        {
            let mut pending = tx.open_table(PENDING)?;
            let mut by_due = tx.open_table(PENDING_BY_DUE)?;
            let mut later = Vec::new();
            for entry in by_due.range::<(u64, &str)>((now_ms.saturating_add(1), "")..)? {
                let (key, _) = entry?;
                later.push(key.value().1.to_owned());
            }
            for event_id in later {
                let Some(bytes) = pending.get(event_id.as_str())?.map(|b| b.value().to_vec())
                else {
                    continue;
                };
                let mut env = decode(&event_id, &bytes)?;
                env.next_attempt_ms = now_ms;
                put_pending(&mut pending, &mut by_due, &env, &encode(&env)?)?;
                moved += 1;
            }
        }
        tx.commit()?;
        Ok(moved)
    }

    /// How many events are pending.
    pub fn pending_len(&self) -> Result<u64, OutboxError> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(PENDING)?.len()?)
    }

    /// One pending event.
    #[cfg(test)] // the delivery task uses due_batch and settle
    pub fn get_pending(&self, event_id: &str) -> Result<Option<Envelope>, OutboxError> {
        let tx = self.db.begin_read()?;
        let pending = tx.open_table(PENDING)?;
        let found = pending.get(event_id)?;
        found.map(|b| decode(event_id, b.value())).transpose()
    }

    /// The events given up, by event id.
    pub fn given_up(&self) -> Result<Vec<Envelope>, OutboxError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(GIVEN_UP)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            out.push(decode(key.value(), value.value())?);
        }
        Ok(out)
    }
}

fn put_pending(
    pending: &mut redb::Table<'_, &'static str, &'static [u8]>,
    by_due: &mut redb::Table<'_, (u64, &'static str), ()>,
    env: &Envelope,
    bytes: &[u8],
) -> Result<(), OutboxError> {
    remove_pending(pending, by_due, &env.event_id)?;
    pending.insert(env.event_id.as_str(), bytes)?;
    by_due.insert((env.next_attempt_ms, env.event_id.as_str()), ())?;
    Ok(())
}

fn remove_pending(
    pending: &mut redb::Table<'_, &'static str, &'static [u8]>,
    by_due: &mut redb::Table<'_, (u64, &'static str), ()>,
    event_id: &str,
) -> Result<(), OutboxError> {
    let old = pending.remove(event_id)?.map(|b| b.value().to_vec());
    if let Some(old) = old {
        let old = decode(event_id, &old)?;
        by_due.remove((old.next_attempt_ms, event_id))?;
    }
    Ok(())
}

fn encode(env: &Envelope) -> Result<Vec<u8>, OutboxError> {
    serde_json::to_vec(env).map_err(|source| OutboxError::Encode {
        event_id: env.event_id.clone(),
        source,
    })
}

fn decode(event_id: &str, bytes: &[u8]) -> Result<Envelope, OutboxError> {
    serde_json::from_slice(bytes).map_err(|source| OutboxError::Decode {
        event_id: event_id.to_owned(),
        source,
    })
}

/// The first bytes of every redb file (format v1 and v2).
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// redb initialises any file without its magic number, wiping what was
/// there: accept only an empty file, a redb file, or one whose header was
/// never written (all zeros: a first creation that was interrupted).
fn check_is_redb(path: &Path) -> Result<(), OutboxError> {
    use std::io::Read;
    let io_error = |source| OutboxError::CreateFile {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let mut head = Vec::with_capacity(REDB_MAGIC.len());
    file.by_ref()
        .take(REDB_MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(io_error)?;
    if head.is_empty() || head == REDB_MAGIC || head.iter().all(|&b| b == 0) {
        Ok(())
    } else {
        Err(OutboxError::NotAnOutbox {
            path: path.to_path_buf(),
        })
    }
}

/// Creates `path` if missing, readable and writable by its owner only on
/// Unix; an existing file is left as it is.
fn create_private_file(path: &Path) -> Result<(), OutboxError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(OutboxError::CreateFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(id: &str, due: u64) -> Envelope {
        let mut e = Envelope::new(
            id,
            "HangupCauseEvent",
            "http://127.0.0.1:9/cb",
            format!(r#"{{"eventId":"{id}"}}"#),
            due,
        );
        e.secret = Some("s3cret".into());
        e
    }

    fn ids(envs: &[Envelope]) -> Vec<&str> {
        envs.iter().map(|e| e.event_id.as_str()).collect()
    }

    #[test]
    fn outbox_put_due_oldest_first_with_limit() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("a/b/outbox.redb")).unwrap();
        assert_eq!(ob.next_due_ms().unwrap(), None);
        ob.put_all(&[env("c", 300), env("a", 100), env("b", 200), env("d", 400)])
            .unwrap();
        assert_eq!(ob.pending_len().unwrap(), 4);
        assert_eq!(ob.next_due_ms().unwrap(), Some(100));
        assert_eq!(ids(&ob.due(300, 10).unwrap()), ["a", "b", "c"]);
        assert_eq!(ids(&ob.due(300, 2).unwrap()), ["a", "b"]);
        assert!(ob.due(99, 10).unwrap().is_empty());
        // The envelope comes back as stored, body and secret included.
        assert_eq!(ob.due(100, 1).unwrap()[0], env("a", 100));

        let skip: HashSet<String> = ["a".to_string()].into();
        let batch = ob.due_batch(300, 1, &skip).unwrap();
        assert_eq!(ids(&batch.envelopes), ["b"]);
        assert_eq!(batch.next_due_ms, Some(300), "c is due but over the limit");
        let batch = ob.due_batch(300, 10, &skip).unwrap();
        assert_eq!(ids(&batch.envelopes), ["b", "c"]);
        assert_eq!(batch.next_due_ms, Some(400));
        let batch = ob.due_batch(500, 10, &HashSet::new()).unwrap();
        assert_eq!(batch.envelopes.len(), 4);
        assert_eq!(batch.next_due_ms, None);
    }

    #[test]
    fn outbox_reschedule_give_up_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("outbox.redb")).unwrap();
        ob.put_all(&[env("a", 100), env("b", 100)]).unwrap();

        let mut a = ob.due(100, 1).unwrap().remove(0);
        assert_eq!(a.event_id, "a");
        a.attempts = 1;
        a.last_error = Some("HTTP 500".into());
        a.next_attempt_ms = 1_000;
        ob.reschedule(&a).unwrap();
        assert_eq!(
            ids(&ob.due(999, 10).unwrap()),
            ["b"],
            "a moved off the old slot"
        );
        assert_eq!(ob.due(1_000, 10).unwrap()[1], a);
        assert_eq!(ob.get_pending("a").unwrap(), Some(a.clone()));

        ob.give_up(&a).unwrap();
        assert_eq!(ob.pending_len().unwrap(), 1);
        assert_eq!(ob.given_up().unwrap(), vec![a.clone()]);
        assert_eq!(ids(&ob.due(u64::MAX, 10).unwrap()), ["b"]);

        ob.delivered("b").unwrap();
        ob.delivered("b").unwrap(); // twice is harmless
        assert_eq!(ob.pending_len().unwrap(), 0);
        assert_eq!(ob.next_due_ms().unwrap(), None);
        assert!(ob.due(u64::MAX, 10).unwrap().is_empty());
        assert_eq!(ob.given_up().unwrap(), vec![a]);
    }

    #[test]
    fn outbox_put_replaces_the_same_event_id() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("outbox.redb")).unwrap();
        ob.put_all(&[env("a", 100)]).unwrap();
        ob.put_all(&[env("a", 500)]).unwrap();
        assert_eq!(ob.pending_len().unwrap(), 1);
        assert!(ob.due(499, 10).unwrap().is_empty());
        assert_eq!(ids(&ob.due(500, 10).unwrap()), ["a"]);
    }

    #[test]
    fn outbox_settle_applies_a_batch_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("outbox.redb")).unwrap();
        ob.put_all(&[env("a", 1), env("b", 2), env("c", 3)])
            .unwrap();
        let mut b = env("b", 50);
        b.attempts = 1;
        let mut c = env("c", 3);
        c.attempts = 4;
        ob.settle(&[
            Settle::Delivered("a".into()),
            Settle::Reschedule(b.clone()),
            Settle::GiveUp(c.clone()),
        ])
        .unwrap();
        assert_eq!(ob.due(u64::MAX, 10).unwrap(), vec![b]);
        assert_eq!(ob.given_up().unwrap(), vec![c]);
    }

    #[test]
    fn outbox_persists_across_reopen_and_make_all_due() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.redb");
        {
            let ob = Outbox::open(&path).unwrap();
            ob.put_all(&[env("a", 100), env("b", 5_000), env("c", 9_000)])
                .unwrap();
            let mut c = env("c", 9_000);
            c.last_error = Some("timeout".into());
            ob.give_up(&c).unwrap();
            // A second handle on the same file is refused, clearly.
            let err = Outbox::open(&path).unwrap_err();
            assert!(matches!(err, OutboxError::Open { .. }), "{err}");
            assert!(err.to_string().contains("outbox.redb"), "{err}");
        }
        let ob = Outbox::open(&path).unwrap();
        assert_eq!(ob.path(), path);
        assert_eq!(ob.pending_len().unwrap(), 2);
        assert_eq!(
            ob.given_up().unwrap()[0].last_error.as_deref(),
            Some("timeout")
        );
        assert_eq!(ob.make_all_due(1_000).unwrap(), 1);
        assert_eq!(ids(&ob.due(1_000, 10).unwrap()), ["a", "b"]);
        assert_eq!(ob.next_due_ms().unwrap(), Some(100));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner only: {mode:o}");
        }
    }

    #[test]
    fn outbox_open_reports_a_file_that_is_not_an_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-redb");
        let text = b"this is not a redb file, just some text";
        std::fs::write(&path, text).unwrap();
        let err = Outbox::open(&path).unwrap_err();
        assert!(matches!(err, OutboxError::NotAnOutbox { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), text, "left untouched");
        // A file whose creation stopped before redb wrote its header is taken.
        std::fs::write(&path, [0u8; 4096]).unwrap();
        let ob = Outbox::open(&path).unwrap();
        assert_eq!(ob.pending_len().unwrap(), 0);
    }
}
