//! Leases in the model (DESIGN §4a, P13, P15): a manager with a manual heartbeat declares the
//! policy's lease in its new files; a refresh touches every file still exactly its own and marks
//! every other hold compromised; a stopped process's heartbeat does not run.

use super::*;
use lockcore::payload::Lease;

impl Model {
    /// The lease a new file of `inst` declares: only while something refreshes it.
    pub(super) fn declared_lease(&self, inst: &Instance) -> Option<Lease> {
        let whole_ms = |d| u64::try_from(ms(d)).unwrap_or(u64::MAX).max(1);
        let lease = self.policy.lease.filter(|_| inst.manual_heartbeat)?;
        Some(Lease {
            lease_ms: whole_ms(lease),
            max_hold_ms: self.policy.max_hold.map(whole_ms),
        })
    }

    pub(super) fn use_manual_heartbeat(&mut self, p: &ProcKey) -> Outcome {
        let Some(inst) = self.instance_mut(p) else {
            return Outcome::NoInstance;
        };
        inst.manual_heartbeat = true;
        self.note(
            &p.to_string(),
            "use_manual_heartbeat",
            Path::new(""),
            "leases on",
        );
        Outcome::Done
    }

    pub(super) fn set_stopped(&mut self, p: &ProcKey, stopped: bool) -> Outcome {
        let Some(pr) = self.procs.get_mut(p).filter(|pr| pr.alive) else {
            return Outcome::NoInstance;
        };
        pr.stopped = stopped;
        let what = if stopped { "SIGSTOP" } else { "SIGCONT" };
        self.note(&p.to_string(), what, Path::new(""), "");
        Outcome::Done
    }

    /// One heartbeat round of `p`'s manager. A stopped process runs nothing: `Done`.
    pub(super) fn refresh(&mut self, p: &ProcKey) -> Outcome {
        if self.procs.get(p).is_some_and(|pr| pr.alive && pr.stopped) {
            self.note(&p.to_string(), "refresh", Path::new(""), "stopped: not run");
            return Outcome::Done;
        }
        let Some(inst) = self.instance(p) else {
            return Outcome::NoInstance;
        };
        let mine: Vec<(PathBuf, Payload)> = inst
            .holds
            .iter()
            .chain(inst.releasing.iter())
            .filter(|(_, h)| !h.compromised)
            .map(|(path, h)| (path.clone(), h.payload.clone()))
            .collect();
        let (mut refreshed, mut compromised) = (Vec::new(), Vec::new());
        for (path, payload) in mine {
            if self.file_is(&path, &payload) {
                if let Some(f) = self.files.get_mut(&path) {
                    f.mtime_ms = self.now_ms;
                }
                refreshed.push(path);
            } else {
                compromised.push(path);
            }
        }
        if let Some(inst) = self.instance_mut(p) {
            for path in &compromised {
                for h in inst
                    .holds
                    .get_mut(path)
                    .into_iter()
                    .chain(inst.releasing.get_mut(path))
                {
                    h.compromised = true;
                }
            }
        }
        let desc = format!("refreshed {refreshed:?}, compromised {compromised:?}");
        self.note(&p.to_string(), "refresh", Path::new(""), desc);
        refreshed.sort();
        compromised.sort();
        Outcome::Refreshed {
            refreshed,
            compromised,
        }
    }
}

impl Model {
    /// Whether guard `g`'s hold is registered and compromised (its release must delete nothing).
    pub fn guard_hold_compromised(&self, g: u64) -> bool {
        self.guards.get(&g).is_some_and(|g| {
            self.instance(&g.proc)
                .and_then(|i| i.holds.get(&g.path))
                .is_some_and(|h| h.id == g.hold && h.compromised)
        })
    }
}
