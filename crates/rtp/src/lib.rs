//! Sans-IO RTP relay for the tonegate media gateway.
//!
//! Like the SIP crate, this one never touches a socket or the clock: the
//! I/O layer hands every received datagram to [`MediaRelay::handle_packet`]
//! with the time and the source address and gets back a [`Verdict`]:
//! forward it (out of which leg's socket, to which address) or drop it
//! (and why). Nothing is allocated per packet.
//!
//! - [`session`]: one leg side of a call (the gateway's port facing one
//!   party): where to send, symmetric RTP latching, per-side counters.
//! - [`relay`]: the two sides of one call, RTP and RTCP, the verdict, the
//!   no-RTP timeout of an answered call.
//! - [`tap`]: the early-media tap: the carrier's G.711 RTP reordered by
//!   timestamp, gaps filled, cut into 20 ms frames for the classifier and
//!   the recording.

pub mod error;
pub mod relay;
pub mod session;
pub mod tap;

pub use error::Error;
pub use relay::{
    Component, DropReason, MediaRelay, RelayConfig, RelayEvent, RtpInfo, Side, Verdict,
};
pub use session::{Session, SideStats};
pub use tap::{Codec, Tap, TapStats, FRAME_SAMPLES};
