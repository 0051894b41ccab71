//! The reference model: a pure, sequential specification of the lock system (to be written).
