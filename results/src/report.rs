//! The gate's report, `target/gate/report.json` (DESIGN §7): the same crate as the layers' result
//! files, so a dashboard or a later tool reads both through one set of types.

use crate::{FaultsResult, MatrixCell, StressResult, TestResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One test binary of a step (`<package>::<binary>`, nextest's naming), from its JUnit file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Binary {
    pub name: String,
    pub ok: bool,
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    pub seconds: f64,
}

/// cargo-mutants' counts: the union of the gate's runs into one output directory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CargoMutants {
    pub caught: u64,
    pub missed: u64,
    pub unviable: u64,
    pub timeout: u64,
    pub missed_mutants: Vec<String>,
    pub timeout_mutants: Vec<String>,
    /// Missed mutants that `ci/mutants/equivalent.txt` does not list (matched by file and
    /// description, whatever their line): a surviving mutant nobody has explained.
    #[serde(default)]
    pub unexplained: Vec<String>,
}

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The merge verdict.
    pub ok: bool,
    /// `quick` or `full`.
    pub mode: String,
    /// Steps were left out (`--only`/`--skip`, `--fail-fast`, Ctrl-C): not a merge verdict.
    pub partial: bool,
    pub commit: Option<String>,
    pub seconds: f64,
    pub budget: Budget,
    /// One entry per step.
    pub layers: Vec<LayerReport>,
    pub properties: Vec<PropertyReport>,
    /// One entry per catalogue mutant, in DESIGN §6 order.
    pub mutants: Vec<MutantReport>,
    /// Every twin's result file.
    pub mutant_results: Vec<TestResult>,
    /// The proptest coverage: transition or reason → count.
    pub coverage: BTreeMap<String, u64>,
    pub cargo_mutants: Option<CargoMutants>,
    /// The operation × operation matrix: every pair with the models that ran it.
    pub matrix: Vec<PairCoverage>,
    /// The catalogue bugs the matrix finds by itself (the loom twins' step writes it).
    #[serde(default)]
    pub matrix_sweep: Option<crate::MatrixSweep>,
    /// Why the gate failed, in order; empty when `ok`.
    pub failures: Vec<Failure>,
}

/// The budgets the run used.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub proptest_cases: u64,
    /// `None`: the shuttle tests' own default.
    pub shuttle_iterations: Option<u64>,
    pub step_timeout: u64,
}

/// One step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    pub name: String,
    pub ok: bool,
    pub seconds: f64,
    /// Tests run (passed + failed); `None` for steps that are not test runs.
    pub tests: Option<u64>,
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    pub command: String,
    pub log: String,
    pub error: Option<String>,
    pub binaries: Vec<Binary>,
    pub failed_tests: Vec<String>,
    /// The layer's own summary: cases, skips, seeds (faults, stress, namespaces).
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultsResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress: Option<StressResult>,
}

/// Which layers check a property.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PropertyReport {
    pub id: String,
    pub checked_by: Vec<String>,
    pub caught_mutants: Vec<String>,
}

/// One catalogue mutant across the layers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MutantReport {
    pub id: String,
    pub description: String,
    pub expected_property: String,
    pub caught: bool,
    /// The layer whose counterexample is shown (the shortest trace among the catching layers).
    pub layer: Option<String>,
    pub property: Option<String>,
    pub seconds: Option<f64>,
    pub iterations: Option<u64>,
    pub test: Option<String>,
    pub trace: Vec<String>,
    pub reproduce: Option<String>,
    /// Layer → `caught` / `missed`, for every layer that ran a twin of it.
    pub by_layer: BTreeMap<String, String>,
}

/// One pair of operations and the cells that cover it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PairCoverage {
    pub pair: [String; 2],
    pub cells: Vec<MatrixCell>,
}

/// One reason the gate failed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub what: String,
    pub property: Option<String>,
    pub trace: Option<String>,
    pub reproduce: Option<String>,
    pub log: Option<String>,
}

impl CargoMutants {
    fn lines(dir: &Path, file: &str) -> Vec<String> {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Reads cargo-mutants' `<out>/mutants.out`: `--iterate` moves what earlier runs caught into
    /// `previously_caught.txt`, so caught is both files and missed is the last run's. A retest pass
    /// only retests what was missed, so the gate carries the earlier passes' unviable and timeout
    /// lists into `<out>/carried/` first; they count too. `None` when no run wrote anything (an
    /// error: the step's log says why).
    pub fn read(out: &Path) -> Option<CargoMutants> {
        let dir = out.join("mutants.out");
        if !dir.join("outcomes.json").is_file() {
            return None;
        }
        let carried = out.join(CARRIED_DIR);
        let both = |file: &str| {
            let mut l = Self::lines(&carried, file);
            l.extend(Self::lines(&dir, file));
            l.sort();
            l.dedup();
            l
        };
        let missed = Self::lines(&dir, "missed.txt");
        let timeout = both("timeout.txt");
        let caught = Self::lines(&dir, "caught.txt").len()
            + Self::lines(&dir, "previously_caught.txt").len();
        Some(CargoMutants {
            caught: caught as u64,
            missed: missed.len() as u64,
            unviable: both("unviable.txt").len() as u64,
            timeout: timeout.len() as u64,
            missed_mutants: missed,
            timeout_mutants: timeout,
            unexplained: Vec::new(),
        })
    }

    /// Marks every missed mutant that `equivalent` (the text of `ci/mutants/equivalent.txt`)
    /// does not list as unexplained.
    pub fn explain(&mut self, equivalent: &str) {
        let listed: std::collections::BTreeSet<(String, String)> = equivalent
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| mutant_key(l.split(" — ").next().unwrap_or(l)))
            .collect();
        self.unexplained = self
            .missed_mutants
            .iter()
            .filter(|m| mutant_key(m).is_none_or(|k| !listed.contains(&k)))
            .cloned()
            .collect();
    }
}

/// Where the gate keeps the earlier cargo-mutants passes' unviable and timeout lists.
pub const CARRIED_DIR: &str = "carried";

/// `lockcore/src/os.rs:93:63: replace | with ^ in f` → (`lockcore/src/os.rs`, `replace | with ^ in
/// f`): a mutant's name without its line and column, which move with every edit above it.
pub fn mutant_key(name: &str) -> Option<(String, String)> {
    let mut parts = name.trim().splitn(4, ':');
    let (file, line, col, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (numeric(line) && numeric(col)).then(|| (file.to_string(), rest.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_from_the_outcome_lists() {
        let out = tempfile::tempdir().unwrap();
        assert_eq!(CargoMutants::read(out.path()), None);
        let dir = out.path().join("mutants.out");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("outcomes.json"), "{}").unwrap();
        std::fs::write(dir.join("caught.txt"), "a\nb\n").unwrap();
        std::fs::write(dir.join("previously_caught.txt"), "c\n").unwrap();
        std::fs::write(
            dir.join("missed.txt"),
            "lockcore/src/os.rs:1:1: replace x\n",
        )
        .unwrap();
        let s = CargoMutants::read(out.path()).unwrap();
        assert_eq!((s.caught, s.missed, s.unviable, s.timeout), (3, 1, 0, 0));
        assert_eq!(s.missed_mutants, vec!["lockcore/src/os.rs:1:1: replace x"]);

        let carried = out.path().join(CARRIED_DIR);
        std::fs::create_dir_all(&carried).unwrap();
        std::fs::write(carried.join("unviable.txt"), "u\nv\n").unwrap();
        std::fs::write(carried.join("timeout.txt"), "t\n").unwrap();
        std::fs::write(dir.join("unviable.txt"), "v\n").unwrap();
        let s = CargoMutants::read(out.path()).unwrap();
        assert_eq!(
            (s.unviable, s.timeout),
            (2, 1),
            "carried lists count, once each"
        );
    }

    #[test]
    fn a_missed_mutant_is_explained_by_its_file_and_description_at_any_line() {
        let mut c = CargoMutants {
            missed_mutants: vec![
                "lockcore/src/os.rs:95:63: replace | with ^ in open".to_string(),
                "lockcore/src/os.rs:95:63: replace | with & in open".to_string(),
                "lockcore/src/wait.rs:1:1: replace | with ^ in open".to_string(),
                "not a mutant name".to_string(),
            ],
            ..CargoMutants::default()
        };
        c.explain("# header\nlockcore/src/os.rs:93:63: replace | with ^ in open — disjoint bits\n");
        assert_eq!(c.unexplained, c.missed_mutants[1..].to_vec());
        assert_eq!(mutant_key("a:1:2: x: y"), Some(("a".into(), "x: y".into())));
        assert_eq!(mutant_key("a:b:2: x"), None);
    }
}
