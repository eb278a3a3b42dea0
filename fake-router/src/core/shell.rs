//! The scripted shell behind `/ws/terminal/{id}` when the emulator runs without local exec:
//! a small subset of POSIX `sh`, interpreted against the sandbox's in-memory files, with the
//! exec API's [`ExecRule`]s and built-in commands ([`exec::file_command`]) answering the
//! commands themselves, and a pretend PTY in front (echo, `onlcr`, prompts, Ctrl-C).
//!
//! The supported subset is documented in the crate docs ("The scripted terminal").

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::exec::{self, ExecRule, resolve};
use super::workspace::{RemoveError, Workspace};

/// How deep functions, `sh -c`, command substitutions (and the syntax) may nest.
const MAX_DEPTH: u32 = 64;

/// How many commands one entered line may run (a runaway recursion would otherwise hold the
/// emulator's lock).
const MAX_COMMANDS: u32 = 100_000;

/// The widest `printf` field.
const MAX_WIDTH: usize = 1 << 16;

/// How many bytes one line may produce in all (output, expansions, file contents written):
/// doubling a variable or a file in a loop of commands stops here instead of exhausting memory.
pub(crate) const MAX_BYTES: usize = 256 << 20;

/// How many names one pattern may expand to.
const MAX_GLOB: usize = 100_000;

/// One thing the shell does, in order.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// Bytes on a descriptor (1 stdout, 2 stderr; both go to the terminal).
    Out(u8, Vec<u8>),
    /// Nothing comes out for this long (`sleep`, a rule's delay).
    Wait(Duration),
    /// The terminal's settings changed (`stty`).
    Tty {
        echo: Option<bool>,
        onlcr: Option<bool>,
    },
}

// ---------------------------------------------------------------------------------------
// Syntax

#[derive(Clone, Debug)]
enum Part {
    /// Literal text (quoted or not: literals are never split or globbed here).
    Lit(String),
    /// `$NAME`, `${NAME}`, `$?`, `$1`…; `default` for `${NAME:-word}`.
    Var {
        name: String,
        quoted: bool,
        default: Option<String>,
    },
    /// `$(…)` or `` `…` ``.
    Sub { body: Box<Node>, quoted: bool },
    /// A leading unquoted `~`.
    Tilde,
    /// An unquoted `*` or `?`: a pattern character for pathname expansion.
    Pat(char),
    /// `$((…))`: the expression, expanded like a double-quoted string, then evaluated.
    Arith(Word),
}

type Word = Vec<Part>;

#[derive(Clone, Debug)]
enum Redir {
    /// `[n]>file`, `[n]>>file`.
    To { fd: u8, target: Word, append: bool },
    /// `[n]>&m`.
    Dup { fd: u8, to: u8 },
    /// `<file`.
    From { target: Word },
}

#[derive(Clone, Debug)]
enum Node {
    Simple {
        assigns: Vec<(String, Word)>,
        words: Vec<Word>,
        redirs: Vec<Redir>,
    },
    Group(Box<Node>, Vec<Redir>),
    Subshell(Box<Node>, Vec<Redir>),
    FuncDef(String, Box<Node>),
    Pipeline(Vec<Node>, bool),
    AndOr(Box<Node>, Vec<(bool, Node)>),
    List(Vec<Node>),
    /// `if A; then B; elif C; then D; else E; fi`: the (condition, body) arms in order, the
    /// `else` body, and redirections of the whole.
    If(Vec<(Node, Node)>, Option<Box<Node>>, Vec<Redir>),
    /// A construct outside the subset (`for`, `while`, …): reported when run.
    Unsupported(String),
}

/// Why input could not be parsed.
#[derive(Debug, PartialEq)]
pub(crate) enum ParseError {
    /// More lines are needed (an open quote, group or `&&`).
    Incomplete,
    /// A syntax error, with what the shell says.
    Syntax(String),
}

/// Where a list ends.
#[derive(Clone, Copy, PartialEq)]
enum End {
    Eof,
    Brace,
    Paren,
    /// A reserved word closing a part of a compound command (`then`, `elif`, `else`, `fi`).
    Keyword,
}

/// The reserved words that end a list inside `if`.
const CLOSERS: &[&str] = &["then", "elif", "else", "fi"];

const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "select", "function",
];

struct Parser {
    s: Vec<char>,
    i: usize,
    /// Nesting of lists (groups, subshells, substitutions), bounded.
    depth: u32,
}

fn is_delim(c: Option<char>) -> bool {
    matches!(
        c,
        None | Some(' ' | '\t' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>')
    )
}

fn is_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && cs.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.s.get(self.i + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        self.i += 1;
        c
    }

    /// Blanks, line continuations and comments (not newlines).
    fn blanks(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t') => self.i += 1,
                Some('\\') if self.peek_at(1) == Some('\n') => self.i += 2,
                Some('#') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.i += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn blanks_and_newlines(&mut self) {
        loop {
            self.blanks();
            if self.peek() == Some('\n') {
                self.i += 1;
            } else {
                return;
            }
        }
    }

    fn at_word(&self, w: &str) -> bool {
        let n = w.chars().count();
        self.s[self.i..].iter().take(n).copied().eq(w.chars())
            && (is_delim(self.peek_at(n)) || self.peek_at(n) == Some('}'))
    }

    fn list(&mut self, end: End) -> Result<Node, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(ParseError::Syntax("too deeply nested".into()));
        }
        self.depth += 1;
        let list = self.list_items(end);
        self.depth -= 1;
        list
    }

    fn list_items(&mut self, end: End) -> Result<Node, ParseError> {
        let mut items = Vec::new();
        loop {
            loop {
                self.blanks_and_newlines();
                if matches!(self.peek(), Some(';' | '&')) && items.is_empty() {
                    return Err(ParseError::Syntax(format!(
                        "unexpected \"{}\"",
                        self.peek().unwrap_or(';')
                    )));
                }
                if matches!(self.peek(), Some(';' | '&')) {
                    self.i += 1;
                } else {
                    break;
                }
            }
            if end == End::Keyword && CLOSERS.iter().any(|k| self.at_word(k)) {
                break;
            }
            match self.peek() {
                None if end == End::Eof => break,
                None => return Err(ParseError::Incomplete),
                Some(')') if end == End::Paren => break,
                Some(')') => return Err(ParseError::Syntax("unexpected \")\"".into())),
                Some('}') if self.at_word("}") => {
                    if end == End::Brace {
                        break;
                    }
                    return Err(ParseError::Syntax("unexpected \"}\"".into()));
                }
                _ => {}
            }
            items.push(self.and_or()?);
            self.blanks();
            match self.peek() {
                Some(';' | '&' | '\n') => self.i += 1,
                None | Some(')') => {}
                Some('}') if self.at_word("}") => {}
                Some(c) => return Err(ParseError::Syntax(format!("unexpected \"{c}\""))),
            }
        }
        Ok(Node::List(items))
    }

    fn and_or(&mut self) -> Result<Node, ParseError> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            self.blanks();
            let and = match (self.peek(), self.peek_at(1)) {
                (Some('&'), Some('&')) => true,
                (Some('|'), Some('|')) => false,
                _ => break,
            };
            self.i += 2;
            self.blanks_and_newlines();
            if self.peek().is_none() {
                return Err(ParseError::Incomplete);
            }
            rest.push((and, self.pipeline()?));
        }
        Ok(if rest.is_empty() {
            first
        } else {
            Node::AndOr(Box::new(first), rest)
        })
    }

    fn pipeline(&mut self) -> Result<Node, ParseError> {
        self.blanks();
        let negate = self.at_word("!");
        if negate {
            self.i += 1;
        }
        let mut cmds = vec![self.command()?];
        loop {
            self.blanks();
            if self.peek() == Some('|') && self.peek_at(1) != Some('|') {
                self.i += 1;
                self.blanks_and_newlines();
                if self.peek().is_none() {
                    return Err(ParseError::Incomplete);
                }
                cmds.push(self.command()?);
            } else {
                break;
            }
        }
        Ok(if cmds.len() == 1 && !negate {
            cmds.remove(0)
        } else {
            Node::Pipeline(cmds, negate)
        })
    }

    fn command(&mut self) -> Result<Node, ParseError> {
        self.blanks();
        if self.at_word("if") {
            self.i += 2;
            return self.if_clause();
        }
        if self.at_word("{") {
            self.i += 1;
            let body = self.list(End::Brace)?;
            self.i += 1;
            let redirs = self.redirs()?;
            return Ok(Node::Group(Box::new(body), redirs));
        }
        if self.peek() == Some('(') {
            self.i += 1;
            let body = self.list(End::Paren)?;
            self.i += 1;
            let redirs = self.redirs()?;
            return Ok(Node::Subshell(Box::new(body), redirs));
        }
        self.simple()
    }

    /// After `if`: arms up to `fi`, then redirections.
    fn if_clause(&mut self) -> Result<Node, ParseError> {
        let mut arms = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.keyword_list("then")?;
            self.expect("then")?;
            let body = self.keyword_list("fi")?;
            arms.push((cond, body));
            if self.at_word("elif") {
                self.i += 4;
                continue;
            }
            if self.at_word("else") {
                self.i += 4;
                otherwise = Some(Box::new(self.keyword_list("fi")?));
            }
            self.expect("fi")?;
            break;
        }
        let redirs = self.redirs()?;
        Ok(Node::If(arms, otherwise, redirs))
    }

    /// A non-empty list ended by one of [`CLOSERS`]; `what` names the expected one.
    fn keyword_list(&mut self, what: &str) -> Result<Node, ParseError> {
        let list = self.list(End::Keyword)?;
        if matches!(&list, Node::List(items) if items.is_empty()) {
            let found = CLOSERS
                .iter()
                .find(|k| self.at_word(k))
                .copied()
                .unwrap_or(what);
            return Err(ParseError::Syntax(format!("unexpected \"{found}\"")));
        }
        Ok(list)
    }

    /// The reserved word `word` at the cursor, consumed.
    fn expect(&mut self, word: &str) -> Result<(), ParseError> {
        self.blanks_and_newlines();
        if self.at_word(word) {
            self.i += word.len();
            return Ok(());
        }
        match CLOSERS.iter().find(|k| self.at_word(k)) {
            Some(k) => Err(ParseError::Syntax(format!(
                "unexpected \"{k}\" (expecting \"{word}\")"
            ))),
            None if self.peek().is_none() => Err(ParseError::Incomplete),
            None => Err(ParseError::Syntax(format!("expecting \"{word}\""))),
        }
    }

    fn redirs(&mut self) -> Result<Vec<Redir>, ParseError> {
        let mut out = Vec::new();
        loop {
            self.blanks();
            match self.redir()? {
                Some(r) => out.push(r),
                None => return Ok(out),
            }
        }
    }

    /// A redirection at the cursor, if there is one.
    fn redir(&mut self) -> Result<Option<Redir>, ParseError> {
        let (fd, at) = match (self.peek(), self.peek_at(1)) {
            (Some(d @ '0'..='9'), Some('<' | '>')) => (d.to_digit(10).map(|d| d as u8), 1),
            (Some('<' | '>'), _) => (None, 0),
            _ => return Ok(None),
        };
        self.i += at;
        let op = self.bump();
        if op == Some('<') {
            if self.peek() == Some('<') {
                return Err(ParseError::Syntax(
                    "here-documents are not supported by the FakeRouter's scripted shell".into(),
                ));
            }
            self.blanks();
            return Ok(Some(Redir::From {
                target: self.target()?,
            }));
        }
        let fd = fd.unwrap_or(1);
        if self.peek() == Some('&') {
            self.i += 1;
            match self.bump() {
                Some(d @ '0'..='9') => {
                    return Ok(Some(Redir::Dup {
                        fd,
                        to: d.to_digit(10).unwrap_or(1) as u8,
                    }));
                }
                _ => return Err(ParseError::Syntax("bad fd number".into())),
            }
        }
        let append = self.peek() == Some('>');
        if append || self.peek() == Some('|') {
            self.i += 1;
        }
        self.blanks();
        Ok(Some(Redir::To {
            fd,
            target: self.target()?,
            append,
        }))
    }

    fn target(&mut self) -> Result<Word, ParseError> {
        if is_delim(self.peek()) {
            return Err(ParseError::Syntax("missing redirection target".into()));
        }
        self.word()
    }

    fn simple(&mut self) -> Result<Node, ParseError> {
        let mut assigns = Vec::new();
        let mut words: Vec<Word> = Vec::new();
        let mut redirs = Vec::new();
        loop {
            self.blanks();
            if let Some(r) = self.redir()? {
                redirs.push(r);
                continue;
            }
            match self.peek() {
                None | Some(';' | '&' | '|' | ')' | '\n') => break,
                Some('(') => {
                    let name = match (words.as_slice(), self.peek_at(1)) {
                        ([w], Some(')')) if assigns.is_empty() => match w.as_slice() {
                            [Part::Lit(n)] if is_name(n) => n.clone(),
                            _ => return Err(ParseError::Syntax("unexpected \"(\"".into())),
                        },
                        _ => return Err(ParseError::Syntax("unexpected \"(\"".into())),
                    };
                    self.i += 2;
                    self.blanks_and_newlines();
                    if self.peek().is_none() {
                        return Err(ParseError::Incomplete);
                    }
                    let body = self.command()?;
                    return Ok(Node::FuncDef(name, Box::new(body)));
                }
                _ => {}
            }
            if words.is_empty()
                && let Some(kw) = CLOSERS.iter().find(|k| self.at_word(k))
            {
                return Err(ParseError::Syntax(format!("unexpected \"{kw}\"")));
            }
            if words.is_empty()
                && let Some(kw) = KEYWORDS.iter().find(|k| self.at_word(k))
            {
                // Outside the subset: skip the rest of the line, report it when run.
                while !matches!(self.peek(), None | Some('\n')) {
                    self.i += 1;
                }
                return Ok(Node::Unsupported(format!("`{kw}`")));
            }
            let mut word = self.word()?;
            if words.is_empty()
                && let Some(Part::Lit(first)) = word.first()
                && let Some((name, value)) = first.split_once('=')
                && is_name(name)
            {
                let name = name.to_string();
                let value = value.to_string();
                word[0] = Part::Lit(value);
                assigns.push((name, word));
                continue;
            }
            words.push(word);
        }
        Ok(Node::Simple {
            assigns,
            words,
            redirs,
        })
    }

    fn word(&mut self) -> Result<Word, ParseError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let flush = |lit: &mut String, parts: &mut Vec<Part>| {
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(lit)));
            }
        };
        if self.peek() == Some('~') && (is_delim(self.peek_at(1)) || self.peek_at(1) == Some('/')) {
            self.i += 1;
            parts.push(Part::Tilde);
        }
        loop {
            let c = self.peek();
            if is_delim(c) {
                break;
            }
            let c = c.unwrap_or(' ');
            self.i += 1;
            match c {
                '\\' => match self.bump() {
                    None => return Err(ParseError::Incomplete),
                    Some('\n') => {}
                    Some(e) => lit.push(e),
                },
                '\'' => loop {
                    match self.bump() {
                        None => return Err(ParseError::Incomplete),
                        Some('\'') => {
                            // `''` is an empty word, not no word.
                            parts.push(Part::Lit(std::mem::take(&mut lit)));
                            break;
                        }
                        Some(q) => lit.push(q),
                    }
                },
                '"' => {
                    flush(&mut lit, &mut parts);
                    parts.push(Part::Lit(String::new()));
                    loop {
                        match self.bump() {
                            None => return Err(ParseError::Incomplete),
                            Some('"') => break,
                            Some('\\') => match self.bump() {
                                None => return Err(ParseError::Incomplete),
                                Some('\n') => {}
                                Some(e @ ('$' | '`' | '"' | '\\')) => lit.push(e),
                                Some(e) => {
                                    lit.push('\\');
                                    lit.push(e);
                                }
                            },
                            Some('$') => {
                                flush(&mut lit, &mut parts);
                                parts.push(self.dollar(true)?);
                            }
                            Some('`') => {
                                flush(&mut lit, &mut parts);
                                parts.push(self.backtick(true)?);
                            }
                            Some(q) => lit.push(q),
                        }
                    }
                    flush(&mut lit, &mut parts);
                }
                '$' => {
                    flush(&mut lit, &mut parts);
                    parts.push(self.dollar(false)?);
                }
                '`' => {
                    flush(&mut lit, &mut parts);
                    parts.push(self.backtick(false)?);
                }
                '*' | '?' => {
                    flush(&mut lit, &mut parts);
                    parts.push(Part::Pat(c));
                }
                c => lit.push(c),
            }
        }
        flush(&mut lit, &mut parts);
        Ok(parts)
    }

    /// After a `$`.
    fn dollar(&mut self, quoted: bool) -> Result<Part, ParseError> {
        let var = |name: String| Part::Var {
            name,
            quoted,
            default: None,
        };
        match self.peek() {
            Some('(') if self.peek_at(1) == Some('(') => {
                self.i += 2;
                self.arithmetic()
            }
            Some('(') => {
                self.i += 1;
                let body = self.list(End::Paren)?;
                self.i += 1;
                Ok(Part::Sub {
                    body: Box::new(body),
                    quoted,
                })
            }
            Some('{') => {
                self.i += 1;
                let mut inner = String::new();
                loop {
                    match self.bump() {
                        None => return Err(ParseError::Incomplete),
                        Some('}') => break,
                        Some(c) => inner.push(c),
                    }
                }
                let (name, default) = match inner.split_once(":-").or(inner.split_once('-')) {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (inner, None),
                };
                Ok(Part::Var {
                    name,
                    quoted,
                    default,
                })
            }
            Some(c @ ('?' | '$' | '#' | '@' | '*' | '!' | '0'..='9')) => {
                self.i += 1;
                Ok(var(c.to_string()))
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                let mut name = String::new();
                while let Some(c) = self.peek()
                    && (c == '_' || c.is_ascii_alphanumeric())
                {
                    name.push(c);
                    self.i += 1;
                }
                Ok(var(name))
            }
            _ => Ok(Part::Lit("$".into())),
        }
    }

    /// After `$((`: the expression up to the matching `))`, with its `$` expansions.
    fn arithmetic(&mut self) -> Result<Part, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(ParseError::Syntax("too deeply nested".into()));
        }
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut open = 0u32;
        loop {
            match self.bump() {
                None => return Err(ParseError::Incomplete),
                Some(')') if open == 0 => {
                    if self.bump() != Some(')') {
                        return Err(ParseError::Syntax("missing \"))\"".into()));
                    }
                    break;
                }
                Some(c @ ('(' | ')')) => {
                    if c == '(' {
                        open += 1;
                    } else {
                        open -= 1;
                    }
                    lit.push(c);
                }
                Some(c @ ('$' | '`')) => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    self.depth += 1;
                    let part = if c == '$' {
                        self.dollar(true)
                    } else {
                        self.backtick(true)
                    };
                    self.depth -= 1;
                    parts.push(part?);
                }
                Some('\\') => match self.bump() {
                    None => return Err(ParseError::Incomplete),
                    Some('\n') => {}
                    Some(e) => lit.push(e),
                },
                Some(c) => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Part::Arith(parts))
    }

    /// After a backtick: the command up to the closing one.
    fn backtick(&mut self, quoted: bool) -> Result<Part, ParseError> {
        let mut inner = String::new();
        loop {
            match self.bump() {
                None => return Err(ParseError::Incomplete),
                Some('`') => break,
                Some('\\') => match self.bump() {
                    Some(e @ ('`' | '\\' | '$')) => inner.push(e),
                    Some(e) => {
                        inner.push('\\');
                        inner.push(e);
                    }
                    None => return Err(ParseError::Incomplete),
                },
                Some(c) => inner.push(c),
            }
        }
        Ok(Part::Sub {
            body: Box::new(parse(&inner)?),
            quoted,
        })
    }
}

/// Parse a whole script.
fn parse(src: &str) -> Result<Node, ParseError> {
    let mut p = Parser {
        s: src.chars().collect(),
        i: 0,
        depth: 0,
    };
    p.list(End::Eof)
}

// ---------------------------------------------------------------------------------------
// Execution

/// How a command ended: its status, or the shell (or subshell) exiting.
#[derive(Clone, Copy, Debug)]
enum Flow {
    Code(i32),
    Exit(i32),
}

impl Flow {
    fn code(self) -> i32 {
        match self {
            Flow::Code(c) | Flow::Exit(c) => c,
        }
    }
}

/// What the shell does with a command it does not know.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Unknown {
    /// `sh: NAME: not found`, status 127 (the terminal).
    NotFound,
    /// Exit 0 with no output (exec, configure's install command, the invoke entrypoint:
    /// `pip install x` must "work" on an emulator that cannot run it).
    Succeed,
}

/// What a command runs against.
struct Env<'a> {
    ws: &'a mut Workspace,
    rules: &'a [ExecRule],
    depth: u32,
    /// Commands left to run for this line.
    budget: u32,
    /// Bytes left to produce for this line ([`MAX_BYTES`]).
    bytes: usize,
    unknown: Unknown,
}

impl<'a> Env<'a> {
    fn new(ws: &'a mut Workspace, rules: &'a [ExecRule], unknown: Unknown) -> Self {
        Env {
            ws,
            rules,
            depth: 0,
            budget: MAX_COMMANDS,
            bytes: MAX_BYTES,
            unknown,
        }
    }

    /// Account for `n` more bytes; `false` (once the budget is gone) stops the line.
    fn charge(&mut self, n: usize) -> bool {
        match self.bytes.checked_sub(n) {
            Some(left) => {
                self.bytes = left;
                true
            }
            None => {
                self.bytes = 0;
                self.budget = 0;
                false
            }
        }
    }
}

/// The state one shell keeps between commands.
#[derive(Clone, Debug)]
pub(crate) struct ShellState {
    cwd: String,
    vars: BTreeMap<String, String>,
    funcs: BTreeMap<String, Node>,
    args: Vec<String>,
    last: i32,
    /// Command substitutions run so far (the status of `NAME=$(…)` is the last one's).
    subs: u64,
    /// An expansion failed (a bad arithmetic expression): the command does not run.
    failed: bool,
}

fn err(out: &mut Vec<Step>, text: String) {
    out.push(Step::Out(2, text.into_bytes()));
}

impl ShellState {
    pub(crate) fn new() -> Self {
        let vars = [
            ("HOME", "/workspace"),
            ("PWD", "/workspace"),
            (
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ),
            ("SHELL", "/bin/sh"),
            ("TERM", "xterm-256color"),
            ("PS1", "$ "),
            ("PS2", "> "),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        ShellState {
            cwd: "/workspace".into(),
            vars,
            funcs: BTreeMap::new(),
            args: Vec::new(),
            last: 0,
            subs: 0,
            failed: false,
        }
    }

    fn var(&self, name: &str) -> Option<String> {
        match name {
            "?" => Some(self.last.to_string()),
            "$" => Some("1".into()),
            "!" => Some(String::new()),
            "#" => Some(self.args.len().to_string()),
            "0" => Some("sh".into()),
            "@" | "*" => Some(self.args.join(" ")),
            n if n.chars().all(|c| c.is_ascii_digit()) => {
                let i: usize = n.parse().ok()?;
                self.args.get(i.checked_sub(1)?).cloned()
            }
            n => self.vars.get(n).cloned(),
        }
    }

    /// A word's fields: unquoted expansions are split on blanks, then fields with an
    /// unquoted `*` or `?` are matched against the files (sorted; a pattern matching
    /// nothing stays as it is).
    fn expand(&mut self, env: &mut Env<'_>, word: &Word, out: &mut Vec<Step>) -> Vec<String> {
        self.expand_fields(env, word, true, out)
    }

    fn expand_fields(
        &mut self,
        env: &mut Env<'_>,
        word: &Word,
        glob: bool,
        out: &mut Vec<Step>,
    ) -> Vec<String> {
        #[derive(Default)]
        struct Field {
            text: String,
            pattern: Vec<Tok>,
            globby: bool,
            have: bool,
        }
        impl Field {
            fn push(&mut self, s: &str) {
                self.text.push_str(s);
                self.pattern.extend(s.chars().map(Tok::Char));
                self.have = true;
            }
        }
        let mut fields: Vec<Field> = Vec::new();
        let mut cur = Field::default();
        for part in word {
            let (text, quoted) = match part {
                Part::Lit(s) => (s.clone(), true),
                Part::Pat(c) => {
                    cur.text.push(*c);
                    cur.pattern
                        .push(if *c == '*' { Tok::Star } else { Tok::One });
                    cur.globby |= glob;
                    cur.have = true;
                    continue;
                }
                Part::Tilde => (self.var("HOME").unwrap_or_default(), true),
                Part::Var {
                    name,
                    quoted,
                    default,
                } => {
                    let v = self.var(name).filter(|v| !v.is_empty());
                    let text = v.or_else(|| default.clone()).unwrap_or_default();
                    (text, *quoted)
                }
                Part::Sub { body, quoted } => {
                    let text = self.substitute(env, body, out);
                    (text, *quoted)
                }
                Part::Arith(expr) => {
                    let text = self.expand_one(env, expr, out);
                    match arith(&text, &|name| self.var(name)) {
                        Ok(n) => (n.to_string(), true),
                        Err(m) => {
                            err(out, format!("sh: arithmetic expression: {m}: \"{text}\"\n"));
                            self.failed = true;
                            (String::new(), true)
                        }
                    }
                }
            };
            if !env.charge(text.len()) {
                err(
                    out,
                    "sh: out of memory (the FakeRouter's scripted shell's limit)\n".into(),
                );
                self.failed = true;
                return Vec::new();
            }
            if quoted {
                cur.push(&text);
                cur.have = true;
                continue;
            }
            let mut pieces = text.split([' ', '\t', '\n']).peekable();
            let starts_blank = text.starts_with([' ', '\t', '\n']);
            if starts_blank && cur.have {
                fields.push(std::mem::take(&mut cur));
            }
            while let Some(piece) = pieces.next() {
                if !piece.is_empty() {
                    cur.push(piece);
                }
                if pieces.peek().is_some() && cur.have {
                    fields.push(std::mem::take(&mut cur));
                }
            }
        }
        if cur.have {
            fields.push(cur);
        }
        let mut words = Vec::new();
        for f in fields {
            if f.globby {
                let found = glob_paths(env.ws, &self.cwd, &f.pattern);
                if !found.is_empty() {
                    words.extend(found);
                    continue;
                }
            }
            words.push(f.text);
        }
        words
    }

    /// A word as one string (assignments, redirection targets).
    fn expand_one(&mut self, env: &mut Env<'_>, word: &Word, out: &mut Vec<Step>) -> String {
        let mut quoted: Word = word.clone();
        for p in &mut quoted {
            match p {
                Part::Var { quoted, .. } | Part::Sub { quoted, .. } => *quoted = true,
                _ => {}
            }
        }
        self.expand_fields(env, &quoted, false, out).join(" ")
    }

    /// `$(…)`: the body's standard output without trailing newlines; its errors go on.
    fn substitute(&mut self, env: &mut Env<'_>, body: &Node, out: &mut Vec<Step>) -> String {
        let mut sub = self.clone();
        let mut inner = Vec::new();
        let flow = sub.nested(env, body, b"", &mut inner);
        self.last = flow.code();
        self.subs += 1;
        let mut stdout = Vec::new();
        for step in inner {
            match step {
                Step::Out(1, b) => stdout.extend_from_slice(&b),
                other => out.push(other),
            }
        }
        let mut text = String::from_utf8_lossy(&stdout).into_owned();
        while text.ends_with('\n') {
            text.pop();
        }
        text
    }

    /// Run `node` one level deeper (functions, `sh -c`, substitutions).
    fn nested(
        &mut self,
        env: &mut Env<'_>,
        node: &Node,
        stdin: &[u8],
        out: &mut Vec<Step>,
    ) -> Flow {
        if env.depth >= MAX_DEPTH {
            err(out, "sh: too deeply nested\n".into());
            return Flow::Code(2);
        }
        env.depth += 1;
        let flow = self.run(env, node, stdin, out);
        env.depth -= 1;
        flow
    }

    fn run(&mut self, env: &mut Env<'_>, node: &Node, stdin: &[u8], out: &mut Vec<Step>) -> Flow {
        if env.budget == 0 {
            return Flow::Code(2);
        }
        env.budget -= 1;
        if env.budget == 0 {
            err(
                out,
                format!(
                    "sh: the FakeRouter's scripted shell stops a line after {MAX_COMMANDS} commands\n"
                ),
            );
            return Flow::Code(2);
        }
        let flow = match node {
            Node::List(items) => {
                let mut flow = Flow::Code(self.last);
                for item in items {
                    flow = self.run(env, item, stdin, out);
                    if let Flow::Exit(_) = flow {
                        return flow;
                    }
                }
                flow
            }
            Node::AndOr(first, rest) => {
                let mut flow = self.run(env, first, stdin, out);
                for (and, next) in rest {
                    if let Flow::Exit(_) = flow {
                        return flow;
                    }
                    if (flow.code() == 0) == *and {
                        flow = self.run(env, next, stdin, out);
                    }
                }
                flow
            }
            Node::Pipeline(cmds, negate) => {
                // Each part runs in a subshell; a part's stdout is the next one's stdin.
                let mut input = stdin.to_vec();
                let mut code = 0;
                for (i, cmd) in cmds.iter().enumerate() {
                    let mut sub = self.clone();
                    let mut inner = Vec::new();
                    code = sub.run(env, cmd, &input, &mut inner).code();
                    input.clear();
                    let last = i + 1 == cmds.len();
                    for step in inner {
                        match step {
                            Step::Out(1, b) if !last => input.extend_from_slice(&b),
                            other => out.push(other),
                        }
                    }
                }
                if *negate {
                    code = i32::from(code == 0);
                }
                Flow::Code(code)
            }
            Node::Group(body, redirs) => {
                self.redirected(env, redirs, stdin, out, |sh, env, stdin, out| {
                    sh.run(env, body, stdin, out)
                })
            }
            Node::Subshell(body, redirs) => {
                self.redirected(env, redirs, stdin, out, |sh, env, stdin, out| {
                    let mut sub = sh.clone();
                    Flow::Code(sub.run(env, body, stdin, out).code())
                })
            }
            Node::If(arms, otherwise, redirs) => {
                self.redirected(env, redirs, stdin, out, |sh, env, stdin, out| {
                    for (cond, body) in arms {
                        match sh.run(env, cond, stdin, out) {
                            Flow::Exit(c) => return Flow::Exit(c),
                            Flow::Code(0) => return sh.run(env, body, stdin, out),
                            Flow::Code(_) => {}
                        }
                    }
                    match otherwise {
                        Some(body) => sh.run(env, body, stdin, out),
                        // No arm ran: the status is 0.
                        None => Flow::Code(0),
                    }
                })
            }
            Node::FuncDef(name, body) => {
                self.funcs.insert(name.clone(), (**body).clone());
                Flow::Code(0)
            }
            Node::Unsupported(what) => {
                err(
                    out,
                    format!("sh: {what} is not supported by the FakeRouter's scripted shell\n"),
                );
                Flow::Code(2)
            }
            Node::Simple {
                assigns,
                words,
                redirs,
            } => self.simple(env, assigns, words, redirs, stdin, out),
        };
        self.last = flow.code();
        flow
    }

    fn simple(
        &mut self,
        env: &mut Env<'_>,
        assigns: &[(String, Word)],
        words: &[Word],
        redirs: &[Redir],
        stdin: &[u8],
        out: &mut Vec<Step>,
    ) -> Flow {
        let subs = self.subs;
        self.failed = false;
        let mut argv = Vec::new();
        for w in words {
            argv.extend(self.expand(env, w, out));
        }
        let mut values = Vec::new();
        for (name, w) in assigns {
            values.push((name.clone(), self.expand_one(env, w, out)));
        }
        if std::mem::take(&mut self.failed) {
            return Flow::Code(2);
        }
        if argv.is_empty() {
            // Assignments stay; the status is the last substitution's, else 0.
            let substituted = self.subs != subs;
            for (name, value) in values {
                self.vars.insert(name, value);
            }
            let code = if substituted { self.last } else { 0 };
            return self.redirected(env, redirs, stdin, out, |_, _, _, _| Flow::Code(code));
        }
        let saved: Vec<(String, Option<String>)> = values
            .iter()
            .map(|(n, _)| (n.clone(), self.vars.get(n).cloned()))
            .collect();
        for (name, value) in values {
            self.vars.insert(name, value);
        }
        let flow = self.redirected(env, redirs, stdin, out, |sh, env, stdin, out| {
            sh.command(env, &argv, stdin, out)
        });
        for (name, old) in saved {
            match old {
                Some(v) => self.vars.insert(name, v),
                None => self.vars.remove(&name),
            };
        }
        flow
    }

    /// Run `f` with `redirs` applied to what it prints.
    fn redirected(
        &mut self,
        env: &mut Env<'_>,
        redirs: &[Redir],
        stdin: &[u8],
        out: &mut Vec<Step>,
        f: impl FnOnce(&mut Self, &mut Env<'_>, &[u8], &mut Vec<Step>) -> Flow,
    ) -> Flow {
        if redirs.is_empty() {
            return f(self, env, stdin, out);
        }
        #[derive(Clone, Copy)]
        enum Dest {
            Fd(u8),
            Null,
            File(usize),
        }
        let mut table = [Dest::Fd(1), Dest::Fd(1), Dest::Fd(2)];
        let mut files: Vec<(String, bool, Vec<u8>)> = Vec::new();
        let mut input: Option<Vec<u8>> = None;
        for r in redirs {
            match r {
                Redir::Dup { fd, to } => {
                    if let (Some(&d), Some(_)) = (table.get(*to as usize), table.get(*fd as usize))
                    {
                        table[*fd as usize] = d;
                    }
                }
                Redir::From { target } => {
                    let name = self.expand_one(env, target, out);
                    match env.ws.read(&resolve(&self.cwd, &name)) {
                        Ok(data) => input = Some(data.to_vec()),
                        Err(_) => {
                            err(out, format!("sh: can't open {name}: no such file\n"));
                            return Flow::Code(1);
                        }
                    }
                }
                Redir::To { fd, target, append } => {
                    let name = self.expand_one(env, target, out);
                    let dest = match name.as_str() {
                        "/dev/null" => Dest::Null,
                        "/dev/stdout" => table[1],
                        "/dev/stderr" => table[2],
                        _ => {
                            let path = resolve(&self.cwd, &name);
                            let mut existing = Vec::new();
                            if *append && let Ok(data) = env.ws.read(&path) {
                                existing = data.to_vec();
                            }
                            if let Err(e) = env.ws.write(&path, &existing) {
                                err(out, format!("{e}\n"));
                                return Flow::Code(1);
                            }
                            files.push((path, *append, existing));
                            Dest::File(files.len() - 1)
                        }
                    };
                    if let Some(slot) = table.get_mut(*fd as usize) {
                        *slot = dest;
                    }
                }
            }
        }
        let mut inner = Vec::new();
        let stdin = input.as_deref().unwrap_or(stdin);
        let flow = f(self, env, stdin, &mut inner);
        for step in inner {
            match step {
                Step::Out(fd, bytes) => match table.get(fd as usize).copied() {
                    Some(Dest::Fd(to)) => out.push(Step::Out(to, bytes)),
                    Some(Dest::Null) => {}
                    Some(Dest::File(i)) => files[i].2.extend_from_slice(&bytes),
                    None => out.push(Step::Out(fd, bytes)),
                },
                other => out.push(other),
            }
        }
        for (path, _, data) in files {
            if let Err(e) = env.ws.write(&path, &data) {
                err(out, format!("{e}\n"));
            }
        }
        flow
    }

    /// One command with its arguments expanded; what it prints counts against the line's
    /// byte budget.
    fn command(
        &mut self,
        env: &mut Env<'_>,
        argv: &[String],
        stdin: &[u8],
        out: &mut Vec<Step>,
    ) -> Flow {
        let mark = out.len();
        let flow = self.command_inner(env, argv, stdin, out);
        let produced: usize = out[mark..]
            .iter()
            .map(|s| match s {
                Step::Out(_, b) => b.len(),
                _ => 0,
            })
            .sum();
        if !env.charge(produced) {
            out.truncate(mark);
            err(
                out,
                "sh: out of memory (the FakeRouter's scripted shell's limit)\n".into(),
            );
            return Flow::Exit(2);
        }
        flow
    }

    fn command_inner(
        &mut self,
        env: &mut Env<'_>,
        argv: &[String],
        stdin: &[u8],
        out: &mut Vec<Step>,
    ) -> Flow {
        let name = argv[0].as_str();
        let args = &argv[1..];
        let mut print = |fd: u8, text: String| out.push(Step::Out(fd, text.into_bytes()));
        if let Some(body) = self.funcs.get(name).cloned() {
            let saved = std::mem::replace(&mut self.args, args.to_vec());
            let flow = self.nested(env, &body, stdin, out);
            self.args = saved;
            return flow;
        }
        let code = match name {
            ":" => 0,
            "exit" => {
                let code = match args.first() {
                    None => self.last,
                    Some(n) => match n.parse::<i64>() {
                        Ok(n) => (n & 0xff) as i32,
                        Err(_) => {
                            print(2, format!("sh: exit: Illegal number: {n}\n"));
                            2
                        }
                    },
                };
                return Flow::Exit(code);
            }
            "cd" => {
                let target = match args.first().map(String::as_str) {
                    None => self.var("HOME").unwrap_or_else(|| "/".into()),
                    Some("-") => self.var("OLDPWD").unwrap_or_else(|| self.cwd.clone()),
                    Some(d) => d.to_string(),
                };
                let path = resolve(&self.cwd, &target);
                if env.ws.is_dir(&path) {
                    let old = std::mem::replace(&mut self.cwd, path.clone());
                    self.vars.insert("OLDPWD".into(), old);
                    self.vars.insert("PWD".into(), path);
                    0
                } else {
                    print(
                        2,
                        format!("sh: cd: can't cd to {target}: No such file or directory\n"),
                    );
                    2
                }
            }
            "pwd" => {
                print(1, format!("{}\n", self.cwd));
                0
            }
            "export" | "readonly" => {
                for a in args {
                    if let Some((n, v)) = a.split_once('=') {
                        self.vars.insert(n.to_string(), v.to_string());
                    } else if a == "-p" || args.is_empty() {
                        // Listing is below.
                    }
                }
                if args.is_empty() || args.iter().any(|a| a == "-p") {
                    for (k, v) in &self.vars {
                        print(1, format!("export {k}='{}'\n", v.replace('\'', "'\\''")));
                    }
                }
                0
            }
            "env" | "printenv" if args.is_empty() => {
                for (k, v) in &self.vars {
                    print(1, format!("{k}={v}\n"));
                }
                0
            }
            "unset" => {
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    self.vars.remove(a);
                    self.funcs.remove(a);
                }
                0
            }
            "set" => 0,
            "stty" => {
                let mut tty = (None, None);
                for a in args {
                    match a.as_str() {
                        "echo" => tty.0 = Some(true),
                        "-echo" => tty.0 = Some(false),
                        "onlcr" => tty.1 = Some(true),
                        "-onlcr" => tty.1 = Some(false),
                        _ => {}
                    }
                }
                out.push(Step::Tty {
                    echo: tty.0,
                    onlcr: tty.1,
                });
                0
            }
            "printf" => match args.split_first() {
                None => {
                    print(2, "printf: usage: printf format [arguments]\n".into());
                    2
                }
                Some((format, rest)) => {
                    let (bytes, code, message) = printf(format, rest);
                    out.push(Step::Out(1, bytes));
                    if let Some(m) = message {
                        err(out, m);
                    }
                    code
                }
            },
            "sh" | "bash" | "dash" => match args {
                [c, script, rest @ ..] if c == "-c" => match parse(script) {
                    Ok(node) => {
                        let mut sub = self.clone();
                        sub.args = rest.iter().skip(1).cloned().collect();
                        sub.nested(env, &node, stdin, out).code()
                    }
                    Err(_) => {
                        print(2, format!("{name}: -c: syntax error\n"));
                        2
                    }
                },
                _ if env.unknown == Unknown::Succeed => 0,
                _ => {
                    print(
                        2,
                        format!(
                            "{name}: a nested shell without -c is not supported by the FakeRouter's scripted shell\n"
                        ),
                    );
                    2
                }
            },
            "test" | "[" => {
                let mut args = args.to_vec();
                if name == "[" {
                    if args.last().map(String::as_str) != Some("]") {
                        print(2, "sh: [: missing ]\n".into());
                        return Flow::Code(2);
                    }
                    args.pop();
                }
                test(env.ws, &self.cwd, &args)
            }
            "sleep" => {
                let secs = args
                    .first()
                    .and_then(|s| s.trim_end_matches('s').parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0);
                match secs {
                    Some(s) => {
                        out.push(Step::Wait(Duration::from_secs_f64(s.min(1e9))));
                        0
                    }
                    None => {
                        print(2, "sleep: invalid number\n".into());
                        1
                    }
                }
            }
            "mkdir" => {
                let parents = args.iter().any(|a| a == "-p");
                let mut code = 0;
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    if let Err(e) = env.ws.mkdir(&resolve(&self.cwd, a), parents) {
                        print(2, format!("{e}\n"));
                        code = 1;
                    }
                }
                code
            }
            "rm" => {
                let (mut force, mut recursive) = (false, false);
                let mut code = 0;
                let mut operands = false;
                for a in args {
                    if !operands && a == "--" {
                        operands = true;
                        continue;
                    }
                    if !operands && a.len() > 1 && a.starts_with('-') {
                        force |= a.contains('f');
                        recursive |= a.contains('r') || a.contains('R');
                        continue;
                    }
                    match env.ws.remove(&resolve(&self.cwd, a), recursive) {
                        Ok(()) => {}
                        Err(RemoveError::Missing) if force => {}
                        Err(RemoveError::Missing) => {
                            print(
                                2,
                                format!("rm: can't remove '{a}': No such file or directory\n"),
                            );
                            code = 1;
                        }
                        Err(RemoveError::Other(e)) => {
                            print(2, format!("{e}\n"));
                            code = 1;
                        }
                    }
                }
                code
            }
            "mv" => {
                let operands: Vec<&String> = args
                    .iter()
                    .filter(|a| !(a.len() > 1 && a.starts_with('-')))
                    .collect();
                match operands.split_last() {
                    Some((dest, sources)) if !sources.is_empty() => {
                        let dest_path = resolve(&self.cwd, dest);
                        let into = env.ws.is_dir(&dest_path);
                        if sources.len() > 1 && !into {
                            print(2, format!("mv: '{dest}' is not a directory\n"));
                            return Flow::Code(1);
                        }
                        let mut code = 0;
                        for src in sources {
                            let from = resolve(&self.cwd, src);
                            let to = if into {
                                let base = from.rsplit('/').next().unwrap_or_default();
                                resolve(&dest_path, base)
                            } else {
                                dest_path.clone()
                            };
                            if let Err(e) = env.ws.rename(&from, &to) {
                                print(2, format!("{e}\n"));
                                code = 1;
                            }
                        }
                        code
                    }
                    _ => {
                        print(2, "mv: missing file operand\n".into());
                        1
                    }
                }
            }
            "touch" => {
                let mut code = 0;
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    let path = resolve(&self.cwd, a);
                    if env.ws.read(&path).is_err()
                        && !env.ws.is_dir(&path)
                        && let Err(e) = env.ws.write(&path, b"")
                    {
                        print(2, format!("{e}\n"));
                        code = 1;
                    }
                }
                code
            }
            "basename" | "dirname" if !args.is_empty() => {
                let p = args[0].trim_end_matches('/');
                let (dir, base) = match p.rfind('/') {
                    Some(0) => ("/", &p[1..]),
                    Some(i) => (&p[..i], &p[i + 1..]),
                    None => (".", p),
                };
                let text = if name == "basename" {
                    if p.is_empty() { "/" } else { base }
                } else {
                    dir
                };
                print(1, format!("{text}\n"));
                0
            }
            _ => {
                if let Some(rule) = exec::find_rule(env.rules, &argv.join(" ")) {
                    let (answer, delay) = rule.answer();
                    if !delay.is_zero() {
                        out.push(Step::Wait(delay));
                    }
                    out.push(Step::Out(1, answer.stdout));
                    out.push(Step::Out(2, answer.stderr));
                    answer.exit_code
                } else if let Some(answer) =
                    exec::file_command(env.ws, &self.cwd, argv, stdin, env.bytes)
                {
                    out.push(Step::Out(1, answer.stdout));
                    out.push(Step::Out(2, answer.stderr));
                    answer.exit_code
                } else if env.unknown == Unknown::Succeed {
                    0
                } else {
                    print(2, format!("sh: {name}: not found\n"));
                    127
                }
            }
        };
        Flow::Code(code)
    }
}

/// One element of a pathname pattern.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    Char(char),
    /// `*`: any run of characters.
    Star,
    /// `?`: any one character.
    One,
}

/// Whether `name` matches `pattern` (greedy with one backtrack point: linear-ish, never
/// exponential).
fn matches(pattern: &[Tok], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    let mut back: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(Tok::Star) => {
                back = Some((p, n));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                n += 1;
            }
            Some(Tok::Char(c)) if *c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match back {
                Some((bp, bn)) => {
                    p = bp + 1;
                    n = bn + 1;
                    back = Some((bp, bn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|t| *t == Tok::Star)
}

/// Pathname expansion: the existing paths `pattern` matches, sorted, written as the
/// pattern was (relative to `cwd` or absolute). A name starting with `.` is matched only by
/// a pattern component starting with `.`.
fn glob_paths(ws: &Workspace, cwd: &str, pattern: &[Tok]) -> Vec<String> {
    let absolute = pattern.first() == Some(&Tok::Char('/'));
    let mut paths = vec![if absolute {
        "/".to_string()
    } else {
        String::new()
    }];
    let components: Vec<&[Tok]> = pattern
        .split(|t| *t == Tok::Char('/'))
        .filter(|c| !c.is_empty())
        .collect();
    let join = |base: &str, name: &str| match base {
        "" => name.to_string(),
        b if b.ends_with('/') => format!("{b}{name}"),
        b => format!("{b}/{name}"),
    };
    let dirs_only = pattern.last() == Some(&Tok::Char('/'));
    for comp in components {
        let mut next = Vec::new();
        if comp.iter().all(|t| matches!(t, Tok::Char(_))) {
            let lit: String = comp
                .iter()
                .map(|t| match t {
                    Tok::Char(c) => *c,
                    _ => '?',
                })
                .collect();
            next = paths.iter().map(|p| join(p, &lit)).collect();
        } else {
            let dotted = comp.first() == Some(&Tok::Char('.'));
            for p in &paths {
                if next.len() >= MAX_GLOB {
                    break;
                }
                let dir = if p.is_empty() {
                    cwd.to_string()
                } else {
                    resolve(cwd, p)
                };
                for e in ws.list(&dir).unwrap_or_default() {
                    if (dotted || !e.name.starts_with('.')) && matches(comp, &e.name) {
                        next.push(join(p, &e.name));
                        if next.len() >= MAX_GLOB {
                            break;
                        }
                    }
                }
            }
        }
        paths = next;
        if paths.is_empty() {
            return paths;
        }
    }
    paths.retain(|p| {
        let full = resolve(cwd, p);
        if dirs_only {
            ws.is_dir(&full)
        } else {
            ws.exists(&full)
        }
    });
    if dirs_only {
        for p in &mut paths {
            p.push('/');
        }
    }
    paths.sort();
    paths
}

/// `$((…))` after expansion: integers (64-bit, wrapping), variable names (unset or empty
/// is 0), `( )`, unary `+ - ! ~`, `* / %`, `+ -`, `<< >>`, `< <= > >=`, `== !=`, `&`,
/// `^`, `|`, `&&`, `||`. An empty expression is 0.
fn arith(text: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<i64, String> {
    let mut toks = Vec::new();
    let cs: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < cs.len() && cs[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let lit: String = cs[start..i].iter().collect();
            toks.push(ATok::Num(number(&lit)?));
        } else if c == '_' || c.is_ascii_alphabetic() {
            let start = i;
            while i < cs.len() && (cs[i] == '_' || cs[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let name: String = cs[start..i].iter().collect();
            let value = var(&name).unwrap_or_default();
            let value = value.trim();
            toks.push(ATok::Num(if value.is_empty() { 0 } else { number(value)? }));
        } else {
            let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
            let op = ["<<", ">>", "<=", ">=", "==", "!=", "&&", "||"]
                .into_iter()
                .find(|op| two == *op);
            match op {
                Some(op) => {
                    toks.push(ATok::Op(op));
                    i += 2;
                }
                None => {
                    let op = [
                        "+", "-", "*", "/", "%", "(", ")", "<", ">", "!", "~", "&", "|", "^",
                    ]
                    .into_iter()
                    .find(|op| op.starts_with(c))
                    .ok_or_else(|| format!("unexpected \"{c}\""))?;
                    toks.push(ATok::Op(op));
                    i += 1;
                }
            }
        }
    }
    if toks.is_empty() {
        return Ok(0);
    }
    let mut p = Arith {
        toks,
        i: 0,
        depth: 0,
    };
    let v = p.binary(0)?;
    if p.i != p.toks.len() {
        return Err("syntax error".into());
    }
    Ok(v)
}

/// A decimal, `0x` hexadecimal or `0` octal constant.
fn number(s: &str) -> Result<i64, String> {
    let parsed = if let Some(hex) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8)
    } else {
        s.parse::<i64>()
    };
    parsed.map_err(|_| format!("bad number \"{s}\""))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ATok {
    Num(i64),
    Op(&'static str),
}

struct Arith {
    toks: Vec<ATok>,
    i: usize,
    depth: u32,
}

/// Binary operators by precedence, loosest first.
const LEVELS: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["|"],
    &["^"],
    &["&"],
    &["==", "!="],
    &["<", "<=", ">", ">="],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

impl Arith {
    fn binary(&mut self, level: usize) -> Result<i64, String> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(ATok::Op(op)) = self.toks.get(self.i).copied()
            && LEVELS[level].contains(&op)
        {
            self.i += 1;
            let right = self.binary(level + 1)?;
            left = match op {
                "||" => i64::from(left != 0 || right != 0),
                "&&" => i64::from(left != 0 && right != 0),
                "|" => left | right,
                "^" => left ^ right,
                "&" => left & right,
                "==" => i64::from(left == right),
                "!=" => i64::from(left != right),
                "<" => i64::from(left < right),
                "<=" => i64::from(left <= right),
                ">" => i64::from(left > right),
                ">=" => i64::from(left >= right),
                "<<" => left.wrapping_shl((right & 63) as u32),
                ">>" => left.wrapping_shr((right & 63) as u32),
                "+" => left.wrapping_add(right),
                "-" => left.wrapping_sub(right),
                "*" => left.wrapping_mul(right),
                "/" | "%" if right == 0 => return Err("division by zero".into()),
                "/" => left.wrapping_div(right),
                _ => left.wrapping_rem(right),
            };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<i64, String> {
        if self.depth >= MAX_DEPTH {
            return Err("too deeply nested".into());
        }
        self.depth += 1;
        let v = self.primary();
        self.depth -= 1;
        v
    }

    fn primary(&mut self) -> Result<i64, String> {
        let tok = self.toks.get(self.i).copied();
        self.i += 1;
        match tok {
            Some(ATok::Num(n)) => Ok(n),
            Some(ATok::Op("-")) => Ok(self.unary()?.wrapping_neg()),
            Some(ATok::Op("+")) => self.unary(),
            Some(ATok::Op("!")) => Ok(i64::from(self.unary()? == 0)),
            Some(ATok::Op("~")) => Ok(!self.unary()?),
            Some(ATok::Op("(")) => {
                let v = self.binary(0)?;
                if self.toks.get(self.i) != Some(&ATok::Op(")")) {
                    return Err("missing \")\"".into());
                }
                self.i += 1;
                Ok(v)
            }
            Some(ATok::Op(op)) => Err(format!("unexpected \"{op}\"")),
            None => Err("expecting a value".into()),
        }
    }
}

/// `test` / `[` with one or two operands: `-e -f -d -z -n`, `= !=`, `-eq -ne -lt -le -gt -ge`,
/// and `!`.
fn test(ws: &Workspace, cwd: &str, args: &[String]) -> i32 {
    let truth = |b: bool| if b { 0 } else { 1 };
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        [] => 1,
        ["!", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            match test(ws, cwd, &rest) {
                0 => 1,
                1 => 0,
                c => c,
            }
        }
        [s] => truth(!s.is_empty()),
        ["-n", s] => truth(!s.is_empty()),
        ["-z", s] => truth(s.is_empty()),
        ["-d", p] => truth(ws.is_dir(&resolve(cwd, p))),
        ["-f", p] => truth(ws.read(&resolve(cwd, p)).is_ok()),
        ["-e", p] => {
            let p = resolve(cwd, p);
            truth(ws.is_dir(&p) || ws.read(&p).is_ok())
        }
        [l, "=" | "==", r] => truth(l == r),
        [l, "!=", r] => truth(l != r),
        [l, op, r] => match (l.trim().parse::<i64>(), r.trim().parse::<i64>()) {
            (Ok(l), Ok(r)) => match *op {
                "-eq" => truth(l == r),
                "-ne" => truth(l != r),
                "-lt" => truth(l < r),
                "-le" => truth(l <= r),
                "-gt" => truth(l > r),
                "-ge" => truth(l >= r),
                _ => 2,
            },
            _ => 2,
        },
        _ => 2,
    }
}

/// Backslash escapes of a `printf` format or `%b` argument.
fn unescape(b: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = b[i];
        i += 1;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'e' => out.push(27),
            b'\\' => out.push(b'\\'),
            b'0'..=b'7' => {
                // `\NNN`, or `\0NNN`.
                let mut n: u32 = u32::from(c - b'0');
                let max = if c == b'0' { 3 } else { 2 };
                let mut taken = 0;
                while taken < max && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    n = n * 8 + u32::from(b[i] - b'0');
                    i += 1;
                    taken += 1;
                }
                out.push((n & 0xff) as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
}

/// `printf FORMAT ARGS…`: `%s %b %d %i %u %x %X %o %c %%` with flags and width; the format
/// is reused while arguments remain. Returns the output, the status and an error message.
fn printf(format: &str, args: &[String]) -> (Vec<u8>, i32, Option<String>) {
    let mut out = Vec::new();
    let mut code = 0;
    let mut message = None;
    let mut next = 0;
    loop {
        let used_before = next;
        let f = format.as_bytes();
        let mut i = 0;
        let mut literal: Vec<u8> = Vec::new();
        while i < f.len() {
            if f[i] != b'%' {
                // Copy up to the next `%` (escapes handled on the whole run).
                let start = i;
                while i < f.len() && f[i] != b'%' {
                    i += 1;
                }
                literal.extend_from_slice(&f[start..i]);
                continue;
            }
            unescape(&std::mem::take(&mut literal), &mut out);
            i += 1;
            let spec_start = i;
            while i < f.len() && b"-+ 0#".contains(&f[i]) {
                i += 1;
            }
            while i < f.len() && (f[i].is_ascii_digit() || f[i] == b'.') {
                i += 1;
            }
            let Some(&conv) = f.get(i) else {
                out.push(b'%');
                break;
            };
            let spec = String::from_utf8_lossy(&f[spec_start..i]).into_owned();
            i += 1;
            if conv == b'%' {
                out.push(b'%');
                continue;
            }
            let arg = args.get(next).map(String::as_str);
            if arg.is_some() {
                next += 1;
            }
            let arg = arg.unwrap_or("");
            let left = spec.contains('-');
            let zero = spec.starts_with('0') || spec.contains("+0") || spec.contains(" 0");
            let (width, precision) = match spec
                .trim_start_matches(['-', '+', ' ', '0', '#'])
                .split_once('.')
            {
                Some((w, p)) => (w.parse::<usize>().unwrap_or(0), p.parse::<usize>().ok()),
                None => (
                    spec.trim_start_matches(['-', '+', ' ', '0', '#'])
                        .parse::<usize>()
                        .unwrap_or(0),
                    None,
                ),
            };
            let body: Vec<u8> = match conv {
                b's' => {
                    let mut s = arg.as_bytes().to_vec();
                    if let Some(p) = precision {
                        s.truncate(p);
                    }
                    s
                }
                b'b' => {
                    let mut s = Vec::new();
                    unescape(arg.as_bytes(), &mut s);
                    s
                }
                b'c' => arg
                    .chars()
                    .next()
                    .map(|c| c.to_string().into_bytes())
                    .unwrap_or_default(),
                b'd' | b'i' | b'u' | b'x' | b'X' | b'o' => {
                    let n = if arg.is_empty() {
                        0
                    } else {
                        match arg.trim().parse::<i64>() {
                            Ok(n) => n,
                            Err(_) => {
                                message = Some(format!("sh: printf: invalid number '{arg}'\n"));
                                code = 1;
                                0
                            }
                        }
                    };
                    let text = match conv {
                        b'x' => format!("{n:x}"),
                        b'X' => format!("{n:X}"),
                        b'o' => format!("{n:o}"),
                        _ if spec.contains('+') && n >= 0 => format!("+{n}"),
                        _ => n.to_string(),
                    };
                    text.into_bytes()
                }
                other => {
                    message = Some(format!(
                        "sh: printf: %{}: invalid directive\n",
                        String::from_utf8_lossy(&[other])
                    ));
                    code = 1;
                    Vec::new()
                }
            };
            let pad = width
                .min(MAX_WIDTH)
                .saturating_sub(String::from_utf8_lossy(&body).chars().count());
            if left {
                out.extend_from_slice(&body);
                out.extend(std::iter::repeat_n(b' ', pad));
            } else {
                let fill = if zero && matches!(conv, b'd' | b'i' | b'u' | b'x' | b'X' | b'o') {
                    b'0'
                } else {
                    b' '
                };
                out.extend(std::iter::repeat_n(fill, pad));
                out.extend_from_slice(&body);
            }
        }
        unescape(&literal, &mut out);
        if next >= args.len() || next == used_before {
            break;
        }
    }
    (out, code, message)
}

// ---------------------------------------------------------------------------------------
// Exec

/// Run `command` as exec does without local exec: interpreted against the sandbox's files,
/// with `rules` answering the commands they match and commands the shell does not know
/// exiting 0 silently. A command using a construct outside the subset (`for`, `while`,
/// `case`, here-documents…) is not run at all and answers exit 0 with no output, as the
/// emulator always answered what it does not know. Returns the output (each stream capped
/// like the Router's) and how long the command "ran" (`sleep`, rule delays).
pub(crate) fn run_exec(
    rules: &[ExecRule],
    ws: &mut Workspace,
    command: &str,
) -> (exec::Output, Duration) {
    let node = match parse(command) {
        Ok(node) if !unsupported(&node) => node,
        Err(ParseError::Syntax(m)) if !m.contains("not supported") => {
            let out = exec::Output {
                stderr: format!("sh: syntax error: {m}\n").into_bytes(),
                exit_code: 2,
                ..exec::Output::default()
            };
            return (out, Duration::ZERO);
        }
        Err(ParseError::Incomplete) => {
            let out = exec::Output {
                stderr: b"sh: syntax error: unexpected end of file\n".to_vec(),
                exit_code: 2,
                ..exec::Output::default()
            };
            return (out, Duration::ZERO);
        }
        _ => return (exec::Output::default(), Duration::ZERO),
    };
    let mut env = Env::new(ws, rules, Unknown::Succeed);
    let mut shell = ShellState::new();
    let mut steps = Vec::new();
    let code = shell.run(&mut env, &node, b"", &mut steps).code();
    let mut out = exec::Output {
        exit_code: code,
        ..exec::Output::default()
    };
    let mut delay = Duration::ZERO;
    for step in steps {
        match step {
            Step::Out(fd, bytes) => {
                let buf = if fd == 2 {
                    &mut out.stderr
                } else {
                    &mut out.stdout
                };
                let room = exec::EXEC_OUTPUT_CAP.saturating_sub(buf.len());
                buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            Step::Wait(d) => delay = delay.saturating_add(d),
            Step::Tty { .. } => {}
        }
    }
    (out, delay)
}

/// Whether `node` uses a construct outside the subset.
fn unsupported(node: &Node) -> bool {
    match node {
        Node::Unsupported(_) => true,
        Node::Simple {
            assigns,
            words,
            redirs,
        } => {
            assigns.iter().any(|(_, w)| word_unsupported(w))
                || words.iter().any(word_unsupported)
                || redirs_unsupported(redirs)
        }
        Node::Group(body, redirs) | Node::Subshell(body, redirs) => {
            unsupported(body) || redirs_unsupported(redirs)
        }
        Node::FuncDef(_, body) => unsupported(body),
        Node::Pipeline(items, _) | Node::List(items) => items.iter().any(unsupported),
        Node::AndOr(first, rest) => unsupported(first) || rest.iter().any(|(_, n)| unsupported(n)),
        Node::If(arms, otherwise, redirs) => {
            arms.iter().any(|(c, b)| unsupported(c) || unsupported(b))
                || otherwise.as_deref().is_some_and(unsupported)
                || redirs_unsupported(redirs)
        }
    }
}

fn word_unsupported(word: &Word) -> bool {
    word.iter().any(|p| match p {
        Part::Sub { body, .. } => unsupported(body),
        Part::Arith(w) => word_unsupported(w),
        _ => false,
    })
}

fn redirs_unsupported(redirs: &[Redir]) -> bool {
    redirs.iter().any(|r| match r {
        Redir::To { target, .. } | Redir::From { target } => word_unsupported(target),
        Redir::Dup { .. } => false,
    })
}

// ---------------------------------------------------------------------------------------
// The pretend PTY

enum Queued {
    Step(Step),
    /// Echo of typed input (already "on the screen": Ctrl-C does not take it back).
    Echo(Vec<u8>),
    Exit,
}

/// A scripted terminal session: line discipline (echo until `stty -echo`, `onlcr`, Ctrl-C,
/// Ctrl-D), prompts, and the shell.
pub(crate) struct ScriptedTerminal {
    shell: ShellState,
    echo: bool,
    onlcr: bool,
    /// Lines of a command that is not complete yet.
    pending: String,
    /// The line being typed.
    line: String,
    queue: VecDeque<Queued>,
    wait_until: Option<Instant>,
    /// Echo typed while a command "runs" (it goes out at once, like a PTY's).
    immediate: Vec<u8>,
    exited: bool,
}

impl ScriptedTerminal {
    pub(crate) fn new() -> Self {
        let mut t = ScriptedTerminal {
            shell: ShellState::new(),
            echo: true,
            onlcr: true,
            pending: String::new(),
            line: String::new(),
            queue: VecDeque::new(),
            wait_until: None,
            immediate: Vec::new(),
            exited: false,
        };
        t.prompt("PS1");
        t
    }

    fn prompt(&mut self, var: &str) {
        let p = self.shell.var(var).unwrap_or_default();
        if !p.is_empty() {
            self.queue
                .push_back(Queued::Step(Step::Out(1, p.into_bytes())));
        }
    }

    fn echo(&mut self, text: &str) {
        if !self.echo || text.is_empty() {
            return;
        }
        let bytes = text.as_bytes().to_vec();
        if self.wait_until.is_some() {
            self.immediate.extend(translate(&bytes, self.onlcr));
        } else {
            self.queue.push_back(Queued::Echo(bytes));
        }
    }

    /// Typed input (`input` frames); complete commands run against `ws` and `rules`.
    pub(crate) fn input(&mut self, data: &str, ws: &mut Workspace, rules: &[ExecRule]) {
        let mut typed = String::new();
        for c in data.chars() {
            if self.exited {
                return;
            }
            match c {
                '\r' | '\n' => {
                    typed.push('\n');
                    self.echo(&std::mem::take(&mut typed));
                    self.pending.push_str(&std::mem::take(&mut self.line));
                    self.pending.push('\n');
                    self.submit(ws, rules);
                }
                '\u{3}' => {
                    typed.push_str("^C\n");
                    self.echo(&std::mem::take(&mut typed));
                    // What the interrupted command would still have printed is dropped.
                    self.queue
                        .retain(|q| matches!(q, Queued::Echo(_) | Queued::Step(Step::Tty { .. })));
                    self.wait_until = None;
                    self.pending.clear();
                    self.line.clear();
                    self.shell.last = 130;
                    self.prompt("PS1");
                }
                '\u{4}' if self.line.is_empty() && self.pending.is_empty() => {
                    self.echo(&std::mem::take(&mut typed));
                    self.queue.push_back(Queued::Exit);
                    self.exited = true;
                }
                c => {
                    typed.push(c);
                    self.line.push(c);
                }
            }
        }
        self.echo(&typed);
    }

    fn submit(&mut self, ws: &mut Workspace, rules: &[ExecRule]) {
        match parse(&self.pending) {
            Err(ParseError::Incomplete) => self.prompt("PS2"),
            Err(ParseError::Syntax(m)) => {
                self.pending.clear();
                self.shell.last = 2;
                let text = format!("sh: syntax error: {m}\n");
                self.queue
                    .push_back(Queued::Step(Step::Out(2, text.into_bytes())));
                self.prompt("PS1");
            }
            Ok(node) => {
                self.pending.clear();
                let mut env = Env::new(ws, rules, Unknown::NotFound);
                let mut steps = Vec::new();
                let flow = self.shell.run(&mut env, &node, b"", &mut steps);
                // Input typed from now on sees the new echo setting (output keeps its order).
                for step in &steps {
                    if let Step::Tty { echo: Some(e), .. } = step {
                        self.echo = *e;
                    }
                }
                self.queue.extend(steps.into_iter().map(Queued::Step));
                if let Flow::Exit(_) = flow {
                    self.queue.push_back(Queued::Exit);
                    self.exited = true;
                } else {
                    self.prompt("PS1");
                }
            }
        }
    }

    /// The next bytes for the terminal, as they become due; `None` once the shell has
    /// exited. Cancel-safe.
    pub(crate) async fn output(&mut self) -> Option<Vec<u8>> {
        loop {
            if !self.immediate.is_empty() {
                return Some(std::mem::take(&mut self.immediate));
            }
            if let Some(t) = self.wait_until {
                tokio::time::sleep_until(t).await;
                self.wait_until = None;
            }
            match self.queue.pop_front() {
                None => std::future::pending::<()>().await,
                Some(Queued::Exit) => return None,
                Some(Queued::Step(Step::Out(_, bytes)) | Queued::Echo(bytes)) => {
                    if !bytes.is_empty() {
                        return Some(translate(&bytes, self.onlcr));
                    }
                }
                Some(Queued::Step(Step::Wait(d))) => {
                    // A rule's delay may be anything: a wait past the clock's range is "forever".
                    let now = Instant::now();
                    let forever = Duration::from_secs(30 * 365 * 86_400);
                    self.wait_until = Some(now.checked_add(d).unwrap_or(now + forever));
                }
                Some(Queued::Step(Step::Tty { onlcr, .. })) => {
                    self.onlcr = onlcr.unwrap_or(self.onlcr);
                }
            }
        }
    }
}

/// `onlcr`: `\n` goes out as `\r\n`.
fn translate(bytes: &[u8], onlcr: bool) -> Vec<u8> {
    if !onlcr {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Decide how the exec API runs `command`: the first rule matching the whole command, else
/// the local directory (`local_exec`), else the scripted shell
/// ([`run_exec`]) run now, against `workspace`, so its file
/// changes land at once (only the answer waits for the delay).
pub(crate) fn plan_exec(
    rules: &[ExecRule],
    workspace: &mut Workspace,
    command: &str,
) -> exec::Plan {
    if let Some(rule) = exec::find_rule(rules, command) {
        return exec::Plan::Canned(rule.output(), rule.wait());
    }
    match workspace.local_root() {
        Some(root) => exec::Plan::Local(root),
        None => {
            let (out, delay) = run_exec(rules, workspace, command);
            exec::Plan::Canned(out, delay)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `script` in `sh` and return the merged output and the status.
    fn run(sh: &mut ShellState, ws: &mut Workspace, script: &str) -> (String, i32) {
        let node = parse(script).expect("parses");
        let mut env = Env::new(ws, &[], Unknown::NotFound);
        let mut steps = Vec::new();
        let code = sh.run(&mut env, &node, b"", &mut steps).code();
        let mut out = Vec::new();
        for s in steps {
            if let Step::Out(_, b) = s {
                out.extend(b);
            }
        }
        (String::from_utf8_lossy(&out).into_owned(), code)
    }

    #[test]
    fn the_subset_behaves_like_sh() {
        let mut ws = Workspace::new(false).unwrap();
        let mut sh = ShellState::new();
        let cases: &[(&str, &str, i32)] = &[
            ("echo a   b 'c  d' \"e  f\"", "a b c  d e  f\n", 0),
            ("X='1 2'; echo $X; echo \"$X\"", "1 2\n1 2\n", 0),
            ("false; echo $?", "1\n", 0),
            ("false && echo no || echo yes", "yes\n", 0),
            ("(exit 7); echo $?", "7\n", 0),
            ("sh -c 'exit 9'", "", 9),
            ("sh -c 'echo $1' sh arg", "arg\n", 0),
            ("nope --flag", "sh: nope: not found\n", 127),
            ("printf '%s-%d|' a 1 b 2", "a-1|b-2|", 0),
            ("printf '%5s|%-3s|%03d' ab c 7", "   ab|c  |007", 0),
            ("mkdir -p d/e && cd d/e && pwd", "/workspace/d/e\n", 0),
            (
                "cd /workspace; echo hi > f.txt; echo more >> f.txt; cat f.txt",
                "hi\nmore\n",
                0,
            ),
            (
                "echo err >&2 2>/dev/null; echo gone 2>/dev/null >&2",
                "err\n",
                0,
            ),
            ("ls", "d\nf.txt\n", 0),
            ("echo $(basename $(pwd)) `echo x`", "workspace x\n", 0),
            (
                "f() { echo \"in $1\"; return_code=4; }; f one",
                "in one\n",
                0,
            ),
            ("cat f.txt | cat", "hi\nmore\n", 0),
            ("[ -f f.txt ] && test -d d && [ 1 -lt 2 ]", "", 0),
            ("! true", "", 1),
            ("if true; then echo x; fi", "x\n", 0),
            (
                "for i in 1; do echo $i; done",
                "sh: `for` is not supported by the FakeRouter's scripted shell\n",
                2,
            ),
            (
                "cd missing",
                "sh: cd: can't cd to missing: No such file or directory\n",
                2,
            ),
            ("echo ${UNSET:-fallback} ~", "fallback /workspace\n", 0),
        ];
        for (script, out, code) in cases {
            assert_eq!(
                run(&mut sh, &mut ws, script),
                (out.to_string(), *code),
                "{script}"
            );
        }
    }

    #[test]
    fn if_arithmetic_globs_and_file_commands_behave_like_sh() {
        let mut ws = Workspace::new(false).unwrap();
        let mut sh = ShellState::new();
        let cases: &[(&str, &str, i32)] = &[
            (
                "if false; then echo a; elif true; then echo b; else echo c; fi",
                "b\n",
                0,
            ),
            ("if false; then echo a; fi; echo $?", "0\n", 0),
            ("if false; then :; else false; fi", "", 1),
            (
                "if ! false\nthen\n  echo multi\nfi > out.txt; cat out.txt",
                "multi\n",
                0,
            ),
            (
                "echo $((1 + 2 * 3)) $(( (1+2)*3 )) $((7/2)) $((7%3)) $((-5+2)) $((3>2)) $((unset+1))",
                "7 9 3 1 -3 1 1\n",
                0,
            ),
            (
                "N=5; echo $((N*2)) $(($N-1)) $((N == 5 && 1))",
                "10 4 1\n",
                0,
            ),
            (
                "echo $((1/0)); echo after",
                "sh: arithmetic expression: division by zero: \"1/0\"\nafter\n",
                0,
            ),
            (
                "mkdir g && cd g && touch b.p2 a.p1 .h.p3 'x*' && echo *.p* && echo .*.p? && echo 'a'.p? /workspace/g/b* none* \"*\"",
                "a.p1 b.p2\n.h.p3\na.p1 /workspace/g/b.p2 none* *\n",
                0,
            ),
            ("echo */", "*/\n", 0),
            ("cd ..; echo g/*.p1", "g/a.p1\n", 0),
            (
                "printf 'a b\\nc\\n' > w.txt; wc -c < w.txt; wc -l w.txt; cat w.txt | wc -w; wc -c w.txt out.txt",
                "6\n2 w.txt\n3\n6 w.txt\n6 out.txt\n12 total\n",
                0,
            ),
            (
                "echo 1 > m1; mv -f m1 m2 && cat m2; [ -e m1 ] || echo gone; mkdir d; mv m2 d; ls d",
                "1\ngone\nm2\n",
                0,
            ),
            (
                "rm m3; echo $?; rm -f m3; echo $?; rm d; rm -r d && ls d",
                "rm: can't remove 'm3': No such file or directory\n1\n0\nrm: can't remove '/workspace/d': Is a directory\nls: cannot access 'd': No such file or directory\n",
                2,
            ),
            (
                "mv nope x",
                "mv: can't rename '/workspace/nope': No such file or directory\n",
                1,
            ),
            ("cat g/*.p1 g/b.p2 - < w.txt | wc -c", "6\n", 0),
        ];
        for (script, out, code) in cases {
            assert_eq!(
                run(&mut sh, &mut ws, script),
                (out.to_string(), *code),
                "{script}"
            );
        }
        // `exit` ends the whole script with its status.
        let (out, code) = run(&mut sh, &mut ws, "echo a; exit 3; echo b");
        assert_eq!((out.as_str(), code), ("a\n", 3));
    }

    /// The SDK's join (`join_command` in src/sandbox/files.rs) and its cleanup, as exec
    /// runs them without local exec.
    #[test]
    fn exec_runs_the_chunked_upload_join_and_its_cleanup() {
        let mut ws = Workspace::new(false).unwrap();
        let prefix = "/workspace/sub dir/.t.bin.agenttier-00ff";
        for (i, part) in ["abc", "de", "f"].iter().enumerate() {
            ws.write(&format!("{prefix}.p{i:08}"), part.as_bytes())
                .unwrap();
        }
        ws.write("/workspace/sub dir/t.bin", b"old").unwrap();
        let join = |total: u64| {
            let p = format!("'{prefix}'");
            let t = format!("'{prefix}.join'");
            format!(
                "n=0; if cat {p}.p* > {t} && n=$(($(wc -c < {t}))) && [ \"$n\" -eq {total} ] && mv -f {t} '/workspace/sub dir/t.bin'; then r=0; else r=1; fi; rm -f {p}.p* {t}; echo \"$n\"; exit $r"
            )
        };
        // A wrong total: nothing is renamed, the parts are gone, the old file stays.
        let mut copy = Workspace::new(false).unwrap();
        for (i, part) in ["abc", "de", "f"].iter().enumerate() {
            copy.write(&format!("{prefix}.p{i:08}"), part.as_bytes())
                .unwrap();
        }
        copy.write("/workspace/sub dir/t.bin", b"old").unwrap();
        let (out, _) = run_exec(&[], &mut copy, &join(7));
        assert_eq!((out.stdout.as_slice(), out.exit_code), (&b"6\n"[..], 1));
        assert_eq!(
            &copy.read("/workspace/sub dir/t.bin").ok().unwrap()[..],
            b"old"
        );
        assert_eq!(copy.list("/workspace/sub dir").unwrap().len(), 1);

        let (out, delay) = run_exec(&[], &mut ws, &join(6));
        assert_eq!(
            (out.stdout.as_slice(), out.stderr.as_slice(), out.exit_code),
            (&b"6\n"[..], &b""[..], 0)
        );
        assert_eq!(delay, Duration::ZERO);
        assert_eq!(
            &ws.read("/workspace/sub dir/t.bin").ok().unwrap()[..],
            b"abcdef"
        );
        let names: Vec<String> = ws
            .list("/workspace/sub dir")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["t.bin"]);
        // Run again (a late join): no parts, so `cat` fails and the target stays.
        let (out, _) = run_exec(&[], &mut ws, &join(6));
        assert_eq!((out.stdout.as_slice(), out.exit_code), (&b"0\n"[..], 1));
        assert_eq!(
            &ws.read("/workspace/sub dir/t.bin").ok().unwrap()[..],
            b"abcdef"
        );
        // The cleanup of a failed upload, with nothing left to remove.
        let cleanup = format!("rm -f '{prefix}'.p* '{prefix}'.join");
        assert_eq!(run_exec(&[], &mut ws, &cleanup).0.exit_code, 0);
    }

    #[test]
    fn exec_answers_unknown_commands_and_constructs_with_silent_success() {
        let mut ws = Workspace::new(false).unwrap();
        for command in [
            "pip install requests",
            "python3 /workspace/agent.py --flag",
            "npm ci && npm test",
            "bash script.sh",
        ] {
            let (out, _) = run_exec(&[], &mut ws, command);
            assert_eq!(
                (out.stdout.len(), out.stderr.len(), out.exit_code),
                (0, 0, 0),
                "{command}"
            );
        }
        // Outside the subset: not run at all (no file appears), exit 0.
        let (out, _) = run_exec(&[], &mut ws, "echo x > f; for i in 1 2; do :; done");
        assert_eq!((out.stdout.len(), out.exit_code), (0, 0));
        assert!(ws.read("/workspace/f").is_err());
        // Known commands and shell syntax run; rules answer inner commands.
        let rules = [ExecRule::prefix("make").stdout("built\n").exit_code(4)];
        let (out, _) = run_exec(
            &rules,
            &mut ws,
            "make all || echo \"failed $?\" >&2; exit 5",
        );
        assert_eq!(
            (out.stdout.as_slice(), out.stderr.as_slice(), out.exit_code),
            (&b"built\n"[..], &b"failed 4\n"[..], 5)
        );
        let (out, delay) = run_exec(&[], &mut ws, "sleep 2; echo done");
        assert_eq!(
            (out.stdout.as_slice(), delay),
            (&b"done\n"[..], Duration::from_secs(2))
        );
        let (out, _) = run_exec(&[], &mut ws, "echo 'unclosed");
        assert_eq!(out.exit_code, 2);
    }

    #[test]
    fn hostile_patterns_and_expressions_are_bounded() {
        let mut ws = Workspace::new(false).unwrap();
        let mut sh = ShellState::new();
        let long = "a".repeat(200);
        run(&mut sh, &mut ws, &format!("touch {long}"));
        let stars = format!("echo {}b", "*".repeat(100));
        assert_eq!(run(&mut sh, &mut ws, &stars).1, 0);
        let deep = format!("echo $(({}1{}))", "(".repeat(500), ")".repeat(500));
        let (out, _) = run(&mut sh, &mut ws, &deep);
        assert!(out.contains("too deeply nested"), "{out}");
        let (out, _) = run(&mut sh, &mut ws, &format!("echo $(({}1))", "-".repeat(500)));
        assert!(out.contains("too deeply nested"), "{out}");
        let (out, _) = run(
            &mut sh,
            &mut ws,
            "echo $((9223372036854775807 + 1)) $((99999999999999999999))",
        );
        assert!(
            out.starts_with("sh: arithmetic expression: bad number"),
            "{out}"
        );
        assert_eq!(
            run(
                &mut sh,
                &mut ws,
                "echo $((9223372036854775807 + 1)) $((-9223372036854775807 - 1 / -1))"
            )
            .0,
            "-9223372036854775808 -9223372036854775806\n"
        );
        // Output beyond the line's byte budget stops the line instead of exhausting memory.
        let cat = format!("cat {} > /dev/null; ", "big ".repeat(1000));
        let script = format!("printf '%65536s' x > big; {}", cat.repeat(6));
        let (out, code) = run(&mut sh, &mut ws, &script);
        assert_eq!(code, 1, "{out}");
        assert_eq!(out.matches("No space left").count(), 2, "{out}");
    }

    #[test]
    fn incomplete_input_waits_for_more_lines() {
        for partial in [
            "{ echo a\n",
            "echo 'a\n",
            "echo a &&\n",
            "echo \"x",
            "f() {\n",
            "if true; then\n",
            "if true; then echo; else\n",
            "echo $((1 +\n",
        ] {
            assert_eq!(
                parse(partial).unwrap_err(),
                ParseError::Incomplete,
                "{partial:?}"
            );
        }
        assert!(parse("printf '%s%s\\n' a b; { echo hi\n}; printf x \"$?\"\n").is_ok());
        assert!(matches!(parse("echo )"), Err(ParseError::Syntax(_))));
        for bad in [
            "fi",
            "if true; then fi",
            "if then echo; fi",
            "if true; fi",
            "then",
        ] {
            assert!(matches!(parse(bad), Err(ParseError::Syntax(_))), "{bad}");
        }
    }

    #[test]
    fn runaway_input_is_bounded() {
        let mut ws = Workspace::new(false).unwrap();
        let mut sh = ShellState::new();
        let (out, code) = run(&mut sh, &mut ws, "f() { f; f; }; f");
        assert_eq!(code, 2);
        assert!(
            out.contains("too deeply nested") || out.contains("stops a line"),
            "{out}"
        );
        let deep = format!("{}true{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(parse(&deep), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn printf_escapes_make_raw_bytes() {
        assert_eq!(printf("x\\377y\\0101", &[]).0, b"x\xffyA".to_vec());
        // A multi-byte character after `%` is an invalid directive, not a panic.
        assert_eq!(printf("%é-ü", &[]).1, 1);
        assert_eq!(
            printf("%99999999999s|", &["x".into()]).0.len(),
            MAX_WIDTH + 1
        );
        assert_eq!(printf("%b", &["a\\tb".into()]).0, b"a\tb".to_vec());
    }
}
