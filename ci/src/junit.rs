//! nextest's JUnit file: which tests of a step ran, per binary, and the captured output of each
//! failing one (its counterexample, for the report).

pub use lockcore_results::report::Binary;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct TestSuites {
    #[serde(rename = "testsuite", default)]
    suites: Vec<Suite>,
}

#[derive(Debug, Deserialize)]
struct Suite {
    #[serde(rename = "@name")]
    name: String,
    #[serde(rename = "testcase", default)]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    #[serde(rename = "@name")]
    name: String,
    #[serde(rename = "@time", default)]
    time: f64,
    failure: Option<Failure>,
    error: Option<Failure>,
    skipped: Option<serde::de::IgnoredAny>,
    #[serde(rename = "system-out")]
    stdout: Option<String>,
    #[serde(rename = "system-err")]
    stderr: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Failure {
    #[serde(rename = "@message", default)]
    message: String,
    #[serde(rename = "$text", default)]
    text: String,
}

/// A failing test with what it printed.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedTest {
    pub binary: String,
    pub name: String,
    pub output: String,
}

/// What a step's JUnit file says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    pub binaries: Vec<Binary>,
    pub failed: Vec<FailedTest>,
}

impl Run {
    pub fn passed(&self) -> u64 {
        self.binaries.iter().map(|b| b.passed).sum()
    }
    pub fn failed_count(&self) -> u64 {
        self.binaries.iter().map(|b| b.failed).sum()
    }
    pub fn ignored(&self) -> u64 {
        self.binaries.iter().map(|b| b.ignored).sum()
    }
}

/// Reads a step's JUnit file; a missing or malformed one is an error naming what broke.
pub fn read(path: Option<&std::path::Path>) -> Result<Run, String> {
    let path = path.ok_or("no JUnit file")?;
    parse(&std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?)
}

/// Parses the file's text.
pub fn parse(xml: &str) -> Result<Run, String> {
    let doc: TestSuites = quick_xml::de::from_str(xml).map_err(|e| format!("JUnit: {e}"))?;
    let mut run = Run::default();
    for s in doc.suites {
        let mut b = Binary { name: s.name.clone(), ..Binary::default() };
        for c in s.cases {
            b.seconds += c.time;
            if c.skipped.is_some() {
                b.ignored += 1;
                continue;
            }
            match c.failure.or(c.error) {
                None => b.passed += 1,
                Some(f) => {
                    b.failed += 1;
                    let parts = [f.message, f.text, c.stdout.unwrap_or_default(), c.stderr.unwrap_or_default()];
                    let output = parts.iter().filter(|p| !p.is_empty()).cloned().collect::<Vec<_>>().join("\n");
                    run.failed.push(FailedTest { binary: s.name.clone(), name: c.name, output });
                }
            }
        }
        b.ok = b.failed == 0;
        run.binaries.push(b);
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="1" errors="0">
    <testsuite name="loom-tests::loom_release" tests="2" failures="1" errors="0">
        <testcase name="m1_release_all" classname="loom-tests::loom_release" time="1.5"/>
        <testcase name="m2_reclaim" classname="loom-tests::loom_release" time="0.5">
            <failure message="test failure" type="test failure">thread panicked: P3 violated</failure>
            <system-out>#1 p1/t1 create s.lock -&gt; ok</system-out>
            <system-err>note: run with RUST_BACKTRACE</system-err>
        </testcase>
    </testsuite>
    <testsuite name="models" tests="1" failures="0" errors="0">
        <testcase name="sim_fs::works" classname="models" time="0.1"/>
    </testsuite>
</testsuites>"#;

    #[test]
    fn counts_per_binary_and_keeps_a_failures_output() {
        let run = parse(SAMPLE).unwrap();
        assert_eq!((run.passed(), run.failed_count()), (2, 1));
        assert_eq!(run.binaries[0].name, "loom-tests::loom_release");
        assert!(!run.binaries[0].ok && run.binaries[1].ok);
        let f = &run.failed[0];
        assert_eq!(f.name, "m2_reclaim");
        assert!(f.output.contains("P3 violated") && f.output.contains("create s.lock -> ok"), "{}", f.output);
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(parse("<testsuites><testsuite name=").is_err());
        assert_eq!(parse("<testsuites/>").unwrap(), Run::default());
    }
}
