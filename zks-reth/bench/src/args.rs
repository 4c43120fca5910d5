//! The command line: `--bodies FILE [--mib N] [--workers W] [--id ID]`.

use std::path::PathBuf;

/// The usage line printed with every command-line error.
pub(crate) const USAGE: &str =
    "usage: reth-rlpx-bench --bodies FILE [--mib N] [--workers W] [--id ID]";

/// Wire id of the first message of the first shared capability (`p2p` owns 0x00..=0x0f).
pub(crate) const FIRST_CAPABILITY_ID: u8 = 0x10;

/// What one run measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Args {
    /// `[u32 LE length][body]...`
    pub(crate) bodies: PathBuf,
    /// Send until at least this many MiB of bodies have gone out.
    pub(crate) mib: u64,
    /// tokio worker threads.
    pub(crate) workers: usize,
    /// Wire message id (0x10 or above: a capability message).
    pub(crate) id: u8,
}

/// What a command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run with these arguments.
    Run(Args),
    /// `--help`/`-h`.
    Help,
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut bodies = None;
    let mut mib = 128u64;
    let mut workers = 2usize;
    let mut id = 0x12u8;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--flag value` or `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--bodies" => bodies = Some(PathBuf::from(value()?)),
            "--mib" => {
                mib = value()?
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or("--mib takes a whole number of MiB, at least 1")?;
            }
            "--workers" => {
                workers = value()?
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or("--workers takes a whole number, at least 1")?;
            }
            "--id" => {
                let text = value()?;
                let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                    Some(hex) => u8::from_str_radix(hex, 16),
                    None => text.parse(),
                };
                id = parsed.ok().filter(|&id| id >= FIRST_CAPABILITY_ID).ok_or(
                    "--id takes a wire message id from 0x10 to 0xff (decimal or 0x hex); \
                     0x00-0x0f are the p2p protocol's own",
                )?;
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    let bodies = bodies.ok_or("--bodies FILE is required")?;
    Ok(Command::Run(Args {
        bodies,
        mib,
        workers,
        id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Args, String> {
        match parse(args.iter().map(|a| (*a).to_owned()))? {
            Command::Run(args) => Ok(args),
            Command::Help => Err("help".to_owned()),
        }
    }

    #[test]
    fn defaults_and_forms() {
        let args = run(&["--bodies", "f.bin"]).unwrap();
        assert_eq!(
            args,
            Args {
                bodies: "f.bin".into(),
                mib: 128,
                workers: 2,
                id: 0x12
            }
        );
        let args = run(&["--mib=4", "--workers", "1", "--id", "0x1f", "--bodies=x"]).unwrap();
        assert_eq!(
            args,
            Args {
                bodies: "x".into(),
                mib: 4,
                workers: 1,
                id: 0x1f
            }
        );
        assert_eq!(run(&["--bodies", "x", "--id", "32"]).unwrap().id, 32);
        assert_eq!(parse(["-h".to_owned()]), Ok(Command::Help));
    }

    #[test]
    fn refuses() {
        for bad in [
            &["--mib", "1"][..],
            &["--bodies"],
            &["--bodies", "x", "--mib", "0"],
            &["--bodies", "x", "--workers", "0"],
            &["--bodies", "x", "--id", "0x0f"],
            &["--bodies", "x", "--id", "0x100"],
            &["--bodies", "x", "--frobnicate"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
    }
}
