//! The media of one call: a tokio task per call owns the four UDP sockets
//! of its two port pairs and drives the sans-IO [`MediaRelay`].
//!
//! Every received datagram gets a verdict from the relay and is sent on
//! (or dropped) at once. Between the carrier's first provisional with SDP
//! and the answer or the end of the call, the carrier's G.711 RTP also
//! goes through the early-media [`Tap`] into the call's streaming
//! [`Classifier`] and into the recording. Other codecs are recorded raw
//! and labelled `unsupported_codec`. After the answer, media is only
//! relayed (and recorded when whole-call recording is on).

use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tonegate_classify::g711::Law;
use tonegate_classify::{Classifier, Decision, Library};
use tonegate_rtp::{
    Codec, Component, MediaRelay, RelayConfig, RelayEvent, RtpInfo, Side, SideStats, Tap, Verdict,
    FRAME_SAMPLES,
};
use tonegate_sip::b2bua::{CallId, MediaPorts};
use tonegate_sip::sdp::AudioMedia;
use tracing::{debug, info, info_span, warn, Instrument as _};

/// What every call's media task shares.
#[derive(Debug)]
pub struct MediaSettings {
    /// Local address the RTP sockets bind to.
    pub bind: IpAddr,
    /// Relay behaviour (strict latching, no-RTP timeout).
    pub relay: RelayConfig,
    /// Jitter buffer of the tap, in 20 ms frames.
    pub jitter_frames: usize,
    /// Where recordings go; `None`: nothing is recorded.
    pub recordings: Option<PathBuf>,
    /// Record the whole call, not only the early media.
    pub whole_call: bool,
    /// The announcement library; `None`: early media is recorded, not
    /// classified. Swapped by a reload; a call keeps the library it
    /// started classifying with.
    pub library: RwLock<Option<Arc<Library>>>,
}

impl MediaSettings {
    /// The current library.
    pub fn library(&self) -> Option<Arc<Library>> {
        self.library
            .read()
            .map(|l| l.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Replaces the library for calls whose early media starts from now.
    pub fn set_library(&self, library: Arc<Library>) {
        match self.library.write() {
            Ok(mut l) => *l = Some(library),
            Err(p) => *p.into_inner() = Some(library),
        }
    }
}

/// What the SIP side tells a call's media task.
#[derive(Debug)]
pub enum Control {
    /// A party's SDP (`Side::A`: the customer's).
    Signalled(Side, AudioMedia),
    /// The carrier's first provisional with SDP: tap its RTP from now.
    EarlyMedia,
    /// The call was answered: stop tapping, start the no-RTP timeout.
    Answered,
    /// The call is over.
    Stop,
}

/// What the early media turned out to be, reported when the task ends.
#[derive(Debug, Clone)]
pub struct MediaOutcome {
    /// The classifier's decision (committed, or its end-of-stream result);
    /// `None` when no early media was tapped or nothing classified it.
    pub decision: Option<Decision>,
    /// The carrier sent a codec the tap cannot decode.
    pub unsupported_codec: bool,
    /// Early media tapped, in ms.
    pub early_ms: u64,
    /// The recording of the carrier's side, if any was written.
    pub recording: Option<PathBuf>,
    /// Per-side packet counters.
    pub a: SideStats,
    /// See `a`.
    pub b: SideStats,
}

/// What call media tasks tell the SIP driver.
#[derive(Debug)]
pub enum Report {
    /// The classifier committed while the call rings.
    Decision(CallId, Decision),
    /// An answered call carried no RTP for the configured time.
    Timeout(CallId),
    /// The task ended.
    Done(CallId, Box<MediaOutcome>),
}

/// Binds the call's sockets and starts its task.
pub fn spawn(
    call: CallId,
    call_id: &str,
    ports: MediaPorts,
    settings: Arc<MediaSettings>,
    reports: mpsc::UnboundedSender<Report>,
) -> Result<mpsc::UnboundedSender<Control>, (u16, io::Error)> {
    let bind = |port: u16| -> Result<UdpSocket, (u16, io::Error)> {
        let s = std::net::UdpSocket::bind(SocketAddr::new(settings.bind, port))
            .map_err(|e| (port, e))?;
        s.set_nonblocking(true).map_err(|e| (port, e))?;
        UdpSocket::from_std(s).map_err(|e| (port, e))
    };
    let sockets = [
        bind(ports.a)?,
        bind(ports.a + 1)?,
        bind(ports.b)?,
        bind(ports.b + 1)?,
    ];
    let (tx, rx) = mpsc::unbounded_channel();
    let now = Instant::now();
    let task = CallMedia {
        call,
        relay: MediaRelay::new(now, ports.a, ports.b, settings.relay),
        pt_codec: [None; 128],
        caller_pt_codec: [None; 128],
        pt_not_audio: [false; 128],
        early: None,
        whole: None,
        recording_name: file_stem(call_id),
        settings,
        reports,
        answered: false,
        unsupported: None,
        decision: None,
        early_samples: 0,
    };
    let span = info_span!("call", call_id = %call_id);
    tokio::spawn(task.run(sockets, rx).instrument(span));
    Ok(tx)
}

/// Longest stem kept as is; a longer one is cut and ends in a digest of the whole Call-ID.
const MAX_STEM: usize = 200;

/// A file name from a Call-ID, one-to-one: `[A-Za-z0-9_@-]` stay, every other byte of the
/// UTF-8 is written `%XX`. Two calls never share a name (an earlier version mapped every
/// other character to `_`, so `a/b` and `a_b` wrote the same file, and the one URL served
/// the other call's recording), and a stem holds no `.`, so no Call-ID names another
/// call's `.caller.wav` or `.ptN.raw`. A stem longer than [`MAX_STEM`] bytes keeps its first
/// part and ends in `~` and 32 hex digits of the Call-ID's SHA-256 (`~` is never written
/// otherwise).
pub fn file_stem(call_id: &str) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(call_id.len());
    for &b in call_id.as_bytes() {
        if b.is_ascii_alphanumeric() || b"_@-".contains(&b) {
            s.push(b as char);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(s, "%{b:02X}");
        }
    }
    if s.is_empty() {
        s.push('%');
    }
    if s.len() > MAX_STEM {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(call_id.as_bytes());
        // Cut on a character boundary (the stem is ASCII), leaving room for the digest.
        s.truncate(MAX_STEM - 33);
        s.push('~');
        for b in &digest[..16] {
            let _ = write!(s, "{b:02x}");
        }
    }
    s
}

/// A tapped direction: jitter buffer, and where its frames go.
struct Tapped {
    tap: Tap,
    law: Law,
    wav: Option<hound::WavWriter<BufWriter<File>>>,
    path: Option<PathBuf>,
}

impl Tapped {
    fn new(codec: Codec, jitter: usize, path: Option<PathBuf>) -> Self {
        let law = match codec {
            Codec::Pcmu => Law::Mu,
            Codec::Pcma => Law::A,
        };
        Self {
            tap: Tap::new(codec, jitter),
            law,
            wav: None,
            path,
        }
    }

    fn write(&mut self, pcm: &[i16]) {
        let Some(path) = &self.path else { return };
        if self.wav.is_none() {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 8000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            match hound::WavWriter::create(path, spec) {
                Ok(w) => self.wav = Some(w),
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "cannot write the recording");
                    self.path = None;
                    return;
                }
            }
        }
        if let Some(w) = self.wav.as_mut() {
            let mut ok = true;
            for &s in pcm {
                ok &= w.write_sample(s).is_ok();
            }
            if !ok {
                warn!("recording write failed");
            }
        }
    }

    /// Closes the file; its path if one was written.
    fn close(&mut self) -> Option<PathBuf> {
        let w = self.wav.take()?;
        if let Err(e) = w.finalize() {
            warn!(error = %e, "recording not finalised");
            return None;
        }
        self.path.clone()
    }
}

/// Raw payloads of a codec the tap cannot decode.
struct RawRecording {
    file: Option<BufWriter<File>>,
    path: Option<PathBuf>,
    pt: u8,
}

struct CallMedia {
    call: CallId,
    relay: MediaRelay,
    /// The carrier's payload types that are G.711.
    pt_codec: [Option<Codec>; 128],
    /// The customer's (for whole-call recording).
    caller_pt_codec: [Option<Codec>; 128],
    /// The carrier's payload types that carry events, not audio.
    pt_not_audio: [bool; 128],
    /// The carrier's tapped audio (early media; on after the answer when
    /// whole-call recording is on) with the classifier while ringing.
    early: Option<(Tapped, Option<Classifier>)>,
    /// The customer's side, when the whole call is recorded.
    whole: Option<Tapped>,
    recording_name: String,
    settings: Arc<MediaSettings>,
    reports: mpsc::UnboundedSender<Report>,
    answered: bool,
    unsupported: Option<RawRecording>,
    decision: Option<Decision>,
    early_samples: u64,
}

impl CallMedia {
    async fn run(mut self, sockets: [UdpSocket; 4], mut rx: mpsc::UnboundedReceiver<Control>) {
        let [a_rtp, a_rtcp, b_rtp, b_rtcp] = &sockets;
        let mut bufs = [[0u8; 2048]; 4];
        let [ba, bb, bc, bd] = &mut bufs;
        let mut tapping = false;
        loop {
            let deadline = self.relay.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                c = rx.recv() => match c {
                    Some(Control::Signalled(side, media)) => self.signalled(side, &media),
                    Some(Control::EarlyMedia) => {
                        if !self.answered {
                            tapping = true;
                        }
                    }
                    Some(Control::Answered) => {
                        self.answered = true;
                        tapping = false;
                        self.relay.set_answered(Instant::now());
                        self.end_classification();
                    }
                    Some(Control::Stop) | None => break,
                },
                r = a_rtp.recv_from(ba) => self.packet(&sockets, Side::A, Component::Rtp, r, ba, tapping),
                r = a_rtcp.recv_from(bb) => self.packet(&sockets, Side::A, Component::Rtcp, r, bb, tapping),
                r = b_rtp.recv_from(bc) => self.packet(&sockets, Side::B, Component::Rtp, r, bc, tapping),
                r = b_rtcp.recv_from(bd) => self.packet(&sockets, Side::B, Component::Rtcp, r, bd, tapping),
                () = sleep => {
                    if self.relay.handle_timeout(Instant::now()) == Some(RelayEvent::Timeout) {
                        info!("no RTP on the answered call: releasing it");
                        let _ = self.reports.send(Report::Timeout(self.call));
                    }
                }
            }
        }
        self.finish();
    }

    fn signalled(&mut self, side: Side, media: &AudioMedia) {
        debug!(?side, rtp = ?media.rtp, "media signalled");
        self.relay
            .session_mut(side)
            .set_signalled(media.rtp, media.rtcp);
        let map = match side {
            Side::A => &mut self.caller_pt_codec,
            Side::B => &mut self.pt_codec,
        };
        *map = [None; 128];
        for c in &media.codecs {
            if let Some(slot) = map.get_mut(usize::from(c.pt)) {
                *slot = Codec::from_name(&c.name, c.rate);
            }
        }
        if side == Side::B {
            self.pt_not_audio = [false; 128];
            for c in &media.codecs {
                let events = ["telephone-event", "CN"]
                    .iter()
                    .any(|n| c.name.eq_ignore_ascii_case(n));
                if let Some(slot) = self.pt_not_audio.get_mut(usize::from(c.pt)) {
                    *slot = events;
                }
            }
        }
    }

    fn packet(
        &mut self,
        sockets: &[UdpSocket; 4],
        side: Side,
        component: Component,
        r: io::Result<(usize, SocketAddr)>,
        buf: &[u8],
        tapping: bool,
    ) {
        let (n, from) = match r {
            Ok(x) => x,
            // e.g. ICMP port unreachable from an earlier send.
            Err(e) => {
                debug!(?side, error = %e, "RTP receive error");
                return;
            }
        };
        let data = &buf[..n];
        let (verdict, info) = self
            .relay
            .handle_packet(Instant::now(), side, component, from, data);
        if let Verdict::Forward {
            side,
            component,
            to,
        } = verdict
        {
            let socket = &sockets[socket_index(side, component)];
            // UDP: a full socket buffer drops the packet, as the network would.
            if let Err(e) = socket.try_send_to(data, to) {
                debug!(error = %e, %to, "RTP send failed");
            }
        }
        let Some(info) = info else { return };
        match side {
            Side::B if tapping || (self.answered && self.settings.whole_call) => {
                self.tap_carrier(&info, tapping)
            }
            Side::A if self.answered && self.settings.whole_call => self.tap_caller(&info),
            _ => {}
        }
    }

    fn tap_carrier(&mut self, info: &RtpInfo<'_>, classify: bool) {
        let codec = self.pt_codec.get(usize::from(info.pt)).copied().flatten();
        let Some(codec) = codec.or(static_codec(info.pt)) else {
            self.record_unsupported(info);
            return;
        };
        if self.early.is_none() {
            let path = self
                .settings
                .recordings
                .as_ref()
                .map(|d| d.join(format!("{}.wav", self.recording_name)));
            let classifier = self.settings.library().map(Classifier::new);
            self.early = Some((
                Tapped::new(codec, self.settings.jitter_frames, path),
                classifier,
            ));
        }
        let Some((tapped, classifier)) = self.early.as_mut() else {
            return;
        };
        if tapped.tap.codec() != codec {
            // A codec switch mid-stream: the tap's law stays; rare, logged.
            debug!(
                pt = info.pt,
                "carrier changed G.711 law; frames keep the first"
            );
        }
        tapped.tap.push(info.ssrc, info.timestamp, info.payload);
        let mut frame = [0u8; FRAME_SAMPLES];
        let mut pcm = [0i16; FRAME_SAMPLES];
        while tapped.tap.poll_frame(&mut frame) {
            tapped.law.decode_into(&frame, &mut pcm);
            tapped.write(&pcm);
            if !classify {
                continue;
            }
            self.early_samples += FRAME_SAMPLES as u64;
            if let Some(c) = classifier.as_mut() {
                match c.push_frame(&pcm) {
                    Ok(Some(d)) => {
                        info!(
                            code = d.code.map(|c| c.get()),
                            label = %d.label,
                            confidence = d.confidence,
                            at_ms = d.at_ms(),
                            "early media classified"
                        );
                        self.decision = Some(d);
                        let _ = self.reports.send(Report::Decision(self.call, d));
                    }
                    Ok(None) => {}
                    Err(e) => debug!(error = %e, "classifier refused a frame"),
                }
            }
        }
    }

    fn tap_caller(&mut self, info: &RtpInfo<'_>) {
        let codec = self
            .caller_pt_codec
            .get(usize::from(info.pt))
            .copied()
            .flatten();
        let Some(codec) = codec.or(static_codec(info.pt)) else {
            return;
        };
        let whole = self.whole.get_or_insert_with(|| {
            let path = self
                .settings
                .recordings
                .as_ref()
                .map(|d| d.join(format!("{}.caller.wav", self.recording_name)));
            Tapped::new(codec, self.settings.jitter_frames, path)
        });
        whole.tap.push(info.ssrc, info.timestamp, info.payload);
        let mut frame = [0u8; FRAME_SAMPLES];
        let mut pcm = [0i16; FRAME_SAMPLES];
        while whole.tap.poll_frame(&mut frame) {
            whole.law.decode_into(&frame, &mut pcm);
            whole.write(&pcm);
        }
    }

    fn record_unsupported(&mut self, info: &RtpInfo<'_>) {
        // telephone-event and comfort noise are not audio to hear.
        if info.pt == 13 || self.pt_not_audio.get(usize::from(info.pt)) == Some(&true) {
            return;
        }
        let raw = self.unsupported.get_or_insert_with(|| {
            info!(pt = info.pt, "early media in a codec the tap cannot decode");
            let path = self
                .settings
                .recordings
                .as_ref()
                .map(|d| d.join(format!("{}.pt{}.raw", self.recording_name, info.pt)));
            let file = path.as_ref().and_then(|p| match File::create(p) {
                Ok(f) => Some(BufWriter::new(f)),
                Err(e) => {
                    warn!(path = %p.display(), error = %e, "cannot write the raw recording");
                    None
                }
            });
            RawRecording {
                file,
                path,
                pt: info.pt,
            }
        });
        if raw.pt == info.pt {
            if let Some(f) = raw.file.as_mut() {
                if f.write_all(info.payload).is_err() {
                    raw.file = None;
                }
            }
        }
    }

    /// The classifier's verdict at the answer or the end: what it
    /// committed, or its end-of-stream result.
    fn end_classification(&mut self) {
        let Some((tapped, classifier)) = self.early.as_mut() else {
            return;
        };
        let mut frame = [0u8; FRAME_SAMPLES];
        let mut pcm = [0i16; FRAME_SAMPLES];
        // What the jitter buffer still holds belongs to the early media.
        while tapped.tap.flush(&mut frame) {
            tapped.law.decode_into(&frame, &mut pcm);
            tapped.write(&pcm);
            self.early_samples += FRAME_SAMPLES as u64;
            if let Some(c) = classifier.as_mut() {
                if let Ok(Some(d)) = c.push_frame(&pcm) {
                    self.decision = Some(d);
                }
            }
        }
        if self.decision.is_none() {
            if let Some(c) = classifier.as_ref() {
                let d = c.finish();
                debug!(label = %d.label, code = d.code.map(|c| c.get()), "early media at its end");
                self.decision = Some(d);
            }
        }
        *classifier = None;
    }

    fn finish(mut self) {
        self.end_classification();
        let recording = self.early.as_mut().and_then(|(t, _)| t.close());
        if let Some(w) = self.whole.as_mut() {
            w.close();
        }
        let unsupported = self.unsupported.is_some();
        if let Some(raw) = self.unsupported.as_mut() {
            if let Some(mut f) = raw.file.take() {
                let _ = f.flush();
            }
        }
        let outcome = MediaOutcome {
            decision: self.decision,
            unsupported_codec: unsupported,
            early_ms: self.early_samples / 8,
            recording: recording.or_else(|| self.unsupported.as_ref().and_then(|r| r.path.clone())),
            a: *self.relay.session(Side::A).stats(),
            b: *self.relay.session(Side::B).stats(),
        };
        debug!(
            a_packets = outcome.a.packets,
            b_packets = outcome.b.packets,
            early_ms = outcome.early_ms,
            "media ended"
        );
        let _ = self
            .reports
            .send(Report::Done(self.call, Box::new(outcome)));
    }
}

fn socket_index(side: Side, component: Component) -> usize {
    match (side, component) {
        (Side::A, Component::Rtp) => 0,
        (Side::A, Component::Rtcp) => 1,
        (Side::B, Component::Rtp) => 2,
        (Side::B, Component::Rtcp) => 3,
    }
}

/// PCMU and PCMA by their static payload types (RFC 3551), for SDPs that
/// list them without rtpmap.
fn static_codec(pt: u8) -> Option<Codec> {
    match pt {
        0 => Some(Codec::Pcmu),
        8 => Some(Codec::Pcma),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonegate_sip::sdp::Codec as SdpCodec;

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("abc-123@host"), "abc-123@host");
        assert_eq!(file_stem("abc@10.0.0.1"), "abc@10%2E0%2E0%2E1");
        assert_eq!(
            file_stem("../../etc/passwd"),
            "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"
        );
        assert_eq!(file_stem(""), "%");
        assert_eq!(file_stem("a/b c"), "a%2Fb%20c");
        assert_eq!(file_stem("ü"), "%C3%BC");
        let long = file_stem(&"x".repeat(500));
        assert_eq!(long.len(), MAX_STEM);
        assert!(long.starts_with(&"x".repeat(MAX_STEM - 33)), "{long}");
    }

    #[test]
    fn distinct_call_ids_never_share_a_file() {
        let ids = [
            "a/b", "a_b", "a%2Fb", "a.b", "a%2Eb", "x", "x.caller", "x.pt8", "", "%", "_",
        ];
        let mut names = std::collections::HashSet::new();
        for id in ids {
            let stem = file_stem(id);
            for name in [
                format!("{stem}.wav"),
                format!("{stem}.caller.wav"),
                format!("{stem}.pt8.raw"),
            ] {
                assert!(
                    names.insert(name.clone()),
                    "{id:?} gives {name}, as another id does"
                );
            }
        }
        // Long ids that differ only after the cut keep distinct names.
        let (a, b) = ("y".repeat(400) + "a", "y".repeat(400) + "b");
        assert_ne!(file_stem(&a), file_stem(&b));
        assert!(!file_stem(&a).contains('.'));
    }

    proptest::proptest! {
        #[test]
        fn file_stems_are_one_to_one_and_plain(a in "\\PC{0,60}", b in "\\PC{0,60}") {
            let (sa, sb) = (file_stem(&a), file_stem(&b));
            proptest::prop_assert_eq!(a == b, sa == sb);
            proptest::prop_assert!(!sa.contains(['/', '\\', '.']) && !sa.is_empty());
        }
    }

    fn rtp(pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    /// Two free even ports with free odd neighbours, far apart.
    fn free_pair() -> u16 {
        loop {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let p = s.local_addr().unwrap().port() & !1;
            drop(s);
            if p > 1024
                && std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
                && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
            {
                return p;
            }
        }
    }

    /// Runs one call's media task: the carrier (SDP `codecs`) sends
    /// `packets` as early media; returns what the task reported at its end.
    async fn early_media(
        codecs: Vec<SdpCodec>,
        packets: Vec<Vec<u8>>,
        dir: &std::path::Path,
    ) -> MediaOutcome {
        let settings = Arc::new(MediaSettings {
            bind: "127.0.0.1".parse().unwrap(),
            relay: RelayConfig {
                strict: false,
                timeout: None,
            },
            jitter_frames: 3,
            recordings: Some(dir.to_path_buf()),
            whole_call: false,
            library: RwLock::new(None),
        });
        let (reports, mut rx) = mpsc::unbounded_channel();
        let (a, b) = (free_pair(), free_pair());
        let ctl = spawn(
            CallId(1),
            "call/1@test",
            MediaPorts { a, b },
            settings,
            reports,
        )
        .unwrap();
        let carrier = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let customer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let media = |addr: SocketAddr, codecs| AudioMedia {
            rtp: Some(addr),
            rtcp: Some(SocketAddr::new(addr.ip(), addr.port() + 1)),
            rtcp_mux: false,
            codecs,
        };
        ctl.send(Control::Signalled(
            Side::A,
            media(customer.local_addr().unwrap(), vec![]),
        ))
        .unwrap();
        ctl.send(Control::Signalled(
            Side::B,
            media(carrier.local_addr().unwrap(), codecs),
        ))
        .unwrap();
        ctl.send(Control::EarlyMedia).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut relayed = 0;
        let mut buf = [0u8; 2048];
        for p in &packets {
            carrier.send_to(p, ("127.0.0.1", b)).await.unwrap();
            if let Ok(Ok(_)) = tokio::time::timeout(
                std::time::Duration::from_millis(200),
                customer.recv_from(&mut buf),
            )
            .await
            {
                relayed += 1;
            }
        }
        assert_eq!(
            relayed,
            packets.len(),
            "every packet relayed to the customer"
        );
        ctl.send(Control::Stop).unwrap();
        loop {
            if let Some(Report::Done(_, outcome)) = rx.recv().await {
                return *outcome;
            }
        }
    }

    #[tokio::test]
    async fn g711_early_media_is_recorded_whole_and_in_order() {
        let dir = std::env::temp_dir().join(format!("tonegate-media-{}-g711", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pcma = vec![SdpCodec {
            pt: 8,
            name: "PCMA".into(),
            rate: 8000,
        }];
        // 50 packets, two of them swapped, one lost.
        let mut packets: Vec<Vec<u8>> = (0..50u16)
            .filter(|&i| i != 30)
            .map(|i| rtp(8, i, &[Law::A.encode(i as i16 * 100); 160]))
            .collect();
        packets.swap(10, 11);
        let out = early_media(pcma, packets, &dir).await;
        assert!(!out.unsupported_codec);
        assert_eq!(out.b.forwarded, 49);
        let path = out.recording.expect("a recording");
        assert_eq!(path, dir.join("call%2F1@test.wav"));
        let samples: Vec<i16> = hound::WavReader::open(&path)
            .unwrap()
            .samples::<i16>()
            .map(|s| s.unwrap())
            .collect();
        assert_eq!(
            samples.len(),
            50 * 160,
            "the lost packet is silence, not a gap"
        );
        let firsts: Vec<i16> = samples.chunks(160).map(|c| c[0]).collect();
        for (i, &v) in firsts.iter().enumerate() {
            let want = if i == 30 {
                Law::A.decode(Codec::Pcma.silence())
            } else {
                Law::A.decode(Law::A.encode(i as i16 * 100))
            };
            assert_eq!(v, want, "frame {i}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn other_codecs_are_recorded_raw_and_flagged() {
        let dir = std::env::temp_dir().join(format!("tonegate-media-{}-raw", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let codecs = vec![
            SdpCodec {
                pt: 18,
                name: "G729".into(),
                rate: 8000,
            },
            SdpCodec {
                pt: 101,
                name: "telephone-event".into(),
                rate: 8000,
            },
        ];
        let mut packets: Vec<Vec<u8>> = (0..20u16).map(|i| rtp(18, i, &[i as u8; 20])).collect();
        packets.push(rtp(101, 20, &[1, 2, 3, 4]));
        let out = early_media(codecs, packets, &dir).await;
        assert!(out.unsupported_codec);
        assert!(out.decision.is_none());
        let path = out.recording.expect("raw recording");
        assert_eq!(path, dir.join("call%2F1@test.pt18.raw"));
        // The G.729 payloads, in order; the DTMF event is not audio.
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw.len(), 20 * 20);
        assert_eq!(&raw[20 * 19..], &[19u8; 20]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
