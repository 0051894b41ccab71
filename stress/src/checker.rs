//! The checker: a pure function of the histories (and the final fencing counters). It
//! reconstructs every hold from its records, then runs one small check per invariant family,
//! each named for what it checks and for the property it establishes. It knows nothing of
//! lockcore's code, only of the histories' records and the lease rule.
//!
//! **Conservative by construction.** A hold is *definitely held* from its acquire's completion
//! to the invocation of whatever ended it (release, `release_all`, the nemesis' kill), and no
//! longer than its lease allows: from the first gap between two touches (publish, then each
//! successful refresh) longer than the lease less a slack, a reclaim is legitimate, so the hold
//! is cut there. A lock is *possibly held* from its acquire's invocation to the completion of
//! whatever ended it, plus a lease where a file may have stayed behind (a failed release, a
//! killed holder). P1 compares definite intervals; P11 looks for waits inside which no hold was
//! even possible.

use crate::history::Record;
use serde::Serialize;
use std::collections::BTreeMap;

/// The rules the checker judges by.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// The workers' lease.
    pub lease_ns: u64,
    /// Margin for clock granularity and scheduling when comparing with the lease.
    pub slack_ns: u64,
    /// A timed-out waiter is a violation only if the lock was free this long during its wait.
    pub free_window_ns: u64,
}

impl Params {
    pub fn for_lease_ms(lease_ms: u64) -> Self {
        Params {
            lease_ns: lease_ms * 1_000_000,
            slack_ns: 150_000_000,
            free_window_ns: 1_000_000_000,
        }
    }
}

/// One violated property, with the minimal window of the history that shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    pub property: &'static str,
    pub message: String,
    /// When the violation became visible (monotonic ns).
    pub at_ns: u64,
    pub window: Vec<Record>,
}

/// A hold reconstructed from the histories.
#[derive(Clone, Debug)]
pub struct Hold<'a> {
    pub acquire: &'a Record,
    /// The release, `release_all` or kill that ended it, if any.
    pub end: Option<&'a Record>,
    /// A release (or `release_all`) invoked but never recorded as complete, because a kill
    /// came first: from its invocation the file may already be gone, so the hold is no longer
    /// definite (an indeterminate operation, as in Jepsen).
    pub releasing: Option<&'a Record>,
    /// From here a reclaim is legitimate (a touch gap longer than the lease).
    pub lapse_ns: Option<u64>,
}

impl Hold<'_> {
    fn token(&self) -> &str {
        self.acquire.token.as_deref().unwrap_or("")
    }

    /// The definitely-held interval `[start, end)`.
    pub fn definite(&self) -> (u64, u64) {
        let end = self
            .end
            .into_iter()
            .chain(self.releasing)
            .map(|e| e.invoke_ns)
            .min()
            .unwrap_or(u64::MAX);
        (
            self.acquire.complete_ns,
            end.min(self.lapse_ns.unwrap_or(u64::MAX)),
        )
    }

    /// The possibly-held interval: a file may outlive a failed release or a killed holder by
    /// a lease.
    fn possible(&self, p: &Params, history_end: u64) -> (u64, u64) {
        let linger = p.lease_ns + p.slack_ns;
        let end = match self.end {
            None => history_end,
            Some(e) if e.op == "kill" || e.op == "zombie" => e.complete_ns + linger,
            Some(e) if e.result.starts_with("error") || failed_some(&e.result) => {
                e.complete_ns + linger
            }
            Some(e) => e.complete_ns,
        };
        (self.acquire.invoke_ns, end)
    }

    fn window(&self) -> Vec<Record> {
        std::iter::once(self.acquire)
            .chain(self.releasing)
            .chain(self.end)
            .cloned()
            .collect()
    }
}

/// A `release_all` result (`released=N not_ours=M failed=K`) with K > 0.
fn failed_some(result: &str) -> bool {
    result.contains("failed=") && !result.contains("failed=0")
}

/// Every hold in the histories: an `acquire` with result `ok` and a token, ended by the
/// first release / `release_all` carrying its token or the first kill of its process.
pub fn holds<'a>(history: &'a [Record], p: &Params) -> Vec<Hold<'a>> {
    let history_end = history.iter().map(|r| r.complete_ns).max().unwrap_or(0);
    let kills: Vec<&Record> = history
        .iter()
        .filter(|r| r.op == "kill" || r.op == "zombie")
        .collect();
    let mut ends: BTreeMap<&str, &Record> = BTreeMap::new();
    let mut pending: BTreeMap<&str, &Record> = BTreeMap::new();
    let mut touches: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for r in history {
        let Some(t) = r.token.as_deref() else {
            continue;
        };
        match r.op.as_str() {
            "release" | "release_all" => {
                let e = ends.entry(t).or_insert(r);
                if r.invoke_ns < e.invoke_ns {
                    *e = r;
                }
            }
            "releasing" => {
                pending.entry(t).or_insert(r);
            }
            "refresh" if r.result == "refreshed" => touches.entry(t).or_default().push(r.invoke_ns),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for a in history
        .iter()
        .filter(|r| r.op == "acquire" && r.result == "ok")
    {
        let Some(t) = a.token.as_deref() else {
            continue;
        };
        let mut end = ends.get(t).copied();
        let killed = kills
            .iter()
            .filter(|k| k.target.as_deref() == Some(a.who.as_str()) && k.invoke_ns >= a.invoke_ns)
            .min_by_key(|k| k.invoke_ns);
        if let Some(k) = killed {
            if end.is_none_or(|e| k.invoke_ns < e.invoke_ns) {
                end = Some(k);
            }
        }
        let until = end.map_or(history_end, |e| e.invoke_ns);
        let mut ts = touches.get(t).cloned().unwrap_or_default();
        ts.push(a.invoke_ns);
        let lapse_ns = first_lapse(ts, until, p);
        // Only a release that a kill cut short: a completed one is `end` already.
        let releasing = pending.get(t).copied().filter(|r| {
            end.is_some_and(|e| e.op == "kill" || e.op == "zombie") && r.invoke_ns < until
        });
        out.push(Hold {
            acquire: a,
            end,
            releasing,
            lapse_ns,
        });
    }
    out
}

/// The first moment a reclaim became legitimate: a gap between touches (or from the last
/// touch to `until`) longer than the lease less the slack.
fn first_lapse(mut touches: Vec<u64>, until: u64, p: &Params) -> Option<u64> {
    touches.sort_unstable();
    touches.push(until.max(*touches.last()?));
    let allowed = p.lease_ns.saturating_sub(p.slack_ns);
    touches
        .windows(2)
        .find(|w| w[1] - w[0] > allowed)
        .map(|w| w[0] + allowed)
}

/// Runs every check. `counters`: each session's fencing counter at the end of the run.
pub fn check(history: &[Record], counters: &BTreeMap<String, u64>, p: &Params) -> Vec<Violation> {
    let hs = holds(history, p);
    let mut v = Vec::new();
    v.extend(check_overlapping_holds(&hs));
    v.extend(check_duplicate_fences(history));
    v.extend(check_lost_increments(history, counters));
    v.extend(check_release_not_ours(&hs));
    v.extend(check_live_holder_reclaimed(&hs, history));
    v.extend(check_unexplained_timeouts(&hs, history, p));
    v.extend(check_writes_after_compromise(history));
    v.sort_by_key(|x| x.at_ns);
    v
}

fn sorted(mut w: Vec<Record>) -> Vec<Record> {
    w.sort_by_key(|r| (r.invoke_ns, r.complete_ns));
    w.dedup();
    w
}

/// P1 exclusion: two processes' definitely-held intervals of one session overlap.
pub fn check_overlapping_holds(hs: &[Hold]) -> Vec<Violation> {
    let mut by_session: BTreeMap<&str, Vec<&Hold>> = BTreeMap::new();
    for h in hs {
        by_session.entry(&h.acquire.session).or_default().push(h);
    }
    let mut out = Vec::new();
    for (session, mut list) in by_session {
        list.sort_by_key(|h| h.definite().0);
        for (i, a) in list.iter().enumerate() {
            let (_, a_end) = a.definite();
            for b in list[i + 1..].iter().take_while(|b| b.definite().0 < a_end) {
                if a.acquire.who == b.acquire.who || b.definite().1 <= b.definite().0 {
                    continue;
                }
                out.push(Violation {
                    property: "P1",
                    message: format!(
                        "session {session}: {} (token {}) and {} (token {}) held it at once",
                        a.acquire.who,
                        a.token(),
                        b.acquire.who,
                        b.token()
                    ),
                    at_ns: b.definite().0,
                    window: sorted([a.window(), b.window()].concat()),
                });
            }
        }
    }
    out
}

fn fences(history: &[Record]) -> impl Iterator<Item = (&Record, u64)> {
    history
        .iter()
        .filter(|r| r.op == "fence" && r.result == "ok")
        .filter_map(|r| r.fence.map(|f| (r, f)))
}

/// P1 exclusion, seen in the data: two critical sections wrote the same fencing value (both
/// read the counter before either wrote it).
pub fn check_duplicate_fences(history: &[Record]) -> Vec<Violation> {
    let mut seen: BTreeMap<(&str, u64), &Record> = BTreeMap::new();
    let mut out = Vec::new();
    for (r, f) in fences(history) {
        match seen.get(&(r.session.as_str(), f)) {
            Some(first) if first.token != r.token => out.push(Violation {
                property: "P1",
                message: format!(
                    "session {}: {} and {} both wrote fence {f}: one increment lost",
                    r.session, first.who, r.who
                ),
                at_ns: r.complete_ns,
                window: sorted(vec![(*first).clone(), r.clone()]),
            }),
            Some(_) => {}
            None => {
                seen.insert((r.session.as_str(), f), r);
            }
        }
    }
    out
}

/// P2 owner-checked delete, seen in the data: the counter ends below the number of completed
/// critical sections, or below a value a critical section wrote (an increment was lost or
/// overwritten by a holder whose file had been taken).
pub fn check_lost_increments(
    history: &[Record],
    counters: &BTreeMap<String, u64>,
) -> Vec<Violation> {
    let mut per: BTreeMap<&str, (u64, Option<&Record>)> = BTreeMap::new();
    for (r, f) in fences(history) {
        let e = per.entry(&r.session).or_insert((0, None));
        e.0 += 1;
        if e.1.is_none_or(|m| m.fence < Some(f)) {
            e.1 = Some(r);
        }
    }
    let mut out = Vec::new();
    for (session, (done, max)) in per {
        let Some(max) = max else { continue };
        let last = counters.get(session).copied().unwrap_or(0);
        let highest = max.fence.unwrap_or(0);
        if last < done || last < highest {
            out.push(Violation {
                property: "P2",
                message: format!(
                    "session {session}: final counter {last}, but {done} critical sections \
                     completed and the highest value written was {highest}"
                ),
                at_ns: max.complete_ns,
                window: vec![max.clone()],
            });
        }
    }
    out
}

fn others_during(hs: &[Hold], h: &Hold, until: u64) -> Vec<Record> {
    let from = h.acquire.invoke_ns;
    hs.iter()
        .filter(|o| o.acquire.session == h.acquire.session && o.acquire.who != h.acquire.who)
        .filter(|o| o.acquire.complete_ns >= from && o.acquire.invoke_ns <= until)
        .map(|o| o.acquire.clone())
        .collect()
}

/// P2 owner-checked delete: a holder whose lease never lapsed released and found its file
/// gone or replaced — someone deleted a live owner's file.
pub fn check_release_not_ours(hs: &[Hold]) -> Vec<Violation> {
    let mut out = Vec::new();
    for h in hs {
        let Some(e) = h
            .end
            .filter(|e| e.op == "release" && e.result == "not-ours")
        else {
            continue;
        };
        if h.lapse_ns.is_some_and(|l| l <= e.invoke_ns) {
            continue;
        }
        let mut window = h.window();
        window.extend(others_during(hs, h, e.complete_ns));
        out.push(Violation {
            property: "P2",
            message: format!(
                "session {}: {} (token {}) refreshed its lease throughout, yet its release \
                 found the file gone or replaced",
                h.acquire.session,
                h.acquire.who,
                h.token()
            ),
            at_ns: e.complete_ns,
            window: sorted(window),
        });
    }
    out
}

/// P13 lease: a refresh found a hold compromised although every earlier refresh had run in
/// time — a live, refreshing holder was reclaimed.
pub fn check_live_holder_reclaimed(hs: &[Hold], history: &[Record]) -> Vec<Violation> {
    let mut first_lost: BTreeMap<&str, &Record> = BTreeMap::new();
    for r in history
        .iter()
        .filter(|r| r.op == "refresh" && r.result == "compromised")
    {
        if let Some(t) = r.token.as_deref() {
            first_lost.entry(t).or_insert(r);
        }
    }
    let mut out = Vec::new();
    for h in hs {
        let Some(lost) = first_lost.get(h.token()).copied() else {
            continue;
        };
        if h.lapse_ns.is_some_and(|l| l <= lost.invoke_ns) {
            continue;
        }
        let mut window = vec![h.acquire.clone(), lost.clone()];
        window.extend(others_during(hs, h, lost.complete_ns));
        out.push(Violation {
            property: "P13",
            message: format!(
                "session {}: {} (token {}) refreshed in time, but its file was taken",
                h.acquire.session,
                h.acquire.who,
                h.token()
            ),
            at_ns: lost.complete_ns,
            window: sorted(window),
        });
    }
    out
}

/// P15 compromise: a holder wrote in its critical section after a refresh had told it the
/// lock was no longer its own.
pub fn check_writes_after_compromise(history: &[Record]) -> Vec<Violation> {
    let mut learned: BTreeMap<&str, &Record> = BTreeMap::new();
    for r in history {
        if r.op == "refresh" && r.result == "compromised" {
            if let Some(t) = r.token.as_deref() {
                learned.entry(t).or_insert(r);
            }
        }
    }
    let mut out = Vec::new();
    for (w, _) in fences(history) {
        let Some(l) = w.token.as_deref().and_then(|t| learned.get(t)) else {
            continue;
        };
        if w.invoke_ns > l.complete_ns {
            out.push(Violation {
                property: "P15",
                message: format!(
                    "session {}: {} wrote fence {:?} after learning its lock was taken",
                    w.session, w.who, w.fence
                ),
                at_ns: w.complete_ns,
                window: vec![(*l).clone(), w.clone()],
            });
        }
    }
    out
}

/// Was `who` stopped (or continued) by the nemesis within a lease of `[from, to]`? Its wait
/// then says nothing about the lock.
fn disturbed(history: &[Record], who: &str, from: u64, to: u64, p: &Params) -> bool {
    history.iter().any(|r| {
        (r.op == "stop" || r.op == "cont")
            && r.target.as_deref() == Some(who)
            && r.invoke_ns + p.lease_ns >= from
            && r.invoke_ns <= to
    })
}

/// P11 crash safety / P13 lease: a waiter timed out although, for a stretch of at least
/// `free_window_ns` inside its wait, no process could have held the lock (every earlier holder
/// had released, or was dead or lapsed for longer than a lease). Waiters under system-call
/// fault injection (`s…`) or stopped by the nemesis are not judged.
pub fn check_unexplained_timeouts(hs: &[Hold], history: &[Record], p: &Params) -> Vec<Violation> {
    let history_end = history.iter().map(|r| r.complete_ns).max().unwrap_or(0);
    let mut busy_by: BTreeMap<&str, Vec<(u64, u64, &Record)>> = BTreeMap::new();
    for h in hs {
        let (a, b) = h.possible(p, history_end);
        busy_by
            .entry(&h.acquire.session)
            .or_default()
            .push((a, b, h.acquire));
    }
    for r in history
        .iter()
        .filter(|r| r.op == "run" && !r.session.is_empty())
    {
        busy_by
            .entry(&r.session)
            .or_default()
            .push((r.invoke_ns, r.complete_ns, r));
    }
    let mut out = Vec::new();
    for w in history
        .iter()
        .filter(|r| r.op == "acquire" && r.result == "busy")
    {
        if w.who.starts_with('s') || disturbed(history, &w.who, w.invoke_ns, w.complete_ns, p) {
            continue;
        }
        let mut spans = busy_by.get(w.session.as_str()).cloned().unwrap_or_default();
        spans.retain(|s| s.1 > w.invoke_ns && s.0 < w.complete_ns && s.2 != w);
        spans.sort_by_key(|s| s.0);
        let (mut free_from, mut before) = (w.invoke_ns, None);
        for s in spans.iter().map(Some).chain([None]) {
            let free_to = s.map_or(w.complete_ns, |s| s.0.min(w.complete_ns));
            if free_to > free_from && free_to - free_from >= p.free_window_ns {
                let mut window = vec![w.clone()];
                window.extend(before.map(|b: &(u64, u64, &Record)| b.2.clone()));
                window.extend(s.map(|s| s.2.clone()));
                out.push(Violation {
                    property: "P11",
                    message: format!(
                        "session {}: {} timed out, yet no one could hold it for {} ms of its wait",
                        w.session,
                        w.who,
                        (free_to - free_from) / 1_000_000
                    ),
                    at_ns: w.complete_ns,
                    window: sorted(window),
                });
                break;
            }
            if let Some(s) = s {
                if s.1 > free_from {
                    free_from = s.1;
                    before = Some(s);
                }
            }
        }
    }
    out
}

/// A violation for a person: the property, the message, and the window's records with their
/// times in ms since `start_ns`.
pub fn render(v: &Violation, start_ns: u64) -> String {
    let mut s = format!(
        "{} violated at +{:.1} ms: {}\n",
        v.property,
        ms_since(start_ns, v.at_ns),
        v.message
    );
    for r in &v.window {
        s.push_str(&format!("  {}\n", render_record(r, start_ns)));
    }
    s
}

fn ms_since(start_ns: u64, ns: u64) -> f64 {
    ns.saturating_sub(start_ns) as f64 / 1e6
}

/// One record of a window, its times in ms since `start_ns`:
/// `[     12.5 ..      13.0 ms] w1.0      acquire     s0  -> ok token 1f2e fence 3`.
pub fn render_record(r: &Record, start_ns: u64) -> String {
    format!(
        "[{:>10.1} .. {:>10.1} ms] {:<9} {:<11} {:<3} -> {}{}{}{}",
        ms_since(start_ns, r.invoke_ns),
        ms_since(start_ns, r.complete_ns),
        r.who,
        r.op,
        r.session,
        r.result,
        r.token
            .as_ref()
            .map_or(String::new(), |t| format!(" token {t}")),
        r.fence.map_or(String::new(), |f| format!(" fence {f}")),
        r.target
            .as_ref()
            .map_or(String::new(), |t| format!(" target {t}")),
    )
}

#[cfg(test)]
mod tests;
