//! Mailbox commands: SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
//! LIST/LSUB and STATUS.

use crate::names::{self, DELIMITER, NameError};
use crate::selected::Selected;
use crate::session::{Session, Status, no_such_mailbox, store_error};
use crispin_proto::response::{Code, Condition, Data, MailboxName};
use crispin_proto::{ListReturn, RawMailbox, StatusItem};
use crispin_store::{AccountId, MailboxId, MailboxInfo};
use std::collections::{BTreeMap, BTreeSet};
use std::io;

/// RFC 6154 uses a mailbox can be created with. `\All` and `\Flagged`
/// would need virtual mailboxes, which we do not have.
const SPECIAL_USES: [&str; 5] = ["\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash"];

impl Session {
    /// Decodes a name that must name a mailbox; the error is the response.
    /// A name that is syntactically an astring but no valid mailbox name
    /// (bad modified UTF-7, control characters, empty levels) is NO, not
    /// BAD: the command was well formed, the server just cannot use the
    /// name (RFC 9051 §6.3, as Dovecot answers; BAD is for syntax).
    pub(crate) fn mailbox_name(&self, raw: &RawMailbox) -> Result<String, Status> {
        names::mailbox(&raw.0, self.utf8)
            .map_err(|e: NameError| Status::no(e.message()).with(Code::Cannot))
    }

    /// Finds an existing mailbox by its wire name.
    pub(crate) async fn lookup(
        &self,
        account: AccountId,
        raw: &RawMailbox,
    ) -> Result<MailboxInfo, Status> {
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(s) if s.condition == Condition::No => return Err(no_such_mailbox()),
            Err(s) => return Err(s),
        };
        match self.ctx.store.mailbox(account, &name).await {
            Ok(Some(info)) => Ok(info),
            Ok(None) => Err(no_such_mailbox()),
            Err(e) => Err(store_error(e)),
        }
    }

    /// SELECT and EXAMINE: the new view of the mailbox and the answer.
    pub(crate) async fn select(
        &mut self,
        account: AccountId,
        raw: &RawMailbox,
        read_only: bool,
        qresync: Option<&crispin_proto::Qresync>,
    ) -> Result<(Box<Selected>, Status), Status> {
        let info = self.lookup(account, raw).await?;
        // Subscribe before the snapshot so no change falls in between.
        let watch = self.ctx.store.watch(info.id);
        let snap = self
            .ctx
            .store
            .snapshot(account, info.id)
            .await
            .map_err(store_error)?;
        // A read-only session sees \Recent but must not take it away
        // (RFC 3501 §6.3.2): claiming up to 0 only reads the boundary.
        let claim_to = if read_only { 0 } else { snap.uid_next };
        let first = self
            .ctx
            .store
            .claim_recent(account, info.id, claim_to)
            .await
            .map_err(store_error)?;
        let (uid_next, first_unseen) = (snap.uid_next, snap.first_unseen_uid);
        let highest_modseq = snap.highest_modseq;
        let uid_validity = snap.uid_validity;
        let mut sel = Box::new(Selected::new(account, info, read_only, snap, first, watch));
        sel.vanished = self.qresync;
        sel.report_opened(&mut self.conn.out, uid_next, first_unseen, highest_modseq);
        // RFC 7162 §3.2.5.1: a client whose UIDVALIDITY is stale gets the
        // plain SELECT answer (it must resync in full).
        if let Some(q) = qresync.filter(|q| q.uid_validity == uid_validity) {
            // Fresh: other processes' commits too. Tombstones are kept as
            // long as the mailbox, so the answer is exact however old the
            // client's modseq; seq-match data would only narrow a guess,
            // and is read but not needed.
            let changes = self
                .ctx
                .store
                .changes_since(account, sel.info.id, q.modseq, true)
                .await
                .map_err(store_error)?;
            let known = q
                .known_uids
                .as_ref()
                .map(|k| crispin_proto::Ranges::of(k, u32::MAX));
            sel.report_resync(&mut self.conn.out, &changes, |u| {
                known.as_ref().is_none_or(|k| k.contains(u))
            });
        }
        let status = if read_only {
            Status::ok("EXAMINE completed").with(Code::ReadOnly)
        } else {
            Status::ok("SELECT completed").with(Code::ReadWrite)
        };
        Ok((sel, status))
    }

    pub(crate) async fn create(
        &mut self,
        account: AccountId,
        raw: &RawMailbox,
        special_use: Vec<String>,
    ) -> Status {
        // A trailing delimiter only says the name will hold children.
        let trimmed = match raw.0.strip_suffix(b"/") {
            Some(t) if !t.is_empty() => RawMailbox(t.to_vec()),
            _ => raw.clone(),
        };
        let name = match self.mailbox_name(&trimmed) {
            Ok(n) => n,
            Err(s) => return s,
        };
        if name == "INBOX" {
            return Status::no("INBOX always exists").with(Code::AlreadyExists);
        }
        let use_attr = match special_use.as_slice() {
            [] => None,
            [one] => match SPECIAL_USES.iter().find(|u| u.eq_ignore_ascii_case(one)) {
                Some(u) => Some(*u),
                None => {
                    return Status::no("Unsupported special-use attribute").with(Code::UseAttr);
                }
            },
            _ => {
                return Status::no("Only one special-use attribute per mailbox")
                    .with(Code::UseAttr);
            }
        };
        let store = &self.ctx.store;
        // RFC 3501 §6.3.3: create the superior names that are needed.
        for parent in names::parents(&name) {
            match store.mailbox(account, parent).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    if let Err(e) = store.create_mailbox(account, parent, None).await
                        && !matches!(e, crispin_store::StoreError::MailboxExists)
                    {
                        return store_error(e);
                    }
                }
                Err(e) => return store_error(e),
            }
        }
        match store.create_mailbox(account, &name, use_attr).await {
            Ok(_) => Status::ok("CREATE completed"),
            Err(e) => store_error(e),
        }
    }

    /// DELETE; `selected` is the mailbox the session has selected.
    pub(crate) async fn delete(
        &mut self,
        account: AccountId,
        selected: Option<MailboxId>,
        raw: &RawMailbox,
    ) -> Status {
        let info = match self.lookup(account, raw).await {
            Ok(i) => i,
            Err(s) => return s,
        };
        if info.name == "INBOX" {
            return Status::no("INBOX cannot be deleted").with(Code::Cannot);
        }
        if selected == Some(info.id) {
            return Status::no("Close the mailbox before deleting it").with(Code::InUse);
        }
        match self.ctx.store.delete_mailbox(account, info.id).await {
            Ok(()) => Status::ok("DELETE completed"),
            Err(e) => store_error(e),
        }
    }

    /// RENAME; `selected` is the session's selected mailbox, which keeps
    /// its new name.
    pub(crate) async fn rename(
        &mut self,
        account: AccountId,
        selected: Option<&mut Selected>,
        from: &RawMailbox,
        to: &RawMailbox,
    ) -> Status {
        let info = match self.lookup(account, from).await {
            Ok(i) => i,
            Err(s) => return s,
        };
        let to = match self.mailbox_name(to) {
            Ok(n) => n,
            Err(s) => return s,
        };
        if to == "INBOX" || to == info.name {
            return Status::no("Target mailbox already exists").with(Code::AlreadyExists);
        }
        if info.name != "INBOX" && to.starts_with(&format!("{}{DELIMITER}", info.name)) {
            return Status::no("Cannot move a mailbox into itself").with(Code::Cannot);
        }
        let store = &self.ctx.store;
        for parent in names::parents(&to) {
            match store.mailbox(account, parent).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    if let Err(e) = store.create_mailbox(account, parent, None).await {
                        return store_error(e);
                    }
                }
                Err(e) => return store_error(e),
            }
        }
        match store.rename_mailbox(account, &info.name, &to).await {
            Ok(()) => {
                if let Some(sel) = selected
                    && sel.info.id == info.id
                    && info.name != "INBOX"
                {
                    sel.info.name = to;
                }
                Status::ok("RENAME completed")
            }
            Err(e) => store_error(e),
        }
    }

    pub(crate) async fn subscribe(
        &mut self,
        account: AccountId,
        raw: &RawMailbox,
        on: bool,
    ) -> Status {
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(s) => return s,
        };
        let word = if on { "SUBSCRIBE" } else { "UNSUBSCRIBE" };
        match self.ctx.store.set_subscribed(account, &name, on).await {
            Ok(()) => Status::ok(format!("{word} completed")),
            Err(e) => store_error(e),
        }
    }

    pub(crate) async fn list(
        &mut self,
        account: AccountId,
        reference: &RawMailbox,
        patterns: &[RawMailbox],
        selection: &[String],
        ret: &ListReturn,
        lsub: bool,
    ) -> io::Result<Status> {
        let word = if lsub { "LSUB" } else { "LIST" };
        // A reference or pattern that no mailbox name can match (not valid
        // modified UTF-7, say) matches nothing: OK with no entries.
        let Ok(reference) = names::decode(&reference.0, self.utf8) else {
            return Ok(Status::ok(format!("{word} completed")));
        };
        let pats: Vec<String> = patterns
            .iter()
            .filter_map(|p| names::decode(&p.0, self.utf8).ok())
            .collect();
        if pats.is_empty() {
            return Ok(Status::ok(format!("{word} completed")));
        }
        if !lsub && pats.len() == 1 && pats[0].is_empty() {
            // The hierarchy delimiter and root (RFC 3501 §6.3.8).
            self.data(Data::List {
                lsub: false,
                attributes: &["\\Noselect"],
                delimiter: DELIMITER,
                mailbox: MailboxName {
                    name: "",
                    utf8: self.utf8,
                },
            });
            return Ok(Status::ok("LIST completed"));
        }
        let pats: Vec<String> = pats.iter().map(|p| names::pattern(&reference, p)).collect();
        let mailboxes = match self.ctx.store.list_mailboxes(account).await {
            Ok(m) => m,
            Err(e) => return Ok(store_error(e)),
        };
        let only_subscribed = lsub || selection.iter().any(|s| s == "SUBSCRIBED");
        let subscribed: BTreeSet<String> = if only_subscribed || ret.subscribed {
            match self.ctx.store.subscriptions(account).await {
                Ok(s) => s.into_iter().collect(),
                Err(e) => return Ok(store_error(e)),
            }
        } else {
            BTreeSet::new()
        };
        // Every name that exists, plus the levels above them that do not.
        let real: BTreeMap<&str, &MailboxInfo> =
            mailboxes.iter().map(|m| (m.name.as_str(), m)).collect();
        let mut all: BTreeSet<&str> = real.keys().copied().collect();
        for m in &mailboxes {
            all.extend(names::parents(&m.name));
        }
        let has_children = |name: &str| {
            // The first name at or after "name/" (names like "name x" or
            // "name.x" sort between "name" and "name/..."); "name/" itself
            // is never a name.
            let prefix = format!("{name}{DELIMITER}");
            all.range::<str, _>((
                std::ops::Bound::Included(prefix.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .next()
            .is_some_and(|n| n.starts_with(&prefix))
        };
        let matches = |name: &str| pats.iter().any(|p| names::matches(p, name));

        let mut lines: Vec<(String, Vec<&str>)> = Vec::new();
        if only_subscribed {
            let mut listed = BTreeSet::new();
            for name in &subscribed {
                if matches(name) {
                    let mut attrs = Vec::new();
                    if !real.contains_key(name.as_str()) {
                        attrs.push(if lsub { "\\Noselect" } else { "\\NonExistent" });
                    }
                    listed.insert(name.clone());
                    lines.push((name.clone(), attrs));
                }
            }
            // RFC 3501 §6.3.9: a `%` that stops at a level above a
            // subscribed name lists that level as \Noselect. A pattern
            // that reaches the subscribed name itself lists only that.
            if lsub {
                for name in subscribed.iter().filter(|n| !matches(n)) {
                    for parent in names::parents(name) {
                        if matches(parent)
                            && !subscribed.contains(parent)
                            && listed.insert(parent.to_string())
                        {
                            lines.push((parent.to_string(), vec!["\\Noselect"]));
                        }
                    }
                }
            }
        } else {
            for name in &all {
                if !matches(name) {
                    continue;
                }
                let mut attrs = Vec::new();
                match real.get(name) {
                    None => attrs.push("\\Noselect"),
                    Some(info) => {
                        if let Some(u) = &info.special_use {
                            attrs.push(u.as_str());
                        }
                    }
                }
                if ret.subscribed && subscribed.contains(*name) {
                    attrs.push("\\Subscribed");
                }
                lines.push((name.to_string(), attrs));
            }
        }
        lines.sort_by(|a, b| (a.0 != "INBOX", &a.0).cmp(&(b.0 != "INBOX", &b.0)));
        for (name, mut attrs) in lines {
            attrs.push(if has_children(&name) {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            self.data(Data::List {
                lsub,
                attributes: &attrs,
                delimiter: DELIMITER,
                mailbox: MailboxName {
                    name: &name,
                    utf8: self.utf8,
                },
            });
            self.conn.flush_if_large().await?;
        }
        Ok(Status::ok(format!("{word} completed")))
    }

    pub(crate) async fn status(
        &mut self,
        account: AccountId,
        raw: &RawMailbox,
        items: &[StatusItem],
    ) -> Status {
        let info = match self.lookup(account, raw).await {
            Ok(i) => i,
            Err(s) => return s,
        };
        let st = match self.ctx.store.status(account, info.id).await {
            Ok(s) => s,
            Err(e) => return store_error(e),
        };
        let mut fields = Vec::new();
        if items.contains(&StatusItem::HighestModseq) {
            // A CONDSTORE enabling command (RFC 7162 §3.1).
            self.enable_condstore();
        }
        for item in items {
            let v = match item {
                StatusItem::Messages => u64::from(st.messages),
                StatusItem::Recent => u64::from(st.recent),
                StatusItem::UidNext => u64::from(st.uid_next),
                StatusItem::UidValidity => u64::from(st.uid_validity),
                StatusItem::Unseen => u64::from(st.unseen),
                StatusItem::Deleted => u64::from(st.deleted),
                StatusItem::Size => st.size,
                StatusItem::AppendLimit => self.config.limits.max_message,
                StatusItem::HighestModseq => st.highest_modseq,
            };
            fields.push((*item, v));
        }
        self.data(Data::Status {
            mailbox: MailboxName {
                name: &info.name,
                utf8: self.utf8,
            },
            items: &fields,
        });
        Status::ok("STATUS completed")
    }
}
