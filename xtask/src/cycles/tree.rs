//! One crate target's module tree: which modules exist (from `mod` items, following them into their
//! files as rustc does) and every `crate`/`super`/`self` path, resolved to an absolute path.

use super::parse::{parse_file, ModDecl};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A module path below the crate root: `[]` is the root, `["fast", "conv"]` is `crate::fast::conv`.
pub type ModPath = Vec<String>;

/// A path written in `from` that names `target` (absolute, possibly ending in an item name).
#[derive(Debug, Clone)]
pub struct Reference {
    pub from: ModPath,
    pub target: Vec<String>,
    pub file: PathBuf,
    pub line: usize,
    /// The path as written, for the report.
    pub written: String,
}

#[derive(Debug, Default)]
pub struct ModuleTree {
    pub modules: BTreeSet<ModPath>,
    pub references: Vec<Reference>,
    /// `mod x;` items whose file was not found (for example behind a `cfg` for another platform).
    pub missing: Vec<String>,
}

impl ModuleTree {
    /// Walks the modules reachable from a crate root file (`lib.rs`, `main.rs`, a test or bench file).
    pub fn load(root_file: &Path) -> Result<ModuleTree> {
        let mut tree = ModuleTree::default();
        tree.modules.insert(Vec::new());
        let children_dir = root_file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut visited = BTreeSet::new();
        tree.walk(root_file, &[], &children_dir, &mut visited)?;
        Ok(tree)
    }

    /// The innermost module that `path` points into: its longest prefix that is a module.
    pub fn module_of(&self, path: &[String]) -> ModPath {
        (0..=path.len())
            .rev()
            .map(|len| path[..len].to_vec())
            .find(|prefix| self.modules.contains(prefix))
            .unwrap_or_default()
    }

    /// Reads the file of `module`; `children_dir` is where its `mod x;` files live (`dir/` for
    /// `dir/mod.rs`, `dir/name/` for `dir/name.rs`).
    fn walk(
        &mut self,
        file: &Path,
        module: &[String],
        children_dir: &Path,
        visited: &mut BTreeSet<PathBuf>,
    ) -> Result<()> {
        if !visited.insert(file.to_path_buf()) {
            return Ok(());
        }
        let source =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let items = parse_file(&source);
        for decl in &items.mods {
            let path: ModPath = module
                .iter()
                .chain(&decl.enclosing)
                .chain([&decl.name])
                .cloned()
                .collect();
            self.modules.insert(path.clone());
            if decl.inline {
                continue;
            }
            match child_file(file, children_dir, decl) {
                Some((child, grandchildren_dir)) => {
                    self.walk(&child, &path, &grandchildren_dir, visited)?
                }
                None => self.missing.push(format!(
                    "{}:{}: mod {}",
                    file.display(),
                    decl.line,
                    decl.name
                )),
            }
        }
        for path_ref in items.paths {
            let from: ModPath = module.iter().chain(&path_ref.enclosing).cloned().collect();
            if let Some(target) = resolve(&from, &path_ref.segments) {
                let written = path_ref.segments.join("::");
                self.references.push(Reference {
                    from,
                    target,
                    file: file.to_path_buf(),
                    line: path_ref.line,
                    written,
                });
            }
        }
        Ok(())
    }
}

/// Where rustc looks for `mod name;`: `#[path]` relative to the declaring file's directory, else
/// `name.rs` or `name/mod.rs` in the children directory (inside inline modules, below their names).
/// Returns the file and the directory of its own children.
fn child_file(file: &Path, children_dir: &Path, decl: &ModDecl) -> Option<(PathBuf, PathBuf)> {
    if let Some(attr) = &decl.path_attr {
        let base = if decl.enclosing.is_empty() {
            file.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else {
            decl.enclosing
                .iter()
                .fold(children_dir.to_path_buf(), |dir, name| dir.join(name))
        };
        let child = base.join(attr);
        // A file named by `#[path]` is read like a `mod.rs`: its children sit next to it.
        let dir = child.parent().unwrap_or(Path::new(".")).to_path_buf();
        return child.is_file().then_some((child, dir));
    }
    let dir = decl
        .enclosing
        .iter()
        .fold(children_dir.to_path_buf(), |dir, name| dir.join(name));
    let own_dir = dir.join(&decl.name);
    [
        dir.join(format!("{}.rs", decl.name)),
        own_dir.join("mod.rs"),
    ]
    .into_iter()
    .find(|candidate| candidate.is_file())
    .map(|child| (child, own_dir))
}

/// Resolves `crate::a::b`, `super::super::c`, `self::d` written in module `from` to an absolute path;
/// `None` for a `super` above the root.
pub fn resolve(from: &[String], segments: &[String]) -> Option<Vec<String>> {
    let (first, rest) = segments.split_first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" => from.to_vec(),
        "super" => from.split_last()?.1.to_vec(),
        _ => return None,
    };
    let mut rest = rest.iter().peekable();
    while rest.peek().is_some_and(|s| s.as_str() == "super") {
        base.pop()?;
        rest.next();
    }
    base.extend(rest.cloned());
    Some(base)
}
