//! A Rust tokenizer just good enough for the cycle check: identifiers, `::`, punctuation and string
//! literals (kept, because `#[path = "..."]` needs their value), with comments dropped and string and
//! character contents never mistaken for paths.

/// One token and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// An identifier or keyword; raw identifiers keep their `r#` so that `r#mod` is not the keyword.
    Ident(String),
    /// A string literal's contents, escapes left as written (only `#[path]` values are read).
    Str(String),
    /// `::`
    PathSep,
    /// Any other punctuation character.
    Punct(char),
}

/// Splits `source` into tokens. Numbers and character literals are dropped; unterminated literals and
/// comments end at the end of the file (the compiler reports those; this check only must not loop).
pub fn tokenize(source: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        chars: source.chars().collect(),
        pos: 0,
        line: 1,
        tokens: Vec::new(),
    };
    lexer.run();
    lexer.tokens
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    tokens: Vec<Token>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    /// Moves one character on, counting lines.
    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn push(&mut self, kind: TokenKind, line: usize) {
        self.tokens.push(Token { kind, line });
    }

    fn run(&mut self) {
        while let Some(c) = self.peek(0) {
            let line = self.line;
            match c {
                '/' if self.peek(1) == Some('/') => self.skip_line_comment(),
                '/' if self.peek(1) == Some('*') => self.skip_block_comment(),
                '"' => {
                    let text = self.quoted_string();
                    self.push(TokenKind::Str(text), line);
                }
                '\'' => self.char_or_lifetime(),
                ':' if self.peek(1) == Some(':') => {
                    self.pos += 2;
                    self.push(TokenKind::PathSep, line);
                }
                c if c.is_alphabetic() || c == '_' => self.ident_or_prefixed_literal(),
                c if c.is_ascii_digit() => {
                    while self
                        .peek(0)
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                    {
                        self.pos += 1;
                    }
                }
                c if c.is_whitespace() => {
                    self.bump();
                }
                c => {
                    self.pos += 1;
                    self.push(TokenKind::Punct(c), line);
                }
            }
        }
    }

    fn skip_line_comment(&mut self) {
        while self.peek(0).is_some_and(|c| c != '\n') {
            self.pos += 1;
        }
    }

    /// Block comments nest in Rust.
    fn skip_block_comment(&mut self) {
        self.pos += 2;
        let mut depth = 1;
        while depth > 0 {
            match (self.peek(0), self.peek(1)) {
                (None, _) => return,
                (Some('/'), Some('*')) => {
                    self.pos += 2;
                    depth += 1;
                }
                (Some('*'), Some('/')) => {
                    self.pos += 2;
                    depth -= 1;
                }
                _ => {
                    self.bump();
                }
            }
        }
    }

    /// A `"..."` literal starting at the opening quote; returns its contents.
    fn quoted_string(&mut self) -> String {
        self.bump();
        let mut text = String::new();
        while let Some(c) = self.bump() {
            match c {
                '"' => break,
                '\\' => {
                    text.push(c);
                    if let Some(escaped) = self.bump() {
                        text.push(escaped);
                    }
                }
                c => text.push(c),
            }
        }
        text
    }

    /// A raw string starting at its `#`s or quote (the `r`/`br`/`cr` prefix already consumed).
    fn raw_string(&mut self) -> String {
        let mut hashes = 0;
        while self.peek(0) == Some('#') {
            self.pos += 1;
            hashes += 1;
        }
        self.bump(); // the opening quote
        let mut text = String::new();
        while let Some(c) = self.bump() {
            if c == '"' && (0..hashes).all(|i| self.peek(i) == Some('#')) {
                self.pos += hashes;
                break;
            }
            text.push(c);
        }
        text
    }

    /// `'a'`, `'\n'`, `'\u{1F600}'` are characters (dropped); `'a` and `'static` are lifetimes, whose
    /// names are ordinary identifiers afterwards.
    fn char_or_lifetime(&mut self) {
        match (self.peek(1), self.peek(2)) {
            (Some('\\'), _) => {
                self.pos += 2;
                while let Some(c) = self.bump() {
                    if c == '\'' {
                        break;
                    }
                }
            }
            (Some(_), Some('\'')) => {
                self.pos += 1;
                self.bump();
                self.pos += 1;
            }
            _ => self.pos += 1,
        }
    }

    /// An identifier, or the prefix of a byte/C/raw string or raw identifier (`b"`, `r#"`, `r#ident`).
    fn ident_or_prefixed_literal(&mut self) {
        let line = self.line;
        let start = self.pos;
        while self
            .peek(0)
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        let next = self.peek(0);
        let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
        if raw_prefix && (next == Some('"') || (next == Some('#') && self.raw_string_follows())) {
            let text = self.raw_string();
            self.push(TokenKind::Str(text), line);
        } else if matches!(word.as_str(), "b" | "c") && next == Some('"') {
            let text = self.quoted_string();
            self.push(TokenKind::Str(text), line);
        } else if word == "b" && next == Some('\'') {
            self.char_or_lifetime();
        } else if word == "r" && next == Some('#') {
            self.pos += 1; // raw identifier: keep the r# so it never reads as a keyword
            let rest_start = self.pos;
            while self
                .peek(0)
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                self.pos += 1;
            }
            let rest: String = self.chars[rest_start..self.pos].iter().collect();
            self.push(TokenKind::Ident(format!("r#{rest}")), line);
        } else {
            self.push(TokenKind::Ident(word), line);
        }
    }

    /// At a `#` after `r`: true for `r#"` / `r##"`, false for a raw identifier `r#name`.
    fn raw_string_follows(&self) -> bool {
        let mut ahead = 0;
        while self.peek(ahead) == Some('#') {
            ahead += 1;
        }
        self.peek(ahead) == Some('"')
    }
}
