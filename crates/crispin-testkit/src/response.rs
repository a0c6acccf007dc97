//! A small typed reading of the lines a server sends, and the assertions
//! tests make with it.
//!
//! [`Line::parse`] splits one line (as [`Client::read_line`] returns it,
//! literals inlined) into a tagged status, an untagged response or a
//! continuation request. The helpers below (`assert_ok`, `assert_no`,
//! `untagged`, `code_value`, `search_result`, …) are built on it and
//! panic with the line they were given when it is not what they expect.
//!
//! [`Client::read_line`]: crate::Client::read_line

use std::collections::{BTreeMap, BTreeSet};

/// The status of a tagged response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// `tag OK|NO|BAD [code] text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub tag: String,
    pub status: Status,
    /// What is inside the brackets, e.g. `TRYCREATE` or `APPENDUID 7 3`.
    pub code: Option<String>,
    pub text: String,
}

/// `* [number] KIND rest`: `* 3 EXISTS` is `EXISTS` with number 3 and an
/// empty rest, `* OK [UIDNEXT 4] Predicted next UID` is `OK` with rest
/// `[UIDNEXT 4] Predicted next UID`, `* 1 FETCH (UID 7)` is `FETCH` with
/// number 1 and rest `(UID 7)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untagged {
    /// As sent (the server sends it in upper case).
    pub kind: String,
    pub number: Option<u32>,
    pub rest: String,
}

/// One line from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Tagged(Tagged),
    Untagged(Untagged),
    /// `+ text`; the text without the `+ `.
    Continuation(String),
}

impl Line {
    pub fn parse(line: &str) -> Result<Line, String> {
        let err = |what: &str| Err(format!("{what}: {line:?}"));
        if let Some(rest) = line.strip_prefix('+') {
            return match rest.strip_prefix(' ') {
                Some(text) => Ok(Line::Continuation(text.to_string())),
                None if rest.is_empty() => Ok(Line::Continuation(String::new())),
                None => err("no space after +"),
            };
        }
        if let Some(rest) = line.strip_prefix("* ") {
            let (first, after) = split_word(rest);
            let (number, kind, rest) =
                if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
                    let Ok(n) = first.parse() else {
                        return err("number out of range");
                    };
                    let (kind, rest) = split_word(after);
                    (Some(n), kind, rest)
                } else {
                    (None, first, after)
                };
            if kind.is_empty() {
                return err("untagged response without a name");
            }
            return Ok(Line::Untagged(Untagged {
                kind: kind.to_string(),
                number,
                rest: rest.to_string(),
            }));
        }
        let (tag, rest) = split_word(line);
        if tag.is_empty() || tag == "*" {
            return err("no tag");
        }
        let (word, rest) = split_word(rest);
        let status = match word {
            "OK" => Status::Ok,
            "NO" => Status::No,
            "BAD" => Status::Bad,
            _ => return err("not OK, NO or BAD"),
        };
        let (code, text) = match split_code(rest) {
            Ok(parts) => parts,
            Err(e) => return err(e),
        };
        Ok(Line::Tagged(Tagged {
            tag: tag.to_string(),
            status,
            code: code.map(str::to_string),
            text: text.to_string(),
        }))
    }
}

/// The first space-separated word and what follows its space.
fn split_word(s: &str) -> (&str, &str) {
    s.split_once(' ').unwrap_or((s, ""))
}

/// `[code] text` into its parts; no code when `s` does not start with `[`.
fn split_code(s: &str) -> Result<(Option<&str>, &str), &'static str> {
    let Some(inner) = s.strip_prefix('[') else {
        return Ok((None, s));
    };
    let Some((code, text)) = inner.split_once(']') else {
        return Err("unterminated response code");
    };
    Ok((Some(code), text.strip_prefix(' ').unwrap_or(text)))
}

impl Tagged {
    /// The response code's name: `APPENDUID` of `[APPENDUID 7 3]`.
    pub fn code_name(&self) -> Option<&str> {
        self.code.as_deref().map(|c| split_word(c).0)
    }

    /// The response code's arguments: `["7", "3"]` of `[APPENDUID 7 3]`.
    pub fn code_args(&self) -> Vec<&str> {
        match self.code.as_deref() {
            Some(c) => split_word(c)
                .1
                .split(' ')
                .filter(|a| !a.is_empty())
                .collect(),
            None => Vec::new(),
        }
    }
}

impl Untagged {
    /// For `OK`, `NO`, `BAD`, `BYE` and `PREAUTH`: the response code.
    pub fn code(&self) -> Option<&str> {
        split_code(&self.rest).ok()?.0
    }

    /// For `OK`, `NO`, `BAD`, `BYE` and `PREAUTH`: the text after the code.
    pub fn text(&self) -> &str {
        split_code(&self.rest).map_or(&self.rest, |(_, t)| t)
    }
}

/// The arguments of the response code `code` of a status response,
/// tagged or untagged: `["7", "3"]` of `T1 OK [APPENDUID 7 3] …` or of
/// `* OK [APPENDUID 7 3] …`. Panics when the line has another code or none.
#[track_caller]
pub fn code_args<'a>(line: &'a str, code: &str) -> Vec<&'a str> {
    let found = match Line::parse(line) {
        Ok(Line::Tagged(t)) => t.code_name() == Some(code),
        Ok(Line::Untagged(u)) => u.code().is_some_and(|c| split_word(c).0 == code),
        _ => false,
    };
    assert!(found, "no [{code} …] in {line}");
    let start = line.find(&format!("[{code} ")).unwrap() + code.len() + 2;
    let end = start + line[start..].find(']').unwrap();
    line[start..end].split(' ').collect()
}

/// Parses a tagged line; panics when it is something else.
#[track_caller]
pub fn tagged(line: &str) -> Tagged {
    match Line::parse(line) {
        Ok(Line::Tagged(t)) => t,
        other => panic!("expected a tagged response, got {other:?} from {line:?}"),
    }
}

#[track_caller]
fn assert_status(line: &str, status: Status) -> Tagged {
    let t = tagged(line);
    assert_eq!(t.status, status, "expected {status:?}: {line}");
    t
}

/// Asserts a tagged `OK`; returns it.
#[track_caller]
pub fn assert_ok(line: &str) -> Tagged {
    assert_status(line, Status::Ok)
}

/// Asserts a tagged `NO`, with exactly the response code `code` when one
/// is given (`Some("TRYCREATE")`: `NO [TRYCREATE] …`).
#[track_caller]
pub fn assert_no(line: &str, code: Option<&str>) -> Tagged {
    let t = assert_status(line, Status::No);
    if let Some(code) = code {
        assert_eq!(
            t.code.as_deref(),
            Some(code),
            "expected NO [{code}]: {line}"
        );
    }
    t
}

/// Asserts a tagged `BAD`; returns it.
#[track_caller]
pub fn assert_bad(line: &str) -> Tagged {
    assert_status(line, Status::Bad)
}

/// Asserts a `BAD` for the command tagged `tag`.
#[track_caller]
pub fn assert_bad_tag(line: &str, tag: &str) {
    let t = assert_bad(line);
    assert_eq!(t.tag, tag, "expected {tag} BAD: {line}");
}

/// The untagged responses of one kind among `lines` (tagged lines and
/// continuations are skipped), in order.
pub fn untagged(lines: &[String], kind: &str) -> Vec<Untagged> {
    lines
        .iter()
        .filter_map(|l| match Line::parse(l) {
            Ok(Line::Untagged(u)) if u.kind == kind => Some(u),
            _ => None,
        })
        .collect()
}

/// The number in an untagged `* OK [CODE n] …` among `lines`, such as
/// `UIDNEXT` or `UIDVALIDITY` after SELECT.
#[track_caller]
pub fn code_value(lines: &[String], code: &str) -> u32 {
    let found = untagged(lines, "OK").into_iter().find_map(|u| {
        let c = u.code()?;
        let (name, value) = split_word(c);
        (name == code).then(|| value.to_string())
    });
    let value = found.unwrap_or_else(|| panic!("no [{code}] in {lines:#?}"));
    value
        .parse()
        .unwrap_or_else(|_| panic!("[{code} {value}] is not a number: {lines:#?}"))
}

/// The numbers of the one `* SEARCH` response among `lines`.
#[track_caller]
pub fn search_result(lines: &[String]) -> Vec<u32> {
    let found = untagged(lines, "SEARCH");
    assert_eq!(found.len(), 1, "expected one SEARCH response: {lines:?}");
    found[0]
        .rest
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

/// The `* n EXPUNGE` lines among `lines`.
pub fn expunges(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.ends_with(" EXPUNGE")).collect()
}

/// Applies `* n EXPUNGE` responses to a model of the sequence → UID map.
#[track_caller]
pub fn apply_expunges(model: &mut Vec<u32>, lines: &[String]) {
    for u in untagged(lines, "EXPUNGE") {
        assert!(u.rest.is_empty(), "EXPUNGE with arguments: {u:?}");
        let seq = u.number.expect("EXPUNGE without a number") as usize;
        assert!(
            seq >= 1 && seq <= model.len(),
            "bad EXPUNGE {seq} for {model:?}"
        );
        model.remove(seq - 1);
    }
}

/// The flags in the first `FLAGS (...)` of a line, as a set.
#[track_caller]
pub fn flags_in(line: &str) -> BTreeSet<String> {
    let start = line
        .find("FLAGS (")
        .unwrap_or_else(|| panic!("no FLAGS in {line}"))
        + "FLAGS (".len();
    let end = start + line[start..].find(')').unwrap();
    line[start..end]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A set of flags, to compare with [`flags_in`].
pub fn set(flags: &[&str]) -> BTreeSet<String> {
    flags.iter().map(|s| s.to_string()).collect()
}

/// The value of a FETCH item such as `BODY[1]`: `Some(text)` for a
/// literal or a quoted string, `None` for NIL.
#[track_caller]
pub fn item(line: &str, name: &str) -> Option<String> {
    let key = format!("{name} ");
    let at = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {line}"));
    let rest = &line[at + key.len()..];
    if rest.starts_with("NIL") {
        return None;
    }
    if let Some(q) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => out.push(chars.next().unwrap()),
                c => out.push(c),
            }
        }
        panic!("unterminated quoted string in {line}");
    }
    let close = rest
        .find("}\r\n")
        .unwrap_or_else(|| panic!("{name} is not a literal: {line}"));
    assert!(rest.starts_with('{'), "{name} is not a literal: {line}");
    let n: usize = rest[1..close].parse().unwrap();
    Some(rest[close + 3..close + 3 + n].to_string())
}

/// Expands a UID set such as `1:3,7` into its numbers, in order.
pub fn expand(set: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
                if a <= b {
                    out.extend(a..=b);
                } else {
                    out.extend((b..=a).rev());
                }
            }
            None => out.push(part.parse().unwrap()),
        }
    }
    out
}

/// An `* ESEARCH (TAG "x") [UID] key value …` response.
#[derive(Debug)]
pub struct Esearch {
    pub uid: bool,
    pub items: Vec<(String, String)>,
}

impl Esearch {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.items.iter().find(|p| p.0 == key).map(|p| p.1.as_str())
    }
}

/// Parses the ESEARCH response to the command tagged `tag`.
#[track_caller]
pub fn esearch(line: &str, tag: &str) -> Esearch {
    let prefix = format!("* ESEARCH (TAG \"{tag}\")");
    let rest = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("not an ESEARCH for {tag}: {line}"));
    let mut words: Vec<&str> = rest.split_whitespace().collect();
    let uid = words.first() == Some(&"UID");
    if uid {
        words.remove(0);
    }
    assert!(words.len().is_multiple_of(2), "{line}");
    let items = words
        .chunks(2)
        .map(|p| (p[0].to_string(), p[1].to_string()))
        .collect();
    Esearch { uid, items }
}

/// Reads an IMAP astring at the start of `s` (atom or quoted string).
#[track_caller]
pub fn astring(s: &str) -> String {
    let Some(q) = s.strip_prefix('"') else {
        return s.to_string();
    };
    let mut out = String::new();
    let mut chars = q.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().expect("escape at end")),
            '"' => {
                assert_eq!(chars.next(), None, "text after quoted name: {s}");
                return out;
            }
            c => out.push(c),
        }
    }
    panic!("unterminated quoted name: {s}");
}

/// Parses `* LIST (attrs) "/" name` (or `LSUB`, as `word`) into the name
/// and the attributes, sorted (the RFC does not fix their order).
#[track_caller]
pub fn parse_list(line: &str, word: &str) -> (String, Vec<String>) {
    let rest = line
        .strip_prefix(&format!("* {word} ("))
        .unwrap_or_else(|| panic!("not a {word} response: {line}"));
    let (attrs, rest) = rest.split_once(") ").expect("attribute list");
    let name = rest
        .strip_prefix("\"/\" ")
        .unwrap_or_else(|| panic!("delimiter must be \"/\": {line}"));
    let mut attrs: Vec<String> = attrs.split_whitespace().map(String::from).collect();
    attrs.sort();
    (astring(name), attrs)
}

/// Mailbox attributes, sorted, to compare with [`parse_list`]'s.
pub fn attrs(a: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The names of a listing (see [`Client::list`](crate::Client::list)).
pub fn names(map: &BTreeMap<String, Vec<String>>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tag: &str, status: Status, code: Option<&str>, text: &str) -> Line {
        Line::Tagged(Tagged {
            tag: tag.into(),
            status,
            code: code.map(Into::into),
            text: text.into(),
        })
    }

    fn u(kind: &str, number: Option<u32>, rest: &str) -> Line {
        Line::Untagged(Untagged {
            kind: kind.into(),
            number,
            rest: rest.into(),
        })
    }

    #[test]
    fn tagged_lines() {
        let p = |s| Line::parse(s).unwrap();
        assert_eq!(
            p("T1 OK CAPABILITY completed"),
            t("T1", Status::Ok, None, "CAPABILITY completed")
        );
        assert_eq!(
            p("A2 NO [TRYCREATE] No such mailbox"),
            t("A2", Status::No, Some("TRYCREATE"), "No such mailbox")
        );
        assert_eq!(
            p("a OK [APPENDUID 1700000000 3] APPEND completed"),
            t(
                "a",
                Status::Ok,
                Some("APPENDUID 1700000000 3"),
                "APPEND completed"
            )
        );
        assert_eq!(
            p("T3 NO [BADCHARSET (UTF-8 US-ASCII)] Unknown charset"),
            t(
                "T3",
                Status::No,
                Some("BADCHARSET (UTF-8 US-ASCII)"),
                "Unknown charset"
            )
        );
        assert_eq!(p("X BAD"), t("X", Status::Bad, None, ""));
        assert_eq!(
            p("X OK [READ-WRITE]"),
            t("X", Status::Ok, Some("READ-WRITE"), "")
        );
        // The status word is exact: IMAP's are upper case on the wire here.
        assert!(Line::parse("T1 ok done").is_err());
        assert!(Line::parse("T1 OKAY done").is_err());
        assert!(Line::parse("T1").is_err());
        assert!(Line::parse("").is_err());
        assert!(Line::parse("T1 NO [TRYCREATE no end").is_err());
    }

    #[test]
    fn untagged_lines() {
        let p = |s| Line::parse(s).unwrap();
        assert_eq!(p("* 3 EXISTS"), u("EXISTS", Some(3), ""));
        assert_eq!(p("* 0 RECENT"), u("RECENT", Some(0), ""));
        assert_eq!(
            p("* 1 FETCH (UID 7 FLAGS (\\Seen))"),
            u("FETCH", Some(1), "(UID 7 FLAGS (\\Seen))")
        );
        assert_eq!(p("* SEARCH"), u("SEARCH", None, ""));
        assert_eq!(p("* SEARCH 2 4"), u("SEARCH", None, "2 4"));
        assert_eq!(
            p("* LIST (\\HasNoChildren) \"/\" INBOX"),
            u("LIST", None, "(\\HasNoChildren) \"/\" INBOX")
        );
        assert_eq!(
            p("* STATUS INBOX (MESSAGES 2)"),
            u("STATUS", None, "INBOX (MESSAGES 2)")
        );
        let Line::Untagged(ok) = p("* OK [UIDNEXT 4] Predicted next UID") else {
            panic!()
        };
        assert_eq!(ok.kind, "OK");
        assert_eq!(ok.code(), Some("UIDNEXT 4"));
        assert_eq!(ok.text(), "Predicted next UID");
        let Line::Untagged(bye) = p("* BYE Logging out") else {
            panic!()
        };
        assert_eq!((bye.code(), bye.text()), (None, "Logging out"));
        // A literal inlined by the client stays in the rest.
        assert_eq!(
            p("* 2 FETCH (BODY[TEXT] {3}\r\nb\r\n)"),
            u("FETCH", Some(2), "(BODY[TEXT] {3}\r\nb\r\n)")
        );
        assert!(Line::parse("* ").is_err());
        assert!(Line::parse("* 4").is_err());
        assert!(Line::parse("* 99999999999 EXISTS").is_err());
    }

    #[test]
    fn continuations() {
        let p = |s| Line::parse(s).unwrap();
        assert_eq!(p("+ "), Line::Continuation(String::new()));
        assert_eq!(p("+"), Line::Continuation(String::new()));
        assert_eq!(p("+ idling"), Line::Continuation("idling".into()));
        assert_eq!(
            p("+ VXNlcm5hbWU6"),
            Line::Continuation("VXNlcm5hbWU6".into())
        );
        assert!(Line::parse("+idling").is_err());
    }

    #[test]
    fn code_parts() {
        let a = tagged("a OK [COPYUID 9 1:2 5:6] Done");
        assert_eq!(a.code_name(), Some("COPYUID"));
        assert_eq!(a.code_args(), ["9", "1:2", "5:6"]);
        let b = tagged("b NO [NONEXISTENT] No such mailbox");
        assert_eq!(
            (b.code_name(), b.code_args()),
            (Some("NONEXISTENT"), vec![])
        );
        let c = tagged("c OK done");
        assert_eq!((c.code_name(), c.code_args()), (None, vec![]));
    }

    #[test]
    fn code_args_of_tagged_and_untagged_lines() {
        assert_eq!(
            code_args("T1 OK [APPENDUID 7 3] done", "APPENDUID"),
            ["7", "3"]
        );
        assert_eq!(
            code_args("* OK [COPYUID 7 1:2 3:4] moved", "COPYUID"),
            ["7", "1:2", "3:4"]
        );
        let fails = |f: fn()| std::panic::catch_unwind(f).is_err();
        assert!(fails(|| {
            code_args("T1 OK [APPENDUID 7 3] done", "COPYUID");
        }));
        // Only as the response code, not anywhere in the text.
        assert!(fails(|| {
            code_args("T1 OK see [APPENDUID 7 3]", "APPENDUID");
        }));
    }

    #[test]
    fn assertions() {
        assert_ok("T1 OK done");
        assert_no("T1 NO [NONEXISTENT] gone", Some("NONEXISTENT"));
        assert_no("T1 NO gone", None);
        assert_bad_tag("T4 BAD what", "T4");
        let fails = |f: fn()| std::panic::catch_unwind(f).is_err();
        assert!(fails(|| {
            assert_ok("T1 NO done");
        }));
        assert!(fails(|| {
            assert_no("T1 NO gone", Some("NONEXISTENT"));
        }));
        // The code must be exactly the one named, not just begin with it.
        assert!(fails(|| {
            assert_no("T1 NO [NONEXISTENT x] gone", Some("NONEXISTENT"));
        }));
        assert!(fails(|| {
            assert_bad_tag("T5 BAD what", "T4");
        }));
        assert!(fails(|| {
            assert_bad("* BAD untagged");
        }));
    }

    #[test]
    fn response_helpers() {
        let lines: Vec<String> = [
            "* FLAGS (\\Seen $Kw)",
            "* OK [UIDVALIDITY 17] UIDs valid",
            "* OK [UIDNEXT 4] Predicted next UID",
            "* 3 EXISTS",
            "* 2 EXPUNGE",
            "* 1 EXPUNGE",
            "* SEARCH 1 3",
            "T1 OK done",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(code_value(&lines, "UIDNEXT"), 4);
        assert_eq!(code_value(&lines, "UIDVALIDITY"), 17);
        assert_eq!(search_result(&lines), [1, 3]);
        assert_eq!(untagged(&lines, "EXISTS")[0].number, Some(3));
        assert_eq!(expunges(&lines), ["* 2 EXPUNGE", "* 1 EXPUNGE"]);
        let mut model = vec![10, 20, 30];
        apply_expunges(&mut model, &lines);
        assert_eq!(model, [30]);
        assert_eq!(flags_in(&lines[0]), set(&["$Kw", "\\Seen"]));
        assert_eq!(expand("1:3,7,9:8"), [1, 2, 3, 7, 9, 8]);
        let e = esearch("* ESEARCH (TAG \"T9\") UID MIN 2 COUNT 3", "T9");
        assert!(e.uid);
        assert_eq!(
            (e.get("MIN"), e.get("COUNT"), e.get("MAX")),
            (Some("2"), Some("3"), None)
        );
        assert_eq!(
            item("* 1 FETCH (BODY[1] {5}\r\nhello ENVELOPE NIL)", "BODY[1]").as_deref(),
            Some("hello")
        );
        assert_eq!(
            item("* 1 FETCH (X \"a\\\"b\")", "X").as_deref(),
            Some("a\"b")
        );
        assert_eq!(item("* 1 FETCH (BODY[2] NIL)", "BODY[2]"), None);
        assert_eq!(
            parse_list(
                "* LIST (\\HasNoChildren \\Archive) \"/\" \"My \\\"Box\\\"\"",
                "LIST"
            ),
            (
                "My \"Box\"".to_string(),
                attrs(&["\\Archive", "\\HasNoChildren"])
            )
        );
    }
}
