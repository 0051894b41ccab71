//! Pid namespaces, SIGSTOP/SIGCONT and the machine's boot time (DESIGN §4a, P13–P15).
//!
//! A host string is a pid namespace: each has its own pid 1, and a probe sees only its own.
//! A namespace can die (every process in it dies; their files stay) and a new one may take its
//! id again — lockcore's `host` field then names a namespace that is gone, which is why equal
//! hosts keep the pid rules sound.

use super::SimWorld;

impl SimWorld {
    /// Every process of namespace `host` dies (a container stops); their files stay.
    pub fn kill_namespace(&self, host: &str) {
        let mut u = self.untracked();
        for p in u.procs.values_mut().filter(|p| p.host == host) {
            p.alive = false;
            p.stopped = false;
        }
        u.dead_namespaces.insert(host.to_string());
    }

    /// A new namespace takes the id `host` (a container starts again): nothing of the old one
    /// runs in it; spawn its processes afresh (new start times, new lock managers).
    pub fn restart_namespace(&self, host: &str) {
        self.untracked().dead_namespaces.remove(host);
    }

    /// False between [`SimWorld::kill_namespace`] and [`SimWorld::restart_namespace`].
    pub fn namespace_alive(&self, host: &str) -> bool {
        !self.untracked().dead_namespaces.contains(host)
    }

    /// SIGSTOP: the process stays alive for probes but runs nothing (its heartbeat is not
    /// called while stopped).
    pub fn stop(&self, host: &str, pid: u32) {
        self.set_stopped(host, pid, true);
    }

    /// SIGCONT: the process runs again.
    pub fn cont(&self, host: &str, pid: u32) {
        self.set_stopped(host, pid, false);
    }

    fn set_stopped(&self, host: &str, pid: u32, stopped: bool) {
        if let Some(p) = self
            .untracked()
            .procs
            .get_mut(&(host.to_string(), pid))
            .filter(|p| p.alive)
        {
            p.stopped = stopped;
        }
    }

    /// Whether `pid` on `host` is alive and stopped.
    pub fn is_stopped(&self, host: &str, pid: u32) -> bool {
        self.process(host, pid)
            .is_some_and(|p| p.alive && p.stopped)
    }

    /// Sets when the machine booted (wall ms; `None`: unknown). Set it before creating lock
    /// managers: lockcore reads it once per manager.
    pub fn set_boot_time_ms(&self, boot_ms: Option<i64>) {
        self.untracked().boot_ms = boot_ms;
    }

    /// When the machine booted, if known: no process of any namespace is older.
    pub fn boot_time_ms(&self) -> Option<i64> {
        self.untracked().boot_ms
    }
}
