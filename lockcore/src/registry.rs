//! The registry of one instance: its holds with reentrant counts, the file I/O in progress on
//! each lock path, its epoch and nonce, and the waiters' bookkeeping — all behind one mutex
//! (`Inner::state`) that is never held across a file system call.

use crate::manager::temp_path_for;
use crate::payload::Payload;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One held lock in the registry.
#[derive(Clone, Debug)]
pub(crate) struct Hold {
    pub(crate) id: u64,
    pub(crate) count: u32,
    pub(crate) bytes: Vec<u8>,
    pub(crate) payload: Payload,
    /// A refresh found the file gone or replaced: not ours any more, and never touched again.
    pub(crate) compromised: bool,
    /// `release_all` is removing its file: no longer held (`is_held()` is false), but still
    /// this instance's until the file is gone (a contender judges it held here).
    pub(crate) removing: bool,
    /// When (monotonic) its file was published; handovers keep it (`handover.rs`).
    pub(crate) published: Duration,
    /// When (monotonic) its acquisition last found the queue flag down, if it looked: the
    /// next acquisition after its release trusts that as its own look (`wait.rs`).
    pub(crate) flag_down_at: Option<Duration>,
}

/// A release of a path by this instance, kept for [`crate::wait::HANDOFF_WINDOW`]: its next
/// acquisition of the path yields to queued waiters of other processes (`wait.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReleaseNote {
    /// When (monotonic).
    pub(crate) at: Duration,
    /// The release found another process waiting (a mark on the file).
    pub(crate) wanted: bool,
    /// The released hold's last sight of the queue flag down.
    pub(crate) flag_down_at: Option<Duration>,
}

pub(crate) struct State {
    pub(crate) epoch: u64,
    pub(crate) nonce: String,
    /// The epoch a `release_all` is closing; acquisitions wait while it equals `epoch`.
    pub(crate) closing: Option<u64>,
    /// Live holds of this instance, by lock path.
    pub(crate) holds: BTreeMap<PathBuf, Hold>,
    /// Holds a `release_all` has taken and not yet removed, by hold id.
    pub(crate) releasing: BTreeMap<u64, (PathBuf, Hold)>,
    /// File I/O of this instance on a lock path, running outside the registry lock: at most one
    /// per path. `release_all` waits until none is left before it takes its snapshot.
    pub(crate) in_progress: BTreeMap<PathBuf, InProgress>,
    pub(crate) next_hold_id: u64,
    /// Threads blocked on the registry, each on its own condition variable (a notification
    /// wakes only those it concerns), and how their waits ended (`waits.blocked_now` unused).
    pub(crate) sleepers: Vec<crate::wait::Sleeper>,
    pub(crate) next_sleeper: u64,
    pub(crate) waits: crate::wait::InstanceWaits,
    /// Bumped by every notify: a waiter that found the lock busy at generation g blocks only
    /// while it is still g, so a release between its look and its wait is never slept through.
    pub(crate) generation: u64,
    /// Lease refreshes: by this manager's own thread (real clock), or promised by the caller.
    pub(crate) heartbeat: crate::lease::Heartbeat,
    /// Told the lock path of every hold a refresh finds compromised.
    pub(crate) on_compromised: Option<crate::lease::OnCompromised>,
    /// Waiting acquisitions of this instance per lock path, in arrival order (tickets): only the
    /// oldest may publish, so a releasing thread cannot take the lock straight back (no barging).
    pub(crate) queues: BTreeMap<PathBuf, std::collections::VecDeque<u64>>,
    pub(crate) next_ticket: u64,
    /// Paths released here lately, with when (monotonic) and whether the release found another
    /// process waiting for the file: this instance's next acquire of one yields to queued
    /// waiters, and lets that waiter in first (`wait.rs`).
    pub(crate) released: BTreeMap<PathBuf, ReleaseNote>,
    /// Holds a release handed to the front waiter of their path, not yet taken (`handover.rs`).
    pub(crate) grants: BTreeMap<PathBuf, crate::handover::Grant>,
    /// Where this instance's acquisition tokens come from: drawn once, then counted (see
    /// [`State::next_token`]).
    token_seed: u64,
    tokens_made: u64,
}

/// File I/O of this instance in progress on one lock path (see [`State::in_progress`]).
#[derive(Debug)]
pub(crate) enum InProgress {
    /// An acquisition publishing (or reclaiming for) a file with this token.
    Acquiring { token: String },
    /// A guard's release removing its file.
    Releasing(Hold),
}

impl State {
    /// An empty registry of an instance with this nonce, at epoch 0.
    pub(crate) fn new(nonce: String, heartbeat: crate::lease::Heartbeat, token_seed: u64) -> Self {
        State {
            epoch: 0,
            nonce,
            closing: None,
            holds: BTreeMap::new(),
            releasing: BTreeMap::new(),
            in_progress: BTreeMap::new(),
            next_hold_id: 1,
            sleepers: Vec::new(),
            next_sleeper: 1,
            waits: crate::wait::InstanceWaits::default(),
            generation: 0,
            heartbeat,
            on_compromised: None,
            queues: BTreeMap::new(),
            next_ticket: 1,
            released: BTreeMap::new(),
            grants: BTreeMap::new(),
            token_seed,
            tokens_made: 0,
        }
    }

    /// A token for a new acquisition: 16 hex digits, never repeated by this instance (SplitMix64
    /// of a count from a random seed is a bijection of the count), with no system call — a
    /// random draw per acquisition was a `getrandom` on the uncontended path.
    pub(crate) fn next_token(&mut self) -> String {
        self.tokens_made = self.tokens_made.wrapping_add(1);
        let mut z = self
            .token_seed
            .wrapping_add(self.tokens_made.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        format!("{:016x}", z ^ (z >> 31))
    }

    /// Notes a release of `lock_path`; forgets notes too old to matter, so the map stays as
    /// small as the set of paths released in the last [`crate::wait::HANDOFF_WINDOW`].
    pub(crate) fn note_released(&mut self, lock_path: &Path, note: ReleaseNote) {
        let window = crate::wait::HANDOFF_WINDOW;
        self.released
            .retain(|_, old| note.at.saturating_sub(old.at) <= window);
        self.released.insert(lock_path.to_path_buf(), note);
    }

    /// This instance holds, is taking or is releasing this path or a file carrying this token.
    /// An acquisition in progress counts by its token only, so that its own judge of a
    /// leftover at its path does not count its claim.
    pub(crate) fn is_ours(&self, lock_path: &Path, token: Option<&str>) -> bool {
        let token_matches = |h: &Hold| token.is_some() && h.payload.token.as_deref() == token;
        self.holds.contains_key(lock_path)
            || self.holds.values().any(token_matches)
            || self
                .releasing
                .values()
                .any(|(p, h)| p == lock_path || token_matches(h))
            || self.in_progress.iter().any(|(p, io)| match io {
                InProgress::Releasing(h) => p == lock_path || token_matches(h),
                InProgress::Acquiring { token: t } => token == Some(t.as_str()),
            })
    }

    /// The publish temp files of the acquisitions in progress (the sweep leaves them alone).
    pub(crate) fn temps_in_progress(&self, pid: u32) -> Vec<PathBuf> {
        self.in_progress
            .iter()
            .filter_map(|(p, io)| match io {
                InProgress::Acquiring { token } => Some(temp_path_for(p, pid, token)),
                InProgress::Releasing(_) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{temp_path_for, Hold, InProgress, ReleaseNote, State};
    use crate::lease::Heartbeat;
    use crate::wait::HANDOFF_WINDOW;
    use crate::Payload;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    fn hold(id: u64, token: Option<&str>) -> Hold {
        let payload = Payload {
            pid: 10,
            nonce: Some("n".into()),
            created_at_ms: 0,
            starttime: None,
            host: None,
            token: token.map(str::to_string),
            lease: None,
        };
        Hold {
            id,
            count: 1,
            bytes: payload.to_bytes(),
            payload,
            compromised: false,
            removing: false,
            published: Duration::ZERO,
            flag_down_at: None,
        }
    }

    fn state() -> State {
        State::new("n".into(), Heartbeat::Off, 7)
    }

    const HERE: &str = "/d/a.lock";
    const ELSEWHERE: &str = "/d/b.lock";

    /// Whether a file at `HERE` carrying `token` is judged this instance's, in a state that has
    /// exactly one entry, made by `put`.
    fn ours_with(put: impl FnOnce(&mut State), token: Option<&str>) -> bool {
        let mut st = state();
        put(&mut st);
        st.is_ours(Path::new(HERE), token)
    }

    // P2 (a contender never reclaims a file this instance holds or is releasing; our own
    // leftover is reclaimed at once, P6): every kind of entry counts by its path, and by its
    // token on any path — except an acquisition in progress, which counts by token only.
    #[test]
    fn is_ours_counts_each_kind_of_entry_by_path_and_token() {
        let held_at = |path: &'static str, token| {
            move |st: &mut State| {
                st.holds.insert(PathBuf::from(path), hold(1, token));
            }
        };
        let released_at = |path: &'static str, token| {
            move |st: &mut State| {
                st.releasing
                    .insert(1, (PathBuf::from(path), hold(1, token)));
            }
        };
        let removing_at = |path: &'static str, token| {
            move |st: &mut State| {
                let io = InProgress::Releasing(hold(1, token));
                st.in_progress.insert(PathBuf::from(path), io);
            }
        };
        let acquiring_at = |path: &'static str| {
            move |st: &mut State| {
                let io = InProgress::Acquiring { token: "t".into() };
                st.in_progress.insert(PathBuf::from(path), io);
            }
        };
        // Nothing in the registry: a file of ours is a leftover.
        assert!(!ours_with(|_| {}, Some("t")));
        // By path, whatever the file carries (a hold's file has no other token).
        assert!(ours_with(held_at(HERE, Some("t")), None));
        assert!(ours_with(released_at(HERE, Some("t")), None));
        assert!(ours_with(removing_at(HERE, Some("t")), None));
        // By token, on another path (two spellings of one file).
        assert!(ours_with(held_at(ELSEWHERE, Some("t")), Some("t")));
        assert!(ours_with(released_at(ELSEWHERE, Some("t")), Some("t")));
        assert!(ours_with(removing_at(ELSEWHERE, Some("t")), Some("t")));
        assert!(ours_with(acquiring_at(ELSEWHERE), Some("t")));
        // Not ours: another path and another token, or no token to match.
        assert!(!ours_with(held_at(ELSEWHERE, Some("t")), Some("u")));
        assert!(!ours_with(released_at(ELSEWHERE, Some("t")), Some("u")));
        assert!(!ours_with(removing_at(ELSEWHERE, Some("t")), Some("u")));
        assert!(!ours_with(released_at(ELSEWHERE, None), None));
        assert!(!ours_with(removing_at(ELSEWHERE, None), None));
        // An acquisition judging the leftover at its own path does not count its own claim.
        assert!(!ours_with(acquiring_at(HERE), Some("u")));
        assert!(!ours_with(acquiring_at(HERE), None));
    }

    // P11 (no temp file of a live acquisition is swept): the sweep is told exactly the temp
    // files of this instance's acquisitions in progress, and nothing for its releases.
    #[test]
    fn temps_in_progress_names_the_publishing_acquisitions_only() {
        let mut st = state();
        assert!(st.temps_in_progress(10).is_empty());
        let io = InProgress::Acquiring { token: "t".into() };
        st.in_progress.insert(PathBuf::from(HERE), io);
        let io = InProgress::Releasing(hold(2, Some("u")));
        st.in_progress.insert(PathBuf::from(ELSEWHERE), io);
        assert_eq!(
            st.temps_in_progress(10),
            vec![temp_path_for(Path::new(HERE), 10, "t")]
        );
    }

    // P11 (a waiter of another process is let in; the note stays as small as the set of
    // recently released paths): a note, with whether the release found a waiter, is kept for
    // the handoff window and forgotten after it.
    #[test]
    fn note_released_keeps_notes_for_the_handoff_window_only() {
        let mut st = state();
        let note = |at, wanted| ReleaseNote {
            at,
            wanted,
            flag_down_at: Some(at),
        };
        let at = Duration::from_secs(100);
        st.note_released(Path::new(HERE), note(at, true));
        st.note_released(Path::new(ELSEWHERE), note(at + HANDOFF_WINDOW, false));
        assert_eq!(st.released.len(), 2, "both notes are within the window");
        assert_eq!(st.released.get(Path::new(HERE)), Some(&note(at, true)));
        assert_eq!(
            st.released.get(Path::new(ELSEWHERE)),
            Some(&note(at + HANDOFF_WINDOW, false))
        );
        let later = at + HANDOFF_WINDOW * 2 + Duration::from_millis(1);
        st.note_released(Path::new("/d/c.lock"), note(later, false));
        assert_eq!(
            st.released.keys().collect::<Vec<_>>(),
            vec![Path::new("/d/c.lock")],
            "notes older than the window are forgotten"
        );
    }

    // P1 (a token tells two acquisitions of one instance apart): 100,000 tokens in a row are
    // all different and all 16 hex digits; another seed gives another sequence.
    #[test]
    fn tokens_never_repeat_and_depend_on_the_seed() {
        let mut st = state();
        let tokens: std::collections::BTreeSet<String> =
            (0..100_000).map(|_| st.next_token()).collect();
        assert_eq!(tokens.len(), 100_000);
        assert!(tokens
            .iter()
            .all(|t| t.len() == 16 && t.bytes().all(|b| b.is_ascii_hexdigit())));
        // SplitMix64's published first outputs from state 0: the bijection the doc relies on.
        let mut zero = State::new("n".into(), crate::lease::Heartbeat::Off, 0);
        let first: Vec<String> = (0..3).map(|_| zero.next_token()).collect();
        assert_eq!(
            first,
            ["e220a8397b1dcdaf", "6e789e6aa1b965f4", "06c45d188009454f"]
        );
        let mut other = State::new("n".into(), crate::lease::Heartbeat::Off, 8);
        assert!((0..1_000).all(|_| !tokens.contains(&other.next_token())));
    }
}
