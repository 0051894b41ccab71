//! lockcore's sources are built twice: as the product package and as `lockcore-for-models` (the
//! same `src/` with the model checkers' features). Their normal dependencies must stay the same,
//! or one build breaks in a way the other does not show.

use std::collections::BTreeSet;
use std::path::Path;

/// The dependency lines of a manifest's `[dependencies]` table, without comments.
fn dependencies(manifest: &Path) -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let mut in_deps = false;
    let mut deps = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && !line.is_empty() && !line.starts_with('#') {
            deps.insert(line.to_string());
        }
    }
    deps
}

#[test]
fn the_model_checking_build_has_the_products_dependencies_plus_the_model_checkers() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let product = dependencies(&here.join("Cargo.toml"));
    let for_models = dependencies(&here.join("for-models/Cargo.toml"));
    let extra: BTreeSet<&String> = for_models.difference(&product).collect();
    let missing: BTreeSet<&String> = product.difference(&for_models).collect();
    assert!(missing.is_empty(), "lockcore-for-models lacks {missing:?}");
    assert!(
        extra
            .iter()
            .all(|d| d.starts_with("loom ") || d.starts_with("shuttle ")),
        "lockcore-for-models has dependencies the product lacks: {extra:?}"
    );
}
