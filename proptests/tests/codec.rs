//! Property tests of the payload codec (P10) and of the classification table against the
//! reference model's own classification (P7, P8, P10, P11).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::classify::{classify, Me, Observed};
use lockcore::payload::{format_rfc3339_ms, parse_rfc3339_ms, MAX_PAYLOAD_BYTES};
use lockcore::{Liveness, Payload, Policy, ProcessIdentity, Verdict};
use models::reference::{Content, Model, ModelFile, ModelHold, Op, Origin, ProcKey};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
use proptests::machine::{malformed_kind, MalformedKind};
use proptests::runner::cases_from_env;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// 0000-01-01 … 9999-12-31: the range a 4-digit RFC 3339 year can carry.
const MIN_MS: i64 = -62_167_219_200_000;
const MAX_MS: i64 = 253_402_300_799_999;

fn cfg(seed: u64, file: &'static str) -> Config {
    Config {
        cases: cases_from_env(256),
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..Config::default()
    }
}

fn any_payload() -> impl Strategy<Value = Payload> {
    (
        1..=i32::MAX as u32,
        proptest::option::of(any::<String>()),
        MIN_MS..=MAX_MS,
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<String>()),
        proptest::option::of("[0-9a-f]{16}"),
    )
        .prop_map(
            |(pid, nonce, created_at_ms, starttime, host, token)| Payload {
                pid,
                nonce,
                created_at_ms,
                starttime,
                host,
                token,
                lease: None,
            },
        )
}

proptest! {
    #![proptest_config(cfg(0xc0dec, "proptest-regressions/codec.txt"))]

    /// P10: what lockcore writes, it reads back unchanged (any strings, any fields present).
    #[test]
    fn payload_round_trips(p in any_payload()) {
        prop_assert_eq!(Payload::parse(&p.to_bytes()), Ok(p));
    }

    /// P10: the three historic shapes parse in any key order, unknown keys ignored.
    #[test]
    fn historic_shapes_in_any_order(
        pid in 1..=i32::MAX as u32,
        at in 0i64..=MAX_MS,
        nonce in proptest::option::of("[0-9a-f]{24}"),
        starttime in proptest::option::of(any::<u64>()),
        extra in proptest::option::of("[a-z]{1,8}"),
        order in Just(()).prop_perturb(|_, mut rng| rng.next_u64()),
    ) {
        let mut fields = vec![
            format!("\"pid\": {pid}"),
            format!("\"createdAt\": \"{}\"", format_rfc3339_ms(at)),
        ];
        if let Some(n) = &nonce {
            fields.push(format!("\"nonce\": \"{n}\""));
        }
        if let Some(s) = starttime {
            fields.push(format!("\"starttime\": {s}"));
        }
        if let Some(k) = &extra {
            fields.push(format!("\"x-{k}\": [1, {{\"a\": null}}]"));
        }
        let n = fields.len();
        fields.rotate_left((order % n as u64) as usize);
        let json = format!("{{{}}}", fields.join(", "));
        let p = Payload::parse(json.as_bytes());
        prop_assert_eq!(
            p,
            Ok(Payload { pid, nonce, created_at_ms: at, starttime, host: None, token: None, lease: None })
        );
    }

    /// P10: arbitrary bytes never panic; anything accepted is a valid payload.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..6000)) {
        if let Ok(p) = Payload::parse(&bytes) {
            prop_assert!(p.pid > 0);
            prop_assert!(bytes.len() <= MAX_PAYLOAD_BYTES);
        }
    }

    /// P10: the malformed corpus the state machine plants is malformed, every time.
    #[test]
    fn malformed_corpus_is_malformed(kind in malformed_kind(), seed in any::<u8>()) {
        prop_assert!(Payload::parse(&kind.bytes(seed)).is_err());
    }

    /// P10: every strict prefix of a payload (a partial write) is malformed, never a panic.
    #[test]
    fn partial_writes_are_malformed(p in any_payload(), cut in any::<prop::sample::Index>()) {
        let bytes = p.to_bytes();
        let cut = cut.index(bytes.len());
        prop_assert!(Payload::parse(&bytes[..cut]).is_err());
    }

    /// P10: RFC 3339 with milliseconds round-trips over the whole 4-digit-year range.
    #[test]
    fn rfc3339_round_trips(ms in MIN_MS..=MAX_MS) {
        prop_assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)), Some(ms));
    }
}

// ---- the classification table against the model -------------------------------------------

/// What the other process (`h1:2`) is doing.
#[derive(Clone, Copy, Debug)]
enum Other {
    Alive,
    Dead,
    Eperm,
    Reused,
}

#[derive(Clone, Debug)]
struct Situation {
    other: Other,
    pid: u8,
    nonce: u8,
    host: u8,
    starttime: u8,
    created_offset_ms: i64,
    mtime_age_ms: i64,
    malformed: Option<(MalformedKind, u8)>,
    in_flight: bool,
}

fn situation() -> impl Strategy<Value = Situation> {
    let age = prop_oneof![
        Just(0i64),
        -3_600_000i64..3_600_000,
        Just(30_000),
        Just(30_001),
        Just(1_800_000),
        Just(1_800_001),
        1_800_001i64..20_000_000,
    ];
    (
        prop_oneof![
            Just(Other::Alive),
            Just(Other::Dead),
            Just(Other::Eperm),
            Just(Other::Reused)
        ],
        0u8..3,
        0u8..3,
        0u8..3,
        0u8..3,
        age.clone().prop_map(|a| -a),
        age,
        proptest::option::weighted(0.2, (malformed_kind(), any::<u8>())),
        any::<bool>(),
    )
        .prop_map(
            |(
                other,
                pid,
                nonce,
                host,
                starttime,
                created_offset_ms,
                mtime_age_ms,
                malformed,
                in_flight,
            )| {
                Situation {
                    other,
                    pid,
                    nonce,
                    host,
                    starttime,
                    created_offset_ms,
                    mtime_age_ms,
                    malformed,
                    in_flight,
                }
            },
        )
}

/// Builds the situation in the model (me = h1:1) and returns (model verdict, lockcore verdict).
fn both_verdicts(s: &Situation) -> (Verdict, Verdict) {
    let me = ProcKey::new("h1", 1);
    let other = ProcKey::new("h1", 2);
    let mut m = Model::new(Policy::default());
    m.step(&Op::Spawn(me.clone()));
    m.step(&Op::Spawn(other.clone()));
    match s.other {
        Other::Alive => {}
        Other::Dead => {
            m.step(&Op::Crash(other.clone()));
        }
        Other::Eperm => {
            m.step(&Op::SetEperm(other.clone(), true));
        }
        Other::Reused => {
            m.step(&Op::Crash(other.clone()));
            m.step(&Op::ReusePid(other.clone()));
        }
    }
    m.step(&Op::Advance(10_000_000));
    let path = PathBuf::from("/d/s.jsonl.lock");
    let my_nonce = m.instance(&me).map(|i| i.nonce.clone()).unwrap_or_default();
    let my_start = m.instance(&me).map(|i| i.start_time);
    let pid = [1, 2, 77][usize::from(s.pid)];
    let content = match s.malformed {
        Some((kind, seed)) => Content::Malformed(kind.bytes(seed)),
        None => Content::Payload(Payload {
            pid,
            nonce: [None, Some(my_nonce.clone()), Some("other".to_string())][usize::from(s.nonce)]
                .clone(),
            created_at_ms: m.now_ms + s.created_offset_ms,
            starttime: [None, Some(1000), Some(7)][usize::from(s.starttime)],
            host: [Some("h1"), Some("h2"), None][usize::from(s.host)].map(str::to_string),
            token: Some("tok".into()),
            lease: None,
        }),
    };
    if s.in_flight {
        if let (Some(inst), Content::Payload(p)) = (
            m.procs.get_mut(&me).and_then(|p| p.instance.as_mut()),
            &content,
        ) {
            inst.holds.insert(
                path.clone(),
                ModelHold {
                    id: 1,
                    count: 1,
                    payload: p.clone(),
                    displaced: None,
                    compromised: false,
                },
            );
        }
    }
    let file = ModelFile {
        content: content.clone(),
        mtime_ms: m.now_ms - s.mtime_age_ms,
        origin: Origin::Planted,
    };
    let model_verdict = m
        .verdict(&me, &path, &file)
        .unwrap_or(Verdict::Live(lockcore::LiveReason::HeldHere));

    let bytes = match &content {
        Content::Payload(p) => p.to_bytes(),
        Content::Malformed(b) => b.clone(),
        // This property generates bytes only; hostile entries have their own transitions.
        Content::NotRegular { .. } => Vec::new(),
    };
    let parsed = Payload::parse(&bytes);
    let identity = ProcessIdentity {
        pid: 1,
        host: Some("h1".into()),
        start_time: my_start,
    };
    let in_flight = s.in_flight && parsed.is_ok();
    let lock_verdict = classify(
        &Observed {
            payload: parsed.as_ref(),
            mtime_age_ms: s.mtime_age_ms,
            now_ms: m.now_ms,
        },
        &Me {
            identity: &identity,
            nonce: &my_nonce,
            in_flight,
            boot_ms: None,
        },
        &Policy::default(),
        &mut |pid| {
            let p = m.procs.get(&ProcKey::new("h1", pid)).filter(|p| p.alive);
            match p {
                None => (Liveness::Dead, None),
                Some(p) if p.eperm => (Liveness::NoPermission, Some(p.start_time)),
                Some(p) => (Liveness::Alive, Some(p.start_time)),
            }
        },
    );
    (model_verdict, lock_verdict)
}

proptest! {
    #![proptest_config(Config { cases: cases_from_env(2048), ..cfg(0xc1a55, "proptest-regressions/classify.txt") })]

    /// P7, P8, P10, P11: lockcore's classification equals the model's on generated files,
    /// identities, probe answers and ages (grace and stale_after boundaries included).
    #[test]
    fn classification_matches_the_model(s in situation()) {
        let (model, lock) = both_verdicts(&s);
        prop_assert_eq!(model, lock, "{:?}", s);
    }
}

/// The generated situations reach every row of the table (so the test above can fail on any).
#[test]
fn classification_generator_reaches_every_reason() {
    let mut runner = proptest::test_runner::TestRunner::new(Config {
        cases: 2048,
        ..cfg(0xc1a55, "proptest-regressions/classify.txt")
    });
    let seen = RefCell::new(BTreeMap::<&'static str, u64>::new());
    let result = runner.run(&situation(), |s| {
        let (model, lock) = both_verdicts(&s);
        *seen.borrow_mut().entry(model.reason()).or_default() += 1;
        prop_assert_eq!(model, lock);
        Ok(())
    });
    assert!(result.is_ok(), "{result:?}");
    let seen = seen.into_inner();
    println!("{seen:?}");
    for reason in [
        "held-here",
        "owner-alive",
        "legacy-own-pid",
        "foreign-host",
        "malformed-in-grace",
        "nonce-mismatch",
        "leftover",
        "dead-pid",
        "recycled-pid",
        "too-old",
        "malformed-expired",
    ] {
        assert!(
            seen.contains_key(reason),
            "{reason} never reached: {seen:?}"
        );
    }
}
