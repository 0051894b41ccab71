//! Signal cleanup: filled next.
