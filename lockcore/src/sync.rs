//! The only door to synchronisation primitives: `std`, `loom` or `shuttle`, picked by cargo feature.
//! Everything in lockcore and in the models that locks, waits, counts atomically, shares by `Arc` or
//! spawns a thread comes through here, so a model checker sees every step; `clippy.toml` enforces it.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

#[cfg(all(feature = "loom", feature = "shuttle"))]
compile_error!(
    "lockcore: the `loom` and `shuttle` features select different model checkers and cannot be \
     combined (e.g. by --all-features). Run `cargo test --features loom` and \
     `cargo test --features shuttle` separately."
);

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod imp {
    /// Shared ownership across threads.
    pub use std::sync::Arc;
    /// Wakes in-instance waiters when a holder releases.
    pub use std::sync::Condvar;
    /// Guards the registry and the simulated environments.
    pub use std::sync::{Mutex, MutexGuard};
    /// Counters and flags.
    pub mod atomic {
        pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    }
    /// Thread spawning and yielding.
    pub mod thread {
        pub use std::thread::{current, spawn, yield_now, JoinHandle};
    }
}

#[cfg(all(feature = "loom", not(feature = "shuttle")))]
mod imp {
    /// Shared ownership across threads (loom-tracked).
    pub use loom::sync::Arc;
    /// Wakes in-instance waiters (loom-tracked).
    pub use loom::sync::Condvar;
    /// Guards the registry and the simulated environments (loom-tracked).
    pub use loom::sync::{Mutex, MutexGuard};
    /// Counters and flags (loom-tracked).
    pub mod atomic {
        pub use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    }
    /// Thread spawning and yielding (loom-scheduled).
    pub mod thread {
        pub use loom::thread::{current, spawn, yield_now, JoinHandle};
    }
}

#[cfg(all(feature = "shuttle", not(feature = "loom")))]
mod imp {
    /// Shared ownership across threads (shuttle-tracked).
    pub use shuttle::sync::Arc;
    /// Wakes in-instance waiters (shuttle-tracked).
    pub use shuttle::sync::Condvar;
    /// Guards the registry and the simulated environments (shuttle-tracked).
    pub use shuttle::sync::{Mutex, MutexGuard};
    /// Counters and flags (shuttle-tracked).
    pub mod atomic {
        pub use shuttle::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    }
    /// Thread spawning and yielding (shuttle-scheduled).
    pub mod thread {
        pub use shuttle::thread::{current, spawn, yield_now, JoinHandle};
    }
}

// With both features on, compile_error! above has already said why; keep the std door so the
// error is the only one reported.
#[cfg(all(feature = "loom", feature = "shuttle"))]
mod imp {
    pub use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub mod atomic {
        pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    }
    pub mod thread {
        pub use std::thread::{current, spawn, yield_now, JoinHandle};
    }
}

pub use imp::*;

/// True when a model checker (loom or shuttle) schedules the threads: waiting must then yield to
/// it rather than block on real time.
pub const MODEL_CHECKED: bool = cfg!(any(feature = "loom", feature = "shuttle"));

/// Locks a mutex, ignoring poisoning: lockcore's critical sections leave the state consistent at
/// every early return, so a panic elsewhere does not make it unusable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Gives a model checker the chance to run another thread here; a no-op in production builds,
/// where the OS schedules freely anyway.
pub fn model_yield() {
    if MODEL_CHECKED {
        thread::yield_now();
    }
}

/// Waits on `cv` for at most `dur` of real time (spurious wakeups allowed). Under a model
/// checker this returns at once: lockcore waits through the virtual clock there instead.
pub fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    dur: std::time::Duration,
) -> MutexGuard<'a, T> {
    #[cfg(not(any(feature = "loom", feature = "shuttle")))]
    {
        match cv.wait_timeout(guard, dur) {
            Ok((g, _)) => g,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    {
        let _ = (cv, dur);
        guard
    }
}
