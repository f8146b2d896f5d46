//! Sans-IO SIP for the tonegate media gateway.
//!
//! This crate never touches sockets, threads or the clock. The I/O layer
//! feeds it received datagrams (or stream-framed messages, see
//! [`framing`]) with [`Endpoint::handle_datagram`] and wakes it with
//! [`Endpoint::handle_timeout`]; it drains what to send with
//! [`Endpoint::poll_transmit`], what happened with [`Endpoint::poll_event`]
//! and when to wake it next with [`Endpoint::poll_timeout`]. Time is an
//! [`std::time::Instant`] passed in, randomness comes from a seed, so every
//! test is deterministic and a 32 s Timer B runs in microseconds.
//!
//! Layers, bottom up:
//! - [`message`]: parsing and printing SIP messages (compact forms, folding),
//!   typed helpers for the headers the stack needs, response builders.
//! - [`framing`]: Content-Length framing for stream transports.
//! - [`transaction`]: the four RFC 3261 §17 state machines with the
//!   RFC 6026 Accepted states.
//! - [`endpoint`]: the transaction layer: matching, retransmission
//!   absorption, events for the transaction user.
//! - [`b2bua`]: a first sans-IO back-to-back user agent core on top of the
//!   endpoint (trunk table, topology hiding, call relay).

pub mod b2bua;
pub mod endpoint;
pub mod error;
pub mod framing;
pub mod message;
pub mod rng;
pub mod sdp;
pub mod transaction;

pub use endpoint::{Endpoint, EndpointConfig, Event, Transmit};
pub use error::Error;
pub use message::{Method, Request, Response, SipMessage, StatusCode};
pub use transaction::{ClientKey, ServerKey, TimerConfig, Transport};
