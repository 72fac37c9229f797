//! `cargo xtask cycles`: no import cycles between the modules of a crate.
//!
//! For every module with children (a crate root, `foo/mod.rs`, `foo.rs` with `foo/`), its direct
//! children C1..Cn form a graph with an edge Ci -> Cj when any file in Ci's subtree writes a path into
//! Cj's subtree (`crate::cj::...`, `super::cj::...`, in a `use` tree or inline). Paths to items of
//! the parent itself are not edges. Every such graph must be acyclic; each cycle is printed with the
//! files and lines that make its edges.

mod graph;
mod lex;
mod parse;
#[cfg(test)]
mod tests;
mod tree;

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub fn run(args: &[String]) -> Result<()> {
    let workspace = match args {
        [] => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .canonicalize()?,
        [dir] => PathBuf::from(dir),
        _ => bail!("usage: cargo xtask cycles [WORKSPACE_DIR]"),
    };
    let report = check_workspace(&workspace)?;
    print!("{}", report.text);
    if report.cycles > 0 {
        bail!("{} module cycle(s) found", report.cycles);
    }
    println!("no module cycles in {} crate targets", report.targets);
    Ok(())
}

pub struct Report {
    pub targets: usize,
    pub cycles: usize,
    pub text: String,
}

/// Checks every target (lib, bins, tests, benches, examples) of every workspace member.
pub fn check_workspace(workspace: &Path) -> Result<Report> {
    let manifest = workspace.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let mut report = Report {
        targets: 0,
        cycles: 0,
        text: String::new(),
    };
    for member in workspace_members(&text) {
        for root in crate_roots(&workspace.join(&member))? {
            report.targets += 1;
            let tree = tree::ModuleTree::load(&root)?;
            for missing in &tree.missing {
                let _ = writeln!(
                    report.text,
                    "note: no file for {}",
                    shown(workspace, Path::new(missing))
                );
            }
            for cycle in graph::find_cycles(&tree) {
                report.cycles += 1;
                describe(&mut report.text, workspace, &root, &cycle);
            }
        }
    }
    Ok(report)
}

/// The quoted entries of `members = [...]` in the workspace manifest (not `default-members`).
fn workspace_members(manifest: &str) -> Vec<String> {
    let start = manifest
        .match_indices("members")
        .map(|(at, _)| at)
        .find(|&at| at == 0 || manifest[..at].ends_with('\n'));
    let Some(start) = start else {
        return Vec::new();
    };
    let after = &manifest[start..];
    let (Some(open), Some(close)) = (after.find('['), after.find(']')) else {
        return Vec::new();
    };
    after[open + 1..close]
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.split(','))
        .map(|entry| entry.trim().trim_matches('"').to_string())
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// The root files of a package's targets, at cargo's default places.
fn crate_roots(package: &Path) -> Result<Vec<PathBuf>> {
    let mut roots: Vec<PathBuf> = ["src/lib.rs", "src/main.rs"]
        .iter()
        .map(|file| package.join(file))
        .filter(|file| file.is_file())
        .collect();
    for dir in ["src/bin", "tests", "benches", "examples"] {
        let Ok(entries) = std::fs::read_dir(package.join(dir)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            } else if path.join("main.rs").is_file() {
                files.push(path.join("main.rs"));
            }
        }
        files.sort();
        roots.extend(files);
    }
    Ok(roots)
}

fn shown(workspace: &Path, path: &Path) -> String {
    path.strip_prefix(workspace)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn describe(out: &mut String, workspace: &Path, root: &Path, cycle: &graph::Cycle) {
    let parent = if cycle.parent.is_empty() {
        "crate".to_string()
    } else {
        cycle.parent.join("::")
    };
    let members: BTreeSet<&str> = cycle.edges.keys().map(|(from, _)| from.as_str()).collect();
    let members: Vec<&str> = members.into_iter().collect();
    let _ = writeln!(
        out,
        "cycle in {} among the children of `{parent}` ({}), e.g. {}",
        shown(workspace, root),
        members.join(", "),
        cycle.example.join(" -> ")
    );
    for ((from, to), references) in &cycle.edges {
        let _ = writeln!(out, "  {from} -> {to}");
        // One line per source line: a `use` group names several paths on one line.
        let mut by_line: BTreeMap<(String, usize), Vec<&str>> = BTreeMap::new();
        for reference in references {
            let place = (shown(workspace, &reference.file), reference.line);
            by_line.entry(place).or_default().push(&reference.written);
        }
        for ((file, line), written) in by_line {
            let _ = writeln!(out, "    {file}:{line}: {}", written.join(", "));
        }
    }
}
