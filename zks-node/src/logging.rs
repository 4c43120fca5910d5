//! Log output: `tracing` events to stderr as text or JSON lines (`--log-format`), filtered by
//! `RUST_LOG`.
//!
//! ANSI colour is used only when it can be seen: for text, on a stderr that is a terminal,
//! unless `NO_COLOR` is set (to anything but the empty string). Logs redirected to a file or a
//! pipe, JSON logs, and `zks bench` (whose output is a report) never carry escape sequences.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::LogFormat;

/// Whether text logs to stderr should be coloured: stderr is a terminal and `NO_COLOR` is
/// unset or empty.
pub fn stderr_wants_colour() -> bool {
    let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_colour && std::io::stderr().is_terminal()
}

/// How to set up logging.
#[derive(Clone, Copy, Debug)]
pub struct LogSettings {
    /// Text or JSON.
    pub format: LogFormat,
    /// Colour for text (ignored for JSON).
    pub colour: bool,
    /// The filter when `RUST_LOG` is unset or invalid, e.g. `"info"`.
    pub default_filter: &'static str,
}

/// Installs the global subscriber writing to `writer`; does nothing when one is installed.
pub fn init<W>(settings: LogSettings, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(settings.default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    // A second init (tests that run several commands in one process) keeps the first.
    let _ = match settings.format {
        LogFormat::Text => builder.with_ansi(settings.colour).try_init(),
        LogFormat::Json => builder.with_ansi(false).json().try_init(),
    };
}
