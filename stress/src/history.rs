//! Histories: one JSON line per completed operation, appended (and written through) by the
//! process that did it, stamped with `CLOCK_MONOTONIC` — one clock for every process on the
//! machine, so records of different processes compare.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

/// One operation: who did what to which session, when it was invoked and when it completed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The process incarnation (`w3.1`: slot 3, second incarnation; `nemesis` for the driver).
    pub who: String,
    /// `acquire`, `fence`, `skip-write`, `releasing` (written before a release or `release_all`
    /// is invoked: `pending`), `release`, `release_all`, `refresh`, `run`, or a
    /// nemesis action (`kill`, `zombie`, `reap`, `stop`, `cont`, `usr1`, `clean`, `spawn`).
    pub op: String,
    /// The session (`s0`…); empty for operations on no session.
    #[serde(default)]
    pub session: String,
    pub invoke_ns: u64,
    pub complete_ns: u64,
    /// `ok`, `busy`, `error: …`, a release's `removed`/`not-ours`/`inert`, …
    pub result: String,
    /// The lock file's per-acquisition token, for operations on a hold.
    #[serde(default)]
    pub token: Option<String>,
    /// The fencing counter value this critical section wrote.
    #[serde(default)]
    pub fence: Option<u64>,
    /// The process a nemesis action was aimed at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The os pid of `who` (or of the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl Record {
    /// A record of `op` by `who` with no session, token or fence.
    pub fn new(who: &str, op: &str, invoke_ns: u64, complete_ns: u64, result: &str) -> Self {
        Record {
            who: who.to_string(),
            op: op.to_string(),
            invoke_ns,
            complete_ns,
            result: result.to_string(),
            ..Record::default()
        }
    }

    pub fn session(mut self, s: &str) -> Self {
        self.session = s.to_string();
        self
    }

    pub fn token(mut self, t: Option<&str>) -> Self {
        self.token = t.map(str::to_string);
        self
    }

    pub fn fence(mut self, f: u64) -> Self {
        self.fence = Some(f);
        self
    }

    pub fn target(mut self, t: &str, pid: u32) -> Self {
        self.target = Some(t.to_string());
        self.pid = Some(pid);
        self
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: comparable across the processes of one machine.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Appends records to one history file, one `write` per record (no buffering), so a record is
/// on disk before the process can be killed after it.
pub struct History {
    file: Mutex<File>,
}

impl History {
    pub fn open(path: &Path) -> io::Result<History> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(History {
            file: Mutex::new(file),
        })
    }

    pub fn append(&self, r: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(r).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(&line)
    }
}

/// Parses one history file. A process killed mid-write may leave a torn *last* line: it is
/// dropped (the operation did not complete as far as anyone can tell); a torn line elsewhere
/// is an error.
pub fn parse(text: &str) -> Result<Vec<Record>, String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        match serde_json::from_str(l) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => return Err(format!("line {}: {e}: {l}", i + 1)),
        }
    }
    Ok(out)
}

/// Every `*.jsonl` history in `dir`, merged and sorted by completion time.
pub fn read_dir(dir: &Path) -> Result<Vec<Record>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut all = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "jsonl") {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            all.extend(parse(&text).map_err(|e| format!("{}: {e}", path.display()))?);
        }
    }
    all.sort_by_key(|r| (r.complete_ns, r.invoke_ns));
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_dropped_and_a_torn_middle_line_is_an_error() {
        let r = Record::new("w1.0", "acquire", 1, 2, "ok").session("s0");
        let line = serde_json::to_string(&r).unwrap();
        let torn = format!("{line}\n{}", &line[..10]);
        assert_eq!(parse(&torn).unwrap(), vec![r.clone()]);
        assert!(parse(&format!("{}\n{line}\n", &line[..10])).is_err());
        assert!(now_ns() > 0 && now_ns() <= now_ns());
    }
}
