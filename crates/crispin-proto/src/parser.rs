//! Recursive-descent parser: one function per grammar rule of RFC 3501 §9
//! (and the extensions we implement), over a framed command.

use crate::command::*;
use crate::framer::{Chunk, Frame, Literal};
use crate::sequence::{SeqNum, SequenceSet};
use chrono::{FixedOffset, NaiveDate, TimeZone};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// The tag, when the line got far enough to have one.
    pub tag: Option<String>,
    pub message: String,
}

type PResult<T> = Result<T, String>;

/// Limits nesting of parenthesised search keys so a hostile command cannot
/// exhaust the stack.
const MAX_DEPTH: usize = 32;

pub fn parse_command(frame: Frame) -> Result<Command, ParseError> {
    let mut p = Parser {
        chunks: frame.chunks.into_iter().map(Some).collect(),
        ci: 0,
        pos: 0,
        depth: 0,
    };
    let tag = p
        .tag()
        .map_err(|message| ParseError { tag: None, message })?;
    let body = p.command_body().map_err(|message| ParseError {
        tag: Some(tag.clone()),
        message,
    })?;
    Ok(Command { tag, body })
}

struct Parser {
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
            Err("unexpected characters at end of command".into())
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

    fn command_body(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let name = self.atom()?.to_ascii_uppercase();
        let body = match name.as_str() {
            "CAPABILITY" => CommandBody::Capability,
            "NOOP" => CommandBody::Noop,
            "LOGOUT" => CommandBody::Logout,
            "STARTTLS" => CommandBody::StartTls,
            "CHECK" => CommandBody::Check,
            "CLOSE" => CommandBody::Close,
            "UNSELECT" => CommandBody::Unselect,
            "NAMESPACE" => CommandBody::Namespace,
            "IDLE" => CommandBody::Idle,
            "EXPUNGE" => CommandBody::Expunge { uids: None },
            "ID" => {
                self.sp()?;
                self.id_params()?
            }
            "LOGIN" => {
                self.sp()?;
                let username = self.astring()?;
                self.sp()?;
                let password = self.astring()?;
                CommandBody::Login { username, password }
            }
            "AUTHENTICATE" => {
                self.sp()?;
                let mechanism = self.atom()?.to_ascii_uppercase();
                let initial = if self.eat(b' ') {
                    let t = self.take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
                    if t.is_empty() {
                        return Err("invalid initial response".into());
                    }
                    Some(if t == b"=" { Vec::new() } else { t.to_vec() })
                } else {
                    None
                };
                CommandBody::Authenticate { mechanism, initial }
            }
            "ENABLE" => {
                let mut caps = Vec::new();
                while self.eat(b' ') {
                    caps.push(self.atom()?.to_ascii_uppercase());
                }
                if caps.is_empty() {
                    return Err("ENABLE needs at least one capability".into());
                }
                CommandBody::Enable(caps)
            }
            "SELECT" | "EXAMINE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                CommandBody::Select {
                    mailbox,
                    read_only: name == "EXAMINE",
                }
            }
            "CREATE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                let mut special_use = Vec::new();
                if self.eat(b' ') {
                    self.expect(b'(')?;
                    if !self.eat_word("USE") {
                        return Err("unknown CREATE parameter".into());
                    }
                    self.sp()?;
                    special_use = self.flag_list()?.into_iter().map(|f| f.0).collect();
                    self.expect(b')')?;
                }
                CommandBody::Create {
                    mailbox,
                    special_use,
                }
            }
            "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
                self.sp()?;
                let m = self.mailbox()?;
                match name.as_str() {
                    "DELETE" => CommandBody::Delete(m),
                    "SUBSCRIBE" => CommandBody::Subscribe(m),
                    _ => CommandBody::Unsubscribe(m),
                }
            }
            "RENAME" => {
                self.sp()?;
                let from = self.mailbox()?;
                self.sp()?;
                let to = self.mailbox()?;
                CommandBody::Rename { from, to }
            }
            "LIST" => self.list()?,
            "LSUB" => {
                self.sp()?;
                let reference = self.mailbox()?;
                self.sp()?;
                let pattern = self.list_mailbox()?;
                CommandBody::List {
                    reference,
                    patterns: vec![pattern],
                    selection: Vec::new(),
                    return_opts: ListReturn::default(),
                    lsub: true,
                }
            }
            "STATUS" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                self.sp()?;
                let items = self.paren_list(|p| p.status_item())?;
                if items.is_empty() {
                    return Err("STATUS needs at least one item".into());
                }
                CommandBody::Status { mailbox, items }
            }
            "APPEND" => self.append()?,
            "SEARCH" => self.search(false)?,
            "FETCH" => self.fetch(false)?,
            "STORE" => self.store(false)?,
            "COPY" | "MOVE" => self.copy(false, name == "MOVE")?,
            "UID" => {
                self.sp()?;
                let sub = self.atom()?.to_ascii_uppercase();
                match sub.as_str() {
                    "FETCH" => self.fetch(true)?,
                    "SEARCH" => self.search(true)?,
                    "STORE" => self.store(true)?,
                    "COPY" | "MOVE" => self.copy(true, sub == "MOVE")?,
                    "EXPUNGE" => {
                        self.sp()?;
                        CommandBody::Expunge {
                            uids: Some(self.sequence_set()?),
                        }
                    }
                    _ => return Err(format!("unknown UID command {sub}")),
                }
            }
            _ => return Err(format!("unknown command {name}")),
        };
        self.end()?;
        Ok(body)
    }

    fn id_params(&mut self) -> PResult<CommandBody> {
        if self.eat_word("NIL") {
            return Ok(CommandBody::Id(None));
        }
        self.expect(b'(')?;
        let mut params = Vec::new();
        if !self.eat(b')') {
            loop {
                let key = String::from_utf8_lossy(&self.string()?).into_owned();
                self.sp()?;
                let value = self
                    .nstring()?
                    .map(|v| String::from_utf8_lossy(&v).into_owned());
                params.push((key, value));
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
                if params.len() >= 30 {
                    return Err("too many ID parameters".into());
                }
            }
        }
        Ok(CommandBody::Id(Some(params)))
    }

    fn list(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let mut selection = Vec::new();
        if self.peek() == Some(b'(') {
            selection = self.paren_list(|p| p.atom().map(|a| a.to_ascii_uppercase()))?;
            self.sp()?;
        }
        let reference = self.mailbox()?;
        self.sp()?;
        let patterns = if self.peek() == Some(b'(') {
            let v = self.paren_list(|p| p.list_mailbox())?;
            if v.is_empty() {
                return Err("empty pattern list".into());
            }
            v
        } else {
            vec![self.list_mailbox()?]
        };
        let mut return_opts = ListReturn::default();
        if self.eat(b' ') {
            if !self.eat_word("RETURN") {
                return Err("expected RETURN".into());
            }
            self.sp()?;
            self.expect(b'(')?;
            if !self.eat(b')') {
                loop {
                    let opt = self.atom()?.to_ascii_uppercase();
                    match opt.as_str() {
                        "SUBSCRIBED" => return_opts.subscribed = true,
                        "CHILDREN" => return_opts.children = true,
                        "SPECIAL-USE" => return_opts.special_use = true,
                        "STATUS" => {
                            self.sp()?;
                            return_opts.status = Some(self.paren_list(|p| p.status_item())?);
                        }
                        _ => return Err(format!("unknown LIST return option {opt}")),
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
        }
        Ok(CommandBody::List {
            reference,
            patterns,
            selection,
            return_opts,
            lsub: false,
        })
    }

    fn status_item(&mut self) -> PResult<StatusItem> {
        let a = self.atom()?.to_ascii_uppercase();
        Ok(match a.as_str() {
            "MESSAGES" => StatusItem::Messages,
            "RECENT" => StatusItem::Recent,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "DELETED" => StatusItem::Deleted,
            "SIZE" => StatusItem::Size,
            "HIGHESTMODSEQ" => StatusItem::HighestModseq,
            "APPENDLIMIT" => StatusItem::AppendLimit,
            _ => return Err(format!("unknown STATUS item {a}")),
        })
    }

    fn append(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        self.sp()?;
        let mut flags = Vec::new();
        if self.peek() == Some(b'(') {
            flags = self.flag_list()?;
            self.sp()?;
        }
        let mut date = None;
        if self.peek() == Some(b'"') {
            date = Some(self.date_time()?);
            self.sp()?;
        }
        let message = self.take_literal()?;
        Ok(CommandBody::Append {
            mailbox,
            flags,
            date,
            message,
        })
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

    fn date_time(&mut self) -> PResult<chrono::DateTime<FixedOffset>> {
        self.expect(b'"')?;
        // date-day-fixed = (SP DIGIT) / 2DIGIT; a lone digit is tolerated,
        // more than two digits are not ("005" is no day).
        let day = if self.eat(b' ') {
            self.digits(1)?
        } else {
            let t = self.take_while(|b| b.is_ascii_digit());
            if t.is_empty() || t.len() > 2 {
                return Err("invalid day".into());
            }
            t.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
        };
        self.expect(b'-')?;
        let month = self.month()?;
        self.expect(b'-')?;
        let year = self.digits(4)?;
        self.sp()?;
        let h = self.digits(2)?;
        self.expect(b':')?;
        let mi = self.digits(2)?;
        self.expect(b':')?;
        let s = self.digits(2)?;
        self.sp()?;
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return Err("invalid zone".into());
        };
        let zh = self.digits(2)?;
        let zm = self.digits(2)?;
        self.expect(b'"')?;
        let offset = FixedOffset::east_opt(sign * (zh as i32 * 3600 + zm as i32 * 60))
            .ok_or("invalid zone")?;
        let naive = NaiveDate::from_ymd_opt(year as i32, month, day)
            .and_then(|d| d.and_hms_opt(h, mi, s))
            .ok_or("invalid date-time")?;
        offset
            .from_local_datetime(&naive)
            .single()
            .ok_or_else(|| "invalid date-time".into())
    }

    fn date(&mut self) -> PResult<Date> {
        let quoted = self.eat(b'"');
        let day = self.take_while(|b| b.is_ascii_digit());
        if day.is_empty() || day.len() > 2 {
            return Err("invalid day".into());
        }
        let day: u32 = day.iter().fold(0, |a, d| a * 10 + u32::from(d - b'0'));
        self.expect(b'-')?;
        let month = self.month()?;
        self.expect(b'-')?;
        let year = self.digits(4)?;
        if quoted {
            self.expect(b'"')?;
        }
        NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(|| "invalid date".into())
    }

    fn search(&mut self, uid: bool) -> PResult<CommandBody> {
        let mut ret = None;
        let mut charset = None;
        self.sp()?;
        if self.eat_word("RETURN") {
            self.sp()?;
            ret = Some(self.paren_list(|p| {
                let a = p.atom()?.to_ascii_uppercase();
                Ok(match a.as_str() {
                    "MIN" => SearchReturn::Min,
                    "MAX" => SearchReturn::Max,
                    "ALL" => SearchReturn::All,
                    "COUNT" => SearchReturn::Count,
                    _ => return Err(format!("unknown SEARCH return option {a}")),
                })
            })?);
            self.sp()?;
        }
        if self.eat_word("CHARSET") {
            self.sp()?;
            charset = Some(self.astring_utf8()?.to_ascii_uppercase());
            self.sp()?;
        }
        let mut keys = vec![self.search_key()?];
        while self.eat(b' ') {
            keys.push(self.search_key()?);
        }
        let criteria = if keys.len() == 1 {
            keys.pop().unwrap_or(SearchKey::All)
        } else {
            SearchKey::And(keys)
        };
        Ok(CommandBody::Search {
            uid,
            charset,
            criteria,
            ret,
        })
    }

    fn search_key(&mut self) -> PResult<SearchKey> {
        if self.depth > MAX_DEPTH {
            return Err("search criteria nested too deeply".into());
        }
        self.depth += 1;
        let r = self.search_key_inner();
        self.depth -= 1;
        r
    }

    fn search_key_inner(&mut self) -> PResult<SearchKey> {
        use SearchKey as K;
        match self.peek() {
            Some(b'(') => {
                let mut keys = self.paren_list(|p| p.search_key())?;
                if keys.is_empty() {
                    return Err("empty search key list".into());
                }
                return Ok(if keys.len() == 1 {
                    keys.pop().unwrap_or(K::All)
                } else {
                    K::And(keys)
                });
            }
            Some(b'*') | Some(b'0'..=b'9') => return self.sequence_set().map(K::SequenceSet),
            _ => {}
        }
        let word = self.atom()?.to_ascii_uppercase();
        let flag = |name: &str, set: bool| K::Flag {
            flag: Flag(name.into()),
            set,
        };
        Ok(match word.as_str() {
            "ALL" => K::All,
            "ANSWERED" => flag("\\Answered", true),
            "DELETED" => flag("\\Deleted", true),
            "FLAGGED" => flag("\\Flagged", true),
            "SEEN" => flag("\\Seen", true),
            "DRAFT" => flag("\\Draft", true),
            "UNANSWERED" => flag("\\Answered", false),
            "UNDELETED" => flag("\\Deleted", false),
            "UNFLAGGED" => flag("\\Flagged", false),
            "UNSEEN" => flag("\\Seen", false),
            "UNDRAFT" => flag("\\Draft", false),
            "RECENT" => K::Recent(true),
            "OLD" => K::Recent(false),
            "NEW" => K::And(vec![K::Recent(true), flag("\\Seen", false)]),
            "KEYWORD" | "UNKEYWORD" => {
                self.sp()?;
                K::Flag {
                    flag: Flag(self.atom()?),
                    set: word == "KEYWORD",
                }
            }
            "BCC" | "CC" | "FROM" | "SUBJECT" | "TO" => {
                self.sp()?;
                K::Header(word.clone(), self.astring_utf8()?)
            }
            "HEADER" => {
                self.sp()?;
                let name = self.astring_utf8()?;
                self.sp()?;
                K::Header(name.to_ascii_uppercase(), self.astring_utf8()?)
            }
            "BODY" => {
                self.sp()?;
                K::Body(self.astring_utf8()?)
            }
            "TEXT" => {
                self.sp()?;
                K::Text(self.astring_utf8()?)
            }
            "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
                self.sp()?;
                let d = self.date()?;
                match word.as_str() {
                    "BEFORE" => K::Before(d),
                    "ON" => K::On(d),
                    "SINCE" => K::Since(d),
                    "SENTBEFORE" => K::SentBefore(d),
                    "SENTON" => K::SentOn(d),
                    _ => K::SentSince(d),
                }
            }
            "LARGER" => {
                self.sp()?;
                K::Larger(self.number()?)
            }
            "SMALLER" => {
                self.sp()?;
                K::Smaller(self.number()?)
            }
            "UID" => {
                self.sp()?;
                K::Uid(self.sequence_set()?)
            }
            "NOT" => {
                self.sp()?;
                K::Not(Box::new(self.search_key()?))
            }
            "OR" => {
                self.sp()?;
                let a = self.search_key()?;
                self.sp()?;
                let b = self.search_key()?;
                K::Or(Box::new(a), Box::new(b))
            }
            _ => return Err(format!("unknown search key {word}")),
        })
    }

    fn fetch(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        use FetchAttr as F;
        let items = if self.eat_word("ALL") {
            vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope]
        } else if self.eat_word("FAST") {
            vec![F::Flags, F::InternalDate, F::Rfc822Size]
        } else if self.eat_word("FULL") {
            vec![
                F::Flags,
                F::InternalDate,
                F::Rfc822Size,
                F::Envelope,
                F::Body,
            ]
        } else if self.peek() == Some(b'(') {
            let v = self.paren_list(|p| p.fetch_att())?;
            if v.is_empty() {
                return Err("empty fetch attribute list".into());
            }
            v
        } else {
            vec![self.fetch_att()?]
        };
        Ok(CommandBody::Fetch { uid, set, items })
    }

    fn fetch_att(&mut self) -> PResult<FetchAttr> {
        use FetchAttr as F;
        let word = self
            .take_while(|b| is_atom_char(b) && b != b'[' && b != b'<')
            .to_ascii_uppercase();
        Ok(match word.as_slice() {
            b"ENVELOPE" => F::Envelope,
            b"FLAGS" => F::Flags,
            b"INTERNALDATE" => F::InternalDate,
            b"RFC822" => F::Rfc822,
            b"RFC822.HEADER" => F::Rfc822Header,
            b"RFC822.SIZE" => F::Rfc822Size,
            b"RFC822.TEXT" => F::Rfc822Text,
            b"UID" => F::Uid,
            b"BODYSTRUCTURE" => F::BodyStructure,
            b"BODY" if self.peek() != Some(b'[') => F::Body,
            b"BODY" | b"BODY.PEEK" => {
                let section = self.section()?;
                let partial = if self.eat(b'<') {
                    let start = self.number()?;
                    self.expect(b'.')?;
                    let len = self.nz_number()?;
                    self.expect(b'>')?;
                    Some((start, len))
                } else {
                    None
                };
                F::BodySection {
                    peek: word.len() > 4,
                    section,
                    partial,
                }
            }
            _ => {
                return Err(format!(
                    "unknown fetch attribute {}",
                    String::from_utf8_lossy(&word)
                ));
            }
        })
    }

    fn section(&mut self) -> PResult<Section> {
        self.expect(b'[')?;
        let mut section = Section::default();
        if self.eat(b']') {
            return Ok(section);
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            section.part.push(self.nz_number()?);
            if !self.eat(b'.') {
                break;
            }
        }
        let needs_text = self.text().get(self.pos.saturating_sub(1)) == Some(&b'.');
        if section.part.is_empty() || needs_text {
            let word = self
                .take_while(|b| b.is_ascii_alphabetic() || b == b'.')
                .to_ascii_uppercase();
            section.text = Some(match word.as_slice() {
                b"HEADER" => SectionText::Header,
                b"TEXT" => SectionText::Text,
                b"MIME" if !section.part.is_empty() => SectionText::Mime,
                b"HEADER.FIELDS" | b"HEADER.FIELDS.NOT" => {
                    self.sp()?;
                    let fields = self.paren_list(|p| {
                        // Field names are echoed back as atoms in the FETCH
                        // response, so they must be atoms (RFC 5322 names
                        // that are not, like "A)B", would corrupt it).
                        let f = p.astring()?;
                        if f.is_empty() || !f.iter().all(|&b| is_atom_char(b) && b != b':') {
                            return Err("invalid header field name".into());
                        }
                        Ok(String::from_utf8_lossy(&f).to_ascii_uppercase())
                    })?;
                    if fields.is_empty() {
                        return Err("empty header field list".into());
                    }
                    SectionText::HeaderFields {
                        not: word.len() > 13,
                        fields,
                    }
                }
                _ => return Err("invalid section".into()),
            });
        }
        self.expect(b']')?;
        Ok(section)
    }

    fn store(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let mode = if self.eat(b'+') {
            StoreMode::Add
        } else if self.eat(b'-') {
            StoreMode::Remove
        } else {
            StoreMode::Replace
        };
        let silent = if self.eat_word("FLAGS.SILENT") {
            true
        } else if self.eat_word("FLAGS") {
            false
        } else {
            return Err("expected FLAGS or FLAGS.SILENT".into());
        };
        self.sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut v = vec![self.flag()?];
            while self.eat(b' ') {
                v.push(self.flag()?);
            }
            v
        };
        Ok(CommandBody::Store {
            uid,
            set,
            mode,
            silent,
            flags,
        })
    }

    fn copy(&mut self, uid: bool, is_move: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let mailbox = self.mailbox()?;
        Ok(CommandBody::Copy {
            uid,
            set,
            mailbox,
            is_move,
        })
    }
}

/// Parses the client's line during AUTHENTICATE: base64 or `*` to cancel.
pub fn parse_sasl_response(line: &[u8]) -> Option<SaslLine> {
    if line == b"*" {
        return Some(SaslLine::Cancel);
    }
    if line
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
    {
        return Some(SaslLine::Data(line.to_vec()));
    }
    None
}

#[derive(Debug, PartialEq, Eq)]
pub enum SaslLine {
    Cancel,
    Data(Vec<u8>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, ParseError> {
        parse_command(Frame {
            chunks: vec![Chunk::Text(line.as_bytes().to_vec())],
        })
    }

    fn append_with_date(date: &str) -> Result<Command, ParseError> {
        parse_command(Frame {
            chunks: vec![
                Chunk::Text(format!("a APPEND INBOX \"{date}\" ").into_bytes()),
                Chunk::Literal(Literal::Memory(b"x".to_vec())),
                Chunk::Text(Vec::new()),
            ],
        })
    }

    #[test]
    fn append_date_day_has_at_most_two_digits() {
        for ok in [
            "05-Feb-2021 10:00:00 +0000",
            " 5-Feb-2021 10:00:00 +0000",
            "5-Feb-2021 10:00:00 +0000",
        ] {
            let cmd = append_with_date(ok).unwrap();
            let CommandBody::Append { date: Some(d), .. } = cmd.body else {
                panic!("{ok}: {cmd:?}")
            };
            assert_eq!(d.to_rfc3339(), "2021-02-05T10:00:00+00:00");
        }
        // Found by the differential tests: "005" and longer runs of
        // digits used to be read as a day.
        for bad in [
            "005-Feb-2021 10:00:00 +0000",
            "0000000005-Feb-2021 10:00:00 +0000",
            "-Feb-2021 10:00:00 +0000",
        ] {
            assert!(append_with_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_field_names_must_be_atoms() {
        let cmd =
            parse("a FETCH 1 BODY.PEEK[HEADER.FIELDS (From \"Subject\" X-Spam-Flag)]").unwrap();
        let CommandBody::Fetch { items, .. } = cmd.body else {
            panic!()
        };
        let FetchAttr::BodySection { section, .. } = &items[0] else {
            panic!()
        };
        assert_eq!(
            section.to_wire(),
            "HEADER.FIELDS (FROM SUBJECT X-SPAM-FLAG)"
        );
        // Names that would not survive being echoed as atoms in the FETCH
        // response: they used to be accepted and echoed raw.
        for bad in ["\"A)B\"", "\"A B\"", "\"A]B\"", "\"A\\\"B\"", "\"\"", "A:B"] {
            let line = format!("a FETCH 1 BODY[HEADER.FIELDS ({bad})]");
            assert!(parse(&line).is_err(), "{line}");
        }
    }
}
