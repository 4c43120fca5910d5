//! Hostile peers and limits, over memnet with scripted peers and paused time: malformed and
//! abusive peers ([`peers`]), attacks on verifier authentication and results in both
//! generations ([`verifier_auth`], [`verifier_auth_2fa`]), a hostile *trusted* main node toward
//! a verifier EN ([`trusted_main_node`]), admission under a full link cap ([`admission`]) and
//! the middleware limits ([`limits`]).

mod admission;
mod limits;
mod peers;
mod trusted_main_node;
mod verifier_auth;
mod verifier_auth_2fa;

use zks_api::Node;
use zks_memnet::MemNet;
use zks_tests::chain;
use zks_verifier::{AcceptedSigners, VerifierKey};

/// The one verifier key the attack scenarios' main node accepts.
fn verifier_key() -> VerifierKey {
    VerifierKey::from_bytes(&[0x42; 32]).unwrap()
}

/// A main node called "mn" serving chain(200), accepting [`verifier_key`] as a verifier.
async fn main_node(net: &MemNet) -> Node {
    let accepted: AcceptedSigners = [verifier_key().address()].into_iter().collect();
    Node::builder(net.node("mn"))
        .main_node(chain(200))
        .verifier_authenticator(accepted)
        .start()
        .await
        .unwrap()
}
