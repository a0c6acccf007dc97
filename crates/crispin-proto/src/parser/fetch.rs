//! The grammar of FETCH: its items, body sections and partials (RFC 3501
//! §6.4.5), and RFC 4466 §2.4's modifiers.

use super::{PResult, Parser};
use super::{UNEXPECTED_END, is_atom_char};
use crate::command::*;

/// FETCH modifiers we accept (RFC 4466 §2.4): CONDSTORE's `CHANGEDSINCE`
/// (RFC 7162 §3.1.4.1) and QRESYNC's `VANISHED` (§3.2.6).
const FETCH_MODIFIERS: &[&str] = &["CHANGEDSINCE", "VANISHED"];

impl Parser {
    pub(crate) fn fetch(&mut self, uid: bool) -> PResult<CommandBody> {
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
        let modifiers = self.modifiers(FETCH_MODIFIERS, UNEXPECTED_END)?;
        let changed_since = super::modifier::modseq_modifier(&modifiers, "CHANGEDSINCE")?;
        let vanished = super::modifier::flag_modifier(&modifiers, "VANISHED")?;
        // RFC 7162 §3.2.6: VANISHED only with UID FETCH and CHANGEDSINCE.
        if vanished && !uid {
            return Err("VANISHED needs UID FETCH".into());
        }
        if vanished && changed_since.is_none() {
            return Err("VANISHED needs CHANGEDSINCE".into());
        }
        Ok(CommandBody::Fetch {
            uid,
            set,
            items,
            changed_since,
            vanished,
        })
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
            b"MODSEQ" => F::ModSeq,
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
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use crate::command::*;

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
