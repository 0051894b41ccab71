//! Machine-readable result lines that the layers print and the gate collects.
//!
//! A mutant twin prints exactly one line starting with [`MUTANT_PREFIX`] followed by a JSON
//! object; the proptest coverage test prints one line starting with [`COVERAGE_PREFIX`].

use serde::Serialize;

/// Prefix of a mutant result line.
pub const MUTANT_PREFIX: &str = "LOCKCORE-MUTANT ";
/// Prefix of a coverage line.
pub const COVERAGE_PREFIX: &str = "LOCKCORE-COVERAGE ";

/// What a layer found for one catalogue mutant.
#[derive(Clone, Debug, Serialize)]
pub struct MutantResult {
    /// Catalogue id (`rotate-before-cleanup`, …).
    pub id: String,
    /// `loom`, `shuttle` or `proptest`.
    pub layer: String,
    /// The test that ran it.
    pub test: String,
    /// Whether the layer found a violation.
    pub caught: bool,
    /// The property violated (P1…P12), if caught.
    pub property: Option<String>,
    /// Seconds until the first counterexample (or the whole run, if not caught).
    pub seconds: f64,
    /// Executions / cases / schedules explored until then.
    pub iterations: u64,
    /// The counterexample's trace, numbered steps.
    pub trace: String,
}

impl MutantResult {
    /// Prints the result line (and a human-readable summary above it) to stdout.
    pub fn emit(&self) {
        println!(
            "mutant {} ({}): {} {} after {} iterations, {:.3} s\n{}",
            self.id,
            self.layer,
            if self.caught { "CAUGHT" } else { "MISSED" },
            self.property.as_deref().unwrap_or("-"),
            self.iterations,
            self.seconds,
            self.trace
        );
        match serde_json::to_string(self) {
            Ok(json) => println!("{MUTANT_PREFIX}{json}"),
            Err(e) => println!("{MUTANT_PREFIX}{{\"error\": \"{e}\"}}"),
        }
    }
}

/// Prints a coverage line: transition or reason name → count.
pub fn emit_coverage(counts: &std::collections::BTreeMap<String, u64>) {
    match serde_json::to_string(counts) {
        Ok(json) => println!("{COVERAGE_PREFIX}{json}"),
        Err(e) => println!("{COVERAGE_PREFIX}{{\"error\": \"{e}\"}}"),
    }
}

/// The public operations of a lock manager that the operation × operation matrix runs against
/// each other (issue: every pair concurrently in at least one loom or shuttle model).
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

/// Environment variable naming the directory layers write result files into.
pub const RESULTS_DIR_VAR: &str = "LOCKCORE_RESULTS_DIR";

/// `$LOCKCORE_RESULTS_DIR`, a relative one taken from the workspace root (where the command was
/// typed) rather than from a test's working directory (its package).
// Reads the workspace manifest to find the root: test infrastructure, not the simulated fs.
#[allow(clippy::disallowed_methods)]
pub fn results_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os(RESULTS_DIR_VAR)?;
    let package = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = package
        .ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        })
        .unwrap_or(package);
    Some(root.join(dir))
}

/// One cell of the operation matrix: a pair of operations run concurrently by one layer's model,
/// explored without a violation. Written as `<results>/matrix/<layer>-<a>-<b>.json`.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct MatrixCell {
    /// Schema version of this file (1).
    pub schema: u32,
    /// `loom` or `shuttle`.
    pub layer: String,
    /// The two operations (names from [`OPERATIONS`]), in that list's order.
    pub pair: [String; 2],
    /// The model that ran them (`matrix`, or a named scenario such as `m1`).
    pub model: String,
    /// Executions (loom) or schedules (shuttle) explored.
    pub executions: u64,
    /// loom's preemption bound, if any.
    pub bound: Option<usize>,
}

impl MatrixCell {
    /// Writes the cell under `$LOCKCORE_RESULTS_DIR/matrix/` when that variable is set; a write
    /// failure is reported on stderr (the gate then finds the cell empty and says so).
    // A result file of the test run, not a lock file: it is not the simulated file system's.
    #[allow(clippy::disallowed_methods)]
    pub fn write(&self) {
        let Some(dir) = results_dir() else {
            return;
        };
        let dir = dir.join("matrix");
        let file = dir.join(format!(
            "{}-{}-{}.json",
            self.layer, self.pair[0], self.pair[1]
        ));
        let written = serde_json::to_vec_pretty(self)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                std::fs::create_dir_all(&dir)?;
                std::fs::write(&file, bytes)
            });
        if let Err(e) = written {
            eprintln!("matrix: cannot write {}: {e}", file.display());
        }
    }
}
