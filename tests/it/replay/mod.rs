//! Replay over memnet, with its deterministic clock and faults: link faults ([`faults`]),
//! seeded chaos ([`chaos`]), several trusted main nodes ([`upstreams`]), a silent upstream
//! ([`silent_upstream`]), idle-chain reconnect churn ([`idle_churn`]), work done once for many
//! ENs ([`encode_once`]), disagreeing main nodes ([`forks`]) and record types per version
//! ([`records`]).

mod chaos;
mod encode_once;
mod faults;
mod forks;
mod idle_churn;
mod records;
mod silent_upstream;
mod upstreams;
