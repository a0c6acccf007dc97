//! The grammar of SEARCH: RFC 4731's RETURN options, CHARSET, and the
//! search keys of RFC 3501 §6.4.4.

use super::MAX_DEPTH;
use super::{PResult, Parser};
use crate::command::*;
use chrono::NaiveDate;

impl Parser {
    pub(crate) fn search(&mut self, uid: bool) -> PResult<CommandBody> {
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
            "MODSEQ" => {
                self.sp()?;
                if self.peek() == Some(b'"') {
                    // `entry-name SP entry-type-req` (RFC 7162 §3.1.5): a
                    // flag's entry, "/flags/\\draft" say, and priv,
                    // shared or all. Checked, then ignored: one
                    // mod-sequence is kept per message.
                    let entry = self.quoted()?;
                    if !entry.to_ascii_lowercase().starts_with(b"/flags/") || entry.len() == 7 {
                        return Err("MODSEQ entry names a flag: \"/flags/...\"".into());
                    }
                    self.sp()?;
                    let kind = self.atom()?.to_ascii_lowercase();
                    if !matches!(kind.as_str(), "priv" | "shared" | "all") {
                        return Err("MODSEQ entry type is priv, shared or all".into());
                    }
                    self.sp()?;
                }
                K::ModSeq(self.mod_sequence()?)
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
}
