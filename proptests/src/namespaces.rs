//! The state machine's transitions for pid namespaces, peers and leases (DESIGN §4a, P13–P15):
//! peers in sibling namespaces holding host-less files, namespaces that die and start again,
//! SIGSTOP/SIGCONT, a manual heartbeat and its refreshes. Strategies and resolution here;
//! the variants live in [`Transition`].

use crate::machine::{proc_key, session, Transition, PROCS, SESSIONS};
use models::reference::{lock_path_of, Model, Op, PeerShape, ProcKey};
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

/// The pid namespaces (hosts): `h1` and `h2` run lockcore processes (and `h2` peers too), `h3`
/// only a peer whose pid 1 shadows `h1:1` and `h2:1`.
pub const NAMESPACES: [&str; 3] = ["h1", "h2", "h3"];

/// Peer processes: pids 2 and 3 shadow `h1:2` and `h1:3` from a sibling namespace, 7 shadows
/// nobody, and `h3:1` is another container's pid 1.
pub const PEERS: [(&str, u32); 4] = [("h2", 2), ("h2", 3), ("h2", 7), ("h3", 1)];

/// The peer in slot `i`.
pub fn peer_key(i: usize) -> ProcKey {
    let (host, pid) = PEERS[i % PEERS.len()];
    ProcKey::new(host, pid)
}

fn shape_label(shape: PeerShape) -> &'static str {
    match shape {
        PeerShape::Legacy => "peer-acquire-legacy",
        PeerShape::Nonce => "peer-acquire-nonce",
        PeerShape::StartTime => "peer-acquire-starttime",
    }
}

/// The live lockcore process `i`, and not stopped: it can run an operation.
pub fn running(m: &Model, i: usize) -> bool {
    m.instance(&proc_key(i)).is_some() && !stopped(m, i)
}

/// The live lockcore process `i` is stopped.
pub fn stopped(m: &Model, i: usize) -> bool {
    m.procs
        .get(&proc_key(i))
        .is_some_and(|p| p.alive && p.stopped)
}

/// Namespace `host` is alive.
pub fn namespace_alive(m: &Model, host: &str) -> bool {
    !m.dead_namespaces.contains(host)
}

/// Sessions whose lock peer `i` holds (alive).
fn peer_sessions(m: &Model, i: usize) -> Vec<usize> {
    let Some(peer) = m.peers.get(&peer_key(i)).filter(|p| p.alive) else {
        return Vec::new();
    };
    (0..SESSIONS)
        .filter(|s| peer.holds.contains_key(&lock_path_of(&session(*s))))
        .collect()
}

/// Resolves a namespace/peer/lease transition; `None` for the others.
pub fn resolve(t: &Transition) -> Option<(Op, Vec<&'static str>)> {
    Some(match t {
        Transition::UseManualHeartbeat(p) => (
            Op::UseManualHeartbeat(proc_key(*p)),
            vec!["use-manual-heartbeat"],
        ),
        Transition::Refresh(p) => (Op::Refresh(proc_key(*p)), vec!["refresh"]),
        Transition::Stop(p) => (Op::Stop(proc_key(*p)), vec!["stop"]),
        Transition::Cont(p) => (Op::Cont(proc_key(*p)), vec!["cont"]),
        Transition::PeerAcquire {
            peer,
            session: s,
            shape,
        } => {
            let key = peer_key(*peer);
            let shadows = PROCS
                .iter()
                .any(|(h, pid)| *h != key.host && *pid == key.pid);
            let mut labels = vec![shape_label(*shape)];
            if shadows {
                labels.push("peer-pid-shadows-lockcore");
            }
            let op = Op::PeerAcquire {
                peer: key,
                session: session(*s),
                shape: *shape,
            };
            (op, labels)
        }
        Transition::PeerRelease { peer, session: s } => (
            Op::PeerRelease {
                peer: peer_key(*peer),
                session: session(*s),
            },
            vec!["peer-release"],
        ),
        Transition::KillNamespace(n) => (
            Op::KillNamespace(NAMESPACES[*n].to_string()),
            vec!["kill-namespace"],
        ),
        Transition::RestartNamespace(n) => (
            Op::RestartNamespace(NAMESPACES[*n].to_string()),
            vec!["restart-namespace"],
        ),
        _ => return None,
    })
}

/// Preconditions of the transitions resolved here; `None` for the others.
pub fn precondition(m: &Model, t: &Transition) -> Option<bool> {
    Some(match t {
        Transition::UseManualHeartbeat(p) | Transition::Stop(p) => running(m, *p),
        Transition::Refresh(p) => m.instance(&proc_key(*p)).is_some(),
        Transition::Cont(p) => stopped(m, *p),
        Transition::PeerAcquire {
            peer, session: s, ..
        } => {
            let key = peer_key(*peer);
            namespace_alive(m, &key.host) && !m.files.contains_key(&lock_path_of(&session(*s)))
        }
        Transition::PeerRelease { peer, session: s } => peer_sessions(m, *peer).contains(s),
        Transition::KillNamespace(n) => namespace_alive(m, NAMESPACES[*n]),
        Transition::RestartNamespace(n) => !namespace_alive(m, NAMESPACES[*n]),
        _ => return None,
    })
}

fn peer_shape() -> impl Strategy<Value = PeerShape> {
    prop_oneof![
        Just(PeerShape::Legacy),
        Just(PeerShape::Nonce),
        Just(PeerShape::StartTime),
    ]
}

/// The weighted options these transitions add for state `m`.
pub fn options(m: &Model) -> Vec<(u32, BoxedStrategy<Transition>)> {
    let mut out: Vec<(u32, BoxedStrategy<Transition>)> = Vec::new();
    use proptest::sample::select;
    let running: Vec<usize> = (0..PROCS.len()).filter(|i| running(m, *i)).collect();
    let live: Vec<usize> = (0..PROCS.len())
        .filter(|i| m.instance(&proc_key(*i)).is_some())
        .collect();
    let stopped: Vec<usize> = (0..PROCS.len()).filter(|i| stopped(m, *i)).collect();
    if !running.is_empty() {
        let heartbeat = select(running.clone()).prop_map(Transition::UseManualHeartbeat);
        out.push((5, heartbeat.boxed()));
        out.push((2, select(running).prop_map(Transition::Stop).boxed()));
    }
    if !live.is_empty() {
        out.push((10, select(live).prop_map(Transition::Refresh).boxed()));
    }
    if !stopped.is_empty() {
        out.push((3, select(stopped).prop_map(Transition::Cont).boxed()));
    }
    let free: Vec<usize> = (0..SESSIONS)
        .filter(|s| !m.files.contains_key(&lock_path_of(&session(*s))))
        .collect();
    let peers: Vec<usize> = (0..PEERS.len())
        .filter(|i| namespace_alive(m, &peer_key(*i).host))
        .collect();
    if !free.is_empty() && !peers.is_empty() {
        let take =
            (select(peers), select(free), peer_shape()).prop_map(|(peer, session, shape)| {
                Transition::PeerAcquire {
                    peer,
                    session,
                    shape,
                }
            });
        out.push((6, take.boxed()));
    }
    let held: Vec<(usize, usize)> = (0..PEERS.len())
        .flat_map(|p| peer_sessions(m, p).into_iter().map(move |s| (p, s)))
        .collect();
    if !held.is_empty() {
        let release =
            select(held).prop_map(|(peer, session)| Transition::PeerRelease { peer, session });
        out.push((4, release.boxed()));
    }
    let (alive_ns, dead_ns): (Vec<usize>, Vec<usize>) =
        (0..NAMESPACES.len()).partition(|n| namespace_alive(m, NAMESPACES[*n]));
    if !alive_ns.is_empty() {
        out.push((
            1,
            select(alive_ns).prop_map(Transition::KillNamespace).boxed(),
        ));
    }
    if !dead_ns.is_empty() {
        out.push((
            6,
            select(dead_ns)
                .prop_map(Transition::RestartNamespace)
                .boxed(),
        ));
    }
    out
}
