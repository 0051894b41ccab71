//! The report: `target/gate/report.json` (types in `lockcore_results::report`) and `report.md`.

pub use lockcore_results::report::*;
use lockcore_results::OPERATIONS;
use std::fmt::Write as _;

/// `12.3s` or `4m05s`.
pub fn dur(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let s = secs.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The lines printed at the end of the run.
pub fn summary(r: &Report) -> String {
    let caught = r.mutants.iter().filter(|m| m.caught).count();
    let what = match &r.cargo_mutants {
        Some(c) if r.mode == "mutants-only" => format!(
            "cargo-mutants: {} caught, {} missed ({} not explained), {} unviable, {} timeout",
            c.caught,
            c.missed,
            c.unexplained.len(),
            c.unviable,
            c.timeout
        ),
        _ => format!("{caught} of {} catalogue mutants caught", r.mutants.len()),
    };
    let mut s = format!(
        "gate: {}{} — {} of {} steps passed, {what}, {}\n",
        if r.ok { "PASS" } else { "FAIL" },
        if r.partial { " (partial run: not a merge verdict)" } else { "" },
        r.layers.iter().filter(|l| l.ok).count(),
        r.layers.len(),
        dur(r.seconds)
    );
    for f in &r.failures {
        let _ = writeln!(s, "  - {}{}", f.what, f.property.as_ref().map(|p| format!(" [{p}]")).unwrap_or_default());
    }
    s
}

/// A markdown table.
fn table(head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let line = |cells: Vec<String>| format!("| {} |\n", cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
    let mut t = line(head.iter().map(|h| h.to_string()).collect()) + &line(vec!["---".into(); head.len()]);
    rows.into_iter().for_each(|r| t.push_str(&line(r)));
    t + "\n"
}

/// `report.md`.
pub fn markdown(r: &Report) -> String {
    let partial = if r.partial { ", **partial run: not a merge verdict**" } else { "" };
    let mut md = format!("# Gate report — {}\n\n", if r.ok { "PASS" } else { "FAIL" });
    let _ = writeln!(
        md,
        "mode `{}`, commit `{}`, {}{partial}\n",
        r.mode,
        r.commit.as_deref().unwrap_or("?"),
        dur(r.seconds)
    );
    if !r.failures.is_empty() {
        md.push_str("## Failures\n\n");
        for f in &r.failures {
            let _ =
                writeln!(md, "- **{}**{}", f.what, f.property.as_ref().map(|p| format!(" — {p}")).unwrap_or_default());
            for (what, v) in [("replay", &f.reproduce), ("log", &f.log)] {
                v.iter().for_each(|v| md.push_str(&format!("  - {what}: `{v}`\n")));
            }
        }
        md.push('\n');
    }
    steps_md(r, &mut md);
    md.push_str("## Mutants (DESIGN §6)\n\n");
    md.push_str(&table(
        &["mutant", "expects", "loom", "shuttle", "proptest"],
        r.mutants.iter().map(|m| mutant_row(r, m)),
    ));
    matrix_md(r, &mut md);
    md.push_str("## Properties\n\n");
    let props = r.properties.iter().map(|p| vec![p.id.clone(), p.checked_by.join(", "), p.caught_mutants.join(", ")]);
    md.push_str(&table(&["property", "checked by", "caught mutants"], props));
    let coverage: Vec<String> = r.coverage.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        md,
        "## Coverage (proptest)\n\n{}\n",
        if coverage.is_empty() { "none recorded".into() } else { coverage.join(", ") }
    );
    if let Some(c) = &r.cargo_mutants {
        let _ = writeln!(
            md,
            "## cargo-mutants\n\n{} caught, {} missed, {} unviable, {} timeout\n",
            c.caught, c.missed, c.unviable, c.timeout
        );
        let _ = writeln!(md, "{} of the missed are not in ci/mutants/equivalent.txt\n", c.unexplained.len());
        for m in &c.missed_mutants {
            let why = if c.unexplained.contains(m) { "unexplained" } else { "equivalent (listed)" };
            let _ = writeln!(md, "- missed, {why}: `{m}`");
        }
    }
    traces_md(r, &mut md);
    md
}

fn steps_md(r: &Report, md: &mut String) {
    md.push_str("## Steps\n\n");
    let rows = r.layers.iter().map(|l| {
        let result = if l.ok { "ok".to_string() } else { format!("FAILED: {}", l.error.as_deref().unwrap_or("")) };
        let tests = l.tests.map(|t| format!("{t} ({} failed)", l.failed)).unwrap_or_default();
        vec![l.name.clone(), result, dur(l.seconds), tests, l.summary.clone().unwrap_or_default()]
    });
    md.push_str(&table(&["step", "result", "time", "tests", "summary"], rows));
    for l in r.layers.iter().filter(|l| !l.binaries.is_empty()) {
        let _ = writeln!(md, "### {}\n\n`{}`\n", l.name, l.command);
        let rows = l.binaries.iter().map(|b| {
            let n = [b.passed, b.failed, b.ignored].map(|n| n.to_string());
            vec![b.name.clone(), n[0].clone(), n[1].clone(), n[2].clone(), format!("{:.1}s", b.seconds)]
        });
        md.push_str(&table(&["binary", "passed", "failed", "ignored", "time"], rows));
    }
}

/// One catalogue mutant × the twin layers: `caught P3, 0.04 s, 118 it`, `missed` or `-`.
fn mutant_row(r: &Report, m: &MutantReport) -> Vec<String> {
    let mut row = vec![m.id.clone(), m.expected_property.clone()];
    for layer in ["loom", "shuttle", "proptest"] {
        row.push(match r.mutant_results.iter().find(|t| t.layer == layer && t.mutant.as_deref() == Some(&m.id)) {
            Some(t) if t.caught() => {
                format!("caught {}, {:.2} s, {} it", t.property.as_deref().unwrap_or("?"), t.seconds, t.iterations)
            }
            Some(_) => "missed".to_string(),
            None => "-".to_string(),
        });
    }
    row
}

fn matrix_md(r: &Report, md: &mut String) {
    md.push_str("## Operation matrix (loom L, shuttle S)\n\n");
    let head: Vec<&str> = std::iter::once(" ").chain(OPERATIONS).collect();
    let rows = OPERATIONS.iter().map(|a| {
        let tags = OPERATIONS.iter().map(|b| {
            let p =
                r.matrix.iter().find(|p| (p.pair[0] == *a && p.pair[1] == *b) || (p.pair[0] == *b && p.pair[1] == *a));
            let layers: Vec<&str> = p.map(|p| p.cells.iter().map(|c| c.layer.as_str()).collect()).unwrap_or_default();
            let tag: String =
                [("loom", "L"), ("shuttle", "S")].iter().filter(|(l, _)| layers.contains(l)).map(|(_, t)| *t).collect();
            if tag.is_empty() {
                "**empty**".to_string()
            } else {
                tag
            }
        });
        std::iter::once(a.to_string()).chain(tags).collect()
    });
    md.push_str(&table(&head, rows));
    if let Some(sw) = &r.matrix_sweep {
        let found = sw.found();
        let bound = sw.bound.map(|b| format!(" at bound {b}")).unwrap_or_default();
        let _ = writeln!(
            md,
            "The matrix alone ({} layer{bound}, no scenario written for them) finds **{} of {}** catalogue bugs \
             (floor {}, {:.0} s):\n",
            sw.layer,
            found.len(),
            sw.rows.len(),
            sw.floor,
            sw.seconds
        );
        for row in &sw.rows {
            let pairs: Vec<String> = row
                .failing
                .iter()
                .map(|f| format!("{} ∥ {} ({})", f.pair[0], f.pair[1], f.property.as_deref().unwrap_or("no property")))
                .collect();
            let seen = if pairs.is_empty() { "not found".to_string() } else { pairs.join(", ") };
            let _ = writeln!(md, "- {}: {seen}", row.mutant);
        }
        md.push('\n');
    }
}

fn traces_md(r: &Report, md: &mut String) {
    md.push_str("## Counterexamples\n");
    for m in r.mutants.iter().filter(|m| m.caught) {
        let (p, l) = (m.property.as_deref().unwrap_or("?"), m.layer.as_deref().unwrap_or("?"));
        let _ = writeln!(md, "\n### {} — {p} ({l})\n", m.id);
        m.reproduce.iter().for_each(|c| md.push_str(&format!("replay: `{c}`\n\n")));
        let _ = writeln!(md, "```\n{}\n```", m.trace.join("\n"));
    }
    for f in r.failures.iter().filter(|f| f.trace.is_some()) {
        let _ = writeln!(md, "\n### {}\n\n```\n{}\n```", f.what, f.trace.as_deref().unwrap_or(""));
    }
}
