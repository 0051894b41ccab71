//! `lockcore`: the operator CLI — inspect and clean lock directories, hold a session lock, or
//! run a command under one (like `flock(1)`).
//!
//! Exit codes: 0 ok, 75 lock busy (timeout), 2 usage, 1 any other error (the message on stderr
//! names the path). `run` exits with the command's status (128 + signal if it was killed).
//! `hold` and `run` refresh their lock's lease while they hold (the manager's heartbeat); a lock
//! lost meanwhile (a refresh finds its file removed or replaced) makes `hold` print
//! `{"compromised": PATH}` and exit 1 at once, and `run` warn at once and exit 1 after its
//! command ends. Neither deletes the new owner's file.
//!
//! This library is the whole program: the `lockcore` binary's `main` calls [`main`], and so does
//! lockcore-testkit's `lockcore-cli-under-test`, the same program under another name for the
//! process tests. The program names itself `lockcore` whatever its file is called.

mod args;
mod hold;
mod output;
mod run;
mod sweep;

use args::{Cli, Cmd};
use clap::Parser;
use lockcore::{CleanOptions, LockError, LockManager, OsEnv, Policy};
use std::process::ExitCode;
use std::time::Duration;

/// Exit status for "the lock is busy" (`EX_TEMPFAIL`).
const EXIT_BUSY: u8 = 75;
/// Exit status for any other error.
const EXIT_ERROR: u8 = 1;

/// A failure: what to print and how to exit.
struct Failure {
    code: u8,
    message: String,
}

impl From<LockError> for Failure {
    fn from(e: LockError) -> Self {
        Failure {
            code: if e.is_busy() { EXIT_BUSY } else { EXIT_ERROR },
            message: e.to_string(),
        }
    }
}

fn fail(message: String) -> Failure {
    Failure {
        code: EXIT_ERROR,
        message,
    }
}

/// The CLI: parses the process's arguments, runs the subcommand, and returns its exit status.
pub fn main() -> ExitCode {
    // clap exits 2 on a usage error and 0 for --help/--version.
    let cli = Cli::parse();
    match dispatch(cli.cmd) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("lockcore: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<u8, Failure> {
    match cmd {
        Cmd::Inspect { dir, json, policy } => sweep::inspect(&dir, json, policy.policy(None)?),
        Cmd::Hold {
            session_file,
            timeout_ms,
            hold_ms,
            ignore_stdin,
            policy,
        } => hold::hold(
            &session_file,
            policy.policy(timeout_ms)?,
            hold_ms.map(Duration::from_millis),
            ignore_stdin,
        ),
        Cmd::Run {
            session_file,
            timeout_ms,
            policy,
            command,
        } => run::run(&session_file, policy.policy(timeout_ms)?, &command),
        Cmd::Clean {
            dir,
            dry_run,
            json,
            remove_non_regular,
            policy,
        } => sweep::clean(
            &dir,
            CleanOptions {
                dry_run,
                remove_non_regular,
            },
            json,
            policy.policy(None)?,
        ),
    }
}

fn manager(policy: Policy) -> LockManager<OsEnv> {
    LockManager::new(OsEnv::new(), policy)
}
