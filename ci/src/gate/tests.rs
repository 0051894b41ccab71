//! Tests of the gate's plan and verdict on synthetic runs.
use super::*;

fn opts(quick: bool) -> Options {
    Options {
        quick,
        ..Options::default()
    }
}

fn outcome(step: &Step, exit: i32, log: &str) -> StepOutcome {
    StepOutcome {
        step: step.clone(),
        exit: Exit::Code(exit),
        seconds: 1.0,
        log: format!("target/gate/logs/{}.log", step.name),
        log_text: log.to_string(),
        outcomes: None,
        faults: None,
        stress: None,
    }
}

fn line(id: &str, layer: &str, caught: bool) -> String {
    format!(
        "LOCKCORE-MUTANT {}",
        serde_json::json!({"id": id, "layer": layer, "test": format!("mutant_{}", id.replace('-', "_")),
            "caught": caught, "property": if caught { Some("P1") } else { None },
            "seconds": 0.5, "iterations": 3, "trace": if caught { "1. a: create\n2. b: create" } else { "" }})
    )
}

const OK1: &str = "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n";

fn ctx() -> Context {
    Context {
        catalogue: catalogue(),
        mode: "quick".into(),
        mentions: [("loom".to_string(), [1u32, 3].into_iter().collect())]
            .into_iter()
            .collect(),
        ..Context::default()
    }
}

fn passing_run() -> Vec<StepOutcome> {
    let steps = plan(&opts(true), true, "target/gate");
    let mut out = Vec::new();
    for s in &steps {
        let log = match &s.kind {
            Kind::Mutants { layer } if *layer == "loom" => {
                let mut log: Vec<String> = catalogue()
                    .iter()
                    .map(|c| line(&c.id, "loom", true))
                    .collect();
                log.push(OK1.replace("1 passed", "13 passed"));
                log.join("\n")
            }
            Kind::Mutants { layer } => {
                format!("{}\n{OK1}", line("naive-reclaim", layer, false))
            }
            Kind::Tests { layer } if *layer == "proptest" => {
                format!("LOCKCORE-COVERAGE {{\"acquire\": 4, \"dead-pid\": 1}}\n{OK1}")
            }
            Kind::Tests { .. } => OK1.to_string(),
            _ => String::new(),
        };
        out.push(outcome(s, 0, &log));
    }
    out
}

#[test]
fn plan_has_every_step_in_order() {
    let names: Vec<&str> = plan(&opts(false), true, "target/gate")
        .iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        names,
        [
            "fmt",
            "clippy",
            "clippy-loom",
            "clippy-shuttle",
            "test",
            "loom",
            "shuttle",
            "proptest",
            "faults",
            "stress",
            "real-processes",
            "namespaces",
            "mutants-loom",
            "mutants-shuttle",
            "mutants-proptest"
        ]
    );
    let with_cm = plan(
        &Options {
            mutants: true,
            ..opts(false)
        },
        false,
        "target/gate",
    );
    assert_eq!(with_cm.len(), 19);
    assert_eq!(with_cm[15].name, "install-cargo-mutants");
    assert!(with_cm[17]
        .command_line()
        .contains("--test-workspace=true --timeout 180 --no-shuffle --output target/gate/cargo-mutants/cargo-mutants-loom --features loom"));
}

#[test]
fn commands_are_exact() {
    let steps = plan(&opts(true), true, "target/gate");
    let by = |n: &str| steps.iter().find(|s| s.name == n).unwrap().command_line();
    assert_eq!(by("fmt"), "cargo fmt --all -- --check");
    assert_eq!(
        by("clippy-loom"),
        "cargo clippy --workspace --all-targets --features loom -- -D warnings"
    );
    assert_eq!(
        by("proptest"),
        "PROPTEST_CASES=256 cargo test --no-fail-fast --release -p proptests -- --skip mutant_ --nocapture"
    );
    assert_eq!(
        by("shuttle"),
        "LOCKCORE_SHUTTLE_ITERATIONS=100 LOCKCORE_RESULTS_DIR=target/gate/results cargo test --no-fail-fast --release --features shuttle -p loom-tests -- --skip mutant_"
    );
    assert_eq!(
        by("mutants-loom"),
        "cargo test --no-fail-fast --release --features loom -p loom-tests mutant_ -- --nocapture"
    );
    assert_eq!(
        by("faults"),
        "LOCKCORE_FAULTS=quick LOCKCORE_RESULTS_DIR=target/gate/results cargo test --no-fail-fast -p lockcore --test faults -- --nocapture"
    );
    assert_eq!(
        by("stress"),
        "LOCKCORE_STRESS=quick LOCKCORE_RESULTS_DIR=target/gate/results cargo test --no-fail-fast -p lockcore-stress --features mutants --test stress -- --nocapture"
    );
    assert_eq!(
        by("real-processes"),
        "cargo test --no-fail-fast -p lockcore --test real_processes --test cli"
    );
    assert_eq!(
        mutant_command("loom", "mutant_naive_reclaim", "naive-reclaim"),
        "cargo test --release --features loom -p loom-tests mutant_naive_reclaim -- --nocapture"
    );
    assert_eq!(
        mutant_command(
            "loom",
            "loom_reclaim::mutant_naive_reclaim",
            "naive-reclaim"
        ),
        "cargo test --release --features loom -p loom-tests mutant_naive_reclaim -- --nocapture"
    );
    assert_eq!(
        mutant_command("proptest", "", "empty-window"),
        "cargo test --release -p proptests mutant_empty_window -- --nocapture"
    );
    let full = plan(&opts(false), true, "target/gate");
    let p = full.iter().find(|s| s.name == "proptest").unwrap();
    assert!(p.command_line().starts_with("PROPTEST_CASES=8192 "));
    let s = full.iter().find(|s| s.name == "shuttle").unwrap();
    assert!(s.env.iter().all(|(k, _)| k != SHUTTLE_ITERATIONS));
    assert_eq!(
        p.replay("machine::lock_vs_model"),
        "PROPTEST_CASES=8192 cargo test --no-fail-fast --release -p proptests machine::lock_vs_model -- --exact --nocapture"
    );
    assert_eq!(shell_word("a b'c"), r"'a b'\''c'");
}

#[test]
fn a_complete_run_passes() {
    let r = analyse(&passing_run(), &ctx());
    assert!(r.ok, "{:#?}", r.failures);
    assert_eq!(r.mutants.len(), lockcore::Mutant::ALL.len());
    assert!(r.mutants.iter().all(|m| m.caught));
    let nr = r.mutants.iter().find(|m| m.id == "naive-reclaim").unwrap();
    assert_eq!(
        nr.by_layer.get("shuttle").map(String::as_str),
        Some("missed")
    );
    assert_eq!(nr.layer.as_deref(), Some("loom"));
    assert_eq!(r.coverage.get("acquire"), Some(&4));
    let p1 = &r.properties[0];
    assert_eq!(p1.id, "P1");
    assert_eq!(p1.checked_by, vec!["loom"]);
    assert_eq!(r.properties[2].checked_by, vec!["loom"]); // P3: mentioned by passing loom
    assert!(r.properties[4].checked_by.is_empty());
    assert_eq!(r.layers.len(), 15);
    assert_eq!(r.layers[12].tests, Some(13));
    assert!(r.cargo_mutants.is_none());
}

#[test]
fn missing_layer_missed_mutant_and_coverage_gap_fail() {
    let mut run = passing_run();
    // The real-process tests do not exist yet.
    let rp = run
        .iter_mut()
        .find(|o| o.step.name == "real-processes")
        .unwrap();
    rp.exit = Exit::Code(101);
    rp.log_text = "error: no test target named `real_processes` in `lockcore` package\n".into();
    // The loom twins find nothing for rotate-before-cleanup.
    let ml = run
        .iter_mut()
        .find(|o| o.step.name == "mutants-loom")
        .unwrap();
    ml.log_text = ml.log_text.replace(
        &line("rotate-before-cleanup", "loom", true),
        &line("rotate-before-cleanup", "loom", false),
    );
    // Coverage has a hole.
    let pt = run.iter_mut().find(|o| o.step.name == "proptest").unwrap();
    pt.log_text = pt.log_text.replace("\"dead-pid\": 1", "\"dead-pid\": 0");
    let r = analyse(&run, &ctx());
    assert!(!r.ok);
    let whats: Vec<&str> = r.failures.iter().map(|f| f.what.as_str()).collect();
    assert!(
        whats
            .iter()
            .any(|w| w.contains("layer real-processes: no tests found")),
        "{whats:#?}"
    );
    let m = r
        .failures
        .iter()
        .find(|f| {
            f.what
                .starts_with("mutant rotate-before-cleanup is caught by no layer")
        })
        .unwrap();
    assert_eq!(m.property.as_deref(), Some("P3"));
    assert!(m
        .reproduce
        .as_deref()
        .unwrap()
        .contains("cargo test --release --features loom -p loom-tests mutant_rotate_before_cleanup -- --nocapture"));
    assert!(whats
        .iter()
        .any(|w| w.contains("never exercised: dead-pid")));
    let layer = r
        .layers
        .iter()
        .find(|l| l.name == "real-processes")
        .unwrap();
    assert!(!layer.ok);
}

#[test]
fn a_failing_model_test_names_its_property_and_replay() {
    let mut run = passing_run();
    let lo = run.iter_mut().find(|o| o.step.name == "loom").unwrap();
    lo.exit = Exit::Code(101);
    lo.log_text = "running 1 test\ntest release_all::two ... FAILED\n\nfailures:\n\n---- release_all::two stdout ----\nthread panicked: violation of P4 complete release-all\n1. t0: create a.lock\n\nfailures:\n    release_all::two\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s\n".into();
    let r = analyse(&run, &ctx());
    assert!(!r.ok);
    let f = r
        .failures
        .iter()
        .find(|f| f.what == "layer loom: test release_all::two failed")
        .unwrap();
    assert_eq!(f.property.as_deref(), Some("P4"));
    assert!(f.trace.as_deref().unwrap().contains("1. t0: create a.lock"));
    assert_eq!(
        f.reproduce.as_deref(),
        Some("LOCKCORE_MATRIX_BOUND=2 LOCKCORE_RESULTS_DIR=target/gate/results cargo test --no-fail-fast --release --features loom -p loom-tests release_all::two -- --exact --nocapture")
    );
    // A failing loom layer no longer counts as checking P3 by mention.
    assert!(r.properties[2].checked_by.is_empty());
}

#[test]
fn no_mutant_lines_and_no_tests_are_reported() {
    let mut run = passing_run();
    let mp = run
        .iter_mut()
        .find(|o| o.step.name == "mutants-proptest")
        .unwrap();
    mp.log_text = OK1.to_string();
    let sh = run.iter_mut().find(|o| o.step.name == "shuttle").unwrap();
    sh.log_text = OK1.replace("1 passed", "0 passed");
    let r = analyse(&run, &ctx());
    let whats: Vec<&str> = r.failures.iter().map(|f| f.what.as_str()).collect();
    assert!(whats
        .iter()
        .any(|w| w.contains("layer proptest: no mutant results found")));
    assert!(whats
        .iter()
        .any(|w| w.contains("layer shuttle: no tests found")));
}

#[test]
fn cargo_mutants_runs_are_merged() {
    let o = Options {
        mutants: true,
        quick: true,
        ..Options::default()
    };
    let steps = plan(&o, true, "target/gate");
    let mut run = passing_run();
    for (i, s) in steps
        .iter()
        .filter(|s| matches!(s.kind, Kind::CargoMutants { .. }))
        .enumerate()
    {
        let mut outs = Outcomes {
            baseline: Some(Outcome::Success),
            ..Outcomes::default()
        };
        outs.mutants.insert(
            "m1".into(),
            if i == 1 {
                Outcome::CaughtMutant
            } else {
                Outcome::MissedMutant
            },
        );
        outs.mutants.insert("m2".into(), Outcome::MissedMutant);
        let mut oc = outcome(s, 2, "");
        oc.outcomes = Some(Ok(outs));
        run.push(oc);
    }
    let r = analyse(&run, &ctx());
    assert!(r.ok, "{:#?}", r.failures);
    let cm = r.cargo_mutants.unwrap();
    assert_eq!((cm.counts.caught, cm.counts.missed), (1, 1));
    assert_eq!(cm.runs.len(), 3);
    assert_eq!(cm.missed_mutants, vec!["m2"]);
}

#[test]
fn follow_up_runs_retest_only_the_uncaught() {
    let o = Options {
        mutants: true,
        mutants_shard: Some("1/8".into()),
        ..Options::default()
    };
    let steps = plan(&o, true, "target/gate");
    let loom = steps
        .iter()
        .find(|s| s.name == "cargo-mutants-loom")
        .unwrap();
    assert!(loom.command_line().contains("--shard 1/8"));
    assert_eq!(narrow_cargo_mutants(loom, &[]), Some(loom.clone()));
    let mut first = Outcomes::default();
    first.mutants.insert(
        "src/a.rs:1:2: replace f -> u32 with 0".into(),
        Outcome::CaughtMutant,
    );
    first.mutants.insert(
        "src/a.rs:3:4: replace * with + in g".into(),
        Outcome::MissedMutant,
    );
    first
        .mutants
        .insert("src/a.rs:5:6: replace h with ()".into(), Outcome::Unviable);
    first.mutants.insert(
        "src/a.rs:7:8: replace == with != in k".into(),
        Outcome::Timeout,
    );
    let narrowed = narrow_cargo_mutants(loom, std::slice::from_ref(&first)).unwrap();
    let args = narrowed.args();
    assert!(!args.contains(&"--shard".to_string()));
    let res: Vec<&String> = args
        .iter()
        .skip_while(|a| *a != "--re")
        .filter(|a| *a != "--re")
        .collect();
    assert_eq!(
        res,
        [
            r"^src/a\.rs:3:4: replace \* with \+ in g$",
            r"^src/a\.rs:7:8: replace == with != in k$"
        ]
    );
    let mut second = Outcomes::default();
    second.mutants.insert(
        "src/a.rs:3:4: replace * with + in g".into(),
        Outcome::CaughtMutant,
    );
    second.mutants.insert(
        "src/a.rs:7:8: replace == with != in k".into(),
        Outcome::CaughtMutant,
    );
    assert_eq!(narrow_cargo_mutants(loom, &[first, second]), None);
    assert_eq!(regex_escape("a-b (c)|d"), r"a\-b \(c\)\|d");
}

#[test]
fn the_faults_step_reports_its_cases_and_skip_reason() {
    let mut run = passing_run();
    let f = run.iter_mut().find(|o| o.step.name == "faults").unwrap();
    f.faults = Some(Ok(FaultsSummary {
        cases: 0,
        skipped: Some("strace not found".into()),
        failures: 0,
    }));
    let r = analyse(&run, &ctx());
    assert!(r.ok, "{:#?}", r.failures);
    let layer = r.layers.iter().find(|l| l.name == "faults").unwrap();
    assert_eq!(
        layer.faults.as_ref().unwrap().skipped.as_deref(),
        Some("strace not found")
    );
    let md = crate::report::render_markdown(&r, &MUTANT_LAYERS);
    assert!(md.contains("faults: skipped: strace not found"), "{md}");
    // A run that left no readable faults.json fails the step.
    let f = run.iter_mut().find(|o| o.step.name == "faults").unwrap();
    f.faults = Some(Err("cannot read target/gate/results/faults.json".into()));
    let r = analyse(&run, &ctx());
    assert!(!r.ok);
    assert!(r
        .failures
        .iter()
        .any(|x| x.what.contains("layer faults: cannot read")));
}

#[test]
fn the_stress_step_reports_seed_operations_violations_and_twin() {
    use crate::stress::TwinSummary;
    let mut run = passing_run();
    let summary = StressSummary {
        seed: 20261127,
        seconds: 22.3,
        workers: 6,
        operations: 4987,
        violations: 0,
        properties: Vec::new(),
        twin: Some(TwinSummary {
            mutant: "nonce-any-pid".into(),
            caught: true,
            property: Some("P1".into()),
            seconds: Some(0.017),
        }),
    };
    let st = run.iter_mut().find(|o| o.step.name == "stress").unwrap();
    st.stress = Some(Ok(summary.clone()));
    let r = analyse(&run, &ctx());
    assert!(r.ok, "{:#?}", r.failures);
    let layer = r.layers.iter().find(|l| l.name == "stress").unwrap();
    assert_eq!(layer.stress.as_ref().unwrap().operations, 4987);
    let md = crate::report::render_markdown(&r, &MUTANT_LAYERS);
    assert!(
        md.contains("stress: seed 20261127, 6 workers, 4987 operations in 22.3 s, 0 violation(s); twin nonce-any-pid caught (P1 after 0.02 s)"),
        "{md}"
    );
    let json = serde_json::to_value(&r).unwrap();
    let layers = json["layers"].as_array().unwrap();
    let sj = layers.iter().find(|l| l["name"] == "stress").unwrap();
    assert_eq!(sj["stress"]["seed"], 20261127);
    // A violation, or a twin that got away, fails the step even if the test passed.
    let st = run.iter_mut().find(|o| o.step.name == "stress").unwrap();
    st.stress = Some(Ok(StressSummary {
        violations: 1,
        properties: vec!["P2".into()],
        ..summary
    }));
    let r = analyse(&run, &ctx());
    assert!(!r.ok);
    assert!(r.failures.iter().any(|x| x
        .what
        .contains("1 violation(s) under seed 20261127 (first: P2)")));
}

#[test]
fn a_timed_out_step_says_so_once() {
    let mut run = passing_run();
    let pt = run.iter_mut().find(|o| o.step.name == "proptest").unwrap();
    pt.exit = Exit::TimedOut(600);
    pt.log_text = "   Compiling proptests\n".into();
    let r = analyse(&run, &ctx());
    let whats: Vec<&str> = r.failures.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(whats, ["step proptest failed: timed out after 600 s"]);
}

#[test]
fn tail_and_first_property() {
    assert_eq!(tail("a\nb\nc", 2), "b\nc");
    assert_eq!(tail("", 2), "");
    assert_eq!(
        strip_ansi("\u{1b}[31m-  old\n\u{1b}(B\u{1b}[m\u{1b}[32m+  new\u{1b}[0m x"),
        "-  old\n+  new x"
    );
    assert_eq!(strip_ansi("plain ü \u{1b}"), "plain ü ");
    assert_eq!(
        trim_backtrace("\n\nthread 't' panicked at a.rs:1:1:\nP11 fresh temp\nstack backtrace:\n   0: x\n      at y\nnote: Some details are omitted\nafter"),
        "thread 't' panicked at a.rs:1:1:\nP11 fresh temp\nafter"
    );
    assert_eq!(first_property("x P12 then P3"), Some("P12".into()));
    assert_eq!(first_property("MP3 P7"), Some("P7".into()));
    assert_eq!(first_property("P12, then P1"), Some("P12".into()));
    assert_eq!(first_property("none"), None);
}
