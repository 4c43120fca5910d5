//! zks-memnet
