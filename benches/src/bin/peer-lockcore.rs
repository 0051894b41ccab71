//! The lockcore driver of `benches/peers/run.sh`: `LockManager::acquire` + release of
//! `<path>.lock` with the default policy (see `lockcore_benches::peer` for the arguments and the
//! JSON line).

use lockcore::{AcquireOptions, LockManager, OsEnv, Policy};
use lockcore_benches::CONTENDED_TIMEOUT;

fn main() {
    lockcore_benches::peer::main("lockcore", env!("CARGO_PKG_VERSION"), |session| {
        let mgr = LockManager::new(OsEnv::new(), Policy::default());
        let opts = AcquireOptions {
            reentrant: true,
            timeout: Some(CONTENDED_TIMEOUT),
        };
        Ok(move || {
            mgr.acquire_with(&session, opts)
                .map_err(|e| format!("acquire: {e}"))
        })
    });
}
