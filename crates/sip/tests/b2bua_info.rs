//! INFO (RFC 6086) on an answered call is relayed like UPDATE: body and
//! Content-Type copied, no Contact (not a target refresh), response back.

mod common;

use common::b2b::*;
use tonegate_sip::message::Method;

#[test]
fn info_is_relayed() {
    let mut h = B2bHarness::new();
    let (_b_inv, our_tag) = answered_call(&mut h);
    let info = customer_in_dialog("INFO", "z9hG4bKcustinfo", 21, &our_tag).replace(
        "Content-Length: 0\r\n\r\n",
        "Content-Type: application/dtmf-relay\r\nContent-Length: 24\r\n\r\nSignal=5\r\nDuration=160\r\n",
    );
    let out = h.recv_customer(info.as_bytes());
    let b_info = out.carrier_request("INFO");
    assert_eq!(
        b_info.header("Content-Type"),
        Some("application/dtmf-relay")
    );
    assert_eq!(&b_info.body[..], b"Signal=5\r\nDuration=160\r\n");
    assert!(
        b_info.header("Contact").is_none(),
        "INFO is no target refresh"
    );
    assert_no_leak(&out.raw_to_carrier, CUSTOMER_SECRETS);
    let out = h.recv_carrier(&carrier_response(&b_info, 200, None));
    assert_eq!(
        out.customer_response(200).cseq().unwrap().method,
        Method::Info
    );
    assert_no_leak(&out.raw_to_customer, CARRIER_SECRETS);
}
