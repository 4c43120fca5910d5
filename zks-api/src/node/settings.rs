//! [`DriverSettings`]: what a role's driver is built from when the node starts.

use std::sync::Arc;

use tokio::sync::watch;

use super::NodeSettings;
use crate::wire::RecordOverride;
use crate::{BlockNumber, ChallengeSigner, SignerAuthenticator, Verifier};

/// Settings a role driver is built from at start.
pub(super) struct DriverSettings {
    pub(super) record_overrides: Vec<RecordOverride>,
    pub(super) node: NodeSettings,
    pub(super) applied: watch::Sender<BlockNumber>,
    pub(super) authenticator: Option<Arc<dyn SignerAuthenticator>>,
    pub(super) verifier: Option<(Arc<dyn ChallengeSigner>, Arc<dyn Verifier>)>,
}
