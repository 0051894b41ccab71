//! Parsing of `cargo test` output: the libtest summary lines, the test binaries they belong to, the
//! names of failing tests and their captured output, and cargo's "no such target" errors.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One `test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `ok` (true) or `FAILED` (false).
    pub ok: bool,
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    pub measured: u64,
    pub filtered_out: u64,
    /// `finished in …s`, when present.
    pub seconds: Option<f64>,
}

impl Summary {
    /// Tests that actually ran (passed or failed).
    pub fn ran(&self) -> u64 {
        self.passed + self.failed
    }
}

/// Why a line that looks like a summary is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SummaryError {
    /// The line does not contain `test result: `.
    NotASummary,
    /// The status word is neither `ok` nor `FAILED`.
    BadStatus(String),
    /// A `N word` part where `N` is not a number.
    BadCount(String),
    /// A part with an unknown word.
    UnknownField(String),
    /// One of passed / failed is missing.
    MissingField(&'static str),
    /// `finished in X` where X is not `<float>s`.
    BadDuration(String),
}

impl fmt::Display for SummaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SummaryError::NotASummary => write!(f, "not a `test result:` line"),
            SummaryError::BadStatus(s) => write!(f, "unknown test result status {s:?}"),
            SummaryError::BadCount(s) => write!(f, "bad count in {s:?}"),
            SummaryError::UnknownField(s) => write!(f, "unknown field in {s:?}"),
            SummaryError::MissingField(s) => write!(f, "missing field `{s}`"),
            SummaryError::BadDuration(s) => write!(f, "bad duration {s:?}"),
        }
    }
}

impl std::error::Error for SummaryError {}

const SUMMARY_MARK: &str = "test result: ";

/// Parses one libtest summary line. Text before `test result: ` (e.g. another test's output
/// printed without a newline under `--nocapture`) is ignored.
pub fn parse_summary_line(line: &str) -> Result<Summary, SummaryError> {
    let start = line.find(SUMMARY_MARK).ok_or(SummaryError::NotASummary)?;
    let rest = line[start + SUMMARY_MARK.len()..].trim();
    let (status, counts) = rest
        .split_once(". ")
        .ok_or_else(|| SummaryError::BadStatus(rest.to_string()))?;
    let ok = match status {
        "ok" => true,
        "FAILED" => false,
        other => return Err(SummaryError::BadStatus(other.to_string())),
    };
    let mut summary = Summary {
        ok,
        ..Summary::default()
    };
    let (mut seen_passed, mut seen_failed) = (false, false);
    for part in counts.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(duration) = part.strip_prefix("finished in ") {
            let secs = duration
                .strip_suffix('s')
                .and_then(|d| d.trim().parse::<f64>().ok())
                .filter(|d| d.is_finite() && *d >= 0.0)
                .ok_or_else(|| SummaryError::BadDuration(duration.to_string()))?;
            summary.seconds = Some(secs);
            continue;
        }
        let (number, word) = part
            .split_once(' ')
            .ok_or_else(|| SummaryError::UnknownField(part.to_string()))?;
        let n: u64 = number
            .parse()
            .map_err(|_| SummaryError::BadCount(part.to_string()))?;
        match word.trim() {
            "passed" => {
                summary.passed = n;
                seen_passed = true;
            }
            "failed" => {
                summary.failed = n;
                seen_failed = true;
            }
            "ignored" => summary.ignored = n,
            "measured" => summary.measured = n,
            "filtered out" => summary.filtered_out = n,
            _ => return Err(SummaryError::UnknownField(part.to_string())),
        }
    }
    if !seen_passed {
        return Err(SummaryError::MissingField("passed"));
    }
    if !seen_failed {
        return Err(SummaryError::MissingField("failed"));
    }
    Ok(summary)
}

/// One test binary's result (`Running tests/foo.rs (…)` … `test result: …`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BinaryResult {
    /// What cargo printed after `Running` / `Doc-tests`, e.g. `tests/cli.rs` or `unittests src/lib.rs`.
    pub name: String,
    #[serde(flatten)]
    pub summary: Summary,
}

/// Everything the gate reads from one `cargo test` log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestRun {
    pub binaries: Vec<BinaryResult>,
    /// Names of tests reported `FAILED`, in order, without duplicates.
    pub failed_tests: Vec<String>,
    /// `---- name stdout ----` sections: the failing test's captured output (panic message, trace).
    pub failure_output: Vec<(String, String)>,
    /// Panic messages printed in place (`--nocapture`): thread (= test) name → message.
    pub panics: Vec<(String, String)>,
    /// cargo's own errors about the selection, e.g. "no test target named `real_processes` …".
    pub selection_errors: Vec<String>,
    /// Summary-looking lines that did not parse.
    pub errors: Vec<(String, SummaryError)>,
}

impl TestRun {
    /// What a failing test printed: its captured `stdout` section, else its in-place panic.
    pub fn output_of(&self, test: &str) -> Option<&str> {
        self.failure_output
            .iter()
            .chain(&self.panics)
            .find(|(n, _)| n == test)
            .map(|(_, s)| s.as_str())
    }

    /// Sums all binaries.
    pub fn total(&self) -> Summary {
        let mut t = Summary {
            ok: self.binaries.iter().all(|b| b.summary.ok),
            ..Summary::default()
        };
        let mut secs = 0.0;
        for b in &self.binaries {
            t.passed += b.summary.passed;
            t.failed += b.summary.failed;
            t.ignored += b.summary.ignored;
            t.measured += b.summary.measured;
            t.filtered_out += b.summary.filtered_out;
            secs += b.summary.seconds.unwrap_or(0.0);
        }
        t.seconds = Some(secs);
        t
    }
}

/// Parses a whole `cargo test` log (stdout and stderr interleaved). Never fails: malformed summary
/// lines are collected in [`TestRun::errors`].
pub fn parse_test_output(text: &str) -> TestRun {
    let mut run = TestRun::default();
    let mut current_binary = String::from("?");
    let mut section: Option<(String, Vec<&str>)> = None;
    // Under `--nocapture` there are no `---- name stdout ----` sections: the panic message is
    // printed where it happens, `thread 'name' (tid) panicked at file:line:col:` + message.
    let mut panic: Option<(String, Vec<&str>)> = None;
    for raw in text.lines() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();

        // Captured output of a failing test: from `---- name stdout ----` to the next section,
        // the `failures:` list, or the summary.
        if let Some(name) = trimmed
            .strip_prefix("---- ")
            .and_then(|r| r.strip_suffix(" stdout ----"))
        {
            if let Some((n, body)) = section.take() {
                run.failure_output.push((n, body.join("\n")));
            }
            section = Some((name.to_string(), Vec::new()));
            continue;
        }
        if section.is_some() && (trimmed == "failures:" || trimmed.starts_with(SUMMARY_MARK)) {
            if let Some((n, body)) = section.take() {
                run.failure_output.push((n, body.join("\n")));
            }
        }
        if let Some((_, body)) = section.as_mut() {
            body.push(line);
            continue;
        }

        if let Some((name, body)) = panic.as_mut() {
            let end = trimmed.starts_with("stack backtrace:")
                || trimmed.starts_with("note: ")
                || trimmed.starts_with("failures:")
                || trimmed.starts_with(SUMMARY_MARK)
                || trimmed.starts_with("thread '")
                || (trimmed.starts_with("test ") && trimmed.contains(" ... "))
                || body.len() >= 200;
            if end {
                let text = body.join("\n");
                run.panics.push((std::mem::take(name), text));
                panic = None;
            } else {
                body.push(line);
                continue;
            }
        }
        if let Some(name) = panicking_thread(trimmed) {
            panic = Some((name.to_string(), vec![line]));
            continue;
        }

        if let Some(rest) = trimmed.strip_prefix("Running ") {
            // `Running tests/cli.rs (target/debug/deps/cli-0123)`: keep the part before the path.
            current_binary = match rest.rfind(" (") {
                Some(i) => rest[..i].to_string(),
                None => rest.to_string(),
            };
        } else if let Some(rest) = trimmed.strip_prefix("Doc-tests ") {
            current_binary = format!("doc-tests {rest}");
        } else if trimmed.starts_with("error: no test target named")
            || trimmed.starts_with("error: no bin target named")
            || trimmed.starts_with("error: package ID specification")
            || (trimmed.starts_with("error: package(s)") && trimmed.contains("not found"))
            || trimmed.starts_with("error: none of the selected packages contains")
        {
            run.selection_errors
                .push(trimmed.trim_start_matches("error: ").to_string());
        } else if let Some(name) = failed_test_name(trimmed) {
            if !run.failed_tests.iter().any(|n| n == name) {
                run.failed_tests.push(name.to_string());
            }
        }
        if line.contains(SUMMARY_MARK) {
            match parse_summary_line(line) {
                Ok(summary) => run.binaries.push(BinaryResult {
                    name: current_binary.clone(),
                    summary,
                }),
                Err(e) => run.errors.push((line.to_string(), e)),
            }
        }
    }
    if let Some((n, body)) = section.take() {
        run.failure_output.push((n, body.join("\n")));
    }
    if let Some((n, body)) = panic.take() {
        run.panics.push((n, body.join("\n")));
    }
    run
}

/// `thread 'name' (123) panicked at src/x.rs:1:2:` → `name`.
fn panicking_thread(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("thread '")?;
    let (name, after) = rest.split_once('\'')?;
    after.contains("panicked at").then_some(name)
}

/// `test some::name ... FAILED` → `some::name`. Under `--nocapture` other output can sit between
/// the `...` and the verdict, so only the start and the end of the line are matched.
fn failed_test_name(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("test ")?;
    if !line.ends_with("FAILED") {
        return None;
    }
    let (name, _) = rest.split_once(" ... ")?;
    (!name.is_empty() && !name.contains(' ')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ok_summary() {
        let s = parse_summary_line(
            "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 3 filtered out; finished in 0.52s",
        )
        .unwrap();
        assert_eq!(
            s,
            Summary {
                ok: true,
                passed: 12,
                failed: 0,
                ignored: 1,
                measured: 0,
                filtered_out: 3,
                seconds: Some(0.52)
            }
        );
        assert_eq!(s.ran(), 12);
    }

    #[test]
    fn parses_failed_summary_with_leading_noise() {
        let s = parse_summary_line(
            "some output without newline test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 10.00s",
        )
        .unwrap();
        assert!(!s.ok);
        assert_eq!((s.passed, s.failed), (1, 2));
    }

    #[test]
    fn summary_without_duration_is_accepted() {
        let s = parse_summary_line(
            "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
        )
        .unwrap();
        assert_eq!(s.seconds, None);
    }

    #[test]
    fn bad_summaries_are_typed_errors() {
        assert_eq!(
            parse_summary_line("running 3 tests"),
            Err(SummaryError::NotASummary)
        );
        assert!(matches!(
            parse_summary_line("test result: maybe. 1 passed; 0 failed"),
            Err(SummaryError::BadStatus(_))
        ));
        assert!(matches!(
            parse_summary_line("test result: ok. many passed; 0 failed"),
            Err(SummaryError::BadCount(_))
        ));
        assert!(matches!(
            parse_summary_line("test result: ok. 1 passed; 0 exploded; 0 failed"),
            Err(SummaryError::UnknownField(_))
        ));
        assert_eq!(
            parse_summary_line("test result: ok. 1 passed; 0 ignored"),
            Err(SummaryError::MissingField("failed"))
        );
        assert!(matches!(
            parse_summary_line("test result: ok. 1 passed; 0 failed; finished in soon"),
            Err(SummaryError::BadDuration(_))
        ));
        assert!(matches!(
            parse_summary_line("test result: ok."),
            Err(SummaryError::BadStatus(_))
        ));
        // Overflowing counts are an error, not a panic.
        assert!(matches!(
            parse_summary_line("test result: ok. 99999999999999999999999 passed; 0 failed"),
            Err(SummaryError::BadCount(_))
        ));
    }

    const LOG: &str = "\
   Compiling lockcore v0.1.0 (/w/lockcore)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 3.21s
     Running unittests src/lib.rs (target/debug/deps/lockcore-1234)

running 2 tests
test payload::tests::roundtrip ... ok
test classify::tests::nonce ... FAILED

failures:

---- classify::tests::nonce stdout ----
thread 'classify::tests::nonce' panicked at src/classify.rs:10:5:
P8 violated: live nonce reclaimed
  1. a: create x.lock
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    classify::tests::nonce

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

     Running tests/cli.rs (target/debug/deps/cli-5678)

running 1 test
test help ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.20s

   Doc-tests lockcore

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: test failed, to rerun pass `--lib`
";

    #[test]
    fn parses_a_whole_log() {
        let run = parse_test_output(LOG);
        assert_eq!(run.binaries.len(), 3);
        assert_eq!(run.binaries[0].name, "unittests src/lib.rs");
        assert_eq!(run.binaries[1].name, "tests/cli.rs");
        assert_eq!(run.binaries[2].name, "doc-tests lockcore");
        let t = run.total();
        assert!(!t.ok);
        assert_eq!((t.passed, t.failed, t.ran()), (2, 1, 3));
        assert_eq!(run.failed_tests, vec!["classify::tests::nonce".to_string()]);
        assert_eq!(run.failure_output.len(), 1);
        assert!(run.failure_output[0].1.contains("P8 violated"));
        assert!(run.errors.is_empty());
        assert!(run.selection_errors.is_empty());
    }

    #[test]
    fn panics_under_nocapture_are_collected() {
        let log = "\
running 2 tests
LOCKCORE-COVERAGE {\"a\": 1}
thread 'state_machine_matches_reference_model' (15360) panicked at tests/state_machine.rs:101:5:
P4 violated
  1. p1/t1 create a.lock

stack backtrace:
   0: __rustc::rust_begin_unwind
test state_machine_matches_reference_model ... FAILED
thread 'other' panicked at src/lib.rs:1:1:
boom
test other ... FAILED

failures:

failures:
    other
    state_machine_matches_reference_model

test result: FAILED. 0 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.58s
";
        let run = parse_test_output(log);
        assert_eq!(run.failed_tests.len(), 2);
        let out = run
            .output_of("state_machine_matches_reference_model")
            .unwrap();
        assert!(
            out.contains("P4 violated\n  1. p1/t1 create a.lock"),
            "{out}"
        );
        assert!(!out.contains("rust_begin_unwind"));
        assert!(run.output_of("other").unwrap().ends_with("boom"));
        assert_eq!(run.output_of("nobody"), None);
        assert_eq!(run.total().failed, 2);
    }

    #[test]
    fn detects_missing_targets_and_empty_logs() {
        let run = parse_test_output(
            "error: no test target named `real_processes` in `lockcore` package\n",
        );
        assert_eq!(run.selection_errors.len(), 1);
        assert!(run.binaries.is_empty());
        assert_eq!(run.total().ran(), 0);
        let empty = parse_test_output("");
        assert_eq!(empty, TestRun::default());
    }

    #[test]
    fn malformed_summary_in_a_log_is_collected() {
        let run = parse_test_output("test result: ok. x passed; 0 failed\n");
        assert_eq!(run.errors.len(), 1);
        assert!(run.binaries.is_empty());
    }

    #[test]
    fn failed_line_with_interleaved_output() {
        let run =
            parse_test_output("test mutant_x ... LOCKCORE-MUTANT {} FAILED\ntest a b ... FAILED\n");
        assert_eq!(run.failed_tests, vec!["mutant_x".to_string()]);
    }
}
