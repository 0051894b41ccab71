//! `lockcore`, the operator CLI: the whole program is [`lockcore_cli::main`].

fn main() -> std::process::ExitCode {
    lockcore_cli::main()
}
