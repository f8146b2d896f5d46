//! The gateway's HTTP listener: recordings behind a per-URL token, and the
//! operational endpoints.
//!
//! - `GET /recordings/{callId}.wav?token=…`: the recording of a call. The
//!   path carries the customer's Call-ID percent-encoded; the token is the
//!   HMAC-SHA256 of that Call-ID under the configured secret (see
//!   [`record_url`]). A missing or wrong token answers 403, a call with no
//!   recording 404. The file is looked up under its [`file_stem`] name, so
//!   no Call-ID can name a path outside the recordings directory, or another
//!   call's recording.
//! - `GET /healthz`: 200 `ok` while the process answers.
//! - `GET /readyz`: 200 `ready`, or 503 `draining` once the ready flag drops.
//! - `GET /metrics`: the text exposition of the metrics provider, 404 when
//!   none is set.
//!
//! Recordings older than the retention are deleted by [`retention_task`].

use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use crate::media::file_stem;
use crate::signing::{hmac_hex, verify_hex};

/// What the HTTP listener serves.
#[derive(Clone)]
pub struct HttpState {
    /// The recordings directory; `None`: `/recordings` answers 404.
    pub recordings: Option<PathBuf>,
    /// The key of the recording tokens. Empty, every token is refused: an
    /// HMAC under an empty key is no secret.
    pub secret: Vec<u8>,
    /// `/readyz`: 200 `ready` while true, 503 `draining` once false.
    pub ready: Arc<AtomicBool>,
    /// The body of `/metrics` (Prometheus text exposition); `None`: 404.
    pub metrics: Option<Arc<dyn Fn() -> String + Send + Sync>>,
}

impl fmt::Debug for HttpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpState")
            .field("recordings", &self.recordings)
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .field("ready", &self.ready.load(Ordering::Relaxed))
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

/// The routes: `GET /healthz`, `/readyz`, `/metrics`, `/recordings/{file}`
/// (HEAD too); anything else 404.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/recordings/{file}", get(recording))
        .with_state(Arc::new(state))
}

/// Serves [`router`] on `listener` until `shutdown` completes, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP listener");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Bytes left as they are in the Call-ID segment of a recording URL: the
/// unreserved characters of RFC 3986; everything else is percent-encoded,
/// `/` included, so the Call-ID stays one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The `recordUrl` of a call:
/// `{base}/recordings/{percent-encoded call_id}.wav?token={hmac_hex(secret, call_id)}`.
/// A trailing `/` of `base` is dropped.
pub fn record_url(base: &str, call_id: &str, secret: &[u8]) -> String {
    format!(
        "{}/recordings/{}.wav?token={}",
        base.trim_end_matches('/'),
        utf8_percent_encode(call_id, SEGMENT),
        hmac_hex(secret, call_id.as_bytes())
    )
}

/// Deletes the regular files directly in `dir` whose mtime is more than
/// `retention_days` days ago; returns how many. Subdirectories and symbolic
/// links are left alone. `retention_days == 0` keeps everything (a
/// recording still being written would be old at once otherwise).
pub fn prune_recordings(dir: &Path, retention_days: u64) -> io::Result<usize> {
    if retention_days == 0 {
        return Ok(0);
    }
    let max_age = Duration::from_secs(retention_days.saturating_mul(86_400));
    let now = SystemTime::now();
    let mut deleted = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // `DirEntry::metadata` does not follow symbolic links.
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let Ok(mtime) = meta.modified() else { continue };
        // An mtime in the future is not old.
        let old = now.duration_since(mtime).is_ok_and(|age| age > max_age);
        if !old {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => deleted += 1,
            // Gone meanwhile: someone else pruned it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %entry.path().display(), error = %e, "cannot delete old recording")
            }
        }
    }
    Ok(deleted)
}

/// Prunes `dir` at once and then every `every`, forever (abort the task to
/// stop it); each pass is logged. Does nothing if `retention_days` is 0.
pub async fn retention_task(dir: PathBuf, retention_days: u64, every: Duration) {
    if retention_days == 0 {
        return;
    }
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let d = dir.clone();
        match tokio::task::spawn_blocking(move || prune_recordings(&d, retention_days)).await {
            Ok(Ok(0)) => tracing::debug!(dir = %dir.display(), "no recording past retention"),
            Ok(Ok(n)) => {
                tracing::info!(dir = %dir.display(), deleted = n, retention_days, "recordings pruned")
            }
            Ok(Err(e)) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot prune recordings")
            }
            Err(e) => tracing::warn!(error = %e, "recordings pruning failed"),
        }
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<Arc<HttpState>>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
    }
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    match &state.metrics {
        Some(render) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            render(),
        )
            .into_response(),
        None => not_found(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "forbidden").into_response()
}

/// The `token` parameter of a query string, percent-decoded.
fn token_of(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("token=")?;
        Some(percent_decode_str(value).decode_utf8_lossy().into_owned())
    })
}

/// `GET /recordings/{file}`: `file` is the Call-ID (already percent-decoded
/// by the extractor) followed by `.wav`.
async fn recording(
    State(state): State<Arc<HttpState>>,
    UrlPath(file): UrlPath<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(dir) = state.recordings.as_deref() else {
        return not_found();
    };
    let Some(call_id) = file.strip_suffix(".wav") else {
        return not_found();
    };
    // The token is checked before the file is looked for, so a caller
    // without one learns nothing about which calls have recordings.
    let token = query.as_deref().and_then(token_of);
    let authorized = !state.secret.is_empty()
        && token.is_some_and(|t| verify_hex(&state.secret, call_id.as_bytes(), &t));
    if !authorized {
        tracing::debug!(call_id, "recording refused: bad or missing token");
        return forbidden();
    }
    let stem = file_stem(call_id);
    // `file_stem` writes only [A-Za-z0-9_@-], `%` and `~`: one plain name
    // inside `dir`, and one per Call-ID. Checked again here, cheaply.
    if stem.contains(['/', '\\']) || stem.starts_with('.') {
        return not_found();
    }
    let path = dir.join(format!("{stem}.wav"));
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return not_found(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot open recording");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot read recording").into_response();
        }
    };
    let len = match file.metadata().await {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => return not_found(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot stat recording");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot read recording").into_response();
        }
    };
    // Exactly `len` bytes, as announced, even if the file is still growing.
    let body = Body::from_stream(ReaderStream::new(file.take(len)));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("audio/wav")),
            (header::CONTENT_LENGTH, HeaderValue::from(len)),
            (header::CACHE_CONTROL, HeaderValue::from_static("private")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::body::Bytes;
    use axum::http::{HeaderMap, Request};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::ServiceExt;

    const SECRET: &[u8] = b"test-secret";

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let p =
                std::env::temp_dir().join(format!("tonegate-http-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn state(recordings: Option<PathBuf>) -> HttpState {
        HttpState {
            recordings,
            secret: SECRET.to_vec(),
            ready: Arc::new(AtomicBool::new(true)),
            metrics: None,
        }
    }

    async fn get(router: Router, uri: &str) -> (StatusCode, HeaderMap, Bytes) {
        let req = Request::get(uri).body(Body::empty()).unwrap();
        let resp = router.oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, body)
    }

    /// The path and query of a `record_url` made on a dummy base.
    fn path_of(call_id: &str, secret: &[u8]) -> String {
        let url = record_url("http://gw.test:9090", call_id, secret);
        url.strip_prefix("http://gw.test:9090").unwrap().to_owned()
    }

    /// Some bytes that look like a recording, larger than one read chunk.
    fn wav_bytes() -> Vec<u8> {
        let mut v = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        v.extend((0..20_000u32).map(|i| (i * 7 % 251) as u8));
        v
    }

    #[test]
    fn record_url_shape() {
        let url = record_url("http://gw.example:9090/", "abc-123@host", SECRET);
        assert_eq!(
            url,
            format!(
                "http://gw.example:9090/recordings/abc-123%40host.wav?token={}",
                hmac_hex(SECRET, b"abc-123@host")
            )
        );
        let odd = record_url("http://h", "a/../b c?x#y&z", SECRET);
        let segment = odd
            .strip_prefix("http://h/recordings/")
            .unwrap()
            .split_once(".wav?token=")
            .unwrap()
            .0;
        assert_eq!(segment, "a%2F..%2Fb%20c%3Fx%23y%26z");
    }

    #[tokio::test]
    async fn recording_with_the_right_token_is_served() {
        let dir = TempDir::new("served");
        let call_id = "abc-123@host.example";
        let bytes = wav_bytes();
        std::fs::write(dir.0.join(format!("{}.wav", file_stem(call_id))), &bytes).unwrap();
        let (status, headers, body) = get(
            router(state(Some(dir.0.clone()))),
            &path_of(call_id, SECRET),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "audio/wav");
        assert_eq!(
            headers[header::CONTENT_LENGTH],
            bytes.len().to_string().as_str()
        );
        assert_eq!(&body[..], &bytes[..]);
    }

    #[tokio::test]
    async fn wrong_or_missing_token_is_403() {
        let dir = TempDir::new("forbidden");
        let call_id = "call-1@host";
        std::fs::write(dir.0.join("call-1@host.wav"), b"RIFF").unwrap();
        let app = router(state(Some(dir.0.clone())));
        let other_call = hmac_hex(SECRET, b"call-2@host");
        let other_key = hmac_hex(b"other-secret", call_id.as_bytes());
        for uri in [
            "/recordings/call-1%40host.wav".to_owned(),
            "/recordings/call-1%40host.wav?".to_owned(),
            "/recordings/call-1%40host.wav?token=".to_owned(),
            "/recordings/call-1%40host.wav?token=zz".to_owned(),
            format!("/recordings/call-1%40host.wav?token={other_call}"),
            format!("/recordings/call-1%40host.wav?token={other_key}"),
            format!(
                "/recordings/call-1%40host.wav?tok={}",
                hmac_hex(SECRET, call_id.as_bytes())
            ),
        ] {
            let (status, _, _) = get(app.clone(), &uri).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        }
        // The right one, for contrast, also as a second query parameter.
        let token = hmac_hex(SECRET, call_id.as_bytes());
        let (status, _, body) = get(
            app,
            &format!("/recordings/call-1%40host.wav?x=1&token={token}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"RIFF");
    }

    #[tokio::test]
    async fn empty_secret_refuses_every_token() {
        let dir = TempDir::new("nosecret");
        std::fs::write(dir.0.join("c.wav"), b"RIFF").unwrap();
        let mut s = state(Some(dir.0.clone()));
        s.secret.clear();
        let (status, _, _) = get(router(s), &path_of("c", b"")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn unknown_call_is_404() {
        let dir = TempDir::new("unknown");
        let app = router(state(Some(dir.0.clone())));
        let (status, _, _) = get(app.clone(), &path_of("nobody@host", SECRET)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Not a .wav, or under no route at all.
        let token = hmac_hex(SECRET, b"nobody@host");
        let (status, _, _) = get(
            app.clone(),
            &format!("/recordings/nobody%40host?token={token}"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = get(app, "/nothing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // No recordings directory configured.
        std::fs::write(dir.0.join("c.wav"), b"RIFF").unwrap();
        let (status, _, _) = get(router(state(None)), &path_of("c", SECRET)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn odd_call_ids_round_trip() {
        let dir = TempDir::new("odd");
        let app = router(state(Some(dir.0.clone())));
        for (i, call_id) in [
            "a/../b c@host",
            "../../etc/passwd",
            "..",
            ".hidden@x",
            "with space@10.0.0.1",
            "ünï/cödé%2F?#&+=",
        ]
        .into_iter()
        .enumerate()
        {
            let stem = file_stem(call_id);
            let content = format!("RIFF{i}");
            std::fs::write(dir.0.join(format!("{stem}.wav")), &content).unwrap();
            let (status, headers, body) = get(app.clone(), &path_of(call_id, SECRET)).await;
            assert_eq!(status, StatusCode::OK, "{call_id:?}");
            assert_eq!(headers[header::CONTENT_TYPE], "audio/wav");
            assert_eq!(&body[..], content.as_bytes(), "{call_id:?}");
        }
    }

    #[tokio::test]
    async fn no_path_escapes_the_directory() {
        let outer = TempDir::new("escape");
        let dir = outer.0.join("recordings");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(outer.0.join("secret.wav"), b"outside").unwrap();
        let app = router(state(Some(dir.clone())));
        // A valid token for "../secret": the file outside is still not served.
        let token = hmac_hex(SECRET, b"../secret");
        for uri in [
            path_of("../secret", SECRET),
            format!("/recordings/..%2fsecret.wav?token={token}"),
            format!("/recordings/%2E%2E%2Fsecret.wav?token={token}"),
        ] {
            let (status, _, body) = get(app.clone(), &uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            assert_ne!(&body[..], b"outside");
        }
        // A dot-dot segment never reaches the handler either.
        let (status, _, body) = get(
            app.clone(),
            &format!("/recordings/../secret.wav?token={token}"),
        )
        .await;
        assert_ne!(status, StatusCode::OK);
        assert_ne!(&body[..], b"outside");
        // A directory named like a recording is not a recording.
        std::fs::create_dir_all(dir.join("d.wav")).unwrap();
        let (status, _, _) = get(app, &path_of("d", SECRET)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn healthz_readyz_metrics() {
        let s = state(None);
        let ready = s.ready.clone();
        let app = router(s);
        let (status, _, body) = get(app.clone(), "/healthz").await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
        let (status, _, body) = get(app.clone(), "/readyz").await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"ready"[..]));
        ready.store(false, Ordering::Release);
        let (status, _, body) = get(app.clone(), "/readyz").await;
        assert_eq!(
            (status, &body[..]),
            (StatusCode::SERVICE_UNAVAILABLE, &b"draining"[..])
        );
        ready.store(true, Ordering::Release);
        let (status, _, _) = get(app.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = get(app, "/metrics").await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let mut s = state(None);
        s.metrics = Some(Arc::new(|| {
            "# TYPE calls_total counter\ncalls_total 3\n".to_owned()
        }));
        let (status, headers, body) = get(router(s), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        assert_eq!(&body[..], b"# TYPE calls_total counter\ncalls_total 3\n");
    }

    fn set_age(path: &Path, days: u64) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400 + 60))
            .unwrap();
    }

    #[test]
    fn prune_deletes_only_old_files() {
        let dir = TempDir::new("prune");
        for name in ["old.wav", "older.pt18.raw", "new.wav", "edge.wav"] {
            std::fs::write(dir.0.join(name), b"RIFF").unwrap();
        }
        set_age(&dir.0.join("old.wav"), 31);
        set_age(&dir.0.join("older.pt18.raw"), 400);
        set_age(&dir.0.join("edge.wav"), 29);
        // Old subdirectories are not recordings.
        std::fs::create_dir_all(dir.0.join("sub.wav")).unwrap();
        std::fs::write(dir.0.join("sub.wav").join("x.wav"), b"RIFF").unwrap();
        set_age(&dir.0.join("sub.wav").join("x.wav"), 100);

        assert_eq!(prune_recordings(&dir.0, 0).unwrap(), 0);
        assert!(dir.0.join("old.wav").exists());
        assert_eq!(prune_recordings(&dir.0, 30).unwrap(), 2);
        assert!(!dir.0.join("old.wav").exists());
        assert!(!dir.0.join("older.pt18.raw").exists());
        assert!(dir.0.join("new.wav").exists());
        assert!(dir.0.join("edge.wav").exists());
        assert!(dir.0.join("sub.wav").join("x.wav").exists());
        assert_eq!(prune_recordings(&dir.0, 30).unwrap(), 0);
        assert!(prune_recordings(&dir.0.join("missing"), 30).is_err());
    }

    #[tokio::test]
    async fn retention_task_prunes_at_once() {
        let dir = TempDir::new("retention");
        std::fs::write(dir.0.join("old.wav"), b"RIFF").unwrap();
        std::fs::write(dir.0.join("new.wav"), b"RIFF").unwrap();
        set_age(&dir.0.join("old.wav"), 10);
        let task = tokio::spawn(retention_task(dir.0.clone(), 7, Duration::from_secs(3600)));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while dir.0.join("old.wav").exists() {
            assert!(tokio::time::Instant::now() < deadline, "not pruned");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(dir.0.join("new.wav").exists());
        task.abort();
    }

    /// One raw HTTP/1.1 request; the whole response.
    async fn raw_get_bytes(addr: std::net::SocketAddr, path: &str) -> Vec<u8> {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        out
    }

    /// One raw HTTP/1.1 request; the whole response as text.
    async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
        String::from_utf8_lossy(&raw_get_bytes(addr, path).await).into_owned()
    }

    #[tokio::test]
    async fn serve_over_a_real_socket_and_shut_down() {
        let dir = TempDir::new("serve");
        let bytes = wav_bytes();
        std::fs::write(dir.0.join("x%2Fy@h.wav"), &bytes).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state(Some(dir.0.clone())), async {
            let _ = stopped.await;
        }));

        let resp = raw_get(addr, "/healthz").await;
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.ends_with("\r\n\r\nok"), "{resp}");

        let out = raw_get_bytes(addr, &path_of("x/y@h", SECRET)).await;
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&out[..split]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200 ok"), "{head}");
        assert!(head.contains("content-type: audio/wav"), "{head}");
        assert_eq!(&out[split + 4..], &bytes[..]);

        let resp = raw_get(addr, "/recordings/x%2Fy%40h.wav?token=00").await;
        assert!(resp.starts_with("HTTP/1.1 403 "), "{resp}");

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server stops")
            .unwrap()
            .unwrap();
    }
}
