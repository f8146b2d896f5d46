//! In-dialog request relaying: re-INVITE (RFC 3261 §14), UPDATE (RFC 3311)
//! and INFO (RFC 6086). A request received on one leg is re-originated on
//! the other leg's dialog (its Call-ID, tags, CSeq, Contact, Via, route
//! set) with the body and Content-Type copied; responses travel back the
//! same way. The ACK for a 2xx re-INVITE is relayed end to end; non-2xx
//! finals are ACKed hop by hop by the transactions.

use std::time::Instant;

use tracing::{debug, info, warn};

use super::{B2bua, CallId, CallState, ClientRole, ReInvite, ReInviteState, Relay};
use crate::message::{Method, NameAddr, Request, Response, StatusCode};
use crate::transaction::{ClientKey, ServerKey};

/// Retry-After (seconds) on a 500 for an overlapping request (§14.2).
const RETRY_AFTER_SECS: u32 = 1;

impl B2bua {
    /// A re-INVITE, UPDATE or INFO inside the A (`from_a`) or B dialog.
    pub(super) fn on_relay_request(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: Request,
        id: CallId,
        from_a: bool,
    ) {
        let Some(call) = self.calls.get(&id) else {
            self.reply(now, &key, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        };
        if matches!(call.state, CallState::Ending | CallState::Cancelling) {
            // The dialog is being torn down.
            self.reply(now, &key, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        }
        let is_invite = req.method == Method::Invite;
        if is_invite {
            // §14.1: no re-INVITE while the initial INVITE is in progress
            // (final response and end-to-end ACK); the UAS answers 491.
            let confirmed = call.state == CallState::Answered
                && call.rel.a_deferred_2xx.is_none()
                && call.b_ack.is_some();
            if !confirmed {
                debug!(
                    call = id.0,
                    from_a, "re-INVITE before the call is confirmed: 491"
                );
                self.reply(now, &key, request_pending());
                return;
            }
        } else if from_a && call.b_remote_tag.is_none() {
            // No (early) dialog with the carrier to carry the request.
            self.reply(now, &key, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        }
        // §14.2 (re-INVITE) and RFC 3311 §5.2 (UPDATE with an offer): a
        // request crossing one pending in the other direction gets 491; one
        // overlapping an earlier request from the same side gets 500 with
        // Retry-After.
        let conflict = if is_invite {
            call.reinvite
                .as_ref()
                .filter(|r| r.state != ReInviteState::Done)
                .map(|r| r.from_a)
                .or_else(|| offer_pending(call))
        } else if req.method == Method::Update && !req.body.is_empty() {
            offer_pending(call).or_else(|| {
                call.reinvite
                    .as_ref()
                    .filter(|r| r.state == ReInviteState::Pending)
                    .map(|r| r.from_a)
            })
        } else {
            None
        };
        if let Some(pending_from_a) = conflict {
            if pending_from_a == from_a {
                debug!(call = id.0, from_a, method = %req.method, "overlapping request: 500");
                let mut resp = req.response(StatusCode::SERVER_INTERNAL_ERROR, None);
                resp.headers
                    .push("Retry-After", RETRY_AFTER_SECS.to_string());
                self.respond(now, &key, resp);
            } else {
                info!(call = id.0, from_a, method = %req.method, "glare: 491");
                self.reply(now, &key, request_pending());
            }
            return;
        }
        // RFC 3261 §16.3 step 3 (applied as a B2BUA): hops are decremented.
        let max_forwards = match req.max_forwards() {
            Ok(Some(0)) => {
                self.reply(now, &key, StatusCode::TOO_MANY_HOPS);
                return;
            }
            Ok(Some(n)) => n - 1,
            _ => 69,
        };
        let targets_refresh = matches!(req.method, Method::Invite | Method::Update);
        // §12.2.2: a target refresh request replaces the remote target.
        let new_target = if targets_refresh {
            req.header("Contact")
                .and_then(|c| NameAddr::parse(c, "Contact").ok())
                .map(|c| c.uri)
        } else {
            None
        };
        if let Some(call) = self.calls.get_mut(&id) {
            if let Some(t) = new_target {
                if from_a {
                    call.a_remote_target = Some(t);
                } else {
                    call.b_remote_target = Some(t);
                }
            }
        }

        let to_a = !from_a;
        let mut out = if to_a {
            self.a_in_dialog(id, req.method.clone(), None)
        } else {
            self.b_in_dialog(id, req.method.clone(), None)
        };
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        out.headers.push("Max-Forwards", max_forwards.to_string());
        if targets_refresh {
            out.headers.push("Contact", self.gw_contact(call, to_a));
        }
        self.copy_body(id, from_a, &req, &mut out);
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let out_seq = out.cseq().map(|c| c.seq).unwrap_or_default();
        let (dest, transport) = self.leg_destination(call, to_a);
        let client = match self.ep.send_request(now, out, dest, transport) {
            Ok(k) => k,
            Err(e) => {
                warn!(error = %e, method = %req.method, "relaying in-dialog request failed");
                self.reply(now, &key, StatusCode::SERVER_INTERNAL_ERROR);
                return;
            }
        };
        info!(call = id.0, from_a, method = %req.method, "in-dialog request relayed");
        let in_seq = req.cseq().map(|c| c.seq).unwrap_or_default();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if is_invite {
            call.reinvite = Some(ReInvite {
                state: ReInviteState::Pending,
                from_a,
                server: key.clone(),
                client: client.clone(),
                in_seq,
                out_seq,
                ack: None,
            });
        }
        call.open.insert(client.clone());
        call.relays.insert(
            client.clone(),
            Relay {
                server: key,
                request: req,
                from_a,
            },
        );
        self.by_client.insert(client, (id, ClientRole::Relay));
    }

    pub(super) fn respond(&mut self, now: Instant, key: &ServerKey, resp: Response) {
        if let Err(e) = self.ep.respond(now, key, resp) {
            debug!(error = %e, "response failed");
        }
    }

    /// A response to a relayed request: relay it to the originator.
    pub(super) fn on_relay_response(
        &mut self,
        now: Instant,
        id: CallId,
        key: &ClientKey,
        resp: Response,
    ) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let status = resp.status;
        let Some(relay) = call.relays.get(key) else {
            // A 2xx retransmission for a re-INVITE already answered: the
            // ACK is re-sent once the originator has ACKed (§13.2.2.4).
            if status.is_success() {
                self.resend_reinvite_ack(now, id, key);
            }
            return;
        };
        let is_invite = relay.request.method == Method::Invite;
        if status == StatusCode::TRYING || (status.is_provisional() && !is_invite) {
            return;
        }
        let from_a = relay.from_a;
        let server = relay.server.clone();
        let mut out = relay.request.response(status, None);
        out.reason = resp.reason.clone();
        if matches!(relay.request.method, Method::Invite | Method::Update)
            && (status.is_success() || (status.is_provisional() && status != StatusCode::TRYING))
        {
            out.headers.push("Contact", self.gw_contact(call, from_a));
        }
        if let Some(ra) = resp.header("Retry-After") {
            out.headers.push("Retry-After", ra);
        }
        self.copy_body(id, !from_a, &resp, &mut out);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if status.is_final() {
            call.relays.remove(key);
            if status.is_success()
                && matches!(
                    resp.cseq().map(|c| c.method),
                    Ok(Method::Invite | Method::Update)
                )
            {
                // §12.2.1.2: a 2xx to a target refresh updates the target.
                if let Some(Ok(c)) = resp
                    .header("Contact")
                    .map(|c| NameAddr::parse(c, "Contact"))
                {
                    if from_a {
                        call.b_remote_target = Some(c.uri);
                    } else {
                        call.a_remote_target = Some(c.uri);
                    }
                }
            }
            if let Some(r) = call.reinvite.as_mut().filter(|r| &r.client == key) {
                r.state = if status.is_success() {
                    ReInviteState::AwaitingAck
                } else {
                    // Non-2xx: ACKed hop by hop by the transactions.
                    ReInviteState::Done
                };
            }
            debug!(
                call = id.0,
                status = status.code(),
                "relayed final response"
            );
        }
        self.respond(now, &server, out);
    }

    /// The originator's ACK for a relayed 2xx re-INVITE: ACK the other leg
    /// (end to end, with the ACK's body). Returns whether it was one.
    pub(super) fn on_reinvite_ack(
        &mut self,
        now: Instant,
        id: CallId,
        from_a: bool,
        ack: &Request,
    ) -> bool {
        let seq = ack.cseq().map(|c| c.seq).ok();
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        let Some(r) = call.reinvite.as_ref() else {
            return false;
        };
        if r.from_a != from_a || Some(r.in_seq) != seq {
            return false;
        }
        if r.state != ReInviteState::AwaitingAck {
            // A retransmitted ACK, or one for a non-2xx: absorbed.
            return true;
        }
        let out_seq = r.out_seq;
        let to_a = !from_a;
        let mut out = if to_a {
            self.a_in_dialog(id, Method::Ack, Some(out_seq))
        } else {
            self.b_in_dialog(id, Method::Ack, Some(out_seq))
        };
        self.copy_body(id, from_a, ack, &mut out);
        if let Some(r) = self.calls.get_mut(&id).and_then(|c| c.reinvite.as_mut()) {
            r.state = ReInviteState::Done;
            r.ack = Some(out.clone());
        }
        debug!(call = id.0, from_a, "re-INVITE ACK relayed");
        self.send_leg_ack(now, id, to_a, out);
        true
    }

    fn send_leg_ack(&mut self, now: Instant, id: CallId, to_a: bool, ack: Request) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let (dest, transport) = self.leg_destination(call, to_a);
        if let Err(e) = self.ep.send_ack(now, ack, dest, transport) {
            warn!(error = %e, "re-INVITE ACK failed");
        }
    }

    /// Re-send our ACK for a 2xx re-INVITE that was retransmitted.
    fn resend_reinvite_ack(&mut self, now: Instant, id: CallId, key: &ClientKey) {
        let Some(r) = self.calls.get(&id).and_then(|c| c.reinvite.as_ref()) else {
            return;
        };
        if &r.client != key {
            return;
        }
        if let Some(ack) = r.ack.clone() {
            let to_a = !r.from_a;
            self.send_leg_ack(now, id, to_a, ack);
        }
    }

    /// A stray 2xx (its transaction is gone) from the customer (`on_a`) or
    /// the carrier to a re-INVITE of ours: re-send the ACK (§13.2.2.4).
    /// Returns whether it matched one.
    pub(super) fn on_stray_reinvite_2xx(
        &mut self,
        now: Instant,
        id: CallId,
        on_a: bool,
        resp: &Response,
    ) -> bool {
        let seq = resp.cseq().map(|c| c.seq).ok();
        let Some(r) = self.calls.get(&id).and_then(|c| c.reinvite.as_ref()) else {
            return false;
        };
        // Our re-INVITE went to the side it did not come from.
        if r.from_a == on_a || Some(r.out_seq) != seq {
            return false;
        }
        if let Some(ack) = r.ack.clone() {
            let to_a = !r.from_a;
            self.send_leg_ack(now, id, to_a, ack);
        }
        true
    }

    /// A relayed request's client transaction failed (Timer B/F: 408, a
    /// transport error: 503), answered to the originator.
    pub(super) fn on_relay_failure(
        &mut self,
        now: Instant,
        id: CallId,
        key: &ClientKey,
        timeout: bool,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(relay) = call.relays.remove(key) else {
            return;
        };
        if let Some(r) = call.reinvite.as_mut().filter(|r| &r.client == key) {
            r.state = ReInviteState::Done;
        }
        let status = if timeout {
            StatusCode::REQUEST_TIMEOUT
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        info!(call = id.0, method = %relay.request.method, "relayed request failed: {}", status.code());
        self.reply(now, &relay.server, status);
    }

    /// A CANCEL for a relayed re-INVITE: CANCEL ours on the other leg; its
    /// 487 is relayed back (§9.2). Returns whether it matched one.
    pub(super) fn cancel_reinvite(&mut self, now: Instant, invite: &ServerKey) -> bool {
        let Some((id, client)) = self.calls.iter().find_map(|(id, c)| {
            c.reinvite
                .as_ref()
                .filter(|r| &r.server == invite && r.state == ReInviteState::Pending)
                .map(|r| (*id, r.client.clone()))
        }) else {
            return false;
        };
        match self.ep.cancel(now, &client) {
            Ok(k) => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.open.insert(k.clone());
                }
                self.by_client.insert(k, (id, ClientRole::BCancel));
            }
            Err(e) => debug!(error = %e, "re-INVITE CANCEL not sent"),
        }
        true
    }

    /// Timer L on a relayed re-INVITE: the originator never ACKed the 2xx
    /// (§13.3.1.4). ACK the other leg and end the call. Returns whether
    /// `key` was such a re-INVITE.
    pub(super) fn reinvite_ack_timeout(&mut self, now: Instant, key: &ServerKey) -> bool {
        let Some(id) = self.calls.iter().find_map(|(id, c)| {
            c.reinvite
                .as_ref()
                .filter(|r| &r.server == key)
                .map(|_| *id)
        }) else {
            return false;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return true;
        };
        let Some(r) = call.reinvite.as_ref() else {
            return true;
        };
        if r.state != ReInviteState::AwaitingAck || call.state != CallState::Answered {
            return true;
        }
        let (from_a, out_seq) = (r.from_a, r.out_seq);
        info!(
            call = id.0,
            "no ACK for the relayed re-INVITE 2xx: BYE both legs"
        );
        let to_a = !from_a;
        let ack = if to_a {
            self.a_in_dialog(id, Method::Ack, Some(out_seq))
        } else {
            self.b_in_dialog(id, Method::Ack, Some(out_seq))
        };
        if let Some(r) = self.calls.get_mut(&id).and_then(|c| c.reinvite.as_mut()) {
            r.state = ReInviteState::Done;
            r.ack = Some(ack.clone());
        }
        self.send_leg_ack(now, id, to_a, ack);
        if let Some(call) = self.calls.get_mut(&id) {
            call.state = CallState::Ending;
        }
        self.send_b_bye(now, id);
        self.send_a_bye(now, id);
        self.report_end(id, 200, super::EndCause::Hangup);
        self.maybe_remove(id);
        true
    }
}

/// 491 Request Pending (RFC 3261 §21.4.27).
fn request_pending() -> StatusCode {
    StatusCode::REQUEST_PENDING
}

/// Which side has an offer outstanding in a relayed UPDATE (RFC 3311 §5.2).
fn offer_pending(call: &super::Call) -> Option<bool> {
    call.relays
        .values()
        .find(|r| r.request.method == Method::Update && !r.request.body.is_empty())
        .map(|r| r.from_a)
}
