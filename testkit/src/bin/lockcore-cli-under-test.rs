//! The `lockcore` CLI, built under another name for this package's process tests (their
//! `CARGO_BIN_EXE_lockcore-cli-under-test`): the same program, which names itself `lockcore`.

fn main() -> std::process::ExitCode {
    lockcore_cli::main()
}
