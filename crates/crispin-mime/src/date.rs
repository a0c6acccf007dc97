//! The `Date:` header, for SEARCH SENTBEFORE / SENTON / SENTSINCE and sorting.

use chrono::NaiveDate;

/// Parse an (unfolded) `Date:` value into a UTC unix timestamp and the
/// calendar date in the header's own zone. mail-parser's parser is lenient
/// about obsolete forms (two-digit years, named zones, comments); chrono
/// then rejects impossible dates such as Feb 30 that it lets through.
pub(crate) fn parse_date(value: &[u8]) -> Option<(i64, (i32, u32, u32))> {
    let text = String::from_utf8_lossy(value);
    let dt = mail_parser::DateTime::parse_rfc822(&text)?;
    let (year, month, day) = (i32::from(dt.year), u32::from(dt.month), u32::from(dt.day));
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    // A leap second (":60") is still the same minute for our purposes.
    let time = date.and_hms_opt(
        u32::from(dt.hour),
        u32::from(dt.minute),
        u32::from(dt.second).min(59),
    )?;
    let offset = (i64::from(dt.tz_hour) * 3600 + i64::from(dt.tz_minute) * 60)
        * if dt.tz_before_gmt { -1 } else { 1 };
    let ts = time.and_utc().timestamp() - offset;
    Some((ts, (year, month, day)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5322_date() {
        let (ts, day) = parse_date(b"Mon, 1 Jan 2024 00:30:00 +0100").unwrap();
        assert_eq!(ts, 1_704_065_400);
        // The day in the header's own zone, not UTC (which is Dec 31).
        assert_eq!(day, (2024, 1, 1));
    }

    #[test]
    fn negative_zone_and_obsolete_forms() {
        let (ts, _) = parse_date(b"Sun, 31 Dec 2023 19:00:00 -0500").unwrap();
        assert_eq!(ts, 1_704_067_200);
        let (ts2, _) = parse_date(b"31 Dec 23 19:00:00 EST (comment)").unwrap();
        assert_eq!(ts2, ts);
    }

    #[test]
    fn garbage_dates() {
        assert!(parse_date(b"").is_none());
        assert!(parse_date(b"yesterday").is_none());
        assert!(parse_date(b"30 Feb 2024 10:00:00 +0000").is_none());
        assert!(parse_date(b"1 2024 10:00:00").is_none());
        assert!(parse_date(b"99 Jan 2024 99:99:99 +9999").is_none());
    }
}
