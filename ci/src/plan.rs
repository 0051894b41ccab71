//! What the gate runs: one [`Step`] per layer, its exact command and environment, and the
//! budgets of `--quick` and the full run.

use crate::options::Options;
use crate::report::Budget;

/// What judges a step beyond its exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// fmt, clippy, installs: the exit status alone.
    Check,
    /// A `cargo nextest run`: its JUnit file must show at least one test.
    Tests,
    /// A cargo-mutants run writing `<out>/mutants.out`. A retest pass retests only what the
    /// passes before it missed (`--iterate` and `--re` over their `missed.txt`), and is skipped
    /// when they missed nothing.
    CargoMutants { out: String, retest: bool },
}

/// One step of the gate.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: &'static str,
    /// `cargo` for every step of the gate (another program only in the runner's own tests).
    pub program: &'static str,
    pub kind: Kind,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout_secs: u64,
}

impl Step {
    /// The command as a shell line, environment first.
    pub fn command_line(&self) -> String {
        let env = self.env.iter().map(|(k, v)| format!("{k}={v} "));
        let args = self.args.iter().map(|a| shell_word(a));
        let args = args.collect::<Vec<_>>().join(" ");
        format!("{}{} {args}", env.collect::<String>(), self.program)
    }

    /// The command that replays one test of this step (nextest's exact-name filter).
    pub fn replay(&self, test: &str) -> String {
        let mut one = self.clone();
        if let Some(i) = one.args.iter().position(|a| a == "-E") {
            one.args.drain(i..i + 2);
        }
        one.args.retain(|a| a != "--profile" && a != "gate");
        one.args.extend(["-E".to_string(), format!("test(={test})"), "--no-capture".into()]);
        one.command_line()
    }
}

/// A word quoted for a POSIX shell when it needs it.
pub fn shell_word(w: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !w.is_empty() && w.chars().all(plain) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// The steps whose tests a plain `cargo test` at the root runs at the same budget (the proptest
/// twins stop at their first counterexample: no budget applies to them).
pub const RUN_BY_CARGO_TEST: [&str; 4] = ["test", "real-processes", "namespaces", "mutants-proptest"];

/// Test binaries that have a step of their own, out of the `test` step (nextest filter).
const OWN_STEPS: &str = "package(loom-tests) | package(proptests) | package(lockcore-stress) \
     | (package(lockcore-testkit) & (binary(real_processes) | binary(cli) | binary(faults) \
     | binary(namespaces)))";

/// The budgets of this invocation.
pub fn budget(o: &Options) -> Budget {
    Budget {
        proptest_cases: o.proptest_cases.unwrap_or(if o.quick { 256 } else { 8192 }),
        shuttle_iterations: o.shuttle_iterations.or(o.quick.then_some(100)),
        step_timeout: o.step_timeout.unwrap_or(if o.quick { 600 } else { 1800 }),
    }
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

fn nextest(features: &[&str], release: bool, filter: Option<String>) -> Vec<String> {
    let mut a = words(&["nextest", "run", "--profile", "gate", "--no-fail-fast"]);
    if release {
        a.push("--release".into());
    }
    a.extend(features.iter().map(|s| s.to_string()));
    if let Some(f) = filter {
        a.extend(["-E".to_string(), f]);
    }
    a
}

/// Every step of the gate, in order, less `--only`/`--skip` and what `cargo test` already ran.
pub fn steps(o: &Options) -> Result<Vec<Step>, String> {
    let all = all_steps(o);
    for name in o.only.iter().chain(&o.skip) {
        if !all.iter().any(|s| s.name == name) {
            let known: Vec<&str> = all.iter().map(|s| s.name).collect();
            return Err(format!("no step named {name:?} (steps: {})", known.join(", ")));
        }
    }
    Ok(all
        .into_iter()
        .filter(|s| !o.mutants_only || s.name == "install-cargo-mutants" || matches!(s.kind, Kind::CargoMutants { .. }))
        .filter(|s| o.only.is_empty() || o.only.iter().any(|n| n == s.name))
        .filter(|s| !o.skip.iter().any(|n| n == s.name))
        .filter(|s| !(o.cargo_test_passed && RUN_BY_CARGO_TEST.contains(&s.name)))
        .collect())
}

fn all_steps(o: &Options) -> Vec<Step> {
    let b = budget(o);
    let level = if o.quick { "quick" } else { "full" };
    let step = |name, kind, args: Vec<String>, env: &[(&str, String)]| Step {
        name,
        program: "cargo",
        kind,
        args,
        env: env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        timeout_secs: b.step_timeout,
    };
    let not_twins = Some("not test(/^mutant_/)".to_string());
    let twins = Some("test(/^mutant_/)".to_string());
    let loom = ["--features", "loom", "-p", "loom-tests"];
    let shuttle = ["--features", "shuttle", "-p", "loom-tests"];
    let shuttle_env: Vec<(&str, String)> =
        b.shuttle_iterations.map(|n| ("LOCKCORE_SHUTTLE_ITERATIONS", n.to_string())).into_iter().collect();
    let clippy = |features: &[&str]| {
        let mut a = words(&["clippy", "--workspace", "--all-targets"]);
        a.extend(words(features));
        a.extend(words(&["--", "-D", "warnings"]));
        a
    };
    let mut steps = vec![
        step("fmt", Kind::Check, words(&["fmt", "--all", "--", "--check"]), &[]),
        step("clippy", Kind::Check, clippy(&[]), &[]),
        step("clippy-loom", Kind::Check, clippy(&["--features", "loom"]), &[]),
        step("clippy-shuttle", Kind::Check, clippy(&["--features", "shuttle"]), &[]),
        step("test", Kind::Tests, nextest(&["--workspace"], false, Some(format!("not ({OWN_STEPS})"))), &[]),
        step(
            "loom",
            Kind::Tests,
            nextest(&loom, true, not_twins.clone()),
            &[("LOCKCORE_MATRIX_BOUND", if o.quick { "2" } else { "3" }.to_string())],
        ),
        step("shuttle", Kind::Tests, nextest(&shuttle, true, not_twins.clone()), &shuttle_env),
        step(
            "proptest",
            Kind::Tests,
            nextest(&["-p", "proptests"], true, not_twins),
            &[("PROPTEST_CASES", b.proptest_cases.to_string())],
        ),
        step(
            "faults",
            Kind::Tests,
            nextest(&["-p", "lockcore-testkit", "--test", "faults"], false, None),
            &[("LOCKCORE_FAULTS", level.to_string())],
        ),
        step(
            "stress",
            Kind::Tests,
            nextest(&["-p", "lockcore-stress", "--features", "mutants", "--test", "stress"], false, None),
            &[("LOCKCORE_STRESS", level.to_string())],
        ),
        step(
            "real-processes",
            Kind::Tests,
            nextest(&["-p", "lockcore-testkit", "--test", "real_processes", "--test", "cli"], false, None),
            &[],
        ),
        step("namespaces", Kind::Tests, nextest(&["-p", "lockcore-testkit", "--test", "namespaces"], false, None), &[]),
        step(
            "mutants-loom",
            Kind::Tests,
            nextest(&loom, true, twins.clone()),
            &[("LOCKCORE_MATRIX_SWEEP_BOUND", if o.quick { "1" } else { "2" }.to_string())],
        ),
        step("mutants-shuttle", Kind::Tests, nextest(&shuttle, true, twins.clone()), &[]),
        step("mutants-proptest", Kind::Tests, nextest(&["-p", "proptests"], true, twins), &[]),
    ];
    if o.mutants || o.mutants_only {
        // A no-op when it is installed already.
        let install = words(&["install", "cargo-mutants", "--locked"]);
        steps.push(Step { timeout_secs: 1800, ..step("install-cargo-mutants", Kind::Check, install, &[]) });
        steps.extend(cargo_mutants_steps(o));
    }
    steps
}

/// cargo-mutants over the lockcore package, three passes into one output directory: the
/// default-features tests (lockcore, testkit, models, proptests), then loom-tests with `--features
/// loom` and with `--features shuttle`, each retesting only what the passes before it missed. The
/// model checkers' features live on loom-tests (lockcore-for-models builds the same sources), so
/// the later passes mutate lockcore's files and test that package.
fn cargo_mutants_steps(o: &Options) -> Vec<Step> {
    let out = "target/gate/cargo-mutants".to_string();
    let default_tests = [
        "--test-package",
        "lockcore",
        "--test-package",
        "lockcore-testkit",
        "--test-package",
        "models",
        "--test-package",
        "proptests",
        "--timeout",
        "240",
    ];
    // Name, the model checker's feature (none: the first pass), and the budget it runs at.
    let passes = [
        ("cargo-mutants", None, ("PROPTEST_CASES", "256")),
        ("cargo-mutants-loom", Some("loom"), ("LOCKCORE_MATRIX_BOUND", "2")),
        ("cargo-mutants-shuttle", Some("shuttle"), ("LOCKCORE_SHUTTLE_ITERATIONS", "100")),
    ];
    passes
        .into_iter()
        .map(|(name, features, (var, value))| {
            let mut a = words(&["mutants", "-p", "lockcore", "--test-tool", "nextest", "--no-shuffle"]);
            a.extend(["--output".to_string(), out.clone()]);
            match features {
                None => {
                    a.extend(words(&default_tests));
                    // Only the first pass takes a shard: a retest pass retests what it missed.
                    if let Some(s) = &o.mutants_shard {
                        a.extend(["--shard".to_string(), s.clone()]);
                    }
                }
                Some(f) => a.extend(words(&[
                    "--features",
                    f,
                    "--iterate",
                    "--baseline",
                    "skip",
                    "--profile",
                    "release",
                    "--test-package",
                    "loom-tests",
                    "--timeout",
                    "300",
                ])),
            }
            if let Some(j) = o.mutants_jobs {
                a.extend(["--jobs".to_string(), j.to_string()]);
            }
            let env = vec![(var.to_string(), value.to_string())];
            let timeout_secs = o.step_timeout.unwrap_or(4 * 3600);
            let kind = Kind::CargoMutants { out: out.clone(), retest: features.is_some() };
            Step { name, program: "cargo", kind, args: a, env, timeout_secs }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_cargo_mutants_pass_takes_the_shard_and_the_model_passes_test_loom_tests() {
        let o = Options { mutants: true, mutants_shard: Some("3/16".into()), ..Options::default() };
        let all = steps(&o).unwrap();
        let pass = |n: &str| all.iter().find(|s| s.name == n).unwrap().command_line();
        let first = pass("cargo-mutants");
        assert!(first.contains("--shard 3/16") && first.contains("--test-package proptests"), "{first}");
        for (name, feature) in [("cargo-mutants-loom", "loom"), ("cargo-mutants-shuttle", "shuttle")] {
            let c = pass(name);
            assert!(!c.contains("--shard") && c.contains("--iterate"), "{c}");
            assert!(c.contains(&format!("--features {feature}")) && c.contains("--test-package loom-tests"), "{c}");
        }
    }
}
