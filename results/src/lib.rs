//! The result files of the verification layers: one typed JSON file per test, twin or layer summary
//! under `$LOCKCORE_RESULTS_DIR`, written by the layers and read by the gate (`ci/`).
//!
//! **One schema, one crate:** every writer and the one reader use these types, so a result never
//! travels as printed text. A file carries [`SCHEMA`]; the reader rejects any other version with a
//! typed error rather than guessing.

pub mod report;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The schema version of every file this crate writes (1 was the per-layer JSON of faults, stress,
/// namespaces and matrix cells before they shared one envelope; mutant and coverage results were
/// printed lines then).
pub const SCHEMA: u32 = 2;

/// Environment variable naming the directory result files go to. Unset (a plain `cargo test`),
/// nothing is written.
pub const RESULTS_DIR_VAR: &str = "LOCKCORE_RESULTS_DIR";

/// What every result file holds: the schema version and one record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResultFile {
    pub schema: u32,
    #[serde(flatten)]
    pub record: Record,
}

/// One result, tagged by `kind`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Record {
    /// A model test or a mutant twin (`mutant` set).
    Test(TestResult),
    /// Transition and classification counts of the proptest state machine.
    Coverage(Coverage),
    /// One pair of the operation × operation matrix, explored without a violation.
    MatrixCell(MatrixCell),
    /// The faults layer's summary.
    Faults(FaultsResult),
    /// The stress layer's summary.
    Stress(StressResult),
    /// Which catalogue bugs the operation matrix finds with no scenario written for them.
    MatrixSweep(MatrixSweep),
}

/// How a test or twin ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Explored its budget without a violation.
    Passed,
    /// Found a violation of `property` (for a twin: the bug was caught).
    Violated,
    /// Could not run here (`reason` says why: no root, no strace, …).
    Skipped,
}

/// A model test or a mutant twin.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TestResult {
    /// `loom`, `shuttle`, `proptest`, `namespaces`, …
    pub layer: String,
    /// The test function.
    pub test: String,
    /// The catalogue id this twin re-introduces; `None` for a test of the real code.
    pub mutant: Option<String>,
    pub verdict: Verdict,
    /// The property violated (`Violated`), or checked (`Passed`, where the test names one).
    pub property: Option<String>,
    /// The violation in the checker's words (`Pn violated: …`), when there is one; the steps that
    /// led there are in `trace`.
    #[serde(default)]
    pub message: Option<String>,
    /// Executions, cases or schedules explored (until the first counterexample, if any).
    pub iterations: u64,
    pub seconds: f64,
    /// The counterexample, one step per entry (empty when none).
    pub trace: Vec<String>,
    /// Why the test was skipped.
    pub reason: Option<String>,
}

impl TestResult {
    /// A twin's verdict as the report words it.
    pub fn caught(&self) -> bool {
        self.verdict == Verdict::Violated
    }
}

/// Counts per transition or classification reason.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Coverage {
    pub layer: String,
    pub counts: BTreeMap<String, u64>,
}

/// The public operations that the operation × operation matrix runs against each other.
pub const OPERATIONS: [&str; 8] = [
    "acquire",
    "try_acquire",
    "release",
    "release_all",
    "clean_stale",
    "inspect",
    "signal_cleanup",
    "refresh",
];

/// A pair of operations run concurrently by one layer's model without a violation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MatrixCell {
    /// `loom` or `shuttle`.
    pub layer: String,
    /// Two names from [`OPERATIONS`], in that list's order.
    pub pair: [String; 2],
    /// The model that ran them (`matrix`, or a named scenario).
    pub model: String,
    /// Executions (loom) or schedules (shuttle) explored.
    pub executions: u64,
    /// loom's preemption bound, if any.
    pub bound: Option<usize>,
}

/// Each catalogue bug run against every pair of the operation matrix: a bug the matrix finds by
/// itself is one it would also find in a form nobody has written yet.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MatrixSweep {
    /// `loom`.
    pub layer: String,
    /// The preemption bound every pair ran at.
    pub bound: Option<usize>,
    /// How many bugs the matrix must find at this bound (the sweep fails below it).
    pub floor: u64,
    pub seconds: f64,
    /// One row per catalogue bug, in catalogue order.
    pub rows: Vec<SweepRow>,
}

/// One catalogue bug against the matrix.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SweepRow {
    pub mutant: String,
    /// The pairs that found it (empty: the matrix alone misses it).
    pub failing: Vec<SweptPair>,
}

/// A pair whose exploration found a catalogue bug.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SweptPair {
    pub pair: [String; 2],
    /// The property violated, as the oracle named it (`None`: the run failed without naming one).
    pub property: Option<String>,
}

impl MatrixSweep {
    /// The bugs that some pair found.
    pub fn found(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| !r.failing.is_empty())
            .map(|r| r.mutant.as_str())
            .collect()
    }
}

/// The faults layer: the real CLI under system-call fault injection.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FaultsResult {
    /// Why the layer did not run (strace missing, ptrace not permitted).
    pub skipped: Option<String>,
    pub budget: Option<String>,
    pub cases: u64,
    pub sites: u64,
    pub seconds: f64,
    /// Injections that did not land on the lock directory.
    pub not_landed: Vec<String>,
    pub failures: Vec<FaultFailure>,
}

/// One invariant broken after one injected fault.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FaultFailure {
    pub scenario: String,
    pub syscall: String,
    /// The how-manieth call of `syscall` on the lock directory (1-based).
    pub occurrence: u64,
    /// strace's `when=` for it.
    pub when: u64,
    /// The traced call, the lock directory written as `DIR`.
    pub call: String,
    pub errno: String,
    /// The property the aftermath broke.
    pub property: String,
    pub problem: String,
    pub exit: String,
    pub stderr_tail: String,
    /// The strace command that reproduces it.
    pub reproduce: String,
}

/// The stress layer: real processes under a nemesis, judged from their histories.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StressResult {
    pub budget: String,
    pub seed: u64,
    pub seconds: f64,
    pub workers: u64,
    pub operations: u64,
    pub holds: u64,
    pub nemesis_events: u64,
    pub violations: Vec<StressViolation>,
    pub notes: Vec<String>,
    pub errors: Vec<String>,
    /// The run with a double-granting mutant, which must be caught.
    pub twin: Option<StressTwin>,
}

/// A property the checker found broken, with the minimal window of the history.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StressViolation {
    pub property: String,
    pub message: String,
    pub window: Vec<String>,
}

/// What the twin run came to.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StressTwin {
    pub mutant: String,
    pub caught: bool,
    pub property: Option<String>,
    /// From the twin's start to its first violation.
    pub seconds: Option<f64>,
    pub seed: u64,
}

impl Record {
    /// Where the record goes inside the results directory: one file per test, twin or layer.
    pub fn relative_path(&self) -> PathBuf {
        let name = match self {
            Record::Test(t) => match &t.mutant {
                Some(id) => format!("mutants/{}-{id}-{}.json", t.layer, t.test),
                None => format!("tests/{}-{}.json", t.layer, t.test),
            },
            Record::Coverage(c) => format!("coverage/{}.json", c.layer),
            Record::MatrixCell(m) => format!("matrix/{}-{}-{}.json", m.layer, m.pair[0], m.pair[1]),
            Record::Faults(_) => "faults.json".to_string(),
            Record::Stress(_) => "stress.json".to_string(),
            Record::MatrixSweep(m) => format!("matrix-sweep/{}.json", m.layer),
        };
        PathBuf::from(name.replace("::", "."))
    }

    /// Writes the record under `$LOCKCORE_RESULTS_DIR` (atomically: a reader never sees half a
    /// file) and returns the path; `Ok(None)` when the variable is unset.
    pub fn write(&self) -> std::io::Result<Option<PathBuf>> {
        match results_dir() {
            Some(dir) => self.write_into(&dir).map(Some),
            None => Ok(None),
        }
    }

    /// Writes the record under `dir`.
    pub fn write_into(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join(self.relative_path());
        let file = ResultFile {
            schema: SCHEMA,
            record: self.clone(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(".tmp.{}.{}", std::process::id(), unique()));
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// Writes the record, reporting a failure on stderr: a missing file is then an empty cell or
    /// a missing result in the gate's report, which names it.
    pub fn write_or_warn(&self) {
        if let Err(e) = self.write() {
            eprintln!(
                "results: cannot write {}: {e}",
                self.relative_path().display()
            );
        }
    }
}

/// A number no other write of this process used, for temp names.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// `$LOCKCORE_RESULTS_DIR`; a relative one is taken from the workspace root (where the command was
/// typed), not from a test's working directory (its package).
pub fn results_dir() -> Option<PathBuf> {
    let dir = std::env::var_os(RESULTS_DIR_VAR)?;
    Some(workspace_root().join(dir))
}

/// The workspace root: the nearest ancestor of this crate whose manifest has `[workspace]`.
pub fn workspace_root() -> PathBuf {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    package
        .ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        })
        .unwrap_or(package)
        .to_path_buf()
}

/// Why a result file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub path: PathBuf,
    pub problem: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

/// Parses one file's text; a different schema version or a malformed record is an error.
pub fn parse(text: &str) -> Result<Record, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match value.get("schema").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA) => {}
        Some(v) => return Err(format!("schema {v}, this reader knows {SCHEMA}")),
        None => return Err("no schema field".to_string()),
    }
    let file: ResultFile = serde_json::from_value(value).map_err(|e| e.to_string())?;
    Ok(file.record)
}

/// Every `*.json` under `dir` (recursively, in path order): the records, and an error per file
/// that is not one. A missing directory holds no records.
pub fn read_all(dir: &Path) -> (Vec<Record>, Vec<ReadError>) {
    let mut paths = Vec::new();
    collect_json(dir, &mut paths);
    paths.sort();
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let read = std::fs::read_to_string(&path).map_err(|e| e.to_string());
        match read.and_then(|t| parse(&t)) {
            Ok(r) => records.push(r),
            Err(problem) => errors.push(ReadError { path, problem }),
        }
    }
    (records, errors)
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_json(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

impl FaultsResult {
    /// No invariant broke (a skipped layer passes; the report says it was skipped).
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// `265 cases, 0 invariant failure(s)` or `skipped: <reason>`.
    pub fn describe(&self) -> String {
        match &self.skipped {
            Some(reason) => format!("skipped: {reason}"),
            None => format!(
                "{} cases, {} invariant failure(s)",
                self.cases,
                self.failures.len()
            ),
        }
    }
}

impl StressResult {
    /// No violation in the run, and its twin was caught.
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.twin.as_ref().is_some_and(|t| t.caught)
    }

    /// `seed 7, 6 workers, 4987 operations in 22.3 s, 0 violation(s); twin nonce-any-pid caught (P1
    /// after 0.01 s)`.
    pub fn describe(&self) -> String {
        let twin = match &self.twin {
            None => "no twin".to_string(),
            Some(t) if t.caught => format!(
                "twin {} caught ({} after {:.2} s)",
                t.mutant,
                t.property.as_deref().unwrap_or("?"),
                t.seconds.unwrap_or(0.0)
            ),
            Some(t) => format!("twin {} MISSED", t.mutant),
        };
        format!(
            "seed {}, {} workers, {} operations in {:.1} s, {} violation(s); {twin}",
            self.seed,
            self.workers,
            self.operations,
            self.seconds,
            self.violations.len()
        )
    }
}

/// The property ids (`P1`…`P16`, as words) named in `text`, in order of appearance.
pub fn property_ids(text: &str) -> Vec<u32> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    for (i, c) in chars.iter().enumerate() {
        if *c != 'P' || (i > 0 && word(chars[i - 1])) {
            continue;
        }
        let digits: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let after = chars.get(i + 1 + digits.len());
        if let (Ok(n), false) = (digits.parse::<u32>(), after.is_some_and(|c| word(*c))) {
            if (1..=16).contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
