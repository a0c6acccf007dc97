//! RFC 4466's generic command modifiers: `SELECT … (name [value] …)`
//! (§2.1), `FETCH … (…)` (§2.4) and `STORE n (…) …` (§2.5), where
//! CONDSTORE and QRESYNC (RFC 7162) put `CONDSTORE`, `QRESYNC (…)`,
//! `CHANGEDSINCE n`, `VANISHED` and `UNCHANGEDSINCE n`. They are read into
//! [`Modifier`]s wherever the grammar has room for them; each place then
//! accepts only the names it implements.

use super::{MAX_DEPTH, PResult, Parser};
use crate::command::{ExtItem, ExtValue, Modifier};

impl Parser {
    /// The modifiers at one of RFC 4466's places for them, when the
    /// command has them there (` (` comes next). A name not in `accepted`
    /// is refused, as RFC 4466 §2.1 requires of unknown ones. A refused
    /// or malformed list gets `refusal`, the error the grammar gave here
    /// before modifiers had a place, so clients read no difference.
    pub(super) fn modifiers(&mut self, accepted: &[&str], refusal: &str) -> PResult<Vec<Modifier>> {
        if !self.text()[self.pos.min(self.text().len())..].starts_with(b" (") {
            return Ok(Vec::new());
        }
        match self.modifier_list() {
            Ok(list) if list.iter().all(|m| accepted.contains(&m.name.as_str())) => Ok(list),
            _ => Err(refusal.into()),
        }
    }

    /// `mod-sequence-valzer` (RFC 7162 §7): 0 to 2^63 - 1, digits only.
    pub(super) fn mod_sequence(&mut self) -> PResult<u64> {
        let t = self.take_while(|b| b.is_ascii_digit());
        parse_modseq(&String::from_utf8_lossy(t))
    }

    /// `SP "(" modifier *(SP modifier) ")"`, with `modifier = name [SP
    /// tagged-ext-val]`.
    fn modifier_list(&mut self) -> PResult<Vec<Modifier>> {
        self.sp()?;
        self.expect(b'(')?;
        let mut list = Vec::new();
        loop {
            let name = self.ext_label()?;
            // A value starts with a digit, `*` or `(`; a name never does,
            // so a space followed by one of them is the value's.
            let value_next = self.text()[self.pos.min(self.text().len())..]
                .strip_prefix(b" ")
                .and_then(|t| t.first())
                .is_some_and(|&b| b.is_ascii_digit() || b == b'*' || b == b'(');
            let value = if value_next {
                self.sp()?;
                Some(self.ext_value()?)
            } else {
                None
            };
            list.push(Modifier { name, value });
            if self.eat(b')') {
                return Ok(list);
            }
            self.sp()?;
        }
    }

    /// `tagged-ext-label`, upper-cased: a letter, `-`, `_` or `.`, then
    /// those, digits and `:`.
    fn ext_label(&mut self) -> PResult<String> {
        if !self
            .peek()
            .is_some_and(|b| b.is_ascii_alphabetic() || b"-_.".contains(&b))
        {
            return Err("expected a modifier name".into());
        }
        let t = self.take_while(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        Ok(String::from_utf8_lossy(t).to_ascii_uppercase())
    }

    /// `tagged-ext-val = tagged-ext-simple / "(" [tagged-ext-comp] ")"`.
    fn ext_value(&mut self) -> PResult<ExtValue> {
        if self.eat(b'(') {
            if self.eat(b')') {
                return Ok(ExtValue::List(Vec::new()));
            }
            let items = self.ext_comp()?;
            self.expect(b')')?;
            return Ok(ExtValue::List(items));
        }
        // tagged-ext-simple: a sequence set or a (64-bit) number.
        let t = self.take_while(|b| b.is_ascii_digit() || b":,*".contains(&b));
        if t.is_empty() {
            return Err("expected a modifier value".into());
        }
        Ok(ExtValue::Simple(String::from_utf8_lossy(t).into_owned()))
    }

    /// `tagged-ext-comp`: astrings and parenthesised lists, separated by
    /// spaces; nesting is bounded.
    fn ext_comp(&mut self) -> PResult<Vec<ExtItem>> {
        if self.depth > MAX_DEPTH {
            return Err("modifier nested too deeply".into());
        }
        self.depth += 1;
        let r = self.ext_comp_inner();
        self.depth -= 1;
        r
    }

    fn ext_comp_inner(&mut self) -> PResult<Vec<ExtItem>> {
        let mut items = Vec::new();
        loop {
            if self.eat(b'(') {
                let inner = self.ext_comp()?;
                self.expect(b')')?;
                items.push(ExtItem::List(inner));
            } else {
                items.push(ExtItem::Astring(self.astring()?));
            }
            if !self.eat(b' ') {
                return Ok(items);
            }
        }
    }
}

/// A mod-sequence written as digits: 0 to 2^63 - 1 (RFC 7162 §7). Zero is
/// accepted wherever a mod-sequence is: `UNCHANGEDSINCE 0` and `MODSEQ 0`
/// allow it, and `CHANGEDSINCE 0` is sent by iOS Mail (it means "every
/// message").
fn parse_modseq(s: &str) -> PResult<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a mod-sequence".into());
    }
    s.parse::<u64>()
        .ok()
        .filter(|&v| v <= i64::MAX as u64)
        .ok_or_else(|| "mod-sequence out of range".into())
}

/// The value of a modifier that takes a mod-sequence (`CHANGEDSINCE n`,
/// `UNCHANGEDSINCE n`); given once at most (RFC 7162 §7's comments).
pub(super) fn modseq_modifier(list: &[Modifier], name: &str) -> PResult<Option<u64>> {
    let mut found = list.iter().filter(|m| m.name == name);
    let Some(m) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(format!("{name} given twice"));
    }
    match &m.value {
        Some(ExtValue::Simple(s)) => parse_modseq(s).map(Some),
        _ => Err(format!("{name} needs a mod-sequence")),
    }
}

/// `QRESYNC (uidvalidity modseq [known-uids] [(seqs uids)])` (RFC 7162
/// §3.2.5, §7).
pub(super) fn qresync_param(list: &[Modifier]) -> PResult<Option<crate::command::Qresync>> {
    use crate::sequence::SequenceSet;
    const BAD: &str = "QRESYNC takes (uidvalidity modseq [known-uids] [(seqs uids)])";
    let Some(m) = list.iter().find(|m| m.name == "QRESYNC") else {
        return Ok(None);
    };
    let Some(ExtValue::List(items)) = &m.value else {
        return Err(BAD.into());
    };
    let atom = |i: Option<&ExtItem>| match i {
        Some(ExtItem::Astring(a)) => Ok(a.clone()),
        _ => Err(String::from(BAD)),
    };
    let mut items = items.iter();
    let uid_validity = std::str::from_utf8(&atom(items.next())?)
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|&v| v > 0)
        .ok_or("QRESYNC needs a UIDVALIDITY")?;
    let modseq = parse_modseq(&String::from_utf8_lossy(&atom(items.next())?))?;
    if modseq == 0 {
        return Err("QRESYNC needs a mod-sequence above 0".into());
    }
    let set = |bytes: &[u8]| SequenceSet::parse_without_star(bytes).ok_or(String::from(BAD));
    let mut known_uids = None;
    let mut seq_match = None;
    let mut next = items.next();
    if let Some(ExtItem::Astring(a)) = next {
        known_uids = Some(set(a)?);
        next = items.next();
    }
    if let Some(ExtItem::List(pair)) = next {
        match pair.as_slice() {
            [ExtItem::Astring(seqs), ExtItem::Astring(uids)] => {
                seq_match = Some((set(seqs)?, set(uids)?));
            }
            _ => return Err(BAD.into()),
        }
        next = items.next();
    }
    if next.is_some() {
        return Err(BAD.into());
    }
    Ok(Some(crate::command::Qresync {
        uid_validity,
        modseq,
        known_uids,
        seq_match,
    }))
}

/// Whether a flag-like modifier (no value) is given: `CONDSTORE`.
pub(super) fn flag_modifier(list: &[Modifier], name: &str) -> PResult<bool> {
    match list.iter().find(|m| m.name == name) {
        None => Ok(false),
        Some(Modifier { value: None, .. }) => Ok(true),
        Some(_) => Err(format!("{name} takes no value")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::UNEXPECTED_END;
    use super::super::tests::{parse, parser};
    use crate::command::*;

    fn modifiers(text: &str) -> Result<Vec<Modifier>, String> {
        parser(text).modifier_list()
    }

    fn simple(name: &str, value: &str) -> Modifier {
        Modifier {
            name: name.into(),
            value: Some(ExtValue::Simple(value.into())),
        }
    }

    #[test]
    fn generic_structure() {
        // RFC 7162 §3.1.4 and §3.2.6.
        assert_eq!(
            modifiers(" (changedsince 12345 VANISHED)"),
            Ok(vec![
                simple("CHANGEDSINCE", "12345"),
                Modifier {
                    name: "VANISHED".into(),
                    value: None,
                },
            ])
        );
        // RFC 7162 §3.2.5.1: QRESYNC with known UIDs and a sequence match.
        let atom = |s: &str| ExtItem::Astring(s.as_bytes().to_vec());
        assert_eq!(
            modifiers(" (QRESYNC (67890007 20050715194045000 41:211 (1:5 1,3,5)))"),
            Ok(vec![Modifier {
                name: "QRESYNC".into(),
                value: Some(ExtValue::List(vec![
                    atom("67890007"),
                    atom("20050715194045000"),
                    atom("41:211"),
                    ExtItem::List(vec![atom("1:5"), atom("1,3,5")]),
                ])),
            }])
        );
        assert_eq!(
            modifiers(" (UNCHANGEDSINCE 320162338 X-Y.z:1 (\"a b\") Z 1:*)"),
            Ok(vec![
                simple("UNCHANGEDSINCE", "320162338"),
                Modifier {
                    name: "X-Y.Z:1".into(),
                    value: Some(ExtValue::List(vec![ExtItem::Astring(b"a b".to_vec())])),
                },
                simple("Z", "1:*"),
            ])
        );
        for bad in [
            " ()",
            " (1)",
            " (A",
            " (A 1",
            " (A (",
            " (A (b)",
            " (A ( b))",
        ] {
            let r = modifiers(bad);
            assert!(r.is_err(), "{bad}: {r:?}");
        }
        let deep = format!(" (A {}x{})", "(".repeat(100), ")".repeat(100));
        assert!(modifiers(&deep).is_err());
    }

    /// Every place refuses the modifiers it does not implement, with the
    /// error it gave before it had room for them.
    #[test]
    fn refused_where_not_implemented() {
        let fetch = "FETCH 1 (FLAGS)";
        for (line, message) in [
            (
                "a EXAMINE INBOX (QRESYNC (1 2 3 (1) 4))",
                "QRESYNC takes (uidvalidity modseq [known-uids] [(seqs uids)])",
            ),
            (
                "a EXAMINE INBOX (QRESYNC (1 0))",
                "QRESYNC needs a mod-sequence above 0",
            ),
            (
                "a EXAMINE INBOX (QRESYNC (0 5))",
                "QRESYNC needs a UIDVALIDITY",
            ),
            (
                "a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",
                "VANISHED needs UID FETCH",
            ),
            (
                "a UID FETCH 1 (FLAGS) (VANISHED)",
                "VANISHED needs CHANGEDSINCE",
            ),
            ("a SELECT INBOX (", UNEXPECTED_END),
            ("a SELECT INBOX (CONDSTORE X)", UNEXPECTED_END),
            (&format!("a UID {fetch} (CHANGEDSINCE 1 X)"), UNEXPECTED_END),
            ("a FETCH 1 FLAGS (X-UNKNOWN 1)", UNEXPECTED_END),
            (
                "a STORE 1 (X-UNKNOWN 5) +FLAGS (\\Seen)",
                "expected FLAGS or FLAGS.SILENT",
            ),
            ("a STORE 1 (\\Seen)", "expected FLAGS or FLAGS.SILENT"),
            (
                "a STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)",
                "UNCHANGEDSINCE needs a mod-sequence",
            ),
            (
                "a STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) +FLAGS (\\Seen)",
                "UNCHANGEDSINCE given twice",
            ),
            (
                "a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)",
                "mod-sequence out of range",
            ),
            (
                "a FETCH 1 FLAGS (CHANGEDSINCE 1:2)",
                "expected a mod-sequence",
            ),
            ("a SELECT INBOX (CONDSTORE 1)", "CONDSTORE takes no value"),
        ] {
            let r = parse(line).map_err(|e| e.message);
            assert_eq!(r.err().as_deref(), Some(message), "{line}");
        }
        assert!(parse("a SELECT INBOX").is_ok());
        assert!(parse("a STORE 1 +FLAGS (\\Seen)").is_ok());
    }
}
