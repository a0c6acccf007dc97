//! The grammar of the mailbox commands: SELECT/EXAMINE (with RFC 4466
//! §2.1's parameters), CREATE (with RFC 6154's USE), DELETE, RENAME,
//! SUBSCRIBE/UNSUBSCRIBE, LIST (RFC 5258's extended form) and LSUB, STATUS.

use super::UNEXPECTED_END;
use super::{PResult, Parser};
use crate::command::*;

/// SELECT and EXAMINE parameters we accept (RFC 4466 §2.1): `CONDSTORE`
/// (RFC 7162 §3.1.8) and `QRESYNC` (§3.2.5).
const SELECT_PARAMS: &[&str] = &["CONDSTORE", "QRESYNC"];

impl Parser {
    pub(crate) fn select(&mut self, read_only: bool) -> PResult<CommandBody> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        let params = self.modifiers(SELECT_PARAMS, UNEXPECTED_END)?;
        let condstore = super::modifier::flag_modifier(&params, "CONDSTORE")?;
        let qresync = super::modifier::qresync_param(&params)?;
        Ok(CommandBody::Select {
            mailbox,
            read_only,
            condstore,
            qresync,
        })
    }

    pub(crate) fn create(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        let mut special_use = Vec::new();
        // RFC 6154 §3's USE is not in RFC 4466's generic syntax (its flags
        // are no astrings), so CREATE's one parameter is read as itself.
        if self.eat(b' ') {
            self.expect(b'(')?;
            if !self.eat_word("USE") {
                return Err("unknown CREATE parameter".into());
            }
            self.sp()?;
            special_use = self.flag_list()?.into_iter().map(|f| f.0).collect();
            self.expect(b')')?;
        }
        Ok(CommandBody::Create {
            mailbox,
            special_use,
        })
    }

    pub(crate) fn delete(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        Ok(CommandBody::Delete(self.mailbox()?))
    }

    pub(crate) fn subscribe(&mut self, on: bool) -> PResult<CommandBody> {
        self.sp()?;
        let m = self.mailbox()?;
        Ok(if on {
            CommandBody::Subscribe(m)
        } else {
            CommandBody::Unsubscribe(m)
        })
    }

    pub(crate) fn rename(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let from = self.mailbox()?;
        self.sp()?;
        let to = self.mailbox()?;
        Ok(CommandBody::Rename { from, to })
    }

    pub(crate) fn list(&mut self) -> PResult<CommandBody> {
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

    pub(crate) fn lsub(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let reference = self.mailbox()?;
        self.sp()?;
        let pattern = self.list_mailbox()?;
        Ok(CommandBody::List {
            reference,
            patterns: vec![pattern],
            selection: Vec::new(),
            return_opts: ListReturn::default(),
            lsub: true,
        })
    }

    pub(crate) fn status(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        self.sp()?;
        let items = self.paren_list(|p| p.status_item())?;
        if items.is_empty() {
            return Err("STATUS needs at least one item".into());
        }
        Ok(CommandBody::Status { mailbox, items })
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
}
