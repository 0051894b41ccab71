//! Which layer checks which property (P1…P16), by a documented heuristic:
//!
//! 1. *Evidence*: a layer that caught a catalogue mutant with property `Pn` checks `Pn`.
//! 2. *Mentions*: a layer's test sources that name `Pn` (in a comment, a test name or an
//!    assertion message) are taken to check it. The sources per layer:
//!    - `loom`: `loom-tests/{src,tests}/**/*.rs` files whose name contains `loom` or whose text
//!      has `feature = "loom"`;
//!    - `shuttle`: the same directories, files whose name contains `shuttle` or whose text has
//!      `feature = "shuttle"` (a file with neither counts for both: shared scenarios);
//!    - `proptest`: `proptests/{src,tests}/**/*.rs`;
//!    - `real-processes`: `lockcore/tests/real_processes.rs` and `lockcore/tests/cli.rs`;
//!    - `faults`: `lockcore/tests/faults.rs`;
//!    - `stress`: `stress/{src,tests}/**/*.rs`;
//!    - `test`: the other `lockcore/tests/*.rs` and `models/tests/*.rs`.
//!
//! Only layers whose gate step ran and passed are listed in `checked_by`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Number of properties in DESIGN §5.
pub const PROPERTY_COUNT: u32 = 16;

/// The property ids `P1`…`P16` mentioned in `text`: `P` not preceded by a letter, digit or `_`,
/// then a number 1–16 not followed by a letter, digit or `_`.
pub fn mentioned(text: &str) -> BTreeSet<u32> {
    mentioned_in_order(text).into_iter().collect()
}

/// Like [`mentioned`], every occurrence in order of appearance.
pub fn mentioned_in_order(text: &str) -> Vec<u32> {
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'P' && (i == 0 || !word(bytes[i - 1])) {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j].is_ascii_digit() && j - i <= 2 {
                j += 1;
            }
            let digits = &text[i + 1..j];
            let boundary = j >= bytes.len() || !word(bytes[j]);
            if !digits.is_empty() && boundary {
                if let Ok(n) = digits.parse::<u32>() {
                    if (1..=PROPERTY_COUNT).contains(&n) {
                        out.push(n);
                    }
                }
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// `.rs` files under `dir`, recursively, sorted; a missing directory gives none.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Layer → properties mentioned in its test sources (heuristic 2 above).
pub fn scan_sources(root: &Path) -> BTreeMap<String, BTreeSet<u32>> {
    let mut map: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    let mut add = |layer: &str, ids: &BTreeSet<u32>| {
        map.entry(layer.to_string())
            .or_default()
            .extend(ids.iter().copied());
    };
    for sub in ["src", "tests"] {
        for f in rust_files(&root.join("loom-tests").join(sub)) {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let ids = mentioned(&text);
            let path = f.to_string_lossy().to_lowercase();
            let name = path.rsplit('/').next().unwrap_or("");
            let is_loom = name.contains("loom") || text.contains("feature = \"loom\"");
            let is_shuttle = name.contains("shuttle") || text.contains("feature = \"shuttle\"");
            if is_loom || !is_shuttle {
                add("loom", &ids);
            }
            if is_shuttle || !is_loom {
                add("shuttle", &ids);
            }
        }
        for f in rust_files(&root.join("proptests").join(sub)) {
            if let Ok(text) = std::fs::read_to_string(&f) {
                add("proptest", &mentioned(&text));
            }
        }
    }
    for f in rust_files(&root.join("lockcore").join("tests")) {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let layer = match stem {
            "real_processes" | "cli" => "real-processes",
            "faults" => "faults",
            _ => "test",
        };
        add(layer, &mentioned(&text));
    }
    for sub in ["src", "tests"] {
        for f in rust_files(&root.join("stress").join(sub)) {
            if let Ok(text) = std::fs::read_to_string(&f) {
                add("stress", &mentioned(&text));
            }
        }
    }
    for f in rust_files(&root.join("models").join("tests")) {
        if let Ok(text) = std::fs::read_to_string(&f) {
            add("test", &mentioned(&text));
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_property_ids_on_word_boundaries() {
        let ids =
            mentioned("// P1 exclusion, (P3) and P12; P10-P11: fine. P0 P17 MP3 P4x _P5 P6_ P16");
        assert_eq!(ids, [1, 3, 10, 11, 12, 16].into_iter().collect());
        assert!(mentioned("").is_empty());
        assert_eq!(mentioned("P9"), [9].into_iter().collect());
        assert_eq!(mentioned("\"P2\""), [2].into_iter().collect());
        assert!(mentioned("P123").is_empty());
        assert!(mentioned("P").is_empty());
    }

    #[test]
    fn scan_of_a_missing_tree_is_empty() {
        let map = scan_sources(Path::new("/nonexistent/lockcore-gate-test"));
        assert!(map.is_empty());
    }
}
