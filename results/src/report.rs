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
    /// `previously_caught.txt`, so caught is both files and missed is the last run's. `None` when no
    /// run wrote anything (an error: the step's log says why).
    pub fn read(out: &Path) -> Option<CargoMutants> {
        let dir = out.join("mutants.out");
        if !dir.join("outcomes.json").is_file() {
            return None;
        }
        let missed = Self::lines(&dir, "missed.txt");
        let timeout = Self::lines(&dir, "timeout.txt");
        let caught = Self::lines(&dir, "caught.txt").len()
            + Self::lines(&dir, "previously_caught.txt").len();
        Some(CargoMutants {
            caught: caught as u64,
            missed: missed.len() as u64,
            unviable: Self::lines(&dir, "unviable.txt").len() as u64,
            timeout: timeout.len() as u64,
            missed_mutants: missed,
            timeout_mutants: timeout,
        })
    }
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
    }
}
