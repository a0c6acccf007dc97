//! FETCH: metadata comes from what ingest stored (never a re-parse);
//! body sections are byte ranges of the stored message, streamed.

use crate::selected::{Msg, Selected};
use crate::session::{Session, Status, store_error};
use crispin_proto::response::{FetchItem, FetchWriter, section_label};
use crispin_proto::{FetchAttr, Section, SectionText, SequenceSet};
use crispin_store::{FetchNeed, FlagOp, Flags, MessageRecord, flag};
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
    ) -> io::Result<Status> {
        let msgs = match sel.resolve(set, uid) {
            Ok(m) => m,
            Err(e) => return Ok(Status::bad(e)),
        };
        if uid && !items.contains(&FetchAttr::Uid) {
            items.insert(0, FetchAttr::Uid);
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
        let mut current = match chunks.next() {
            Some(chunk) => Some(read(chunk).await),
            None => None,
        };
        while let Some(result) = current.take() {
            let mut records = match result {
                Ok(r) => r,
                Err(e) => return Ok(store_error(e)),
            };
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
                self.write_fetch(sel, seq, rec, &plan, with_flags).await?;
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
        Ok(Status::ok("FETCH completed"))
    }

    async fn write_fetch(
        &mut self,
        sel: &Selected,
        seq: u32,
        rec: &MessageRecord,
        plan: &Plan,
        extra_flags: bool,
    ) -> io::Result<()> {
        let utf8 = self.utf8;
        let mut w = FetchWriter::begin(&mut self.conn.out, seq);
        for (item, label) in plan.items.iter().zip(&plan.labels) {
            let out = &mut self.conn.out;
            match item {
                FetchAttr::Uid => w.uid(out, rec.uid),
                FetchAttr::Flags => w.flags(out, rec.flags.names(), sel.is_recent(rec.uid)),
                FetchAttr::InternalDate => w.internal_date(out, &rec.internal_date),
                FetchAttr::Rfc822Size => w.rfc822_size(out, rec.size),
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
                    self.write_source(sel.account, rec, Source::Range(0, rec.size), None)
                        .await?;
                }
                FetchAttr::Rfc822Header => {
                    w.item(out, FetchItem::Rfc822Header);
                    let header = rec
                        .header
                        .as_deref()
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default();
                    self.write_source(sel.account, rec, Source::Bytes(header), None)
                        .await?;
                }
                FetchAttr::Rfc822Text => {
                    w.item(out, FetchItem::Rfc822Text);
                    let start = rec.meta.as_ref().map_or(0, |m| m.root.body_start);
                    let source = Source::Range(u64::from(start), rec.size);
                    self.write_source(sel.account, rec, source, None).await?;
                }
                FetchAttr::BodySection {
                    section, partial, ..
                } => {
                    w.item(out, FetchItem::Section(label));
                    let source = section_source(rec, section, plan.exact_fields);
                    self.write_source(sel.account, rec, source, *partial)
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
    async fn write_source(
        &mut self,
        account: crispin_store::AccountId,
        rec: &MessageRecord,
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
                let block = self
                    .read(account, rec, start, end.saturating_sub(start))
                    .await?;
                let bytes = header_fields(&block, not, &fields);
                return Box::pin(self.write_source(account, rec, Source::Bytes(bytes), partial))
                    .await;
            }
            Source::Range(a, b) => {
                let b = b.min(rec.size);
                let a = a.min(b);
                let (off, len) = clip(b - a);
                FetchWriter::literal(&mut self.conn.out, len);
                let mut pos = a + off;
                let end = pos + len;
                while pos < end {
                    let n = (end - pos).min(CHUNK);
                    let data = self.read(account, rec, pos, n).await?;
                    if data.len() as u64 != n {
                        // The literal length is already on the wire: a
                        // short blob can only end the connection.
                        tracing::error!(blob = %rec.blob, "message file shorter than recorded");
                        return Err(io::Error::other("message file is truncated"));
                    }
                    self.conn.write_through(&data).await?;
                    pos += n;
                }
            }
        }
        Ok(())
    }

    /// `len` bytes of `bytes` from `start`, as a literal.
    fn write_bytes(&mut self, bytes: &[u8], (start, len): (u64, u64)) {
        let slice = &bytes[start as usize..(start + len) as usize];
        FetchWriter::literal(&mut self.conn.out, len);
        self.conn.out.extend_from_slice(slice);
    }

    async fn read(
        &self,
        account: crispin_store::AccountId,
        rec: &MessageRecord,
        start: u64,
        len: u64,
    ) -> io::Result<Vec<u8>> {
        self.ctx
            .store
            .read_blob(account, &rec.blob, start, len)
            .await
            .map_err(|e| {
                tracing::error!(blob = %rec.blob, error = %e, "cannot read message");
                io::Error::other(e.to_string())
            })
    }
}
