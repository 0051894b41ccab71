//! The event trace of a simulated run: every file step with who did it and what came of it,
//! printed as a numbered list a person can follow, e.g.
//! `#3 p1/t2 read s1.jsonl.lock -> {pid 101, nonce 5c0a9b3e, token 00ab…}`.

use lockcore::payload::Payload;
use std::fmt;
use std::path::PathBuf;

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// 1-based sequence number.
    pub seq: usize,
    /// `p1/t2` (process label / thread), or `world` for planted files.
    pub actor: String,
    /// Operation name (`create`, `link`, `read`, `remove`, `lock-dir`, …) or a note.
    pub op: String,
    /// The path operated on.
    pub path: PathBuf,
    /// What came of it.
    pub result: String,
}

/// A sequence of events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The events, in order.
    pub events: Vec<Event>,
}

fn short(s: &str) -> &str {
    s.get(..8).unwrap_or(s)
}

/// A short description of lock-file bytes: `{pid 101, nonce 5c0a9b3e, token 1f2e3d4c}` or
/// `malformed(empty)`.
pub fn describe_bytes(bytes: &[u8]) -> String {
    match Payload::parse(bytes) {
        Ok(p) => {
            let mut s = format!("{{pid {}", p.pid);
            if let Some(n) = &p.nonce {
                s.push_str(&format!(", nonce {}", short(n)));
            }
            if let Some(t) = &p.token {
                s.push_str(&format!(", token {}", short(t)));
            }
            s.push('}');
            s
        }
        Err(m) => format!("malformed({})", m.as_str()),
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string());
        write!(
            f,
            "#{} {} {} {} -> {}",
            self.seq, self.actor, self.op, name, self.result
        )
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.events {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl Trace {
    /// The events after `seq` (exclusive).
    pub fn since(&self, seq: usize) -> Trace {
        Trace {
            events: self
                .events
                .iter()
                .filter(|e| e.seq > seq)
                .cloned()
                .collect(),
        }
    }
}
