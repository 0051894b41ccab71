//! The report: `target/gate/report.json` (types in `lockcore_results::report`) and `report.md`.

pub use lockcore_results::report::*;
use lockcore_results::OPERATIONS;
use std::fmt::Write as _;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The lines printed at the end of the run.
pub fn summary(r: &Report) -> String {
    let caught = r.mutants.iter().filter(|m| m.caught).count();
    let mut s = format!(
        "gate: {}{} — {} of {} steps passed, {caught} of {} catalogue mutants caught, {}\n",
        if r.ok { "PASS" } else { "FAIL" },
        if r.partial { " (partial run: not a merge verdict)" } else { "" },
        r.layers.iter().filter(|l| l.ok).count(),
        r.layers.len(),
        r.mutants.len(),
        crate::dur(r.seconds)
    );
    for f in &r.failures {
        let _ = writeln!(s, "  - {}{}", f.what, f.property.as_ref().map(|p| format!(" [{p}]")).unwrap_or_default());
    }
    s
}

/// `report.md`.
pub fn markdown(r: &Report) -> String {
    let mut md = format!("# Gate report — {}\n\n", if r.ok { "PASS" } else { "FAIL" });
    let _ = writeln!(
        md,
        "mode `{}`, commit `{}`, {}{}\n",
        r.mode,
        r.commit.as_deref().unwrap_or("?"),
        crate::dur(r.seconds),
        if r.partial { ", **partial run: not a merge verdict**" } else { "" }
    );
    if !r.failures.is_empty() {
        md.push_str("## Failures\n\n");
        for f in &r.failures {
            let _ =
                writeln!(md, "- **{}**{}", f.what, f.property.as_ref().map(|p| format!(" — {p}")).unwrap_or_default());
            if let Some(c) = &f.reproduce {
                let _ = writeln!(md, "  - replay: `{c}`");
            }
            if let Some(l) = &f.log {
                let _ = writeln!(md, "  - log: `{l}`");
            }
        }
        md.push('\n');
    }
    steps_md(r, &mut md);
    mutants_md(r, &mut md);
    matrix_md(r, &mut md);
    md.push_str("## Properties\n\n| property | checked by | caught mutants |\n| --- | --- | --- |\n");
    for p in &r.properties {
        let _ = writeln!(md, "| {} | {} | {} |", p.id, p.checked_by.join(", "), p.caught_mutants.join(", "));
    }
    let coverage: Vec<String> = r.coverage.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        md,
        "\n## Coverage (proptest)\n\n{}\n",
        if coverage.is_empty() { "none recorded".to_string() } else { coverage.join(", ") }
    );
    if let Some(c) = &r.cargo_mutants {
        let _ = writeln!(
            md,
            "## cargo-mutants\n\n{} caught, {} missed, {} unviable, {} timeout\n",
            c.caught, c.missed, c.unviable, c.timeout
        );
        for m in &c.missed_mutants {
            let _ = writeln!(md, "- missed: `{m}`");
        }
    }
    traces_md(r, &mut md);
    md
}

fn steps_md(r: &Report, md: &mut String) {
    md.push_str("## Steps\n\n| step | result | time | tests | summary |\n| --- | --- | --- | --- | --- |\n");
    for l in &r.layers {
        let result = if l.ok { "ok".to_string() } else { format!("FAILED: {}", l.error.as_deref().unwrap_or("")) };
        let tests = l.tests.map(|t| format!("{t} ({} failed)", l.failed)).unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {tests} | {} |",
            l.name,
            cell(&result),
            crate::dur(l.seconds),
            cell(l.summary.as_deref().unwrap_or(""))
        );
    }
    for l in r.layers.iter().filter(|l| !l.binaries.is_empty()) {
        let _ = writeln!(
            md,
            "\n### {}\n\n`{}`\n\n| binary | passed | failed | ignored | time |\n| --- | --- | --- | --- | --- |",
            l.name, l.command
        );
        for b in &l.binaries {
            let _ = writeln!(md, "| {} | {} | {} | {} | {:.1}s |", b.name, b.passed, b.failed, b.ignored, b.seconds);
        }
    }
    md.push('\n');
}

fn mutants_md(r: &Report, md: &mut String) {
    md.push_str(
        "## Mutants (DESIGN §6)\n\n| mutant | expects | loom | shuttle | proptest |\n| --- | --- | --- | --- | --- |\n",
    );
    for m in &r.mutants {
        let cells: Vec<String> = ["loom", "shuttle", "proptest"]
            .iter()
            .map(|layer| {
                let found = r.mutant_results.iter().find(|t| t.layer == *layer && t.mutant.as_deref() == Some(&m.id));
                match found {
                    Some(t) if t.caught() => format!(
                        "caught {}, {:.2} s, {} it",
                        t.property.as_deref().unwrap_or("?"),
                        t.seconds,
                        t.iterations
                    ),
                    Some(_) => "missed".to_string(),
                    None => "-".to_string(),
                }
            })
            .collect();
        let _ = writeln!(md, "| {} | {} | {} |", m.id, m.expected_property, cells.join(" | "));
    }
    md.push('\n');
}

fn matrix_md(r: &Report, md: &mut String) {
    md.push_str("## Operation matrix (loom L, shuttle S)\n\n|   |");
    for op in OPERATIONS {
        let _ = write!(md, " {op} |");
    }
    md.push_str("\n| --- |");
    md.push_str(&" --- |".repeat(OPERATIONS.len()));
    md.push('\n');
    for a in OPERATIONS {
        let _ = write!(md, "| {a} |");
        for b in OPERATIONS {
            let p = r.matrix.iter().find(|p| (p.pair[0] == a && p.pair[1] == b) || (p.pair[0] == b && p.pair[1] == a));
            let mut tag = String::new();
            for c in p.map(|p| p.cells.as_slice()).unwrap_or_default() {
                let letter = if c.layer == "loom" { 'L' } else { 'S' };
                if !tag.contains(letter) {
                    tag.push(letter);
                }
            }
            let _ = write!(md, " {} |", if tag.is_empty() { "**empty**".to_string() } else { tag });
        }
        md.push('\n');
    }
    md.push('\n');
}

fn traces_md(r: &Report, md: &mut String) {
    md.push_str("## Counterexamples\n");
    for m in r.mutants.iter().filter(|m| m.caught) {
        let _ = writeln!(
            md,
            "\n### {} — {} ({})\n",
            m.id,
            m.property.as_deref().unwrap_or("?"),
            m.layer.as_deref().unwrap_or("?")
        );
        if let Some(c) = &m.reproduce {
            let _ = writeln!(md, "replay: `{c}`\n");
        }
        let _ = writeln!(md, "```\n{}\n```", m.trace.join("\n"));
    }
    for f in r.failures.iter().filter(|f| f.trace.is_some()) {
        let _ = writeln!(md, "\n### {}\n\n```\n{}\n```", f.what, f.trace.as_deref().unwrap_or(""));
    }
}
