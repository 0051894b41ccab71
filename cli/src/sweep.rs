//! `inspect` and `clean`: every lock file in a directory, as a table, lines or JSON.

use crate::output::{human_age, human_ago, human_lease, print_table, to_json, write_out};
use crate::{manager, Failure};
use lockcore::{CleanOptions, CleanReport, FileKind, LockInfo, Malformed, Policy, Verdict};
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;

/// One lock file, as `inspect --json` prints it.
#[derive(Serialize)]
struct InfoJson {
    path: String,
    pid: Option<u32>,
    nonce: Option<String>,
    created_at: Option<String>,
    age_ms: i64,
    stale: bool,
    reasons: Vec<String>,
    /// The lease the file declares (`leaseMs`), or null.
    lease_ms: Option<u64>,
    /// Time since the file's mtime was last set (its holder's last refresh); null when the
    /// file declares no lease.
    refreshed_ms_ago: Option<i64>,
    /// Waiters of other processes queued for it (fresh queue tickets).
    queued: usize,
}

impl InfoJson {
    fn new(info: &LockInfo) -> Self {
        let p = info.payload.as_ref().ok();
        let mut reasons = vec![info.verdict.reason().to_string()];
        match &info.payload {
            Err(Malformed::NotRegular(kind)) => reasons.push(kind.as_str().to_string()),
            Err(m) => reasons.push(m.as_str().to_string()),
            Ok(_) => {}
        }
        let lease = p.and_then(|p| p.lease);
        InfoJson {
            path: info.path.display().to_string(),
            pid: p.map(|p| p.pid),
            nonce: p.and_then(|p| p.nonce.clone()),
            created_at: p.map(|p| lockcore::payload::format_rfc3339_ms(p.created_at_ms)),
            age_ms: info.age_ms,
            stale: info.verdict.is_stale(),
            reasons,
            lease_ms: lease.map(|l| l.lease_ms),
            refreshed_ms_ago: lease.map(|_| info.mtime_age_ms),
            queued: info.queued,
        }
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    if v.is_stale() {
        "stale"
    } else {
        "live"
    }
}

fn info_row(info: &LockInfo) -> Vec<String> {
    let j = InfoJson::new(info);
    vec![
        j.path,
        j.pid.map_or_else(|| "-".into(), |p| p.to_string()),
        j.nonce.unwrap_or_else(|| "-".into()),
        j.created_at.unwrap_or_else(|| "-".into()),
        human_age(info.age_ms),
        j.lease_ms.map_or_else(|| "-".into(), human_lease),
        j.refreshed_ms_ago.map_or_else(|| "-".into(), human_ago),
        j.queued.to_string(),
        verdict_word(info.verdict).into(),
        j.reasons.join(","),
    ]
}

/// Names each entry the sweep could not read on stderr; exit 1 if there was any.
fn report_unreadable<'a>(entries: impl Iterator<Item = (&'a Path, String)>) -> u8 {
    let mut status = 0;
    for (path, error) in entries {
        eprintln!("lockcore: {}: {error}", path.display());
        status = 1;
    }
    status
}

pub(crate) fn inspect(dir: &Path, json: bool, policy: Policy) -> Result<u8, Failure> {
    let manager = manager(policy);
    let inspection = manager.inspect_all(dir)?;
    let infos = inspection.locks;
    let status = report_unreadable(
        inspection
            .unreadable
            .iter()
            .map(|(p, e)| (p.as_path(), e.to_string())),
    );
    if json {
        let rows: Vec<InfoJson> = infos.iter().map(InfoJson::new).collect();
        let text = to_json(&rows)?;
        write_out(|out| writeln!(out, "{text}"))?;
    } else {
        let mut rows = vec![vec![
            "PATH".to_string(),
            "PID".into(),
            "NONCE".into(),
            "CREATED_AT".into(),
            "AGE".into(),
            "LEASE".into(),
            "REFRESHED".into(),
            "QUEUED".into(),
            "VERDICT".into(),
            "REASONS".into(),
        ]];
        rows.extend(infos.iter().map(info_row));
        write_out(|out| {
            if infos.is_empty() {
                writeln!(out, "no lock files in {}", dir.display())?;
            } else {
                print_table(out, &rows)?;
            }
            let wait = manager.wait_mechanism();
            writeln!(out, "waiters here wake by: {wait} ({})", wait.describe())
        })?;
    }
    Ok(status)
}

#[derive(Serialize)]
struct CleanJson {
    dry_run: bool,
    removed: Vec<InfoJson>,
    kept: Vec<InfoJson>,
    temp_files: Vec<String>,
}

pub(crate) fn clean(
    dir: &Path,
    opts: CleanOptions,
    json: bool,
    policy: Policy,
) -> Result<u8, Failure> {
    let dry_run = opts.dry_run;
    let report = manager(policy).clean(dir, opts)?;
    let status = report_unreadable(
        report
            .unreadable
            .iter()
            .map(|(p, e)| (p.as_path(), e.clone())),
    );
    let removed_paths: Vec<&Path> = report.removed.iter().map(|i| i.path.as_path()).collect();
    let kept: Vec<&LockInfo> = report
        .seen
        .iter()
        .filter(|i| !removed_paths.contains(&i.path.as_path()))
        .collect();
    if json {
        let text = to_json(&CleanJson {
            dry_run,
            removed: report.removed.iter().map(InfoJson::new).collect(),
            kept: kept.iter().map(|i| InfoJson::new(i)).collect(),
            temp_files: report
                .temp_files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        })?;
        write_out(|out| writeln!(out, "{text}"))?;
    } else {
        write_out(|out| clean_lines(out, dir, dry_run, &report, &kept))?;
    }
    Ok(status)
}

/// `clean` without `--json`: one line per removed (or, with `--dry-run`, removable) file, then
/// one per kept lock file.
fn clean_lines(
    out: &mut impl Write,
    dir: &Path,
    dry_run: bool,
    report: &CleanReport,
    kept: &[&LockInfo],
) -> io::Result<()> {
    let verb = if dry_run { "would remove" } else { "removed" };
    for info in &report.removed {
        let owner = match &info.payload {
            Ok(p) => format!("pid {}", p.pid),
            Err(Malformed::NotRegular(kind)) => format!("a {}", kind.as_str()),
            Err(m) => format!("malformed: {}", m.as_str()),
        };
        writeln!(
            out,
            "{verb} {} ({}; {owner}; age {})",
            info.path.display(),
            info.verdict.reason(),
            human_age(info.age_ms)
        )?;
    }
    for tmp in &report.temp_files {
        let name = tmp.file_name().map(|n| n.to_string_lossy().into_owned());
        let what = if name.as_deref().is_some_and(lockcore::queue::is_any_flag) {
            "queue flag nobody refreshed"
        } else if name.is_some_and(|n| n.ends_with(lockcore::queue::TICKET_SUFFIX)) {
            "queue ticket nobody refreshed"
        } else {
            "orphaned publish temp file"
        };
        writeln!(out, "{verb} {} ({what})", tmp.display())?;
    }
    for info in kept {
        writeln!(
            out,
            "kept {} ({} {}{})",
            info.path.display(),
            verdict_word(info.verdict),
            info.verdict.reason(),
            kept_hint(info)
        )?;
    }
    if report.removed.is_empty() && report.temp_files.is_empty() {
        writeln!(out, "nothing stale in {}", dir.display())?;
    }
    Ok(())
}

/// What to do about a kept file that is not a regular file (nothing for the others).
fn kept_hint(info: &LockInfo) -> String {
    match &info.payload {
        Err(Malformed::NotRegular(FileKind::Directory)) => {
            ": a directory; remove it by hand".to_string()
        }
        Err(Malformed::NotRegular(kind)) => {
            format!(": a {}; --remove-non-regular removes it", kind.as_str())
        }
        _ => String::new(),
    }
}
