//! How the node commands end: [`Failure`], with the exit status a supervisor acts on.

use std::fmt;

use crate::CliError;

/// The exit status of a node that stopped because its disk is full or its store could not be
/// written (`EX_TEMPFAIL` of `sysexits.h`): nothing is wrong with its configuration or its
/// data, and a restart once there is room resumes at exactly the next block. The systemd units
/// in `deploy/` restart on it.
pub const EX_TEMPFAIL: u8 = 75;

/// Why a command failed: one line for the user, and the process's exit status (1, or
/// [`EX_TEMPFAIL`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The line printed after `error: `.
    pub message: String,
    /// The exit status.
    pub status: u8,
}

impl Failure {
    /// A failure that a restart may cure (a full disk): exit status [`EX_TEMPFAIL`].
    pub fn temporary(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: EX_TEMPFAIL,
        }
    }
}

/// A user error: exit status 1.
impl From<CliError> for Failure {
    fn from(message: CliError) -> Self {
        Self { message, status: 1 }
    }
}

impl PartialEq<String> for Failure {
    fn eq(&self, other: &String) -> bool {
        self.message == *other
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The failure of a node whose store stopped writing (`what`, the store's error), and where it
/// resumes: exit status [`EX_TEMPFAIL`].
pub fn store_failed(what: &dyn fmt::Display, next_block: zks_api::BlockNumber) -> Failure {
    Failure::temporary(format!(
        "{what}; exiting with status {EX_TEMPFAIL} (EX_TEMPFAIL): restart once the disk has \
         room, the node resumes at block {next_block}"
    ))
}
