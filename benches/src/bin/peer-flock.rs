//! The kernel `flock` driver of `benches/peers/run.sh`: per acquisition, open (create) the lock
//! file, `flock(LOCK_EX)` (std's `File::lock`), and on release `flock(LOCK_UN)` and close; the
//! file stays. What a lock-file library built on `flock` does (Python's `filelock` on Unix does
//! the same steps). See `lockcore_benches::peer` for the arguments and the JSON line.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

/// A locked file; dropping it unlocks and closes.
struct Flocked(File);

impl Drop for Flocked {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn lock(path: &PathBuf) -> Result<Flocked, String> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    file.lock().map_err(|e| format!("flock: {e}"))?;
    Ok(Flocked(file))
}

fn main() {
    lockcore_benches::peer::main("flock", "kernel", |session| {
        let mut name = session.into_os_string();
        name.push(".lock");
        let path = PathBuf::from(name);
        Ok(move || lock(&path))
    });
}
