//! Just enough of the C preprocessor to read libsel4's headers: the
//! `autoconf.h` defines, `#if`/`#ifdef` conditionals, integer expressions,
//! and `enum { ... }` bodies.
//!
//! The kernel's headers select object types and constants with
//! conditionals over the configuration; evaluating them here against the
//! same `autoconf.h` the kernel was built with keeps every number in step.

use std::collections::BTreeMap;

/// Macro name -> replacement text, as `#define NAME TEXT` gives them.
pub type Defines = BTreeMap<String, String>;

/// Reads every `#define NAME VALUE` of a header (no function-like macros).
pub fn parse_defines(text: &str) -> Defines {
    let mut defines = Defines::new();
    for line in strip_comments(text).lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(rest) = rest.strip_prefix("define") else {
            continue;
        };
        let rest = rest.trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() || rest[name.len()..].starts_with('(') {
            continue;
        }
        defines.insert(name.clone(), rest[name.len()..].trim().to_string());
    }
    defines
}

/// Removes `/* */` and `//` comments, keeping line structure.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '/' && chars.peek() == Some(&'*') {
            chars.next();
            let mut prev = ' ';
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                }
                if prev == '*' && c == '/' {
                    break;
                }
                prev = c;
            }
        } else if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The lines of `text` that survive its conditionals under `defines`,
/// with comments and conditionals removed (live `#define`s stay).
pub fn active_lines(text: &str, defines: &Defines) -> Result<Vec<String>, String> {
    // Each open conditional: (this branch taken, some branch already taken, parent active).
    let mut stack: Vec<(bool, bool, bool)> = Vec::new();
    let mut out = Vec::new();
    let active = |stack: &Vec<(bool, bool, bool)>| stack.last().is_none_or(|&(t, _, p)| t && p);
    for raw in strip_comments(text).lines() {
        let line = raw.trim();
        // Lua-style `--` comments of .bf files.
        if line.starts_with("--") {
            continue;
        }
        if let Some(d) = line.strip_prefix('#') {
            let d = d.trim_start();
            let (word, arg) = d.split_once(char::is_whitespace).unwrap_or((d, ""));
            let arg = arg.trim();
            let parent = active(&stack);
            match word {
                "ifdef" => {
                    let t = defines.contains_key(arg);
                    stack.push((t, t, parent));
                }
                "ifndef" => {
                    let t = !defines.contains_key(arg);
                    stack.push((t, t, parent));
                }
                "if" => {
                    let t = eval_condition(arg, defines)?;
                    stack.push((t, t, parent));
                }
                "elif" => {
                    let (_, taken, p) = stack.pop().ok_or("#elif without #if")?;
                    let t = !taken && eval_condition(arg, defines)?;
                    stack.push((t, taken || t, p));
                }
                "else" => {
                    let (_, taken, p) = stack.pop().ok_or("#else without #if")?;
                    stack.push((!taken, true, p));
                }
                "endif" => {
                    stack.pop().ok_or("#endif without #if")?;
                }
                // Live definitions stay for `parse_defines`.
                "define" if parent => out.push(line.to_string()),
                _ => {} // #include, #pragma, #error in dead code...
            }
            continue;
        }
        if active(&stack) && !line.is_empty() {
            out.push(line.to_string());
        }
    }
    if !stack.is_empty() {
        return Err("unterminated #if".into());
    }
    Ok(out)
}

/// Evaluates a `#if` / XML `condition` expression: `defined X`,
/// `defined(X)`, integers, macros (undefined ones are 0, as in C), and the
/// C operators.
pub fn eval_condition(expr: &str, defines: &Defines) -> Result<bool, String> {
    let lookup = |name: &str| -> Result<i128, String> {
        match defines.get(name) {
            None => Ok(0),
            Some(v) if v.is_empty() => Ok(1),
            Some(v) => eval_expr(v, &|_| Ok(0)),
        }
    };
    Ok(Parser::new(expr, Some(defines), &lookup)?.run()? != 0)
}

/// Evaluates an integer expression, resolving names through `lookup`.
pub fn eval_expr(
    expr: &str,
    lookup: &dyn Fn(&str) -> Result<i128, String>,
) -> Result<i128, String> {
    Parser::new(expr, None, lookup)?.run()
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(i128),
    Ident(String),
    Op(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    const OPS: [&str; 22] = [
        "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "(", ")", "!", "~", "*", "/", "%", "+",
        "-", "<", ">", "&", "^", "|",
    ];
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i] as char).is_ascii_alphanumeric() {
                i += 1;
            }
            let lit = s[start..i].trim_end_matches(['u', 'U', 'l', 'L']);
            let v = if let Some(h) = lit.strip_prefix("0x").or_else(|| lit.strip_prefix("0X")) {
                i128::from_str_radix(h, 16)
            } else {
                lit.parse()
            };
            out.push(Tok::Num(
                v.map_err(|e| format!("bad number {lit:?} in {s:?}: {e}"))?,
            ));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && ((b[i] as char).is_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].to_string()));
        } else if let Some(op) = OPS.iter().find(|op| s[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            return Err(format!("unexpected {c:?} in expression {s:?}"));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    /// `Some` in `#if` mode, where `defined` is an operator.
    defines: Option<&'a Defines>,
    lookup: &'a dyn Fn(&str) -> Result<i128, String>,
    src: String,
}

impl<'a> Parser<'a> {
    fn new(
        src: &str,
        defines: Option<&'a Defines>,
        lookup: &'a dyn Fn(&str) -> Result<i128, String>,
    ) -> Result<Self, String> {
        Ok(Self {
            toks: tokenize(src)?,
            pos: 0,
            defines,
            lookup,
            src: src.to_string(),
        })
    }

    fn run(mut self) -> Result<i128, String> {
        let v = self.binary(0)?;
        if self.pos != self.toks.len() {
            return Err(format!("trailing tokens in {:?}", self.src));
        }
        Ok(v)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn unary(&mut self) -> Result<i128, String> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(n),
            Some(Tok::Op("(")) => {
                let v = self.binary(0)?;
                match self.next() {
                    Some(Tok::Op(")")) => Ok(v),
                    _ => Err(format!("missing ')' in {:?}", self.src)),
                }
            }
            Some(Tok::Op("!")) => Ok((self.unary()? == 0) as i128),
            Some(Tok::Op("-")) => Ok(-self.unary()?),
            Some(Tok::Op("~")) => Ok(!self.unary()?),
            Some(Tok::Ident(id)) if id == "defined" && self.defines.is_some() => {
                let paren = self.toks.get(self.pos) == Some(&Tok::Op("("));
                if paren {
                    self.pos += 1;
                }
                let Some(Tok::Ident(name)) = self.next() else {
                    return Err(format!("defined without a name in {:?}", self.src));
                };
                if paren && self.next() != Some(Tok::Op(")")) {
                    return Err(format!("missing ')' after defined in {:?}", self.src));
                }
                Ok(self.defines.unwrap().contains_key(&name) as i128)
            }
            Some(Tok::Ident(id)) => (self.lookup)(&id),
            t => Err(format!("unexpected {t:?} in {:?}", self.src)),
        }
    }

    /// Precedence climbing over C's binary operators.
    fn binary(&mut self, min_prec: u8) -> Result<i128, String> {
        let mut lhs = self.unary()?;
        while let Some(Tok::Op(op)) = self.toks.get(self.pos).cloned() {
            let prec = match op {
                "*" | "/" | "%" => 10,
                "+" | "-" => 9,
                "<<" | ">>" => 8,
                "<" | "<=" | ">" | ">=" => 7,
                "==" | "!=" => 6,
                "&" => 5,
                "^" => 4,
                "|" => 3,
                "&&" => 2,
                "||" => 1,
                _ => break,
            };
            if prec < min_prec.max(1) {
                break;
            }
            self.pos += 1;
            let rhs = self.binary(prec + 1)?;
            lhs = match op {
                "*" => lhs * rhs,
                "/" => lhs.checked_div(rhs).ok_or("division by zero")?,
                "%" => lhs.checked_rem(rhs).ok_or("division by zero")?,
                "+" => lhs + rhs,
                "-" => lhs - rhs,
                "<<" => lhs << rhs,
                ">>" => lhs >> rhs,
                "<" => (lhs < rhs) as i128,
                "<=" => (lhs <= rhs) as i128,
                ">" => (lhs > rhs) as i128,
                ">=" => (lhs >= rhs) as i128,
                "==" => (lhs == rhs) as i128,
                "!=" => (lhs != rhs) as i128,
                "&" => lhs & rhs,
                "^" => lhs ^ rhs,
                "|" => lhs | rhs,
                "&&" => (lhs != 0 && rhs != 0) as i128,
                _ => (lhs != 0 || rhs != 0) as i128,
            };
        }
        Ok(lhs)
    }
}

/// One C `enum` body: its members in order with their values.
#[derive(Debug)]
pub struct CEnum {
    pub members: Vec<(String, i128)>,
}

/// Parses every `enum ... { ... }` in already-filtered header lines.
///
/// Values follow C: explicit `= expr`, otherwise previous + 1. Names from
/// earlier enums (also of other headers, through `symbols`) resolve, so the
/// arch object-type enum can continue from `seL4_ModeObjectTypeCount`.
/// `SEL4_FORCE_LONG_ENUM(...)` padding members are skipped.
pub fn parse_enums(
    lines: &[String],
    symbols: &mut BTreeMap<String, i128>,
) -> Result<Vec<CEnum>, String> {
    let text = lines.join("\n");
    let mut enums = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = find_word(rest, "enum") {
        rest = &rest[at + 4..];
        let Some(open) = rest.find('{') else { break };
        // `enum name;` forward declarations or `enum x y;` uses have no body.
        if rest[..open].contains(';') {
            continue;
        }
        let close = rest[open..].find('}').ok_or("unterminated enum")? + open;
        let body = &rest[open + 1..close];
        rest = &rest[close..];
        let mut members = Vec::new();
        let mut next = 0i128;
        for item in body.split(',') {
            let item = item.trim();
            if item.is_empty() || item.starts_with("SEL4_FORCE_LONG_ENUM") {
                continue;
            }
            let (name, value) = match item.split_once('=') {
                Some((n, e)) => {
                    let syms = &*symbols;
                    let v = eval_expr(e.trim(), &|id| {
                        syms.get(id)
                            .copied()
                            .ok_or_else(|| format!("unknown name {id} in enum"))
                    })?;
                    (n.trim().to_string(), v)
                }
                None => (item.to_string(), next),
            };
            next = value + 1;
            symbols.insert(name.clone(), value);
            members.push((name, value));
        }
        enums.push(CEnum { members });
    }
    Ok(enums)
}

/// Finds `word` as a whole identifier.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(word) {
        let at = from + i;
        let before = s[..at].chars().next_back();
        let after = s[at + word.len()..].chars().next();
        let is_id = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !is_id(before) && !is_id(after) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}
