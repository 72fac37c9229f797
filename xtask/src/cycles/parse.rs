//! What one source file says about modules: the `mod` items it declares and every path it writes that
//! starts with `crate::`, `super::` or `self::` (inline paths and `use` trees, groups expanded).

use super::lex::{tokenize, Token, TokenKind};

/// `mod name;` (its file is found elsewhere) or `mod name { ... }` (inline).
#[derive(Debug, Clone, PartialEq)]
pub struct ModDecl {
    /// Inline modules of this file that enclose the declaration (outermost first).
    pub enclosing: Vec<String>,
    pub name: String,
    /// The value of a `#[path = "..."]` attribute on a `mod name;`.
    pub path_attr: Option<String>,
    pub inline: bool,
    pub line: usize,
}

/// A path as written, e.g. `["super", "ops", "Kernel"]`, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRef {
    /// Inline modules of this file that enclose the path (outermost first): `self`/`super` are
    /// relative to them.
    pub enclosing: Vec<String>,
    pub segments: Vec<String>,
    pub line: usize,
}

#[derive(Debug, Default, PartialEq)]
pub struct FileItems {
    pub mods: Vec<ModDecl>,
    pub paths: Vec<PathRef>,
}

/// Reads the module declarations and `crate`/`super`/`self` paths of one file's source.
pub fn parse_file(source: &str) -> FileItems {
    let mut parser = Parser {
        tokens: tokenize(source),
        pos: 0,
        items: FileItems::default(),
    };
    parser.run();
    parser.items
}

fn is_path_root(word: &str) -> bool {
    matches!(word, "crate" | "super" | "self")
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    items: FileItems,
}

impl Parser {
    fn kind(&self, ahead: usize) -> Option<&TokenKind> {
        self.tokens.get(self.pos + ahead).map(|t| &t.kind)
    }

    fn ident(&self, ahead: usize) -> Option<&str> {
        match self.kind(ahead) {
            Some(TokenKind::Ident(word)) => Some(word),
            _ => None,
        }
    }

    fn is_punct(&self, ahead: usize, c: char) -> bool {
        self.kind(ahead) == Some(&TokenKind::Punct(c))
    }

    fn line(&self) -> usize {
        self.tokens.get(self.pos).map_or(0, |t| t.line)
    }

    fn run(&mut self) {
        // Inline modules currently open, with the brace depth their body started at.
        let mut open_mods: Vec<(String, usize)> = Vec::new();
        let mut depth = 0usize;
        let mut path_attr: Option<String> = None;
        while self.pos < self.tokens.len() {
            let enclosing: Vec<String> = open_mods.iter().map(|(name, _)| name.clone()).collect();
            if self.is_punct(0, '#') {
                if let Some(value) = self.attribute() {
                    path_attr = Some(value);
                }
                continue;
            }
            match self.kind(0).cloned() {
                Some(TokenKind::Ident(word)) if word == "mod" => {
                    if let Some(decl) = self.mod_item(enclosing, path_attr.take()) {
                        if decl.inline {
                            depth += 1;
                            open_mods.push((decl.name.clone(), depth));
                        }
                        self.items.mods.push(decl);
                    }
                }
                Some(TokenKind::Ident(word)) if word == "use" => {
                    self.pos += 1;
                    self.use_tree(&enclosing, Vec::new());
                }
                Some(TokenKind::Ident(word))
                    if is_path_root(&word) && self.kind(1) == Some(&TokenKind::PathSep) =>
                {
                    let preceded_by_sep =
                        self.pos > 0 && self.tokens[self.pos - 1].kind == TokenKind::PathSep;
                    let line = self.line();
                    let segments = self.simple_path();
                    if !preceded_by_sep {
                        self.items.paths.push(PathRef {
                            enclosing,
                            segments,
                            line,
                        });
                    }
                }
                Some(TokenKind::Punct('{')) => {
                    depth += 1;
                    self.pos += 1;
                }
                Some(TokenKind::Punct('}')) => {
                    if open_mods.last().is_some_and(|(_, open)| *open == depth) {
                        open_mods.pop();
                    }
                    depth = depth.saturating_sub(1);
                    self.pos += 1;
                }
                _ => {
                    // `$crate::...` in macros reads like `crate::...` once the `$` is passed.
                    if self.is_punct(0, ';') {
                        path_attr = None;
                    }
                    self.pos += 1;
                }
            }
        }
    }

    /// At `#`: skips `#[...]` / `#![...]` and returns the value if it is `#[path = "..."]`.
    fn attribute(&mut self) -> Option<String> {
        self.pos += 1;
        if self.is_punct(0, '!') {
            self.pos += 1;
        }
        if !self.is_punct(0, '[') {
            return None;
        }
        let value = match (self.ident(1), self.kind(2), self.kind(3)) {
            (Some("path"), Some(TokenKind::Punct('=')), Some(TokenKind::Str(value))) => {
                Some(value.clone())
            }
            _ => None,
        };
        let mut brackets = 0usize;
        while let Some(kind) = self.kind(0).cloned() {
            self.pos += 1;
            match kind {
                TokenKind::Punct('[') => brackets += 1,
                TokenKind::Punct(']') => {
                    brackets -= 1;
                    if brackets == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        value
    }

    /// At `mod`: reads `mod name;` or `mod name {` (consuming the brace).
    fn mod_item(&mut self, enclosing: Vec<String>, path_attr: Option<String>) -> Option<ModDecl> {
        let line = self.line();
        self.pos += 1;
        let name = self.ident(0)?.to_string();
        let inline = match self.kind(1) {
            Some(TokenKind::Punct(';')) => false,
            Some(TokenKind::Punct('{')) => true,
            _ => return None,
        };
        self.pos += 2;
        Some(ModDecl {
            enclosing,
            name,
            path_attr: path_attr.filter(|_| !inline),
            inline,
            line,
        })
    }

    /// Reads `ident (:: ident)*` and stops before anything else (`::<`, `::{`, `::*`).
    fn simple_path(&mut self) -> Vec<String> {
        let mut segments = Vec::new();
        while let Some(word) = self.ident(0) {
            segments.push(word.to_string());
            self.pos += 1;
            if self.kind(0) == Some(&TokenKind::PathSep) && self.ident(1).is_some() {
                self.pos += 1;
            } else {
                break;
            }
        }
        segments
    }

    /// Reads one use tree after `prefix` (`a::b`, `a::{b, c::d}`, `a::*`, `a as b`) and records every
    /// complete path that starts at `crate`, `super` or `self`. Stops after the tree, before `,`/`}`/`;`.
    fn use_tree(&mut self, enclosing: &[String], mut prefix: Vec<String>) {
        let mut line = self.line();
        if self.kind(0) == Some(&TokenKind::PathSep) {
            self.pos += 1; // `use ::extern_crate::...`
        }
        loop {
            if self.is_punct(0, '{') {
                self.pos += 1;
                while !self.is_punct(0, '}') && self.pos < self.tokens.len() {
                    let before = self.pos;
                    self.use_tree(enclosing, prefix.clone());
                    // A comma, or any token this reader does not understand (an attribute inside a
                    // group), is stepped over so that the loop always moves on.
                    if self.is_punct(0, ',') || self.pos == before {
                        self.pos += 1;
                    }
                }
                self.pos += 1;
                return;
            }
            if self.is_punct(0, '*') {
                self.pos += 1;
                break;
            }
            let Some(word) = self.ident(0).map(str::to_string) else {
                return;
            };
            line = self.line();
            self.pos += 1;
            // `use a::{self, b}`: `self` inside a group names the prefix itself.
            if word != "self" || prefix.is_empty() {
                prefix.push(word);
            }
            if self.kind(0) == Some(&TokenKind::PathSep) {
                self.pos += 1;
                continue;
            }
            if self.ident(0) == Some("as") {
                self.pos += 2;
            }
            break;
        }
        if prefix.first().is_some_and(|first| is_path_root(first)) {
            self.items.paths.push(PathRef {
                enclosing: enclosing.to_vec(),
                segments: prefix,
                line,
            });
        }
    }
}
