use super::*;

fn twin() -> Record {
    Record::Test(TestResult {
        layer: "loom".into(),
        test: "mutant_naive_reclaim".into(),
        mutant: Some("naive-reclaim".into()),
        verdict: Verdict::Violated,
        property: Some("P1".into()),
        message: Some("P1 violated: p1 and p2 both hold s.lock".into()),
        iterations: 118,
        seconds: 0.04,
        trace: vec!["#1 p1/t1 create s.lock -> ok".into()],
        reason: None,
    })
}

#[test]
fn a_record_round_trips_through_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let cell = Record::MatrixCell(MatrixCell {
        layer: "shuttle".into(),
        pair: ["acquire".into(), "release".into()],
        model: "matrix".into(),
        executions: 100,
        bound: None,
    });
    for r in [twin(), cell] {
        let path = r.write_into(dir.path()).unwrap();
        assert!(path.starts_with(dir.path()));
    }
    let (records, errors) = read_all(dir.path());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(records.len(), 2);
    assert!(records.contains(&twin()));
    assert!(dir
        .path()
        .join("mutants/loom-naive-reclaim-mutant_naive_reclaim.json")
        .is_file());
    assert!(dir
        .path()
        .join("matrix/shuttle-acquire-release.json")
        .is_file());
}

#[test]
fn the_file_names_its_kind_and_schema() {
    let text = serde_json::to_string(&ResultFile {
        schema: SCHEMA,
        record: twin(),
    })
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], 2);
    assert_eq!(v["kind"], "test");
    assert_eq!(v["verdict"], "violated");
}

#[test]
fn bad_files_are_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        ("old.json", r#"{"schema":1,"layer":"faults"}"#),
        ("none.json", r#"{"kind":"test"}"#),
        ("trunc.json", r#"{"schema":2,"kind":"te"#),
        ("kind.json", r#"{"schema":2,"kind":"nonsense"}"#),
    ];
    for (name, text) in bad {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "not a result").unwrap();
    let (records, errors) = read_all(dir.path());
    assert!(records.is_empty());
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors.iter().any(|e| e.problem.contains("schema 1")));
    assert!(errors.iter().all(|e| e.path.extension().unwrap() == "json"));
}

#[test]
fn a_missing_directory_holds_nothing() {
    let (records, errors) = read_all(Path::new("/nonexistent/lockcore/results"));
    assert!(records.is_empty() && errors.is_empty());
}

#[test]
fn a_test_file_without_a_message_reads_as_none() {
    let text = r#"{"schema":2,"kind":"test","layer":"loom","test":"loom_reclaim::m2","mutant":null,
        "verdict":"passed","property":null,"iterations":170,"seconds":0.1,"trace":[],"reason":null}"#;
    match parse(text) {
        Ok(Record::Test(t)) => assert_eq!((t.message, t.verdict), (None, Verdict::Passed)),
        other => panic!("{other:?}"),
    }
}
