//! SEARCH evaluation shared by every backend. The session resolves what
//! only it knows (sequence numbers, `\Recent`) into UID ranges first.

use crate::types::Flags;
use chrono::{DateTime, FixedOffset, NaiveDate};
use std::collections::HashSet;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    All,
    And(Vec<Query>),
    Or(Box<Query>, Box<Query>),
    Not(Box<Query>),
    /// Sorted inclusive UID ranges.
    Uids(Vec<(u32, u32)>),
    System {
        bit: u8,
        set: bool,
    },
    Keyword {
        name: String,
        set: bool,
    },
    /// Header name in upper case; the value is matched as a
    /// case-insensitive substring of the decoded header.
    Header {
        name: String,
        value: String,
    },
    Body(String),
    Text(String),
    Before(NaiveDate),
    On(NaiveDate),
    Since(NaiveDate),
    SentBefore(NaiveDate),
    SentOn(NaiveDate),
    SentSince(NaiveDate),
    Larger(u64),
    Smaller(u64),
    /// The message's modseq is at least this (RFC 7162 §3.1.5).
    ModSeq(u64),
    /// Messages whose content hash is in the set: a text key already
    /// answered by the search index.
    InHashes(Arc<HashSet<String>>),
}

impl Query {
    /// The text keys (HEADER, BODY, TEXT) in the query, each once.
    pub fn text_keys(&self) -> Vec<Query> {
        fn walk(q: &Query, out: &mut Vec<Query>) {
            match q {
                Query::And(v) => v.iter().for_each(|q| walk(q, out)),
                Query::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Query::Not(a) => walk(a, out),
                Query::Header { .. } | Query::Body(_) | Query::Text(_) if !out.contains(q) => {
                    out.push(q.clone());
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }

    /// Replaces text keys by what `answered` maps them to.
    pub fn substitute(self, answered: &[(Query, Query)]) -> Query {
        match self {
            Query::And(v) => Query::And(v.into_iter().map(|q| q.substitute(answered)).collect()),
            Query::Or(a, b) => Query::Or(
                Box::new(a.substitute(answered)),
                Box::new(b.substitute(answered)),
            ),
            Query::Not(a) => Query::Not(Box::new(a.substitute(answered))),
            q => match answered.iter().find(|(k, _)| *k == q) {
                Some((_, r)) => r.clone(),
                None => q,
            },
        }
    }

    /// Whether evaluating needs the message's decoded text.
    pub fn needs_text(&self) -> bool {
        self.needs_headers() || self.needs_body()
    }

    fn any(&self, f: &impl Fn(&Query) -> bool) -> bool {
        match self {
            Query::And(v) => v.iter().any(|q| q.any(f)),
            Query::Or(a, b) => a.any(f) || b.any(f),
            Query::Not(a) => a.any(f),
            q => f(q),
        }
    }

    /// Whether evaluating needs the decoded headers.
    pub fn needs_headers(&self) -> bool {
        self.any(&|q| matches!(q, Query::Header { .. } | Query::Text(_)))
    }

    /// Whether evaluating needs the decoded body text.
    pub fn needs_body(&self) -> bool {
        self.any(&|q| matches!(q, Query::Body(_) | Query::Text(_)))
    }

    /// Lowercases the search strings once, so matching does not per message.
    pub fn normalized(self) -> Query {
        match self {
            Query::And(v) => Query::And(v.into_iter().map(Query::normalized).collect()),
            Query::Or(a, b) => Query::Or(Box::new(a.normalized()), Box::new(b.normalized())),
            Query::Not(a) => Query::Not(Box::new(a.normalized())),
            Query::Header { name, value } => Query::Header {
                name: name.to_lowercase(),
                value: value.to_lowercase(),
            },
            Query::Body(s) => Query::Body(s.to_lowercase()),
            Query::Text(s) => Query::Text(s.to_lowercase()),
            q => q,
        }
    }
}

/// One message as the evaluator sees it.
pub struct Row<'a> {
    pub uid: u32,
    /// Content address, for keys answered by the search index.
    pub hash: &'a str,
    pub flags: &'a Flags,
    pub modseq: u64,
    pub internal_date: DateTime<FixedOffset>,
    pub size: u64,
    /// The Date: header's calendar day in its own zone.
    pub sent_day: Option<NaiveDate>,
    /// Lowercased decoded headers (`name: value` lines) and body text.
    pub headers: &'a str,
    pub body: &'a str,
}

/// Evaluates a normalized query.
pub fn matches(q: &Query, r: &Row<'_>) -> bool {
    match q {
        Query::All => true,
        Query::And(v) => v.iter().all(|q| matches(q, r)),
        Query::Or(a, b) => matches(a, r) || matches(b, r),
        Query::Not(a) => !matches(a, r),
        Query::Uids(ranges) => ranges.iter().any(|&(a, b)| a <= r.uid && r.uid <= b),
        Query::System { bit, set } => r.flags.has(*bit) == *set,
        Query::Keyword { name, set } => r.flags.has_keyword(name) == *set,
        Query::Header { name, value } => header_contains(r.headers, name, value),
        Query::Body(s) => r.body.contains(s.as_str()),
        Query::Text(s) => r.headers.contains(s.as_str()) || r.body.contains(s.as_str()),
        Query::Before(d) => r.internal_date.date_naive() < *d,
        Query::On(d) => r.internal_date.date_naive() == *d,
        Query::Since(d) => r.internal_date.date_naive() >= *d,
        Query::SentBefore(d) => r.sent_day.is_some_and(|s| s < *d),
        Query::SentOn(d) => r.sent_day.is_some_and(|s| s == *d),
        Query::SentSince(d) => r.sent_day.is_some_and(|s| s >= *d),
        Query::Larger(n) => r.size > *n,
        Query::Smaller(n) => r.size < *n,
        Query::ModSeq(n) => r.modseq >= *n,
        Query::InHashes(set) => set.contains(r.hash),
    }
}

/// `headers` holds one `name: value` line per field; a field matches when
/// its name is `name` and its value contains `value` (empty matches any).
pub fn header_contains(headers: &str, name: &str, value: &str) -> bool {
    headers.lines().any(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|v| v.contains(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row<'a>(flags: &'a Flags, headers: &'a str, body: &'a str) -> Row<'a> {
        Row {
            uid: 7,
            hash: "h1",
            flags,
            modseq: 12,
            internal_date: FixedOffset::east_opt(3600)
                .unwrap()
                .with_ymd_and_hms(2024, 3, 1, 0, 30, 0)
                .unwrap(),
            size: 1000,
            sent_day: NaiveDate::from_ymd_opt(2024, 2, 29),
            headers,
            body,
        }
    }

    #[test]
    fn evaluates() {
        let flags = Flags {
            system: crate::flag::SEEN,
            keywords: vec!["$Junk".into()],
        };
        let r = row(
            &flags,
            "from: alice <a@x.org>\nsubject: hello world\nmessage-id: <1@x>\n",
            "the body text\n",
        );
        let q = |q: Query| matches(&q.normalized(), &r);
        assert!(q(Query::Header {
            name: "SUBJECT".into(),
            value: "WORLD".into()
        }));
        assert!(!q(Query::Header {
            name: "SUBJECT".into(),
            value: "body".into()
        }));
        assert!(q(Query::Header {
            name: "MESSAGE-ID".into(),
            value: "<1@x>".into()
        }));
        assert!(q(Query::Header {
            name: "FROM".into(),
            value: "".into()
        }));
        assert!(!q(Query::Header {
            name: "CC".into(),
            value: "".into()
        }));
        assert!(q(Query::Text("BODY TEXT".into())));
        assert!(q(Query::Text("alice".into())));
        assert!(!q(Query::Body("alice".into())));
        assert!(q(Query::Keyword {
            name: "$junk".into(),
            set: true
        }));
        assert!(q(Query::System {
            bit: crate::flag::DELETED,
            set: false
        }));
        // The internal date is compared in its own zone.
        assert!(q(Query::On(NaiveDate::from_ymd_opt(2024, 3, 1).unwrap())));
        assert!(q(Query::SentOn(
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
        )));
        assert!(q(Query::SentBefore(
            NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()
        )));
        assert!(!q(Query::SentSince(
            NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()
        )));
        assert!(q(Query::Or(
            Box::new(Query::Larger(5000)),
            Box::new(Query::Smaller(1001))
        )));
        assert!(q(Query::Not(Box::new(Query::Uids(vec![(1, 6), (8, 9)])))));
        assert!(q(Query::ModSeq(12)) && q(Query::ModSeq(0)) && !q(Query::ModSeq(13)));
        let set: HashSet<String> = ["h1".to_string()].into();
        assert!(q(Query::InHashes(Arc::new(set))));
        assert!(!q(Query::InHashes(Arc::default())));
        // Text keys are found once each and can be swapped out.
        let body = Query::Body("x".into());
        let tree = Query::Or(
            Box::new(body.clone()),
            Box::new(Query::Not(Box::new(Query::And(vec![
                body.clone(),
                Query::All,
            ])))),
        );
        assert_eq!(tree.text_keys(), vec![body.clone()]);
        let swapped = tree.substitute(&[(body, Query::All)]);
        assert!(!swapped.needs_text());
    }
}
