//! Test support for lockcore's process-level tests (cargo's test-support-crate pattern): what the
//! tests in `testkit/tests/` share, kept out of the product packages.
//!
//! - [`procs`]: children that are always reaped, their stdout lines with a deadline, planted lock
//!   files, binaries copied where another uid can run them;
//! - [`faults`]: running under a kill deadline, whether strace can trace here, and reading strace
//!   logs for the system calls made on a lock directory.
//!
//! The binaries the tests run are this package's own (`CARGO_BIN_EXE_*`, which cargo sets only
//! while compiling a package's integration tests, so each test file names them):
//! `lockcore-cli-under-test` (the `lockcore` CLI itself, `lockcore_cli::main`) and
//! `lockcore-testchild` (a test child that holds, contends, restarts and crashes on command).

pub mod faults;
pub mod procs;
