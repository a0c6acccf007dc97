//! FETCH: metadata comes from what ingest stored (never a re-parse);
//! body sections are byte ranges of the stored message, streamed.

use crate::selected::{Msg, Selected};
use crate::session::{Session, Status, server_bug, store_error};
use crispin_proto::response::Code;
use crispin_proto::response::{FetchItem, FetchWriter, section_label};
use crispin_proto::{FetchAttr, Section, SectionText, SequenceSet};
use crispin_store::{BlobReader, FetchNeed, FlagOp, Flags, MessageRecord, StoreError, flag};
use std::io;

/// Messages per store round trip.
const BATCH: usize = 1000;
/// Literals larger than this are streamed from storage in chunks.
const CHUNK: u64 = 1 << 20;

/// Where the bytes of a body section come from.
enum Source {
    Nil,
    Bytes(Vec<u8>),
    /// Bytes the store handed over as they go on the wire.
    Shared(std::sync::Arc<[u8]>),
    /// A range of the stored message.
    Range(u64, u64),
    /// Header fields filtered out of a range (nested HEADER.FIELDS).
    Fields {
        start: u64,
        end: u64,
        not: bool,
        fields: Vec<String>,
    },
}

/// A message's stored content, opened at its first body section read
/// ([`crispin_store::Store::open_blob`]): once open, it reads to its end
/// whatever other sessions expunge meanwhile.
enum Content {
    Unopened,
    Open(BlobReader),
    /// Expunged by another session, or unreadable: its sections are NIL.
    Gone,
}

/// What a FETCH met that its tagged answer reports.
#[derive(Default)]
struct Outcome {
    /// Messages or contents another session expunged after this session
    /// last reported: answered with what is still readable, NIL for the
    /// rest, and `OK [EXPUNGEISSUED]` (RFC 9051 §7.1, RFC 2180 §4.1.3; as
    /// Dovecot does), so that the client may NOOP to hear of the expunge.
    expunged: bool,
    /// Content the store could not read for another reason (logged).
    failed: bool,
}

/// FETCH's CONDSTORE and QRESYNC modifiers (RFC 7162 §3.1.4.1, §3.2.6).
pub(crate) struct Since {
    pub modseq: Option<u64>,
    pub vanished: bool,
}

fn needs(items: &[FetchAttr], utf8: bool) -> FetchNeed {
    let mut need = FetchNeed::default();
    // Top-level HEADER.FIELDS only (the common header-only FETCH): the
    // store can hand over just the union of the fields named.
    let mut fields: Option<Vec<Vec<u8>>> = Some(Vec::new());
    for item in items {
        match item {
            FetchAttr::BodySection { section, .. } if section.part.is_empty() => {
                match &section.text {
                    Some(SectionText::HeaderFields {
                        not: false,
                        fields: names,
                    }) => {
                        if let Some(f) = fields.as_mut() {
                            f.extend(names.iter().map(|n| n.to_ascii_lowercase().into_bytes()));
                        }
                    }
                    Some(SectionText::Header | SectionText::HeaderFields { .. }) => fields = None,
                    _ => {}
                }
            }
            FetchAttr::Rfc822Header => fields = None,
            _ => {}
        }
    }
    for item in items {
        match item {
            // Rendered once at ingest, for all but UTF8=ACCEPT clients.
            FetchAttr::Envelope | FetchAttr::Body | FetchAttr::BodyStructure if !utf8 => {
                need.rendered = true;
            }
            FetchAttr::Envelope
            | FetchAttr::Body
            | FetchAttr::BodyStructure
            | FetchAttr::Rfc822Text => need.meta = true,
            FetchAttr::Rfc822Header => need.header = true,
            FetchAttr::BodySection { section, .. } => {
                if section.part.is_empty()
                    && matches!(
                        section.text,
                        Some(SectionText::Header | SectionText::HeaderFields { .. })
                    )
                {
                    need.header = true;
                } else if section.text.is_some() || !section.part.is_empty() {
                    need.meta = true;
                }
            }
            _ => {}
        }
    }
    if need.header {
        need.header_fields = fields.map(|mut f| {
            f.sort_unstable();
            f.dedup();
            std::sync::Arc::new(f)
        });
    }
    need
}

fn sets_seen(item: &FetchAttr) -> bool {
    matches!(
        item,
        FetchAttr::Rfc822 | FetchAttr::Rfc822Text | FetchAttr::BodySection { peek: false, .. }
    )
}

fn header_fields(block: &[u8], not: bool, fields: &[String]) -> Vec<u8> {
    let names: Vec<&[u8]> = fields.iter().map(|f| f.as_bytes()).collect();
    crispin_mime::header_fields(block, &names, not)
}

/// A FETCH's items, with what is the same for every message worked out once.
struct Plan {
    items: Vec<FetchAttr>,
    /// `BODY[section]<origin>` of each body section item (empty for others).
    labels: Vec<String>,
    /// The store cut the header to exactly the fields of the one
    /// HEADER.FIELDS item, so that cut is the item's answer.
    exact_fields: bool,
}

impl Plan {
    fn new(items: Vec<FetchAttr>, need: &FetchNeed) -> Plan {
        let top_fields = items
            .iter()
            .filter(|i| {
                matches!(i, FetchAttr::BodySection { section, .. }
                    if section.part.is_empty()
                        && matches!(section.text, Some(SectionText::HeaderFields { .. })))
            })
            .count();
        let labels = items
            .iter()
            .map(|item| match item {
                FetchAttr::BodySection {
                    section, partial, ..
                } => section_label(section, *partial),
                _ => String::new(),
            })
            .collect();
        Plan {
            exact_fields: need.header_fields.is_some() && top_fields == 1,
            items,
            labels,
        }
    }
}

fn section_source(rec: &MessageRecord, section: &Section, exact_fields: bool) -> Source {
    if exact_fields
        && section.part.is_empty()
        && let (Some(SectionText::HeaderFields { .. }), Some(cut)) = (&section.text, &rec.header)
    {
        return Source::Shared(cut.clone());
    }
    let header = rec.header.as_deref().unwrap_or_default();
    let Some(meta) = rec.meta.as_deref() else {
        // Only whole-message and top-level header sections get here
        // without metadata (see `needs`).
        return match &section.text {
            None => Source::Range(0, rec.size),
            Some(SectionText::Header) => Source::Bytes(header.to_vec()),
            Some(SectionText::HeaderFields { not, fields }) => {
                Source::Bytes(header_fields(header, *not, fields))
            }
            _ => Source::Nil,
        };
    };
    let root = &meta.root;
    if section.part.is_empty() {
        return match &section.text {
            None => Source::Range(0, rec.size),
            Some(SectionText::Header) => Source::Bytes(header.to_vec()),
            Some(SectionText::HeaderFields { not, fields }) => {
                Source::Bytes(header_fields(header, *not, fields))
            }
            Some(SectionText::Text) => Source::Range(u64::from(root.body_start), rec.size),
            Some(SectionText::Mime) => Source::Nil,
        };
    }
    let Some(part) = root.section(&section.part) else {
        return Source::Nil;
    };
    let range = |a: u32, b: u32| Source::Range(u64::from(a), u64::from(b));
    match &section.text {
        None => range(part.body_start, part.end),
        Some(SectionText::Mime) => range(part.header_start, part.body_start),
        Some(text) => {
            let Some(inner) = part.message_inner() else {
                return Source::Nil;
            };
            match text {
                SectionText::Header => range(inner.header_start, inner.body_start),
                SectionText::Text => range(inner.body_start, inner.end),
                SectionText::HeaderFields { not, fields } => Source::Fields {
                    start: u64::from(inner.header_start),
                    end: u64::from(inner.body_start),
                    not: *not,
                    fields: fields.clone(),
                },
                SectionText::Mime => Source::Nil,
            }
        }
    }
}

impl Session {
    pub(crate) async fn fetch(
        &mut self,
        sel: &mut Selected,
        uid: bool,
        set: &SequenceSet,
        mut items: Vec<FetchAttr>,
        since: Since,
    ) -> io::Result<Status> {
        let changed_since = since.modseq;
        if since.vanished && !self.qresync {
            // RFC 7162 §3.2.6.
            return Ok(Status::bad("VANISHED needs ENABLE QRESYNC first"));
        }
        let mut msgs = match sel.resolve(set, uid) {
            Ok(m) => m,
            Err(e) => return Ok(Status::bad(e)),
        };
        if let (true, Some(modseq)) = (since.vanished, changed_since) {
            // The UIDs of the set expunged after the modseq, before the
            // FETCHes (RFC 7162 §3.2.6). Tombstones last as long as the
            // mailbox: the list is exact.
            let changes = match self
                .ctx
                .store
                .changes_since(sel.account, sel.info.id, modseq, true)
                .await
            {
                Ok(c) => c,
                Err(e) => return Ok(store_error(e)),
            };
            // `*` reaches past the largest UID left: a client may hold
            // UIDs above it that are gone (naming more is harmless).
            let wanted = crispin_proto::Ranges::of(set, u32::MAX);
            let mut gone: Vec<u32> = changes
                .expunged
                .into_iter()
                .filter(|u| wanted.contains(*u) && sel.seq_of(*u).is_none())
                .collect();
            gone.sort_unstable();
            sel.report_vanished_earlier(&mut self.conn.out, &gone);
        }
        if let Some(since) = changed_since {
            // Narrowed first from the modseqs alone (the store's index), so
            // that a resync of a big mailbox reads the metadata and bodies
            // of what changed only.
            let uids: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
            let changed: Vec<u32> = match self
                .ctx
                .store
                .fetch(sel.account, sel.info.id, &uids, FetchNeed::default())
                .await
            {
                Ok(records) => records
                    .iter()
                    .filter(|r| r.modseq > since)
                    .map(|r| r.uid)
                    .collect(),
                Err(e) => return Ok(store_error(e)),
            };
            msgs.retain(|m| changed.binary_search(&m.uid).is_ok());
        }
        if uid && !items.contains(&FetchAttr::Uid) {
            items.insert(0, FetchAttr::Uid);
        }
        // MODSEQ and CHANGEDSINCE turn CONDSTORE on (RFC 7162 §3.1); once
        // on, every FETCH response carries MODSEQ (CHANGEDSINCE implies it,
        // §3.1.4.1).
        if changed_since.is_some() || items.contains(&FetchAttr::ModSeq) {
            self.enable_condstore();
        }
        if self.condstore && !items.contains(&FetchAttr::ModSeq) {
            items.push(FetchAttr::ModSeq);
        }
        let need = needs(&items, self.utf8);
        let mark_seen = !sel.read_only && items.iter().any(sets_seen);
        let with_flags_item = items.contains(&FetchAttr::Flags);
        let plan = Plan::new(items, &need);
        let mailbox = sel.info.id;
        let account = sel.account;
        // The next batch is read from the store (in a task of its own)
        // while this one is being written out, so database and formatting
        // work overlap on big FETCHes; the first is read right here.
        let store = self.ctx.store.clone();
        let read = |chunk: &[Msg]| {
            let store = store.clone();
            let uids: Vec<u32> = chunk.iter().map(|m| m.uid).collect();
            let need = need.clone();
            async move { store.fetch(account, mailbox, &uids, need).await }
        };
        let mut chunks = msgs.chunks(BATCH);
        let mut asked = msgs.chunks(BATCH).map(<[Msg]>::len);
        let mut current = match chunks.next() {
            Some(chunk) => Some(read(chunk).await),
            None => None,
        };
        let mut outcome = Outcome::default();
        while let Some(result) = current.take() {
            let mut records = match result {
                Ok(r) => r,
                Err(e) => return Ok(store_error(e)),
            };
            // The store skips messages no longer there: expunged by another
            // session since this one last reported (it still shows them).
            if records.len() < asked.next().unwrap_or(0) {
                outcome.expunged = true;
            }
            if let Some(since) = changed_since {
                // Only messages whose modseq is above it (RFC 7162 §3.1.4.1).
                records.retain(|r| r.modseq > since);
            }
            let next = chunks.next().map(|chunk| tokio::spawn(read(chunk)));
            let mut newly_seen = Vec::new();
            if mark_seen {
                let unseen: Vec<u32> = records
                    .iter()
                    .filter(|r| !r.flags.has(flag::SEEN))
                    .map(|r| r.uid)
                    .collect();
                if !unseen.is_empty() {
                    let seen = Flags {
                        system: flag::SEEN,
                        keywords: Vec::new(),
                    };
                    match self
                        .ctx
                        .store
                        .store_flags(account, mailbox, &unseen, FlagOp::Add, &seen)
                        .await
                    {
                        Ok(r) => {
                            sel.own_change(r.modseq);
                            // Records and changes both come in UID order.
                            for (u, f) in r.changed {
                                if let Ok(i) = records.binary_search_by_key(&u, |x| x.uid) {
                                    records[i].flags = f;
                                    records[i].modseq = r.modseq;
                                }
                                newly_seen.push(u);
                            }
                        }
                        Err(e) => return Ok(store_error(e)),
                    }
                }
            }
            for rec in &records {
                let Some(seq) = sel.seq_of(rec.uid) else {
                    continue;
                };
                let with_flags = newly_seen.binary_search(&rec.uid).is_ok() && !with_flags_item;
                self.write_fetch(sel, seq, rec, &plan, with_flags, &mut outcome)
                    .await?;
                self.conn.flush_if_large().await?;
            }
            if let Some(task) = next {
                current = Some(task.await.unwrap_or_else(|e| {
                    Err(crispin_store::StoreError::Other(format!(
                        "FETCH read task failed: {e}"
                    )))
                }));
            }
        }
        Ok(if outcome.failed {
            server_bug()
        } else if outcome.expunged {
            Status::ok("FETCH completed; some messages were expunged meanwhile")
                .with(Code::ExpungeIssued)
        } else {
            Status::ok("FETCH completed")
        })
    }

    async fn write_fetch(
        &mut self,
        sel: &mut Selected,
        seq: u32,
        rec: &MessageRecord,
        plan: &Plan,
        extra_flags: bool,
        outcome: &mut Outcome,
    ) -> io::Result<()> {
        let utf8 = self.utf8;
        let mut content = Content::Unopened;
        if plan.items.contains(&FetchAttr::Flags) || extra_flags {
            sel.announce_keywords(&mut self.conn.out, &rec.flags);
        }
        let mut w = FetchWriter::begin(&mut self.conn.out, seq);
        for (item, label) in plan.items.iter().zip(&plan.labels) {
            let out = &mut self.conn.out;
            match item {
                FetchAttr::Uid => w.uid(out, rec.uid),
                FetchAttr::Flags => w.flags(out, rec.flags.names(), sel.is_recent(rec.uid)),
                FetchAttr::InternalDate => w.internal_date(out, &rec.internal_date),
                FetchAttr::Rfc822Size => w.rfc822_size(out, rec.size),
                FetchAttr::ModSeq => w.modseq(out, rec.modseq),
                FetchAttr::Envelope => {
                    w.item(out, FetchItem::Envelope);
                    match (&rec.rendered, &rec.meta) {
                        (Some(r), _) => out.extend_from_slice(r.envelope()),
                        (None, Some(m)) => crispin_mime::write_envelope(out, &m.envelope, utf8),
                        (None, None) => FetchWriter::nil(out),
                    }
                }
                FetchAttr::Body | FetchAttr::BodyStructure => {
                    let extended = *item == FetchAttr::BodyStructure;
                    w.item(
                        out,
                        if extended {
                            FetchItem::BodyStructure
                        } else {
                            FetchItem::Body
                        },
                    );
                    match (&rec.rendered, &rec.meta) {
                        (Some(r), _) if extended => out.extend_from_slice(r.bodystructure()),
                        (Some(r), _) => out.extend_from_slice(r.body()),
                        (None, Some(m)) => crispin_mime::write_body(out, &m.root, extended, utf8),
                        (None, None) => FetchWriter::nil(out),
                    }
                }
                FetchAttr::Rfc822 => {
                    w.item(out, FetchItem::Rfc822);
                    self.write_source(
                        sel.account,
                        rec,
                        &mut content,
                        outcome,
                        Source::Range(0, rec.size),
                        None,
                    )
                    .await?;
                }
                FetchAttr::Rfc822Header => {
                    w.item(out, FetchItem::Rfc822Header);
                    let header = rec
                        .header
                        .as_deref()
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default();
                    self.write_source(
                        sel.account,
                        rec,
                        &mut content,
                        outcome,
                        Source::Bytes(header),
                        None,
                    )
                    .await?;
                }
                FetchAttr::Rfc822Text => {
                    w.item(out, FetchItem::Rfc822Text);
                    let start = rec.meta.as_ref().map_or(0, |m| m.root.body_start);
                    let source = Source::Range(u64::from(start), rec.size);
                    self.write_source(sel.account, rec, &mut content, outcome, source, None)
                        .await?;
                }
                FetchAttr::BodySection {
                    section, partial, ..
                } => {
                    w.item(out, FetchItem::Section(label));
                    let source = section_source(rec, section, plan.exact_fields);
                    self.write_source(sel.account, rec, &mut content, outcome, source, *partial)
                        .await?;
                }
            }
        }
        if extra_flags {
            w.flags(
                &mut self.conn.out,
                rec.flags.names(),
                sel.is_recent(rec.uid),
            );
        }
        w.end(&mut self.conn.out);
        Ok(())
    }

    /// Writes a section's bytes as a literal (or NIL), applying a partial.
    /// Content gone (see [`Content`]) is NIL; so is content that cannot be
    /// read before the literal's length is sent. After that, only a read
    /// error can end the connection (the length is on the wire).
    #[allow(clippy::too_many_arguments)]
    async fn write_source(
        &mut self,
        account: crispin_store::AccountId,
        rec: &MessageRecord,
        content: &mut Content,
        outcome: &mut Outcome,
        source: Source,
        partial: Option<(u32, u32)>,
    ) -> io::Result<()> {
        let clip = |len: u64| match partial {
            None => (0, len),
            Some((origin, count)) => {
                let start = u64::from(origin).min(len);
                (start, u64::from(count).min(len - start))
            }
        };
        match source {
            Source::Nil => FetchWriter::nil(&mut self.conn.out),
            Source::Bytes(bytes) => self.write_bytes(&bytes, clip(bytes.len() as u64)),
            Source::Shared(bytes) => self.write_bytes(&bytes, clip(bytes.len() as u64)),
            Source::Fields {
                start,
                end,
                not,
                fields,
            } => {
                let read = match self.open(account, rec, content, outcome).await {
                    Some(reader) => Some(reader.read(start, end.saturating_sub(start)).await),
                    None => None,
                };
                let block = match read {
                    Some(Ok(b)) => b,
                    Some(Err(e)) => {
                        unreadable(rec, &e, outcome);
                        FetchWriter::nil(&mut self.conn.out);
                        return Ok(());
                    }
                    None => {
                        FetchWriter::nil(&mut self.conn.out);
                        return Ok(());
                    }
                };
                let bytes = header_fields(&block, not, &fields);
                self.write_bytes(&bytes, clip(bytes.len() as u64));
            }
            Source::Range(a, b) => {
                let b = b.min(rec.size);
                let a = a.min(b);
                let (off, len) = clip(b - a);
                if len == 0 {
                    FetchWriter::literal(&mut self.conn.out, 0);
                    return Ok(());
                }
                let Some(reader) = self.open(account, rec, content, outcome).await else {
                    FetchWriter::nil(&mut self.conn.out);
                    return Ok(());
                };
                let mut pos = a + off;
                let end = pos + len;
                let mut first = true;
                while pos < end {
                    let n = (end - pos).min(CHUNK);
                    let data = match reader.read(pos, n).await {
                        Ok(d) => d,
                        // Nothing of the literal sent yet: NIL instead.
                        Err(e) if first => {
                            unreadable(rec, &e, outcome);
                            FetchWriter::nil(&mut self.conn.out);
                            return Ok(());
                        }
                        Err(e) => {
                            tracing::error!(blob = %rec.blob, error = %e, "cannot read message");
                            return Err(io::Error::other(e.to_string()));
                        }
                    };
                    if data.len() as u64 != n {
                        // A literal's length is promised before its bytes:
                        // a short file can only end the connection.
                        tracing::error!(blob = %rec.blob, "message file shorter than recorded");
                        return Err(io::Error::other("message file is truncated"));
                    }
                    if first {
                        FetchWriter::literal(&mut self.conn.out, len);
                        first = false;
                    }
                    self.conn.write_through(&data).await?;
                    pos += n;
                }
            }
        }
        Ok(())
    }

    /// The message's content, opened at its first use; None when it is
    /// gone (noted in `outcome`).
    async fn open<'c>(
        &self,
        account: crispin_store::AccountId,
        rec: &MessageRecord,
        content: &'c mut Content,
        outcome: &mut Outcome,
    ) -> Option<&'c BlobReader> {
        if let Content::Unopened = content {
            *content = match self.ctx.store.open_blob(account, &rec.blob).await {
                Ok(reader) => Content::Open(reader),
                Err(e) => {
                    unreadable(rec, &e, outcome);
                    Content::Gone
                }
            };
        }
        match content {
            Content::Open(reader) => Some(reader),
            Content::Unopened | Content::Gone => None,
        }
    }

    /// `len` bytes of `bytes` from `start`, as a literal.
    fn write_bytes(&mut self, bytes: &[u8], (start, len): (u64, u64)) {
        let slice = &bytes[start as usize..(start + len) as usize];
        FetchWriter::literal(&mut self.conn.out, len);
        self.conn.out.extend_from_slice(slice);
    }
}

/// Notes content that could not be read: expunged meanwhile (an answer,
/// not a failure), or an error of the store's (logged).
fn unreadable(rec: &MessageRecord, e: &StoreError, outcome: &mut Outcome) {
    match e {
        StoreError::Expunged => outcome.expunged = true,
        e => {
            tracing::error!(blob = %rec.blob, error = %e, "cannot read message");
            outcome.failed = true;
        }
    }
}
