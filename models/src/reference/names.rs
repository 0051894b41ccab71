//! Lock and temp file names: `<session>.lock`, and the publish temp file
//! `.<lock name>.<pid>-<token>.lktmp`.

use super::*;

/// The lock path of a session file: `<session>.lock` (as spelled; see
/// [`Model::resolved_lock_path`] for the registry's key).
pub fn lock_path_of(session: &Path) -> PathBuf {
    let mut s = session.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A `*.lock` file a sweep considers (dot-named sessions' locks included).
pub fn is_lock_name(path: &Path) -> bool {
    let n = file_name(path);
    n.len() > ".lock".len() && n.ends_with(".lock")
}

/// A publish temp file `.<lock name>.<pid>-<token>.lktmp`: `Some(publisher pid, if readable)`.
pub fn temp_publisher(path: &Path) -> Option<Option<u32>> {
    let n = file_name(path);
    let stem = n.strip_prefix('.')?.strip_suffix(".lktmp")?;
    let (_, pid_token) = stem.rsplit_once('.')?;
    Some(
        pid_token
            .split_once('-')
            .and_then(|(pid, _)| pid.parse().ok()),
    )
}

/// A publish temp file.
pub fn is_temp_name(path: &Path) -> bool {
    temp_publisher(path).is_some()
}
