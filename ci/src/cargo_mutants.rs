//! cargo-mutants' output (`mutants.out/`): the counts of the runs, accumulated by `--iterate`.

pub use lockcore_results::report::CargoMutants as Summary;
use std::path::Path;

fn lines(dir: &Path, file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
    text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect()
}

/// Reads `<out>/mutants.out`: `--iterate` moves what earlier runs caught into
/// `previously_caught.txt`, so caught is both files and missed is the last run's. `None` when no
/// run wrote anything (an error: the step's log says why).
pub fn read(out: &Path) -> Option<Summary> {
    let dir = out.join("mutants.out");
    if !dir.join("outcomes.json").is_file() {
        return None;
    }
    let missed = lines(&dir, "missed.txt");
    let timeout = lines(&dir, "timeout.txt");
    let caught = lines(&dir, "caught.txt").len() + lines(&dir, "previously_caught.txt").len();
    Some(Summary {
        caught: caught as u64,
        missed: missed.len() as u64,
        unviable: lines(&dir, "unviable.txt").len() as u64,
        timeout: timeout.len() as u64,
        missed_mutants: missed,
        timeout_mutants: timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_from_the_outcome_lists() {
        let out = tempfile::tempdir().unwrap();
        assert_eq!(read(out.path()), None);
        let dir = out.path().join("mutants.out");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("outcomes.json"), "{}").unwrap();
        std::fs::write(dir.join("caught.txt"), "a\nb\n").unwrap();
        std::fs::write(dir.join("previously_caught.txt"), "c\n").unwrap();
        std::fs::write(dir.join("missed.txt"), "lockcore/src/os.rs:1:1: replace x\n").unwrap();
        let s = read(out.path()).unwrap();
        assert_eq!((s.caught, s.missed, s.unviable, s.timeout), (3, 1, 0, 0));
        assert_eq!(s.missed_mutants, vec!["lockcore/src/os.rs:1:1: replace x"]);
    }
}
