//! proptest state machines for lockcore: the reference model of `models` against lockcore on a
//! real temp directory (with simulated processes and a virtual clock), step by step.
//!
//! Everything here drives the real `std` file system and lockcore's `std` sync shim, so it is
//! compiled only without the `loom`/`shuttle` features (under those the crate is empty).

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub mod hostile;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub mod machine;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub mod namespaces;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub mod runner;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub mod system;
