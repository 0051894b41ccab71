use super::*;
use crate::plan::{steps, Step};
use crate::run::Exit;
use lockcore_results::{Coverage, MatrixCell, MatrixSweep, SweepRow, SweptPair};

fn step(name: &str) -> Step {
    let o = crate::options::Options { quick: true, ..crate::options::Options::default() };
    steps(&o).unwrap().into_iter().find(|s| s.name == name).unwrap()
}

/// A finished step whose JUnit file has one passing test, or one failing with `output`.
fn outcome(dir: &Path, name: &str, failing: Option<&str>) -> Outcome {
    let junit = dir.join(format!("{name}.junit.xml"));
    let case = match failing {
        None => r#"<testcase name="t" time="0.1"/>"#.to_string(),
        Some(out) => {
            format!(r#"<testcase name="m2_reclaim" time="0.1"><failure message="failed">{out}</failure></testcase>"#)
        }
    };
    std::fs::write(
        &junit,
        format!(r#"<testsuites><testsuite name="loom-tests::loom_x">{case}</testsuite></testsuites>"#),
    )
    .unwrap();
    let exit = if failing.is_some() { Exit::Code(100) } else { Exit::Code(0) };
    Outcome { step: step(name), exit, seconds: 1.0, log: dir.join(format!("{name}.log")), junit: Some(junit) }
}

fn twin(layer: &str, id: &str, caught: bool) -> Record {
    Record::Test(TestResult {
        layer: layer.into(),
        test: format!("mutant_{}", id.replace('-', "_")),
        mutant: Some(id.into()),
        verdict: if caught { Verdict::Violated } else { Verdict::Passed },
        property: caught.then(|| lockcore::Mutant::ALL.iter().find(|m| m.id() == id).unwrap().property().to_string()),
        iterations: 10,
        seconds: 0.1,
        trace: vec!["#1 p1/t1 create s.lock -> ok".into()],
        reason: None,
        message: None,
    })
}

/// Result files of a clean run: every twin caught, coverage complete, every matrix pair covered.
fn clean_results(dir: &Path, missing: Option<&str>) {
    for m in lockcore::Mutant::ALL {
        twin("loom", m.id(), Some(m.id()) != missing).write_into(dir).unwrap();
    }
    let counts = [("acquire".to_string(), 3), ("dead-pid".to_string(), 1)].into_iter().collect();
    Record::Coverage(Coverage { layer: "proptest".into(), counts }).write_into(dir).unwrap();
    for (i, a) in OPERATIONS.iter().enumerate() {
        for b in &OPERATIONS[i..] {
            let cell = MatrixCell {
                layer: "loom".into(),
                pair: [a.to_string(), b.to_string()],
                model: "matrix".into(),
                executions: 5,
                bound: Some(2),
            };
            Record::MatrixCell(cell).write_into(dir).unwrap();
        }
    }
    let rows = lockcore::Mutant::ALL
        .iter()
        .enumerate()
        .map(|(i, m)| SweepRow {
            mutant: m.id().into(),
            failing: (i < 3)
                .then(|| SweptPair { pair: ["acquire".into(), "release".into()], property: Some("P1".into()) })
                .into_iter()
                .collect(),
        })
        .collect();
    let sweep = MatrixSweep { layer: "loom".into(), bound: Some(1), floor: 3, seconds: 4.0, rows };
    Record::MatrixSweep(sweep).write_into(dir).unwrap();
}

fn run_gate(dir: &Path, outcomes: &[Outcome]) -> Report {
    let ctx = Context { mode: "quick".into(), ..Context::default() };
    judge(outcomes, &dir.join("results"), dir, &ctx)
}

#[test]
fn a_clean_run_passes_with_every_mutant_caught() {
    let dir = tempfile::tempdir().unwrap();
    clean_results(&dir.path().join("results"), None);
    let outcomes: Vec<Outcome> =
        ["loom", "shuttle", "proptest", "mutants-loom"].iter().map(|n| outcome(dir.path(), n, None)).collect();
    let r = run_gate(dir.path(), &outcomes);
    assert!(r.ok, "{:#?}", r.failures);
    assert!(r.mutants.iter().all(|m| m.caught && m.reproduce.as_deref().is_some_and(|c| c.contains("mutant_"))));
    assert!(r.matrix.iter().all(|p| !p.cells.is_empty()));
    assert!(r.properties.iter().any(|p| p.id == "P1" && p.checked_by.contains(&"loom".to_string())));
    let md = crate::report::markdown(&r);
    let sweep_line = format!("finds **3 of {}** catalogue bugs", lockcore::Mutant::ALL.len());
    assert!(md.contains(&sweep_line), "{md}");
}

#[test]
fn a_loom_twin_run_without_the_matrix_sweep_result_fails_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    clean_results(&results, None);
    std::fs::remove_file(results.join("matrix-sweep/loom.json")).unwrap();
    let outcomes: Vec<Outcome> =
        ["loom", "shuttle", "proptest", "mutants-loom"].iter().map(|n| outcome(dir.path(), n, None)).collect();
    let r = run_gate(dir.path(), &outcomes);
    assert!(!r.ok);
    assert!(r.failures.iter().any(|f| f.what.contains("mutant_matrix_sweep wrote no result")), "{:#?}", r.failures);
}

#[test]
fn a_missed_mutant_an_empty_cell_and_a_failing_test_each_fail_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    clean_results(&results, Some("naive-reclaim"));
    std::fs::remove_file(results.join("matrix/loom-release-refresh.json")).unwrap();
    let outcomes =
        vec![outcome(dir.path(), "loom", Some("P3 violated: #4 p2/t1 unlink")), outcome(dir.path(), "shuttle", None)];
    let r = run_gate(dir.path(), &outcomes);
    assert!(!r.ok);
    let what: Vec<&str> = r.failures.iter().map(|f| f.what.as_str()).collect();
    assert!(what.iter().any(|w| w.contains("naive-reclaim not caught")), "{what:?}");
    assert!(what.iter().any(|w| w.contains("release ∥ refresh")), "{what:?}");
    let failed = r.failures.iter().find(|f| f.what.contains("m2_reclaim")).unwrap();
    assert_eq!(failed.property.as_deref(), Some("P3"));
    assert!(failed.reproduce.as_deref().unwrap().contains("test(=m2_reclaim)"));
}

#[test]
fn a_test_step_with_no_tests_and_a_bad_result_file_fail() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    std::fs::write(results.join("stress.json"), r#"{"schema":1,"layer":"stress"}"#).unwrap();
    let mut o = outcome(dir.path(), "test", None);
    std::fs::write(o.junit.as_ref().unwrap(), "<testsuites/>").unwrap();
    o.exit = Exit::Code(0);
    let r = run_gate(dir.path(), &[o]);
    let what: Vec<&str> = r.failures.iter().map(|f| f.what.as_str()).collect();
    assert!(what.iter().any(|w| w.contains("no tests ran")), "{what:?}");
    assert!(what.iter().any(|w| w.contains("stress.json") && w.contains("schema 1")), "{what:?}");
}

#[test]
fn properties_are_found_as_words() {
    assert_eq!(property_ids("P1, (P16) P17 xP2 P3a P12."), vec![1, 16, 12]);
    assert_eq!(first_property("thread panicked: P11 violated"), Some("P11".into()));
}

/// A `--mutants` run's last pass: exit 2 (missed mutants) with its lists under `dir/out`.
fn cargo_mutants_outcome(dir: &Path, missed: &str) -> Outcome {
    let o = crate::options::Options { quick: true, mutants: true, ..crate::options::Options::default() };
    let step = steps(&o).unwrap().into_iter().find(|s| s.name == "cargo-mutants-shuttle").unwrap();
    let Kind::CargoMutants { out, retest: true } = &step.kind else { panic!("{:?}", step.kind) };
    let lists = dir.join(out).join("mutants.out");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(lists.join("outcomes.json"), "{}").unwrap();
    std::fs::write(lists.join("previously_caught.txt"), "a\nb\n").unwrap();
    std::fs::write(lists.join("missed.txt"), missed).unwrap();
    Outcome { step, exit: Exit::Code(2), seconds: 1.0, log: dir.join("cm.log"), junit: None }
}

#[test]
fn a_surviving_mutant_fails_the_gate_unless_equivalent_txt_explains_it() {
    let dir = tempfile::tempdir().unwrap();
    clean_results(&dir.path().join("results"), None);
    let mut outcomes: Vec<Outcome> =
        ["loom", "shuttle", "proptest", "mutants-loom"].iter().map(|n| outcome(dir.path(), n, None)).collect();
    let listed = "lockcore/src/os.rs:93:63: replace | with ^ in open";
    let new = "lockcore/src/os.rs:7:1: replace f -> bool with true";
    outcomes.push(cargo_mutants_outcome(dir.path(), &format!("{listed}\n{new}\n")));
    std::fs::create_dir_all(dir.path().join("ci/mutants")).unwrap();
    let equivalent = "lockcore/src/os.rs:90:63: replace | with ^ in open — disjoint bits\n";
    std::fs::write(dir.path().join("ci/mutants/equivalent.txt"), equivalent).unwrap();

    let r = run_gate(dir.path(), &outcomes);
    assert!(!r.ok);
    assert_eq!(r.failures.len(), 1, "{:#?}", r.failures);
    assert!(r.failures[0].what.contains(new), "{:#?}", r.failures);
    assert!(r.failures[0].reproduce.as_deref().is_some_and(|c| c.contains("--re '^lockcore/src/os\\.rs:7:1")));
    let c = r.cargo_mutants.as_ref().unwrap();
    assert_eq!((c.caught, c.missed, c.unexplained.len()), (2, 2, 1));
    assert!(r.layers.iter().all(|l| l.ok), "exit 2 of cargo-mutants is not a failed step");

    outcomes.pop();
    outcomes.push(cargo_mutants_outcome(dir.path(), &format!("{listed}\n")));
    let r = run_gate(dir.path(), &outcomes);
    assert!(r.ok, "{:#?}", r.failures);
    assert!(crate::report::markdown(&r).contains("missed, equivalent (listed)"));
}

#[test]
fn a_mutants_only_run_is_judged_on_its_mutants_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("results")).unwrap();
    std::fs::create_dir_all(dir.path().join("ci/mutants")).unwrap();
    let listed = "lockcore/src/os.rs:93:63: replace | with ^ in open";
    std::fs::write(dir.path().join("ci/mutants/equivalent.txt"), format!("{listed} — disjoint bits\n")).unwrap();
    let outcomes = vec![cargo_mutants_outcome(dir.path(), &format!("{listed}\n"))];
    let ctx = Context { mode: "mutants-only".into(), mutants_only: true, ..Context::default() };
    let r = judge(&outcomes, &dir.path().join("results"), dir.path(), &ctx);
    assert!(r.ok, "no twins, coverage or matrix are asked of it: {:#?}", r.failures);
    assert!(crate::report::summary(&r).contains("cargo-mutants: 2 caught, 1 missed (0 not explained)"));

    let outcomes = vec![cargo_mutants_outcome(dir.path(), "lockcore/src/x.rs:1:1: replace f with ()\n")];
    let r = judge(&outcomes, &dir.path().join("results"), dir.path(), &ctx);
    assert!(!r.ok && r.failures.len() == 1, "{:#?}", r.failures);

    let o = crate::options::Options { mutants_only: true, ..crate::options::Options::default() };
    let names: Vec<&str> = steps(&o).unwrap().iter().map(|s| s.name).collect();
    assert_eq!(names, ["install-cargo-mutants", "cargo-mutants", "cargo-mutants-loom", "cargo-mutants-shuttle"]);
}
