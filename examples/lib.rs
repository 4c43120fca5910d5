//! The examples are this package's binaries (`custom_store.rs`, `two_processes.rs`,
//! `follow_zksync_os.rs`, `verifier.rs`); this library holds nothing but the READMEs' code,
//! compiled (and where it is a whole program, run) as doc tests.

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}

#[cfg(doctest)]
#[doc = include_str!("../zks-api/README.md")]
mod zks_api_readme {}

#[cfg(doctest)]
#[doc = include_str!("../zks-memnet/README.md")]
mod zks_memnet_readme {}

#[cfg(doctest)]
#[doc = include_str!("../zks-devp2p/README.md")]
mod zks_devp2p_readme {}

#[cfg(doctest)]
#[doc = include_str!("../zks-libp2p/README.md")]
mod zks_libp2p_readme {}

#[cfg(doctest)]
#[doc = include_str!("../zks-verifier/README.md")]
mod zks_verifier_readme {}

#[cfg(doctest)]
#[doc = include_str!("../zks-node/README.md")]
mod zks_node_readme {}
