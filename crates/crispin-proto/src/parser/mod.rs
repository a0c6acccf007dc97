//! Recursive-descent parser: one function per grammar rule of RFC 3501 §9
//! (and the extensions we implement), over a framed command.
//!
//! This file holds what every command shares: tokens, strings, numbers,
//! sets, flags, and the command name, which finds the command's row in
//! [`crate::spec`] and with it the command's own parser, in the file of
//! its family: `any.rs`, `auth.rs`, `mailbox.rs`, `message.rs`,
//! `fetch.rs`, `search.rs`. `modifier.rs` reads RFC 4466's generic
//! command modifiers.

mod any;
mod auth;
mod fetch;
mod mailbox;
mod message;
mod modifier;
mod search;

pub use auth::{SaslLine, parse_sasl_response};

use crate::command::*;
use crate::framer::{Chunk, Frame, Literal};
use crate::sequence::{SeqNum, SequenceSet};
use crate::spec;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// The tag, when the line got far enough to have one.
    pub tag: Option<String>,
    pub message: String,
}

pub(crate) type PResult<T> = Result<T, String>;

/// Limits nesting (of parenthesised search keys, of modifier values) so
/// a hostile command cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

/// What `end` says about anything after a complete command.
const UNEXPECTED_END: &str = "unexpected characters at end of command";

pub fn parse_command(frame: Frame) -> Result<Command, ParseError> {
    let mut p = Parser::new(frame);
    let tag = p
        .tag()
        .map_err(|message| ParseError { tag: None, message })?;
    let body = p.command_body().map_err(|message| ParseError {
        tag: Some(tag.clone()),
        message,
    })?;
    Ok(Command { tag, body })
}

pub(crate) struct Parser {
    chunks: Vec<Option<Chunk>>,
    ci: usize,
    pos: usize,
    depth: usize,
}

fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_atom_char(b) || matches!(b, b'%' | b'*' | b']')
}

impl Parser {
    fn new(frame: Frame) -> Parser {
        Parser {
            chunks: frame.chunks.into_iter().map(Some).collect(),
            ci: 0,
            pos: 0,
            depth: 0,
        }
    }

    /// The command name and, through its spec row, its parser.
    fn command_body(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let name = self.atom()?.to_ascii_uppercase();
        let row = if name == "UID" {
            self.sp()?;
            let sub = self.atom()?.to_ascii_uppercase();
            spec::lookup(&format!("UID {sub}"))
                .ok_or_else(|| format!("unknown UID command {sub}"))?
        } else {
            spec::lookup(&name).ok_or_else(|| format!("unknown command {name}"))?
        };
        let body = (row.parse)(self)?;
        self.end()?;
        Ok(body)
    }

    fn text(&self) -> &[u8] {
        match self.chunks.get(self.ci) {
            Some(Some(Chunk::Text(t))) => t,
            _ => &[],
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text().get(self.pos).copied()
    }

    fn at_literal(&self) -> bool {
        self.pos >= self.text().len()
            && matches!(self.chunks.get(self.ci + 1), Some(Some(Chunk::Literal(_))))
    }

    fn take_literal(&mut self) -> PResult<Literal> {
        if !self.at_literal() {
            return Err("expected a literal".into());
        }
        let Some(Some(Chunk::Literal(lit))) = self.chunks.get_mut(self.ci + 1).map(Option::take)
        else {
            return Err("expected a literal".into());
        };
        self.ci += 2;
        self.pos = 0;
        Ok(lit)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text().len() && self.ci + 1 >= self.chunks.len()
    }

    fn end(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(UNEXPECTED_END.into())
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected '{}'", b as char))
        }
    }

    fn sp(&mut self) -> PResult<()> {
        self.expect(b' ')
    }

    /// Consumes `word` case-insensitively when it is next (whole token).
    fn eat_word(&mut self, word: &str) -> bool {
        let t = &self.text()[self.pos.min(self.text().len())..];
        if t.len() >= word.len() && t[..word.len()].eq_ignore_ascii_case(word.as_bytes()) {
            let next = t.get(word.len()).copied();
            if next.is_none_or(|b| !is_atom_char(b)) {
                self.pos += word.len();
                return true;
            }
        }
        false
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &[u8] {
        let start = self.pos;
        let t = self.text();
        let mut end = start;
        while end < t.len() && f(t[end]) {
            end += 1;
        }
        self.pos = end;
        &self.text()[start..end]
    }

    fn tag(&mut self) -> PResult<String> {
        let t = self.take_while(|b| is_astring_char(b) && b != b'+');
        if t.is_empty() {
            return Err("missing or invalid tag".into());
        }
        Ok(String::from_utf8_lossy(t).into_owned())
    }

    fn atom(&mut self) -> PResult<String> {
        let t = self.take_while(is_atom_char);
        if t.is_empty() {
            return Err("expected an atom".into());
        }
        Ok(String::from_utf8_lossy(t).into_owned())
    }

    fn number(&mut self) -> PResult<u32> {
        let t = self.take_while(|b| b.is_ascii_digit());
        if t.is_empty() || t.len() > 10 {
            return Err("expected a number".into());
        }
        std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "number out of range".into())
    }

    fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err("zero is not allowed here".into()),
            n => Ok(n),
        }
    }

    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err("unterminated quoted string".into()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err("invalid escape in quoted string".into()),
                    }
                }
                Some(0) | Some(b'\r') | Some(b'\n') => {
                    return Err("invalid character in quoted string".into());
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn literal_bytes(&mut self) -> PResult<Vec<u8>> {
        match self.take_literal()? {
            Literal::Memory(v) => Ok(v),
            Literal::File { .. } => Err("literal too large for this position".into()),
        }
    }

    fn string(&mut self) -> PResult<Vec<u8>> {
        if self.peek() == Some(b'"') {
            self.quoted()
        } else if self.at_literal() {
            self.literal_bytes()
        } else {
            Err("expected a string".into())
        }
    }

    fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            _ if self.at_literal() => self.literal_bytes(),
            _ => {
                let t = self.take_while(is_astring_char);
                if t.is_empty() {
                    return Err("expected an astring".into());
                }
                Ok(t.to_vec())
            }
        }
    }

    fn astring_utf8(&mut self) -> PResult<String> {
        String::from_utf8(self.astring()?).map_err(|_| "string is not valid UTF-8".into())
    }

    fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.eat_word("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    fn mailbox(&mut self) -> PResult<RawMailbox> {
        self.astring().map(RawMailbox)
    }

    fn list_mailbox(&mut self) -> PResult<RawMailbox> {
        if self.peek() == Some(b'"') || self.at_literal() {
            return self.string().map(RawMailbox);
        }
        let t = self.take_while(is_list_char);
        if t.is_empty() {
            return Err("expected a mailbox pattern".into());
        }
        Ok(RawMailbox(t.to_vec()))
    }

    fn paren_list<T>(&mut self, mut item: impl FnMut(&mut Self) -> PResult<T>) -> PResult<Vec<T>> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        if self.eat(b')') {
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    fn flag(&mut self) -> PResult<Flag> {
        if self.eat(b'\\') {
            let name = self.atom()?;
            return Ok(Flag(format!("\\{name}")));
        }
        self.atom().map(Flag)
    }

    fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.paren_list(|p| p.flag())
    }

    fn seq_number(&mut self) -> PResult<SeqNum> {
        if self.eat(b'*') {
            Ok(SeqNum::Star)
        } else {
            self.nz_number().map(SeqNum::Value)
        }
    }

    fn sequence_set(&mut self) -> PResult<SequenceSet> {
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_number()?;
            let b = if self.eat(b':') {
                self.seq_number()?
            } else {
                a
            };
            ranges.push((a, b));
            if !self.eat(b',') {
                return Ok(SequenceSet(ranges));
            }
        }
    }

    fn month(&mut self) -> PResult<u32> {
        const MONTHS: [&str; 12] = [
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ];
        let t = self.take_while(|b| b.is_ascii_alphabetic());
        MONTHS
            .iter()
            .position(|m| m.as_bytes().eq_ignore_ascii_case(t))
            .map(|i| i as u32 + 1)
            .ok_or_else(|| "invalid month".into())
    }

    fn digits(&mut self, n: usize) -> PResult<u32> {
        let t = self.text();
        let s = t
            .get(self.pos..self.pos + n)
            .filter(|s| s.iter().all(u8::is_ascii_digit))
            .ok_or("expected digits")?;
        let v = std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("expected digits")?;
        self.pos += n;
        Ok(v)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn parse(line: &str) -> Result<Command, ParseError> {
        parse_command(Frame {
            chunks: vec![Chunk::Text(line.as_bytes().to_vec())],
        })
    }

    /// A parser over one line, for the rules below a command.
    pub(crate) fn parser(line: &str) -> Parser {
        Parser::new(Frame {
            chunks: vec![Chunk::Text(line.as_bytes().to_vec())],
        })
    }

    #[test]
    fn names_find_their_commands() {
        for (line, message) in [
            ("a bogus", "unknown command BOGUS"),
            ("a UID BOGUS 1", "unknown UID command BOGUS"),
            ("a UID CAPABILITY", "unknown UID command CAPABILITY"),
            ("a UID", "expected ' '"),
            ("a CAPABILITY extra", UNEXPECTED_END),
        ] {
            assert_eq!(
                parse(line).map_err(|e| e.message).err().as_deref(),
                Some(message)
            );
        }
        assert!(matches!(
            parse("a uid fetch 1 flags").map(|c| c.body),
            Ok(CommandBody::Fetch { uid: true, .. })
        ));
        assert!(matches!(
            parse("a noop").map(|c| c.body),
            Ok(CommandBody::Noop)
        ));
    }
}
