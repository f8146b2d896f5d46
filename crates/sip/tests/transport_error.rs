//! A send failure reported by the I/O layer terminates the transaction and
//! reaches the TU as a TransportError event.

mod common;

use common::*;
use tonegate_sip::message::Method;
use tonegate_sip::transaction::TransactionKey;
use tonegate_sip::{Event, Transport};

#[test]
fn send_failure_terminates_the_client_transaction() {
    let mut h = Harness::new();
    let key =
        h.ep.send_request(h.now, outgoing(Method::Invite, 1), peer(), Transport::Tcp)
            .unwrap();
    let t = h.transmits();
    assert_eq!(t.len(), 1);
    let tx = t[0]
        .transaction
        .clone()
        .expect("tagged with its transaction");
    assert_eq!(tx, TransactionKey::Client(key.clone()));
    h.ep.handle_transport_error(h.now, &tx);
    assert_eq!(h.events(), vec![Event::TransportError { key: tx.clone() }]);
    assert_eq!(h.ep.transaction_count(), (0, 0));
    assert_eq!(h.ep.poll_timeout(), None, "Timer B disarmed");
    // A second report for the gone transaction is ignored.
    h.ep.handle_transport_error(h.now, &tx);
    assert!(h.events().is_empty());
}
