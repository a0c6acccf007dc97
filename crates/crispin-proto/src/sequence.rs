//! Sequence sets (`1:4,7,9:*`), for both sequence numbers and UIDs.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    Value(u32),
    /// `*`: the largest number in use.
    Star,
}

impl SeqNum {
    fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNum::Value(v) => v,
            SeqNum::Star => largest,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(SeqNum, SeqNum)>);

impl SequenceSet {
    pub fn single(n: u32) -> Self {
        SequenceSet(vec![(SeqNum::Value(n), SeqNum::Value(n))])
    }

    /// The set as sorted, merged, inclusive ranges, with `*` meaning `largest`.
    /// `n:m` is the same as `m:n` (RFC 3501 §9, seq-range).
    pub fn ranges(&self, largest: u32) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = self
            .0
            .iter()
            .map(|&(a, b)| {
                let (a, b) = (a.resolve(largest), b.resolve(largest));
                (a.min(b), a.max(b))
            })
            .collect();
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        out
    }

    /// Reads a set written without `*` (QRESYNC's known-uids and
    /// seq-match-data, RFC 7162 §7); None if it is not one.
    pub fn parse_without_star(text: &[u8]) -> Option<SequenceSet> {
        let number = |t: &[u8]| -> Option<SeqNum> {
            if t.is_empty() || t.len() > 10 || !t.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let v: u32 = std::str::from_utf8(t).ok()?.parse().ok()?;
            (v > 0).then_some(SeqNum::Value(v))
        };
        let mut ranges = Vec::new();
        for part in text.split(|&b| b == b',') {
            let mut ends = part.splitn(2, |&b| b == b':');
            let a = number(ends.next()?)?;
            let b = match ends.next() {
                Some(t) => number(t)?,
                None => a,
            };
            ranges.push((a, b));
        }
        Some(SequenceSet(ranges))
    }

    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.0.iter().any(|&(a, b)| {
            let (a, b) = (a.resolve(largest), b.resolve(largest));
            a.min(b) <= n && n <= a.max(b)
        })
    }

    /// Picks, from the sorted `values`, those in the set, keeping order.
    /// `*` resolves to the largest value (0 when empty).
    pub fn select_sorted(&self, values: &[u32]) -> Vec<u32> {
        let largest = values.last().copied().unwrap_or(0);
        let ranges = self.ranges(largest);
        let mut out = Vec::new();
        for (a, b) in ranges {
            let start = values.partition_point(|&v| v < a);
            let end = values.partition_point(|&v| v <= b);
            out.extend_from_slice(&values[start..end]);
        }
        out
    }
}

/// Sorted, merged ranges for asking about many numbers: `contains` is a
/// binary search, not a walk over every range of a 1 MB set.
#[derive(Debug, Clone)]
pub struct Ranges(Vec<(u32, u32)>);

impl Ranges {
    pub fn of(set: &SequenceSet, largest: u32) -> Ranges {
        Ranges(set.ranges(largest))
    }

    pub fn contains(&self, n: u32) -> bool {
        let i = self.0.partition_point(|&(_, b)| b < n);
        self.0.get(i).is_some_and(|&(a, _)| a <= n)
    }
}

/// Writes numbers as a compact IMAP set, e.g. `1:3,7`; the input must be
/// in the order the set should list them (COPYUID pairs depend on it).
pub fn compact_set(nums: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < nums.len() {
        let start = nums[i];
        let mut end = start;
        while i + 1 < nums.len() && nums[i + 1] == end.wrapping_add(1) && end != u32::MAX {
            end = nums[i + 1];
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_star_and_ranges() {
        let s = SequenceSet::parse_without_star(b"41:211,5,300:290").unwrap();
        let r = Ranges::of(&s, 1000);
        for (n, want) in [
            (4, false),
            (5, true),
            (41, true),
            (211, true),
            (212, false),
            (295, true),
            (301, false),
        ] {
            assert_eq!(r.contains(n), want, "{n}");
        }
        for bad in [&b""[..], b"1:*", b"0", b"1,,2", b"a", b"1:", b"99999999999"] {
            assert!(SequenceSet::parse_without_star(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn ranges_merge_and_star() {
        let s = SequenceSet(vec![
            (SeqNum::Value(5), SeqNum::Value(3)),
            (SeqNum::Value(4), SeqNum::Value(6)),
            (SeqNum::Value(9), SeqNum::Star),
        ]);
        assert_eq!(s.ranges(20), vec![(3, 6), (9, 20)]);
        // `*` below the low end flips the range.
        assert_eq!(s.ranges(2), vec![(2, 9)]);
        assert!(s.contains(10, 20));
        assert!(!s.contains(8, 20));
    }

    #[test]
    fn select_sorted_uids() {
        let s = SequenceSet(vec![(SeqNum::Value(2), SeqNum::Value(10))]);
        assert_eq!(s.select_sorted(&[1, 3, 9, 11]), vec![3, 9]);
        let star = SequenceSet(vec![(SeqNum::Star, SeqNum::Star)]);
        assert_eq!(star.select_sorted(&[1, 3, 9, 11]), vec![11]);
        assert_eq!(star.select_sorted(&[]), Vec::<u32>::new());
    }

    #[test]
    fn compacts() {
        assert_eq!(compact_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(compact_set(&[5, 4]), "5,4");
        assert_eq!(compact_set(&[]), "");
    }
}
