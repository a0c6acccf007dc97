//! SEARCH and ESEARCH (RFC 4731): the session resolves what only it knows
//! (sequence numbers, `\Recent`) and the store evaluates the rest.

use crate::selected::Selected;
use crate::session::{Session, Status, store_error};
use crispin_proto::response::{Code, Data, SearchResult};
use crispin_proto::{SearchKey, SearchReturn};
use crispin_store::{FetchNeed, Query, flag};

/// Resolves session-only keys into UID ranges.
fn to_query(key: SearchKey, sel: &Selected) -> Result<Query, &'static str> {
    Ok(match key {
        SearchKey::All => Query::All,
        SearchKey::And(v) => Query::And(
            v.into_iter()
                .map(|k| to_query(k, sel))
                .collect::<Result<_, _>>()?,
        ),
        SearchKey::Or(a, b) => {
            Query::Or(Box::new(to_query(*a, sel)?), Box::new(to_query(*b, sel)?))
        }
        SearchKey::Not(a) => Query::Not(Box::new(to_query(*a, sel)?)),
        SearchKey::SequenceSet(set) => {
            // Sequence numbers beyond the mailbox simply match nothing.
            let exists = sel.exists();
            let mut ranges = Vec::new();
            for (a, b) in set.ranges(exists) {
                let b = b.min(exists);
                if a >= 1 && a <= b {
                    let uids = sel.uids();
                    ranges.push((uids[a as usize - 1], uids[b as usize - 1]));
                }
            }
            Query::Uids(ranges)
        }
        SearchKey::Uid(set) => {
            let largest = sel.uids().last().copied().unwrap_or(0);
            Query::Uids(set.ranges(largest))
        }
        SearchKey::Flag { flag: f, set } => {
            match flag::SYSTEM
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(&f.0))
            {
                Some((bit, _)) => Query::System { bit: *bit, set },
                None if f.0.starts_with('\\') => return Err("Unknown flag in SEARCH"),
                None => Query::Keyword { name: f.0, set },
            }
        }
        SearchKey::Recent(want) => {
            let ranges = sel.recent_uids().into_iter().map(|u| (u, u)).collect();
            if want {
                Query::Uids(ranges)
            } else {
                Query::Not(Box::new(Query::Uids(ranges)))
            }
        }
        SearchKey::Header(name, value) => Query::Header { name, value },
        SearchKey::Body(s) => Query::Body(s),
        SearchKey::Text(s) => Query::Text(s),
        SearchKey::Before(d) => Query::Before(d),
        SearchKey::On(d) => Query::On(d),
        SearchKey::Since(d) => Query::Since(d),
        SearchKey::SentBefore(d) => Query::SentBefore(d),
        SearchKey::SentOn(d) => Query::SentOn(d),
        SearchKey::SentSince(d) => Query::SentSince(d),
        SearchKey::Larger(n) => Query::Larger(u64::from(n)),
        SearchKey::Smaller(n) => Query::Smaller(u64::from(n)),
        SearchKey::ModSeq(n) => Query::ModSeq(n),
    })
}

/// Whether the criteria use MODSEQ: the results then carry the highest
/// mod-sequence of the matches (RFC 7162 §3.1.6, §3.1.10).
fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::And(v) => v.iter().any(uses_modseq),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::Not(a) => uses_modseq(a),
        _ => false,
    }
}

impl Session {
    pub(crate) async fn search(
        &mut self,
        sel: &mut Selected,
        tag: &str,
        uid: bool,
        charset: Option<String>,
        criteria: SearchKey,
        ret: Option<Vec<SearchReturn>>,
    ) -> Status {
        if let Some(cs) = &charset
            && cs != "UTF-8"
            && cs != "US-ASCII"
        {
            return Status::no("Unsupported charset")
                .with(Code::BadCharset(&["UTF-8", "US-ASCII"]));
        }
        let with_modseq = uses_modseq(&criteria);
        if with_modseq {
            // A CONDSTORE enabling command (RFC 7162 §3.1).
            self.enable_condstore();
        }
        let query = match to_query(criteria, sel) {
            Ok(q) => q.normalized(),
            Err(e) => return Status::bad(e),
        };
        let found = match self
            .ctx
            .store
            .search(sel.account, sel.info.id, &query)
            .await
        {
            Ok(f) => f,
            Err(e) => return store_error(e),
        };
        // Only messages the client knows about can be reported.
        let known: Vec<u32> = found
            .into_iter()
            .filter(|u| sel.seq_of(*u).is_some())
            .collect();
        // Each match's mod-sequence, when MODSEQ was searched for.
        let modseqs: Vec<u64> = if with_modseq && !known.is_empty() {
            match self
                .ctx
                .store
                .fetch(sel.account, sel.info.id, &known, FetchNeed::default())
                .await
            {
                Ok(records) => records.iter().map(|r| r.modseq).collect(),
                Err(e) => return store_error(e),
            }
        } else {
            Vec::new()
        };
        let modseq = modseqs.iter().copied().max();
        let nums: Vec<u32> = known
            .into_iter()
            .filter_map(|u| sel.seq_of(u).map(|seq| if uid { u } else { seq }))
            .collect();
        match ret {
            None => self.data(Data::Search {
                nums: &nums,
                modseq,
            }),
            Some(opts) => {
                // RETURN () means RETURN (ALL) (RFC 4731 §3.1).
                let opts = if opts.is_empty() {
                    vec![SearchReturn::All]
                } else {
                    opts
                };
                // MIN, MAX and ALL are left out when nothing matched.
                let mut results: Vec<SearchResult> = opts
                    .iter()
                    .filter_map(|opt| match opt {
                        SearchReturn::Min => nums.first().map(|&n| SearchResult::Min(n)),
                        SearchReturn::Max => nums.last().map(|&n| SearchResult::Max(n)),
                        SearchReturn::All => (!nums.is_empty()).then_some(SearchResult::All(&nums)),
                        SearchReturn::Count => Some(SearchResult::Count(nums.len() as u32)),
                    })
                    .collect();
                // The highest mod-sequence of the messages returned: with
                // only MIN and MAX asked for, of those two (RFC 7162 §3.1.10).
                let whole = opts
                    .iter()
                    .any(|o| matches!(o, SearchReturn::All | SearchReturn::Count));
                let returned = if whole {
                    modseq
                } else {
                    let ends = [
                        opts.contains(&SearchReturn::Min).then(|| modseqs.first()),
                        opts.contains(&SearchReturn::Max).then(|| modseqs.last()),
                    ];
                    ends.into_iter().flatten().flatten().copied().max()
                };
                results.extend(returned.map(SearchResult::ModSeq));
                self.data(Data::ESearch {
                    tag,
                    uid,
                    results: &results,
                });
            }
        }
        Status::ok("SEARCH completed")
    }
}
