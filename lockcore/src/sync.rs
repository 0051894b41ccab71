//! The only door to synchronisation primitives: `std`, `loom` or `shuttle`, picked by cargo feature.
//! Everything in lockcore and in the models that locks, waits, counts atomically, shares by `Arc` or
//! spawns a thread comes through here, so a model checker sees every step; `clippy.toml` enforces it.
//! The `loom` and `shuttle` features exist only in the package lockcore-for-models, which builds
//! these same sources for the model checkers: the product package `lockcore` is always `std`.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

#[cfg(all(feature = "loom", feature = "shuttle"))]
compile_error!(
    "lockcore: the `loom` and `shuttle` features select different model checkers and cannot be \
     combined (e.g. by --all-features). Run `cargo test --features loom` and \
     `cargo test --features shuttle` separately."
);

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod imp {
    //! Thin wrappers, not re-exports: clippy's `disallowed-types` sees through a re-export, so
    //! only distinct types let it tell "through the shim" from "around it".
    use std::sync::{LockResult, PoisonError};
    use std::time::Duration;

    /// Shared ownership across threads (a plain re-export: loom's `Arc` only adds leak checks,
    /// and a stray std `Arc` hides no interleaving).
    pub use std::sync::Arc;
    /// The guard of a shim [`Mutex`].
    pub use std::sync::MutexGuard;

    /// Guards the registry and the simulated environments.
    #[derive(Debug, Default)]
    pub struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

    impl<T> Mutex<T> {
        /// A new unlocked mutex.
        pub fn new(value: T) -> Self {
            Mutex(std::sync::Mutex::new(value))
        }
    }

    impl<T: ?Sized> Mutex<T> {
        /// Locks, blocking.
        pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
            self.0.lock()
        }
    }

    /// Wakes in-instance waiters when a holder releases.
    #[derive(Debug, Default)]
    pub struct Condvar(std::sync::Condvar);

    impl Condvar {
        /// A new condition variable.
        pub fn new() -> Self {
            Condvar(std::sync::Condvar::new())
        }
        /// Blocks until notified.
        pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
            self.0.wait(guard)
        }
        /// Blocks until notified or `dur` passes.
        pub fn wait_timeout<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            dur: Duration,
        ) -> LockResult<(MutexGuard<'a, T>, bool)> {
            match self.0.wait_timeout(guard, dur) {
                Ok((g, t)) => Ok((g, t.timed_out())),
                Err(p) => {
                    let (g, t) = p.into_inner();
                    Err(PoisonError::new((g, t.timed_out())))
                }
            }
        }
        /// Wakes one waiter.
        pub fn notify_one(&self) {
            self.0.notify_one();
        }
        /// Wakes every waiter.
        pub fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// Counters and flags.
    pub mod atomic {
        pub use std::sync::atomic::Ordering;

        macro_rules! atomic {
            ($name:ident, $int:ty, $doc:literal) => {
                #[doc = $doc]
                #[derive(Debug, Default)]
                pub struct $name(std::sync::atomic::$name);

                impl $name {
                    /// A new atomic.
                    pub const fn new(v: $int) -> Self {
                        $name(std::sync::atomic::$name::new(v))
                    }
                    /// Loads the value.
                    pub fn load(&self, o: Ordering) -> $int {
                        self.0.load(o)
                    }
                    /// Stores a value.
                    pub fn store(&self, v: $int, o: Ordering) {
                        self.0.store(v, o)
                    }
                    /// Swaps in a value, returning the old one.
                    pub fn swap(&self, v: $int, o: Ordering) -> $int {
                        self.0.swap(v, o)
                    }
                    /// Compare-and-exchange.
                    pub fn compare_exchange(
                        &self,
                        current: $int,
                        new: $int,
                        success: Ordering,
                        failure: Ordering,
                    ) -> Result<$int, $int> {
                        self.0.compare_exchange(current, new, success, failure)
                    }
                }
            };
        }
        macro_rules! atomic_int {
            ($name:ident, $int:ty) => {
                impl $name {
                    /// Adds, returning the old value.
                    pub fn fetch_add(&self, v: $int, o: Ordering) -> $int {
                        self.0.fetch_add(v, o)
                    }
                    /// Subtracts, returning the old value.
                    pub fn fetch_sub(&self, v: $int, o: Ordering) -> $int {
                        self.0.fetch_sub(v, o)
                    }
                }
            };
        }
        atomic!(AtomicBool, bool, "A shim-visible `AtomicBool`.");
        atomic!(AtomicU64, u64, "A shim-visible `AtomicU64`.");
        atomic!(AtomicUsize, usize, "A shim-visible `AtomicUsize`.");
        atomic_int!(AtomicU64, u64);
        atomic_int!(AtomicUsize, usize);
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

/// True under loom: a wait on a condition variable blocks there until it is notified (loom
/// models no timeouts), so lockcore's in-instance waits block as they do in production, and a
/// notification that never comes is a deadlock loom reports. Shuttle sleeps on the clock.
pub const NOTIFY_CHECKED: bool = cfg!(all(feature = "loom", not(feature = "shuttle")));

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

/// Waits on `cv` for at most `dur` of real time (spurious wakeups allowed); the caller tells a
/// notification from the time running out by its own state. Under loom it waits until
/// notified, never timing out (see [`NOTIFY_CHECKED`]); under shuttle it returns at once:
/// lockcore waits through the virtual clock there instead.
pub fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    dur: std::time::Duration,
) -> MutexGuard<'a, T> {
    #[cfg(not(feature = "shuttle"))]
    {
        match cv.wait_timeout(guard, dur) {
            Ok((g, _)) => g,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }
    #[cfg(feature = "shuttle")]
    {
        let _ = (cv, dur);
        guard
    }
}
