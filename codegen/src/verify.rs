//! Keeping the checked-in `generated/` mirror equal to what the generator produces: compare
//! (for CI) and write (for `hack/update-codegen.sh`).

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use crate::{GeneratedFiles, REGENERATE_COMMAND};

/// How one file of the mirror differs from the generator's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    Missing(String),
    Changed {
        file: String,
        diff: String,
    },
    /// A file in the mirror that the generator no longer produces.
    Extra(String),
}

/// Compares `files` with the directory `dir`; an empty result means the mirror is fresh.
pub fn compare(files: &GeneratedFiles, dir: &Path) -> io::Result<Vec<Drift>> {
    let mut drift = Vec::new();
    for (name, expected) in files {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(actual) if actual == *expected => {}
            Ok(actual) => drift.push(Drift::Changed {
                file: name.clone(),
                diff: line_diff(&actual, expected),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                drift.push(Drift::Missing(name.clone()))
            }
            Err(e) => return Err(e),
        }
    }
    for existing in list_files(dir)? {
        if !files.contains_key(&existing) {
            drift.push(Drift::Extra(existing));
        }
    }
    Ok(drift)
}

/// A report a developer can act on: what drifted, how, and the command that fixes it.
pub fn report(drift: &[Drift], dir_label: &str) -> String {
    let mut out = format!(
        "{dir_label} is stale: it does not match what schema/ generates.\nRun `{REGENERATE_COMMAND}` and commit the result.\n"
    );
    for d in drift {
        match d {
            Drift::Missing(f) => {
                let _ = writeln!(out, "\nmissing: {dir_label}/{f}");
            }
            Drift::Extra(f) => {
                let _ = writeln!(out, "\nno longer generated: {dir_label}/{f}");
            }
            Drift::Changed { file, diff } => {
                let _ = writeln!(
                    out,
                    "\nchanged: {dir_label}/{file} (- checked in, + generated)\n{diff}"
                );
            }
        }
    }
    out
}

/// Makes `dir` hold exactly `files`.
pub fn write(files: &GeneratedFiles, dir: &Path) -> io::Result<()> {
    for existing in list_files(dir)? {
        if !files.contains_key(&existing) {
            std::fs::remove_file(dir.join(&existing))?;
        }
    }
    for (name, contents) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
            std::fs::write(&path, contents)?;
        }
    }
    remove_empty_dirs(dir)?;
    Ok(())
}

/// Relative paths (with `/`) of every file below `dir`, sorted; empty when `dir` is missing.
fn list_files(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                let parts: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn remove_empty_dirs(dir: &Path) -> io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            remove_empty_dirs(&path)?;
            if std::fs::read_dir(&path)?.next().is_none() {
                std::fs::remove_dir(&path)?;
            }
        }
    }
    Ok(())
}

/// A compact line diff (longest common subsequence), enough to review a stale file in CI logs.
/// Files beyond a few thousand lines fall back to naming the first differing line.
pub fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    const MAX_CELLS: usize = 16_000_000;
    if a.len().saturating_mul(b.len()) > MAX_CELLS {
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        return format!("  (files differ from line {})", first + 1);
    }
    // lcs[i][j] = length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "{:>5} + {}", j + 1, b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "{:>5} - {}", i + 1, a[i]);
            i += 1;
        }
    }
    out
}
