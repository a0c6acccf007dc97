//! Commands that change messages: APPEND, STORE, COPY/MOVE, EXPUNGE and
//! CLOSE/UNSELECT.

use crate::selected::{Selected, Stored};
use crate::session::{Session, Status, store_error};
use crispin_proto::response::{Code, Condition};
use crispin_proto::{Flag, Literal, RawMailbox, SequenceSet, StoreMode};
use crispin_store::{AccountId, FlagOp, Flags, MessageData, NewMessage, StoreError};

/// A STORE's arguments beside its message set.
pub(crate) struct StoreArgs {
    pub uid: bool,
    pub mode: StoreMode,
    pub silent: bool,
    pub flags: Vec<Flag>,
    /// RFC 7162 §3.1.3.
    pub unchanged_since: Option<u64>,
}

fn try_create() -> Status {
    Status::no("No such mailbox").with(Code::TryCreate)
}

fn read_only() -> Status {
    Status::no("The mailbox is read-only").with(Code::ReadOnly)
}

/// Turns client flags into stored flags; `\Recent` cannot be set and is
/// ignored, other unknown system flags are an error.
pub(crate) fn parse_flags(flags: &[Flag]) -> Result<Flags, Status> {
    Flags::from_names(
        flags
            .iter()
            .map(|f| f.0.as_str())
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent")),
    )
    .map_err(|f| Status::bad(format!("Flag {f} cannot be set")))
}

impl Session {
    pub(crate) async fn append(
        &mut self,
        account: AccountId,
        raw: &RawMailbox,
        flags: Vec<Flag>,
        date: Option<chrono::DateTime<chrono::FixedOffset>>,
        message: Literal,
    ) -> Status {
        match self
            .prepare_append(account, raw, flags, date, message)
            .await
        {
            Ok(append) => append.await,
            Err(status) => status,
        }
    }

    /// Checks an APPEND and queues its store write; returns the answer to
    /// await now or (pipelined APPENDs, see `Session::start_append`)
    /// alongside others.
    pub(crate) async fn prepare_append(
        &mut self,
        account: AccountId,
        raw: &RawMailbox,
        flags: Vec<Flag>,
        date: Option<chrono::DateTime<chrono::FixedOffset>>,
        message: Literal,
    ) -> Result<impl Future<Output = Status> + Send + 'static, Status> {
        // \Recent is the server's to give, not a flag a client sets (RFC
        // 3501 §2.3.2): an APPEND naming it is refused, as Dovecot does.
        if flags.iter().any(|f| f.0.eq_ignore_ascii_case("\\Recent")) {
            return Err(Status::bad("\\Recent cannot be set by APPEND"));
        }
        let flags = parse_flags(&flags)?;
        if message.is_empty() {
            return Err(Status::no("Cannot append an empty message"));
        }
        let info = match self.lookup(account, raw).await {
            Ok(i) => i,
            Err(s) if s.condition == Condition::No => return Err(try_create()),
            Err(s) => return Err(s),
        };
        let data = match message {
            Literal::Memory(v) => MessageData::Bytes(v),
            Literal::File { file, .. } => MessageData::File(file),
        };
        let internal_date = date.unwrap_or_else(|| chrono::Utc::now().fixed_offset());
        let new = NewMessage {
            data,
            flags,
            internal_date,
            skip_if_present: false,
        };
        // Queued here, in command order, so pipelined APPENDs get their
        // UIDs in the order they were sent.
        let done = self
            .ctx
            .store
            .append_queued(account, info.id, new)
            .await
            .map_err(store_error)?;
        Ok(async move {
            match done.await {
                Ok(a) => Status::ok("APPEND completed").with(Code::AppendUid {
                    uid_validity: a.uid_validity,
                    uid: a.uid,
                }),
                Err(e) => store_error(e),
            }
        })
    }

    pub(crate) async fn store(
        &mut self,
        sel: &mut Selected,
        set: &SequenceSet,
        args: StoreArgs,
    ) -> Status {
        let StoreArgs {
            uid,
            mode,
            silent,
            flags,
            unchanged_since,
        } = args;
        if unchanged_since.is_some() {
            // A CONDSTORE enabling command (RFC 7162 §3.1).
            self.enable_condstore();
        }
        if sel.read_only {
            return read_only();
        }
        let change = match parse_flags(&flags) {
            Ok(f) => f,
            Err(s) => return s,
        };
        let msgs = match sel.resolve(set, uid) {
            Ok(m) => m,
            Err(e) => return Status::bad(e),
        };
        let op = match mode {
            StoreMode::Replace => FlagOp::Replace,
            StoreMode::Add => FlagOp::Add,
            StoreMode::Remove => FlagOp::Remove,
        };
        let uids: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
        let result = match self
            .ctx
            .store
            .store_flags_unchanged_since(
                sel.account,
                sel.info.id,
                &uids,
                op,
                &change,
                unchanged_since,
            )
            .await
        {
            Ok(r) => r,
            Err(e) => return store_error(e),
        };
        let how = Stored {
            silent,
            uid,
            condstore: self.condstore,
        };
        sel.report_stored(&mut self.conn.out, &result, &change.keywords, how);
        if result.modified.is_empty() {
            return Status::ok("STORE completed");
        }
        // The messages that failed the UNCHANGEDSINCE test, as the client
        // named them: UIDs after UID STORE, else sequence numbers.
        let modified: Vec<u32> = if uid {
            result.modified
        } else {
            result
                .modified
                .iter()
                .filter_map(|u| sel.seq_of(*u))
                .collect()
        };
        Status::ok("Conditional STORE failed for some messages").with(Code::Modified(modified))
    }

    pub(crate) async fn copy(
        &mut self,
        sel: &mut Selected,
        uid: bool,
        set: &SequenceSet,
        raw: &RawMailbox,
        is_move: bool,
    ) -> Status {
        let word = if is_move { "MOVE" } else { "COPY" };
        if is_move && sel.read_only {
            return read_only();
        }
        let msgs = match sel.resolve(set, uid) {
            Ok(m) => m,
            Err(e) => return Status::bad(e),
        };
        let source = sel.info.id;
        let dest = match self.lookup(sel.account, raw).await {
            Ok(i) => i,
            Err(s) if s.condition == Condition::No => return try_create(),
            Err(s) => return s,
        };
        if msgs.is_empty() {
            return Status::ok(format!("{word} completed, nothing to do"));
        }
        let uids: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
        let result = match self
            .ctx
            .store
            .copy(sel.account, source, &uids, dest.id, is_move)
            .await
        {
            Ok(r) => r,
            Err(e) => return store_error(e),
        };
        // Messages another session expunged since this one last reported
        // are not copied: the rest are (COPYUID names only them), and the
        // client is told, untagged since the tagged answer carries COPYUID;
        // when none is left, nothing was copied and the answer is NO
        // (RFC 9051 §6.4.7: a failed COPY leaves the target unchanged;
        // EXPUNGEISSUED, RFC 5530 §3, RFC 2180 §4.4).
        if result.pairs.is_empty() {
            return Status::no(format!("{word}: the messages were expunged meanwhile"))
                .with(Code::ExpungeIssued);
        }
        if result.pairs.len() < uids.len() {
            self.untagged(
                Status::ok(format!(
                    "Some messages were expunged meanwhile and not {}",
                    if is_move { "moved" } else { "copied" }
                ))
                .with(Code::ExpungeIssued),
            );
        }
        let src: Vec<u32> = result.pairs.iter().map(|p| p.0).collect();
        let code = Code::CopyUid {
            uid_validity: result.uid_validity,
            source: src.clone(),
            dest: result.pairs.iter().map(|p| p.1).collect(),
        };
        if !is_move {
            return Status::ok("COPY completed").with(code);
        }
        // RFC 6851: COPYUID comes untagged, before the EXPUNGEs.
        self.untagged(Status::ok("Moved").with(code));
        sel.report_expunged(&mut self.conn.out, &src);
        Status::ok("MOVE completed")
    }

    pub(crate) async fn expunge(
        &mut self,
        sel: &mut Selected,
        uids: Option<&SequenceSet>,
    ) -> Status {
        if sel.read_only {
            return read_only();
        }
        let only: Option<Vec<u32>> = uids.map(|set| set.select_sorted(sel.uids()));
        let mailbox = sel.info.id;
        let gone = match self
            .ctx
            .store
            .expunge(sel.account, mailbox, only.as_deref())
            .await
        {
            Ok(g) => g,
            Err(e) => return store_error(e),
        };
        sel.report_expunged(&mut self.conn.out, &gone);
        Status::ok("EXPUNGE completed")
    }

    /// CLOSE (which expunges silently) and UNSELECT; the session has
    /// already left the selected state.
    pub(crate) async fn close(&mut self, sel: Selected, expunge: bool) -> Status {
        if expunge && !sel.read_only {
            match self.ctx.store.expunge(sel.account, sel.info.id, None).await {
                Ok(_) | Err(StoreError::NoMailbox) => {}
                Err(e) => return store_error(e),
            }
        }
        Status::ok(if expunge {
            "CLOSE completed"
        } else {
            "UNSELECT completed"
        })
    }
}
