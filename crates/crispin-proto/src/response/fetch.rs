//! FETCH responses (RFC 3501 §7.4.2), written item by item straight into
//! the connection's buffer as the data arrives: a FETCH over 100,000
//! messages never builds one buffer, and a big body section goes out as a
//! literal header followed by the chunks the caller writes through.

use super::{write_flag_list, write_literal_header};
use crate::command::Section;
use chrono::{DateTime, FixedOffset};
use std::fmt::Write as _;
use std::io::Write as _;

/// An item whose value the caller writes right after it: ENVELOPE, BODY
/// and BODYSTRUCTURE come rendered (by crispin-mime, mostly at ingest),
/// the others are message bytes ([`FetchWriter::literal`]) or `NIL`.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    Envelope,
    Body,
    BodyStructure,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    /// `BODY[section]<origin>`, as [`section_label`] spells it.
    Section(&'a str),
}

/// One `* n FETCH (…)` response under way.
#[derive(Debug)]
pub struct FetchWriter {
    first: bool,
}

impl FetchWriter {
    pub fn begin(out: &mut Vec<u8>, seq: u32) -> FetchWriter {
        let _ = write!(out, "* {seq} FETCH (");
        FetchWriter { first: true }
    }

    fn next(&mut self, out: &mut Vec<u8>) {
        if !self.first {
            out.push(b' ');
        }
        self.first = false;
    }

    pub fn uid(&mut self, out: &mut Vec<u8>, uid: u32) {
        self.next(out);
        let _ = write!(out, "UID {uid}");
    }

    /// The flags as this session shows them: `recent` adds `\Recent`.
    pub fn flags<'f>(
        &mut self,
        out: &mut Vec<u8>,
        flags: impl IntoIterator<Item = &'f str>,
        recent: bool,
    ) {
        self.next(out);
        out.extend_from_slice(b"FLAGS ");
        let recent = recent.then_some("\\Recent");
        write_flag_list(out, flags.into_iter().chain(recent), false);
    }

    pub fn internal_date(&mut self, out: &mut Vec<u8>, date: &DateTime<FixedOffset>) {
        self.next(out);
        let _ = write!(
            out,
            "INTERNALDATE \"{}\"",
            date.format("%d-%b-%Y %H:%M:%S %z")
        );
    }

    /// `MODSEQ (n)` (RFC 7162 §3.1.4.2).
    pub fn modseq(&mut self, out: &mut Vec<u8>, modseq: u64) {
        self.next(out);
        let _ = write!(out, "MODSEQ ({modseq})");
    }

    pub fn rfc822_size(&mut self, out: &mut Vec<u8>, size: u64) {
        self.next(out);
        let _ = write!(out, "RFC822.SIZE {size}");
    }

    /// Starts an item whose value the caller writes next.
    pub fn item(&mut self, out: &mut Vec<u8>, item: Item) {
        self.next(out);
        out.extend_from_slice(match item {
            Item::Envelope => b"ENVELOPE",
            Item::Body => b"BODY",
            Item::BodyStructure => b"BODYSTRUCTURE",
            Item::Rfc822 => b"RFC822",
            Item::Rfc822Header => b"RFC822.HEADER",
            Item::Rfc822Text => b"RFC822.TEXT",
            Item::Section(label) => label.as_bytes(),
        });
        out.push(b' ');
    }

    /// The header of a literal value of `len` bytes; the caller writes
    /// the bytes.
    pub fn literal(out: &mut Vec<u8>, len: u64) {
        write_literal_header(out, len);
    }

    /// An absent value (a part that does not exist).
    pub fn nil(out: &mut Vec<u8>) {
        out.extend_from_slice(b"NIL");
    }

    pub fn end(self, out: &mut Vec<u8>) {
        out.extend_from_slice(b")\r\n");
    }
}

/// A body section item's name as the response echoes it: `BODY[section]`,
/// with `<origin>` for a partial (RFC 3501 §7.4.2).
pub fn section_label(section: &Section, partial: Option<(u32, u32)>) -> String {
    let mut label = format!("BODY[{}]", section.to_wire());
    if let Some((origin, _)) = partial {
        let _ = write!(label, "<{origin}>");
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::SectionText;

    #[test]
    fn items_in_order() {
        let mut out = Vec::new();
        let mut w = FetchWriter::begin(&mut out, 3);
        w.uid(&mut out, 7);
        w.flags(&mut out, ["\\Seen", "$Work"], true);
        w.rfc822_size(&mut out, 120);
        let date = DateTime::parse_from_rfc3339("2021-02-05T10:00:00+01:00").unwrap();
        w.internal_date(&mut out, &date);
        w.item(&mut out, Item::Envelope);
        out.extend_from_slice(b"NIL");
        let section = Section {
            part: vec![1],
            text: Some(SectionText::Mime),
        };
        let label = section_label(&section, Some((5, 10)));
        w.item(&mut out, Item::Section(&label));
        FetchWriter::literal(&mut out, 2);
        out.extend_from_slice(b"ab");
        w.item(&mut out, Item::Rfc822Text);
        FetchWriter::nil(&mut out);
        w.end(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "* 3 FETCH (UID 7 FLAGS (\\Seen $Work \\Recent) RFC822.SIZE 120 \
             INTERNALDATE \"05-Feb-2021 10:00:00 +0100\" ENVELOPE NIL \
             BODY[1.MIME]<5> {2}\r\nab RFC822.TEXT NIL)\r\n"
        );
        let mut out = Vec::new();
        let mut w = FetchWriter::begin(&mut out, 1);
        w.flags(&mut out, [], false);
        w.end(&mut out);
        assert_eq!(out, b"* 1 FETCH (FLAGS ())\r\n");
    }
}
