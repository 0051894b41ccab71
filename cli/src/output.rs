//! Writing to stdout: JSON, aligned tables, and ages and leases for humans.

use crate::{fail, Failure};
use serde::Serialize;
use std::io::{self, Write};

pub(crate) fn human_age(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let s = ms / 1000;
    if s < 60 {
        format!("{sign}{}.{:03}s", s, ms % 1000)
    } else if s < 3600 {
        format!("{sign}{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{sign}{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{sign}{}d{:02}h", s / 86_400, s / 3600 % 24)
    }
}

/// A lease for the table: `30s`, `1.5s`, `250ms`.
pub(crate) fn human_lease(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

/// Time since a refresh for the table: `4.2s ago` under a minute, else as [`human_age`].
pub(crate) fn human_ago(ms: i64) -> String {
    if (0..60_000).contains(&ms) {
        format!("{:.1}s ago", ms as f64 / 1000.0)
    } else {
        format!("{} ago", human_age(ms))
    }
}

/// Prints rows as a table with left-aligned, padded columns.
pub(crate) fn print_table(out: &mut impl Write, rows: &[Vec<String>]) -> io::Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[c] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

pub(crate) fn write_out(
    write: impl FnOnce(&mut io::StdoutLock<'_>) -> io::Result<()>,
) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    write(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| fail(format!("writing to stdout: {e}")))
}

pub(crate) fn to_json(value: &impl Serialize) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| fail(format!("encoding JSON: {e}")))
}
