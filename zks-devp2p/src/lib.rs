//! zks-devp2p
