//! The checker on synthetic histories: one passing and one failing history per check.

use super::*;

const MS: u64 = 1_000_000;

fn p() -> Params {
    Params::for_lease_ms(2_000)
}

fn rec(who: &str, op: &str, s: &str, a: u64, b: u64, result: &str, tok: &str) -> Record {
    Record::new(who, op, a * MS, b * MS, result)
        .session(s)
        .token((!tok.is_empty()).then_some(tok))
}

/// `who` holds `s` with token `tok` from `a` to `b` ms (acquire completes at `a`, release
/// invoked at `b`), refreshing every 500 ms.
fn hold(who: &str, s: &str, a: u64, b: u64, tok: &str) -> Vec<Record> {
    let mut v = vec![rec(who, "acquire", s, a - 1, a, "ok", tok)];
    v.extend(
        (1..)
            .map(|i| a + 500 * i)
            .take_while(|t| *t < b)
            .map(|t| rec(who, "refresh", s, t, t + 1, "refreshed", tok)),
    );
    v.push(rec(who, "release", s, b, b + 1, "removed", tok));
    v
}

fn kill(target: &str, at: u64) -> Record {
    Record::new("nemesis", "kill", at * MS, at * MS + 1, "ok").target(target, 42)
}

fn run(mut h: Vec<Record>, counters: &[(&str, u64)]) -> Vec<Violation> {
    h.sort_by_key(|r| r.complete_ns);
    let c = counters.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    check(&h, &c, &p())
}

/// The properties violated, sorted.
fn props(v: &[Violation]) -> Vec<&str> {
    let mut p: Vec<&str> = v.iter().map(|x| x.property).collect();
    p.sort_unstable();
    p
}

#[test]
fn back_to_back_holds_pass() {
    let h = [
        hold("w1.0", "s0", 10, 900, "a"),
        hold("w2.0", "s0", 902, 3000, "b"),
    ]
    .concat();
    assert!(run(h, &[]).is_empty());
}

#[test]
fn overlapping_holds_are_p1_with_both_holds_in_the_window() {
    let h = [
        hold("w1.0", "s0", 10, 900, "a"),
        hold("w2.0", "s0", 500, 1200, "b"),
    ]
    .concat();
    let v = check_overlapping_holds(&holds(&h, &p()));
    assert_eq!(props(&v), ["P1"]);
    assert_eq!(v[0].at_ns, 500 * MS);
    let ops: Vec<_> = v[0]
        .window
        .iter()
        .map(|r| (r.who.as_str(), r.op.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("w1.0", "acquire"),
            ("w2.0", "acquire"),
            ("w1.0", "release"),
            ("w2.0", "release")
        ]
    );
    // Other sessions, and one process's own consecutive holds, never conflict.
    let h = [
        hold("w1.0", "s0", 10, 900, "a"),
        hold("w2.0", "s1", 500, 1200, "b"),
    ]
    .concat();
    assert!(run(h, &[]).is_empty());
}

#[test]
fn a_killed_holder_holds_until_the_kill() {
    let mut h = vec![
        rec("w1.0", "acquire", "s0", 9, 10, "ok", "a"),
        kill("w1.0", 300),
    ];
    h.extend(hold("w2.0", "s0", 301, 400, "b"));
    assert!(run(h.clone(), &[]).is_empty());
    h.push(kill("w1.0", 350)); // a later kill changes nothing: the first one ended it
    h.retain(|r| !(r.op == "kill" && r.invoke_ns == 300 * MS));
    assert_eq!(props(&run(h, &[])), ["P1"]);
}

// P1 with an indeterminate release: a holder killed inside its release (invoked, never recorded
// as complete) held the lock only until that release was invoked. Without the `releasing`
// record the same history is an overlap, and a `releasing` that comes after the other acquire
// forgives nothing.
#[test]
fn a_holder_killed_inside_its_release_holds_until_the_release_was_invoked() {
    let cut_short = |releasing_at: u64| {
        let mut h = vec![
            rec("w1.0", "acquire", "s0", 9, 10, "ok", "a"),
            rec(
                "w1.0",
                "releasing",
                "s0",
                releasing_at,
                releasing_at,
                "pending",
                "a",
            ),
            kill("w1.0", 310),
        ];
        h.extend(hold("w2.0", "s0", 300, 400, "b"));
        h
    };
    assert!(run(cut_short(298), &[]).is_empty());
    let unrecorded: Vec<Record> = cut_short(298)
        .into_iter()
        .filter(|r| r.op != "releasing")
        .collect();
    assert_eq!(props(&run(unrecorded, &[])), ["P1"]);
    assert_eq!(props(&run(cut_short(305), &[])), ["P1"]);
    // A completed release ends the hold as before; its `releasing` record changes nothing.
    let mut h = hold("w1.0", "s0", 10, 200, "a");
    h.push(rec("w1.0", "releasing", "s0", 200, 200, "pending", "a"));
    h.extend(hold("w2.0", "s0", 150, 400, "b"));
    assert_eq!(props(&run(h, &[])), ["P1"]);
}

#[test]
fn a_lapsed_lease_ends_the_hold() {
    // w1 never refreshes after acquiring at 10 ms: from 10 + 2000 - 150 ms a reclaim is fair.
    let mut h = vec![rec("w1.0", "acquire", "s0", 9, 10, "ok", "a")];
    h.push(rec("w1.0", "release", "s0", 5000, 5001, "not-ours", "a"));
    h.extend(hold("w2.0", "s0", 2000, 2400, "b"));
    assert!(run(h.clone(), &[]).is_empty(), "{:?}", run(h, &[]));
    let mut early = hold("w1.0", "s0", 10, 5000, "a");
    early.last_mut().unwrap().result = "not-ours".into();
    early.extend(hold("w2.0", "s0", 2000, 2400, "b"));
    let v = run(early, &[]);
    assert_eq!(props(&v), ["P1", "P2"], "{v:?}");
}

#[test]
fn duplicate_fences_and_lost_increments() {
    let f = |who: &str, tok: &str, at: u64, v: u64| {
        rec(who, "fence", "s0", at, at + 1, "ok", tok).fence(v)
    };
    let good = vec![f("w1.0", "a", 10, 1), f("w2.0", "b", 20, 2)];
    assert!(run(good.clone(), &[("s0", 2)]).is_empty());
    // A killed writer may leave one increment without a record: more is fine, less is not.
    assert!(run(good.clone(), &[("s0", 3)]).is_empty());
    assert_eq!(props(&run(good, &[("s0", 1)])), ["P2"]);
    let dup = vec![f("w1.0", "a", 10, 1), f("w2.0", "b", 20, 1)];
    assert_eq!(props(&run(dup, &[("s0", 1)])), ["P1", "P2"]);
}

#[test]
fn a_live_holder_losing_its_file_is_p2_or_p13() {
    let mut h = hold("w1.0", "s0", 10, 900, "a");
    h.last_mut().unwrap().result = "not-ours".into();
    assert_eq!(props(&run(h, &[])), ["P2"]);
    let mut h = hold("w1.0", "s0", 10, 900, "a");
    h.push(rec("w1.0", "refresh", "s0", 800, 801, "compromised", "a"));
    assert_eq!(props(&run(h, &[])), ["P13"]);
}

#[test]
fn writing_after_learning_of_a_compromise_is_p15() {
    let lost = rec("w1.0", "refresh", "s0", 100, 101, "compromised", "a");
    let before = rec("w1.0", "fence", "s0", 99, 102, "ok", "a").fence(1);
    assert!(check_writes_after_compromise(&[lost.clone(), before]).is_empty());
    let after = rec("w1.0", "fence", "s0", 150, 151, "ok", "a").fence(1);
    let v = check_writes_after_compromise(&[lost, after]);
    assert_eq!(props(&v), ["P15"]);
    assert_eq!(v[0].window.len(), 2);
}

#[test]
fn a_timeout_is_p11_only_if_the_lock_was_free_long_enough() {
    let busy = rec("w2.0", "acquire", "s0", 0, 3000, "busy", "");
    // Held for the whole wait: fine.
    let h = [hold("w1.0", "s0", 1, 3100, "a"), vec![busy.clone()]].concat();
    assert!(run(h, &[]).is_empty());
    // Released at 1000 ms, free until 3000: a 2 s free window.
    let free = [hold("w1.0", "s0", 1, 1000, "a"), vec![busy.clone()]].concat();
    let v = run(free.clone(), &[]);
    assert_eq!(props(&v), ["P11"]);
    assert!(v[0]
        .window
        .iter()
        .any(|r| r.op == "acquire" && r.who == "w1.0"));
    // A holder killed at 1000 ms may block for a lease more: 1000 + 2150 > 3000.
    let h = vec![
        rec("w1.0", "acquire", "s0", 0, 1, "ok", "a"),
        kill("w1.0", 1000),
        busy.clone(),
    ];
    assert!(run(h, &[]).is_empty());
    // A waiter that was stopped is not judged; nor one under fault injection.
    let stop = Record::new("nemesis", "stop", 1500 * MS, 1500 * MS, "ok").target("w2.0", 7);
    assert!(run([free, vec![stop]].concat(), &[]).is_empty());
    let mut s = busy;
    s.who = "s0.0".into();
    assert!(run([hold("w1.0", "s0", 1, 1000, "a"), vec![s]].concat(), &[]).is_empty());
}

#[test]
fn render_names_the_property_and_every_window_record() {
    let h = [
        hold("w1.0", "s0", 10, 900, "a"),
        hold("w2.0", "s0", 500, 1200, "b"),
    ]
    .concat();
    let v = &run(h, &[])[0];
    let text = render(v, 0);
    assert!(text.starts_with("P1 violated at +500.0 ms"), "{text}");
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.contains("token b"));
}
