//! The lexer of the spec text: tokens with their positions. Numbers are
//! checked here (decimal or `0x` hex, `_` separators, an optional K/M/G
//! size suffix, no overflow).

use crate::error::{Error, ErrorKind, Pos};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    Ident(String),
    Str(String),
    /// `suffixed`: written with K, M or G.
    Num {
        value: u64,
        suffixed: bool,
    },
    LBrace,
    RBrace,
    LParen,
    RParen,
    Colon,
    Comma,
    Eq,
    Minus,
    Plus,
    Arrow,
    Eof,
}

impl Tok {
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("{s:?}"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Num { .. } => "a number".to_string(),
            Tok::LBrace => "'{'".to_string(),
            Tok::RBrace => "'}'".to_string(),
            Tok::LParen => "'('".to_string(),
            Tok::RParen => "')'".to_string(),
            Tok::Colon => "':'".to_string(),
            Tok::Comma => "','".to_string(),
            Tok::Eq => "'='".to_string(),
            Tok::Minus => "'-'".to_string(),
            Tok::Plus => "'+'".to_string(),
            Tok::Arrow => "'->'".to_string(),
            Tok::Eof => "end of file".to_string(),
        }
    }
}

struct Lexer<'a> {
    chars: core::iter::Peekable<core::str::Chars<'a>>,
    line: u32,
    col: u32,
}

impl Lexer<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    /// The character after the next one, without consuming.
    fn peek2(&self) -> Option<char> {
        let mut it = self.chars.clone();
        it.next();
        it.next()
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else if (c == '/' && self.peek2() == Some('/'))
                || (c == '-' && self.peek2() == Some('-'))
                || c == '#'
            {
                // `//` and capDL's `--` comments (and `#`) run to end of line.
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else {
                break;
            }
        }
    }

    fn next_token(&mut self) -> Result<(Pos, Tok), Error> {
        self.skip_space_and_comments();
        let pos = self.pos();
        let Some(c) = self.peek() else {
            return Ok((pos, Tok::Eof));
        };
        let single = match c {
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ':' => Some(Tok::Colon),
            ',' => Some(Tok::Comma),
            '=' => Some(Tok::Eq),
            '+' => Some(Tok::Plus),
            _ => None,
        };
        if let Some(t) = single {
            self.bump();
            return Ok((pos, t));
        }
        if c == '-' {
            self.bump();
            if self.peek() == Some('>') {
                self.bump();
                return Ok((pos, Tok::Arrow));
            }
            return Ok((pos, Tok::Minus));
        }
        if c == '"' {
            self.bump();
            let mut s = String::new();
            loop {
                match self.bump() {
                    Some('"') => return Ok((pos, Tok::Str(s))),
                    Some('\n') | None => {
                        return Err(Error::new(pos, ErrorKind::UnterminatedString))
                    }
                    Some(c) => s.push(c),
                }
            }
        }
        if c.is_ascii_digit() {
            return self.number(pos);
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let mut s = String::new();
            while let Some(c) = self.peek() {
                // A '-' continues a name only when a name character follows,
                // so `a->b` and `a - b` still lex as three tokens.
                let more = c.is_ascii_alphanumeric()
                    || c == '_'
                    || (c == '-'
                        && self
                            .peek2()
                            .is_some_and(|d| d.is_ascii_alphanumeric() || d == '_'));
                if !more {
                    break;
                }
                s.push(c);
                self.bump();
            }
            return Ok((pos, Tok::Ident(s)));
        }
        Err(Error::new(pos, ErrorKind::UnexpectedChar(c)))
    }

    /// Decimal or `0x` hex, `_` separators, optional K/M/G (x1024^n).
    fn number(&mut self, pos: Pos) -> Result<(Pos, Tok), Error> {
        let mut word = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
                self.bump();
            } else {
                break;
            }
        }
        let bad = || Error::new(pos, ErrorKind::BadNumber(word.clone()));
        let (body, radix) = match word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
            Some(h) => (h, 16),
            None => (word.as_str(), 10),
        };
        let (digits, mult) = match body.chars().last() {
            Some('K' | 'k') => (&body[..body.len() - 1], 1u64 << 10),
            Some('M' | 'm') => (&body[..body.len() - 1], 1u64 << 20),
            Some('G' | 'g') => (&body[..body.len() - 1], 1u64 << 30),
            _ => (body, 1),
        };
        let mut value: u64 = 0;
        let mut any = false;
        for c in digits.chars() {
            if c == '_' {
                continue;
            }
            let d = c.to_digit(radix).ok_or_else(bad)? as u64;
            value = value
                .checked_mul(radix as u64)
                .and_then(|v| v.checked_add(d))
                .ok_or_else(bad)?;
            any = true;
        }
        if !any {
            return Err(bad());
        }
        let value = value.checked_mul(mult).ok_or_else(bad)?;
        Ok((
            pos,
            Tok::Num {
                value,
                suffixed: mult != 1,
            },
        ))
    }
}

pub(super) fn lex(src: &str) -> Result<Vec<(Pos, Tok)>, Error> {
    let mut lx = Lexer {
        chars: src.chars().peekable(),
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        let t = lx.next_token()?;
        let eof = t.1 == Tok::Eof;
        out.push(t);
        if eof {
            return Ok(out);
        }
    }
}
