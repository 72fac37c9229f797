//! The cycle check on small synthetic crates written to a temporary directory.

use super::check_workspace;
use super::graph::{find_cycles, sibling_edges};
use super::parse::parse_file;
use super::tree::{resolve, ModuleTree};
use std::path::Path;

/// Writes `files` (path, contents) below `dir`.
fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

fn crate_tree(files: &[(&str, &str)]) -> (tempfile::TempDir, ModuleTree) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), files);
    let tree = ModuleTree::load(&dir.path().join("src/lib.rs")).unwrap();
    (dir, tree)
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The sibling edges of the root, as "a->b" strings.
fn root_edges(tree: &ModuleTree) -> Vec<String> {
    sibling_edges(tree)
        .get(&Vec::new())
        .map_or(Vec::new(), |edges| {
            edges
                .keys()
                .map(|(from, to)| format!("{from}->{to}"))
                .collect()
        })
}

#[test]
fn grouped_use_trees_expand_to_full_paths() {
    let items =
        parse_file("use crate::{a, b::{c, d as e}, f::*};\nuse super::{self, g};\nuse std::io;");
    let paths: Vec<String> = items.paths.iter().map(|p| p.segments.join("::")).collect();
    assert_eq!(
        paths,
        [
            "crate::a",
            "crate::b::c",
            "crate::b::d",
            "crate::f",
            "super",
            "super::g"
        ]
    );
    assert_eq!(items.paths[4].line, 2);
}

#[test]
fn comments_and_strings_are_not_paths() {
    let source = r####"
        // use crate::a;
        /* crate::b /* nested crate::c */ crate::d */
        /// crate::e in a doc comment
        const S: &str = "crate::f";
        const R: &str = r#"crate::g "quoted""#;
        const B: &[u8] = b"crate::h";
        const C: char = '"';
        fn f<'a>(x: &'a str) -> &'a str { crate::real::path(x) }
    "####;
    let items = parse_file(source);
    let paths: Vec<String> = items.paths.iter().map(|p| p.segments.join("::")).collect();
    assert_eq!(paths, ["crate::real::path"]);
    assert_eq!(items.paths[0].line, 9);
}

#[test]
fn inline_modules_scope_self_and_super() {
    let items =
        parse_file("mod outer { mod inner { use super::x; } fn f() { self::y(); } }\nmod file;");
    assert_eq!(items.paths[0].enclosing, strings(&["outer", "inner"]));
    assert_eq!(items.paths[1].enclosing, strings(&["outer"]));
    let names: Vec<(&str, bool)> = items
        .mods
        .iter()
        .map(|m| (m.name.as_str(), m.inline))
        .collect();
    assert_eq!(names, [("outer", true), ("inner", true), ("file", false)]);
    assert!(items.mods[2].enclosing.is_empty());
}

#[test]
fn relative_paths_resolve_against_the_module() {
    let from = strings(&["a", "b"]);
    assert_eq!(
        resolve(&from, &strings(&["super", "c"])),
        Some(strings(&["a", "c"]))
    );
    assert_eq!(
        resolve(&from, &strings(&["super", "super", "d"])),
        Some(strings(&["d"]))
    );
    assert_eq!(
        resolve(&from, &strings(&["self", "e"])),
        Some(strings(&["a", "b", "e"]))
    );
    assert_eq!(
        resolve(&from, &strings(&["crate", "f"])),
        Some(strings(&["f"]))
    );
    assert_eq!(resolve(&[], &strings(&["super", "x"])), None);
}

#[test]
fn module_files_are_found_like_rustc_finds_them() {
    let (_dir, tree) = crate_tree(&[
        ("src/lib.rs", "mod a;\nmod b;\n#[cfg(test)]\nmod t { }"),
        ("src/a.rs", "mod inner;"),
        ("src/a/inner.rs", ""),
        (
            "src/b/mod.rs",
            "#[path = \"generated.rs\"]\nmod gen;\nmod c;",
        ),
        ("src/b/generated.rs", ""),
        ("src/b/c.rs", ""),
    ]);
    let modules: Vec<String> = tree.modules.iter().map(|m| m.join("::")).collect();
    assert_eq!(modules, ["", "a", "a::inner", "b", "b::c", "b::gen", "t"]);
    assert!(tree.missing.is_empty(), "{:?}", tree.missing);
}

#[test]
fn references_to_the_parent_itself_are_not_edges() {
    let (_dir, tree) = crate_tree(&[
        (
            "src/lib.rs",
            "mod a;\nmod b;\npub fn helper() {}\npub use a::Thing;",
        ),
        (
            "src/a.rs",
            "use super::helper;\nuse crate::Thing;\npub struct Thing;",
        ),
        (
            "src/b.rs",
            "use crate::a::Thing;\nfn f() { super::helper(); }",
        ),
    ]);
    assert_eq!(root_edges(&tree), ["b->a"]);
    assert!(find_cycles(&tree).is_empty());
}

#[test]
fn edges_sit_at_the_level_where_paths_part() {
    let (_dir, tree) = crate_tree(&[
        ("src/lib.rs", "mod a;\nmod b;"),
        ("src/a/mod.rs", "mod x;\nmod y;"),
        ("src/a/x.rs", "use super::y::f;\nuse crate::b::g;"),
        ("src/a/y.rs", "pub fn f() {}"),
        ("src/b.rs", "pub fn g() {}"),
    ]);
    let levels = sibling_edges(&tree);
    let keys: Vec<(String, String, String)> = levels
        .iter()
        .flat_map(|(parent, edges)| {
            edges
                .keys()
                .map(move |(f, t)| (parent.join("::"), f.clone(), t.clone()))
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("".into(), "a".into(), "b".into()),
            ("a".into(), "x".into(), "y".into())
        ]
    );
}

#[test]
fn a_three_module_cycle_is_reported_with_its_edges() {
    let (_dir, tree) = crate_tree(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\nmod leaf;"),
        ("src/a.rs", "use crate::{b::B, leaf::L};"),
        ("src/b.rs", "pub struct B;\nfn f() { crate::c::g(); }"),
        ("src/c/mod.rs", "mod deep;\npub fn g() {}"),
        ("src/c/deep.rs", "\n\nuse crate::a as alias;"),
        ("src/leaf.rs", "pub struct L;"),
    ]);
    let cycles = find_cycles(&tree);
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0].example, ["a", "b", "c", "a"]);
    let edges: Vec<String> = cycles[0]
        .edges
        .keys()
        .map(|(f, t)| format!("{f}->{t}"))
        .collect();
    assert_eq!(edges, ["a->b", "b->c", "c->a"]);
    let c_to_a = &cycles[0].edges[&("c".to_string(), "a".to_string())][0];
    assert!(c_to_a.file.ends_with("src/c/deep.rs"));
    assert_eq!((c_to_a.line, c_to_a.written.as_str()), (3, "crate::a"));
}

#[test]
fn the_workspace_check_counts_cycles_in_every_member() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "Cargo.toml",
                "[workspace]\ndefault-members = [\"good\"]\nmembers = [\n  \"good\", # comment\n  \"bad\",\n]\n",
            ),
            ("good/src/lib.rs", "mod a;\nmod b;"),
            ("good/src/a.rs", "use crate::b::x;"),
            ("good/src/b.rs", "pub fn x() {}"),
            ("bad/src/main.rs", "mod p;\nmod q;"),
            ("bad/src/p.rs", "use super::q::Q;\npub struct P;"),
            ("bad/src/q.rs", "pub struct Q(crate::p::P);"),
            ("bad/tests/t.rs", "mod common;"),
            ("bad/tests/common/mod.rs", ""),
        ],
    );
    let report = check_workspace(dir.path()).unwrap();
    assert_eq!((report.targets, report.cycles), (3, 1));
    assert!(
        report.text.contains(
            "cycle in bad/src/main.rs among the children of `crate` (p, q), e.g. p -> q -> p"
        ),
        "{}",
        report.text
    );
    assert!(
        report.text.contains("bad/src/q.rs:1: crate::p::P"),
        "{}",
        report.text
    );
    assert!(
        report.text.contains("bad/src/p.rs:1: super::q::Q"),
        "{}",
        report.text
    );
}
