//! The `lockcore` binary is the real CLI: `--version` names it and this package's version, and
//! `--help` lists the subcommands. (The CLI's behaviour is tested with real processes in
//! lockcore-testkit's `tests/cli.rs`.)

use std::process::Command;

fn lockcore(arg: &str) -> String {
    let out = match Command::new(env!("CARGO_BIN_EXE_lockcore"))
        .arg(arg)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("cannot run lockcore {arg}: {e}"),
    };
    assert!(out.status.success(), "lockcore {arg}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn version_names_the_cli_and_its_version() {
    let version = lockcore("--version");
    assert_eq!(
        version.trim_end(),
        format!("lockcore {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_the_subcommands() {
    let help = lockcore("--help");
    assert!(help.contains("Usage: lockcore <COMMAND>"), "{help}");
    for cmd in ["inspect", "hold", "run", "clean"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(cmd)),
            "--help lists `{cmd}`:\n{help}"
        );
    }
}
