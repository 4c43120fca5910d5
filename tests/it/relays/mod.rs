//! Relays over memnet: chains, failover and fail-back by priority, stalls and refusals
//! ([`failover`]); seeded chaos over a tree of 1 MN, 3 relays and 30 ENs ([`tree`]).

mod failover;
mod tree;
