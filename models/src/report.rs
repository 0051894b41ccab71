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
