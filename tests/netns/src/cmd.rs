//! Running the system tools the testbed drives (`ip`, `tc`, `zks store dump`): every failure
//! names the command line and carries the tool's own stderr.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use anyhow::{Context as _, Result, bail};

/// Runs `program args` to completion and returns its stdout.
///
/// # Errors
///
/// When it cannot be started or exits unsuccessfully (the error holds its stderr).
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{program}` (is it installed and on PATH?)"))?;
    checked(program, args, &output)
}

/// Runs `program args` with `input` on its stdin (for `ip -batch -`) and returns its stdout.
///
/// # Errors
///
/// As [`run`].
pub fn run_with_input(program: &str, args: &[&str], input: &str) -> Result<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run `{program}` (is it installed and on PATH?)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .with_context(|| format!("cannot write the input of `{program}`"))?;
    }
    let output = child
        .wait_with_output()
        .with_context(|| format!("cannot wait for `{program}`"))?;
    checked(program, args, &output)
}

/// [`run`] without blocking the runtime: for changes made while nodes run (links going down
/// and up), so the harness keeps reading their output meanwhile.
///
/// # Errors
///
/// As [`run`].
pub async fn run_async(program: &str, args: &[&str]) -> Result<String> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run `{program}` (is it installed and on PATH?)"))?;
    checked(program, args, &output)
}

fn checked(program: &str, args: &[&str], output: &Output) -> Result<String> {
    if !output.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
