//! Scenarios written once against [`zks_tests::TestNet`] and run on every transport (memnet,
//! devp2p, libp2p): what a node team reaches for first ([`api`]), replay ([`replay`]), relays
//! ([`relays`]) and batch verification in both generations ([`verify`]).

mod api;
mod relays;
mod replay;
mod verify;
