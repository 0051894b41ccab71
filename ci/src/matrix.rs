//! The operation × operation matrix (issue 13): which loom or shuttle model ran each pair of public
//! operations concurrently, read from the cells the layers write
//! (`<gate dir>/results/matrix/<layer>-<a>-<b>.json`, type `models::report::MatrixCell`).
//! The gate prints the matrix and fails on a pair that no model ran.

use models::report::{MatrixCell, OPERATIONS};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// One pair and the models that ran it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PairCoverage {
    /// The two operations, in `OPERATIONS` order.
    pub pair: [String; 2],
    /// `layer/model: N executions` (bound), one per cell found.
    pub by: Vec<String>,
}

/// Every unordered pair of `OPERATIONS`, an operation with itself included.
pub fn all_pairs() -> Vec<[String; 2]> {
    let mut out = Vec::new();
    for (i, a) in OPERATIONS.iter().enumerate() {
        for b in &OPERATIONS[i..] {
            out.push([a.to_string(), b.to_string()]);
        }
    }
    out
}

/// Reads every cell in `dir` (a missing directory is no cells); a cell that does not parse is an
/// error naming the file.
pub fn read_cells(dir: &Path) -> Result<Vec<MatrixCell>, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut cells = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let cell: MatrixCell = serde_json::from_str(&text)
            .map_err(|err| format!("{}: not a matrix cell: {err}", path.display()))?;
        if cell.schema != 1 {
            return Err(format!(
                "{}: schema {} (expected 1)",
                path.display(),
                cell.schema
            ));
        }
        cells.push(cell);
    }
    cells.sort_by(|a, b| (&a.pair, &a.layer).cmp(&(&b.pair, &b.layer)));
    Ok(cells)
}

/// The matrix: every pair with the cells that cover it (either order of the pair counts).
pub fn build(cells: &[MatrixCell]) -> Vec<PairCoverage> {
    all_pairs()
        .into_iter()
        .map(|pair| {
            let by = cells
                .iter()
                .filter(|c| c.pair == pair || (c.pair[0] == pair[1] && c.pair[1] == pair[0]))
                .map(|c| {
                    let bound = c.bound.map_or(String::new(), |b| format!(", bound {b}"));
                    format!("{}/{}: {}{bound}", c.layer, c.model, c.executions)
                })
                .collect();
            PairCoverage { pair, by }
        })
        .collect()
}

/// The pairs no model ran.
pub fn empty(matrix: &[PairCoverage]) -> Vec<String> {
    matrix
        .iter()
        .filter(|p| p.by.is_empty())
        .map(|p| format!("{} ∥ {}", p.pair[0], p.pair[1]))
        .collect()
}

/// The matrix as a markdown table: rows and columns are the operations, a cell lists its layers.
pub fn markdown(matrix: &[PairCoverage]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "| ∥ | {} |", OPERATIONS.join(" | "));
    let _ = writeln!(md, "| --- |{}", " --- |".repeat(OPERATIONS.len()));
    for a in OPERATIONS {
        let cells: Vec<String> = OPERATIONS
            .iter()
            .map(|b| {
                let cell = matrix.iter().find(|p| {
                    (p.pair[0] == a && p.pair[1] == *b) || (p.pair[0] == *b && p.pair[1] == a)
                });
                match cell {
                    Some(p) if p.by.is_empty() => "**EMPTY**".to_string(),
                    Some(p) => {
                        p.by.iter()
                            .map(|s| s.split('/').next().unwrap_or("").to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                    None => String::new(),
                }
            })
            .collect();
        let _ = writeln!(md, "| {a} | {} |", cells.join(" | "));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(layer: &str, a: &str, b: &str) -> MatrixCell {
        MatrixCell {
            schema: 1,
            layer: layer.into(),
            pair: [a.into(), b.into()],
            model: "matrix".into(),
            executions: 7,
            bound: Some(3),
        }
    }

    #[test]
    fn every_pair_is_listed_and_an_uncovered_one_is_empty() {
        assert_eq!(all_pairs().len(), 36);
        let m = build(&[
            cell("loom", "acquire", "release"),
            cell("shuttle", "release", "acquire"),
        ]);
        let p = m.iter().find(|p| p.pair == ["acquire", "release"]).unwrap();
        assert_eq!(
            p.by,
            vec!["loom/matrix: 7, bound 3", "shuttle/matrix: 7, bound 3"]
        );
        assert_eq!(empty(&m).len(), 35);
        assert!(markdown(&m).contains("**EMPTY**"));
    }

    #[test]
    fn a_bad_cell_is_an_error_naming_its_file() {
        let dir = std::env::temp_dir().join(format!("matrix-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("loom-x-y.json"), "{").unwrap();
        let err = read_cells(&dir).unwrap_err();
        assert!(err.contains("loom-x-y.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
