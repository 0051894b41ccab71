//! Command-line options of the gate.

use std::fmt;

pub const USAGE: &str = "\
usage: ci/gate [--quick] [--mutants] [options]

Runs every verification layer of the workspace within a budget and writes
target/gate/report.json and target/gate/report.md. Exit 0 only if every step passes, every
catalogue mutant is caught by at least one layer and the proptest coverage is complete.

  --quick                    pull-request budget: PROPTEST_CASES=256 (full: 8192) and
                             LOCKCORE_SHUTTLE_ITERATIONS=100 (target: < 3 min warm on 2 cores)
  --full                     the default budget (undoes an earlier --quick)
  --mutants                  also run cargo-mutants over lockcore (default features, then
                             --features loom, then --features shuttle); installs it if missing
  --mutants-shard K/N        cargo-mutants: only shard K of N (0-based), for parallel CI jobs
  --mutants-jobs N           cargo-mutants: N parallel build/test jobs (default 1)
  --proptest-cases N         PROPTEST_CASES for the proptest layer (quick 256, full 8192)
  --shuttle-iterations N     LOCKCORE_SHUTTLE_ITERATIONS for the shuttle layer
                             (quick 100, full: the tests' own default)
  --step-timeout SECS        kill a step after SECS (quick 600, full 1800; cargo-mutants runs: 4 h)
  --only STEP[,STEP…]        run only these steps (partial run: not a merge verdict)
  --skip STEP[,STEP…]        leave these steps out (partial run: not a merge verdict)
  --fail-fast                stop at the first failing step
  -v, --verbose              stream each step's output as well as logging it
  --list                     print the steps this invocation would run, with their commands
  -h, --help                 this text
";

/// Parsed options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub quick: bool,
    pub mutants: bool,
    pub proptest_cases: Option<u64>,
    pub shuttle_iterations: Option<u64>,
    pub step_timeout: Option<u64>,
    /// `K/N` for cargo-mutants' `--shard`.
    pub mutants_shard: Option<String>,
    pub mutants_jobs: Option<u64>,
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub fail_fast: bool,
    pub verbose: bool,
    pub list: bool,
    pub help: bool,
}

/// A bad command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageError {
    Unknown(String),
    MissingValue(String),
    BadNumber(String, String),
    BadShard(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Unknown(a) => write!(f, "unknown argument {a:?}"),
            UsageError::MissingValue(a) => write!(f, "{a} needs a value"),
            UsageError::BadNumber(a, v) => write!(f, "{a}: {v:?} is not a positive number"),
            UsageError::BadShard(v) => write!(f, "--mutants-shard: {v:?} is not K/N with K < N"),
        }
    }
}

impl std::error::Error for UsageError {}

/// Parses the arguments after the program name. Accepts `--flag value` and `--flag=value`.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Options, UsageError> {
    let mut o = Options::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let value = |it: &mut dyn Iterator<Item = String>| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| UsageError::MissingValue(flag.clone()))
        };
        let number = |v: String| match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(UsageError::BadNumber(flag.clone(), v)),
        };
        let list = |v: String| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        match flag.as_str() {
            "--quick" => o.quick = true,
            "--full" => o.quick = false,
            "--mutants" => o.mutants = true,
            "--fail-fast" => o.fail_fast = true,
            "-v" | "--verbose" => o.verbose = true,
            "--list" => o.list = true,
            "-h" | "--help" => o.help = true,
            "--proptest-cases" => o.proptest_cases = Some(number(value(&mut it)?)?),
            "--shuttle-iterations" => o.shuttle_iterations = Some(number(value(&mut it)?)?),
            "--step-timeout" => o.step_timeout = Some(number(value(&mut it)?)?),
            "--mutants-jobs" => o.mutants_jobs = Some(number(value(&mut it)?)?),
            "--mutants-shard" => {
                let v = value(&mut it)?;
                let valid = v
                    .split_once('/')
                    .and_then(|(k, n)| Some((k.parse::<u64>().ok()?, n.parse::<u64>().ok()?)))
                    .is_some_and(|(k, n)| k < n);
                if !valid {
                    return Err(UsageError::BadShard(v));
                }
                o.mutants_shard = Some(v);
            }
            "--only" => o.only.extend(list(value(&mut it)?)),
            "--skip" => o.skip.extend(list(value(&mut it)?)),
            _ => return Err(UsageError::Unknown(arg)),
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, UsageError> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_flags_and_values() {
        let o = p(&[
            "--quick",
            "--mutants",
            "--proptest-cases",
            "64",
            "--shuttle-iterations=10",
            "--only",
            "fmt,clippy",
            "--skip=test",
            "-v",
        ])
        .unwrap();
        assert!(o.quick && o.mutants && o.verbose);
        assert_eq!(o.proptest_cases, Some(64));
        assert_eq!(o.shuttle_iterations, Some(10));
        assert_eq!(o.only, vec!["fmt", "clippy"]);
        assert_eq!(o.skip, vec!["test"]);
        assert_eq!(p(&[]).unwrap(), Options::default());
        let o = p(&["--mutants-shard", "1/4", "--mutants-jobs=2"]).unwrap();
        assert_eq!(o.mutants_shard.as_deref(), Some("1/4"));
        assert_eq!(o.mutants_jobs, Some(2));
    }

    #[test]
    fn bad_arguments_are_typed_errors() {
        assert_eq!(
            p(&["--frobnicate"]),
            Err(UsageError::Unknown("--frobnicate".into()))
        );
        assert_eq!(
            p(&["--proptest-cases"]),
            Err(UsageError::MissingValue("--proptest-cases".into()))
        );
        assert_eq!(
            p(&["--step-timeout", "0"]),
            Err(UsageError::BadNumber("--step-timeout".into(), "0".into()))
        );
        assert_eq!(
            p(&["--mutants-shard", "4/4"]),
            Err(UsageError::BadShard("4/4".into()))
        );
        assert_eq!(
            p(&["--mutants-shard=x"]),
            Err(UsageError::BadShard("x".into()))
        );
        assert_eq!(
            p(&["--shuttle-iterations=lots"]),
            Err(UsageError::BadNumber(
                "--shuttle-iterations".into(),
                "lots".into()
            ))
        );
    }
}
