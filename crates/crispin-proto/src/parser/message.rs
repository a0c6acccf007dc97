//! The grammar of the commands that change messages: APPEND, STORE (with
//! RFC 4466 §2.5's modifiers), COPY/MOVE and UID EXPUNGE. CHECK, CLOSE,
//! UNSELECT, EXPUNGE and IDLE have no arguments.

use super::{PResult, Parser};
use crate::command::*;
use chrono::{FixedOffset, NaiveDate, TimeZone};

/// STORE modifiers we accept (RFC 4466 §2.5): CONDSTORE's
/// `UNCHANGEDSINCE` (RFC 7162 §3.1.3).
const STORE_MODIFIERS: &[&str] = &["UNCHANGEDSINCE"];

impl Parser {
    pub(crate) fn append(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        self.sp()?;
        let mut flags = Vec::new();
        if self.peek() == Some(b'(') {
            flags = self.flag_list()?;
            self.sp()?;
        }
        let mut date = None;
        if self.peek() == Some(b'"') {
            date = Some(self.date_time()?);
            self.sp()?;
        }
        let message = self.take_literal()?;
        Ok(CommandBody::Append {
            mailbox,
            flags,
            date,
            message,
        })
    }

    fn date_time(&mut self) -> PResult<chrono::DateTime<FixedOffset>> {
        self.expect(b'"')?;
        // date-day-fixed = (SP DIGIT) / 2DIGIT; a lone digit is tolerated,
        // more than two digits are not ("005" is no day).
        let day = if self.eat(b' ') {
            self.digits(1)?
        } else {
            let t = self.take_while(|b| b.is_ascii_digit());
            if t.is_empty() || t.len() > 2 {
                return Err("invalid day".into());
            }
            t.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
        };
        self.expect(b'-')?;
        let month = self.month()?;
        self.expect(b'-')?;
        let year = self.digits(4)?;
        self.sp()?;
        let h = self.digits(2)?;
        self.expect(b':')?;
        let mi = self.digits(2)?;
        self.expect(b':')?;
        let s = self.digits(2)?;
        self.sp()?;
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return Err("invalid zone".into());
        };
        let zh = self.digits(2)?;
        let zm = self.digits(2)?;
        self.expect(b'"')?;
        let offset = FixedOffset::east_opt(sign * (zh as i32 * 3600 + zm as i32 * 60))
            .ok_or("invalid zone")?;
        let naive = NaiveDate::from_ymd_opt(year as i32, month, day)
            .and_then(|d| d.and_hms_opt(h, mi, s))
            .ok_or("invalid date-time")?;
        offset
            .from_local_datetime(&naive)
            .single()
            .ok_or_else(|| "invalid date-time".into())
    }

    pub(crate) fn store(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        let modifiers = self.modifiers(STORE_MODIFIERS, "expected FLAGS or FLAGS.SILENT")?;
        let unchanged_since = super::modifier::modseq_modifier(&modifiers, "UNCHANGEDSINCE")?;
        self.sp()?;
        let mode = if self.eat(b'+') {
            StoreMode::Add
        } else if self.eat(b'-') {
            StoreMode::Remove
        } else {
            StoreMode::Replace
        };
        let silent = if self.eat_word("FLAGS.SILENT") {
            true
        } else if self.eat_word("FLAGS") {
            false
        } else {
            return Err("expected FLAGS or FLAGS.SILENT".into());
        };
        self.sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut v = vec![self.flag()?];
            while self.eat(b' ') {
                v.push(self.flag()?);
            }
            v
        };
        Ok(CommandBody::Store {
            uid,
            set,
            mode,
            silent,
            flags,
            unchanged_since,
        })
    }

    pub(crate) fn copy(&mut self, uid: bool, is_move: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let mailbox = self.mailbox()?;
        Ok(CommandBody::Copy {
            uid,
            set,
            mailbox,
            is_move,
        })
    }

    pub(crate) fn uid_expunge(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        Ok(CommandBody::Expunge {
            uids: Some(self.sequence_set()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::command::*;
    use crate::framer::{Chunk, Frame, Literal};
    use crate::parser::{ParseError, parse_command};

    fn append_with_date(date: &str) -> Result<Command, ParseError> {
        parse_command(Frame {
            chunks: vec![
                Chunk::Text(format!("a APPEND INBOX \"{date}\" ").into_bytes()),
                Chunk::Literal(Literal::Memory(b"x".to_vec())),
                Chunk::Text(Vec::new()),
            ],
        })
    }

    #[test]
    fn append_date_day_has_at_most_two_digits() {
        for ok in [
            "05-Feb-2021 10:00:00 +0000",
            " 5-Feb-2021 10:00:00 +0000",
            "5-Feb-2021 10:00:00 +0000",
        ] {
            let cmd = append_with_date(ok).unwrap();
            let CommandBody::Append { date: Some(d), .. } = cmd.body else {
                panic!("{ok}: {cmd:?}")
            };
            assert_eq!(d.to_rfc3339(), "2021-02-05T10:00:00+00:00");
        }
        // Found by the differential tests: "005" and longer runs of
        // digits used to be read as a day.
        for bad in [
            "005-Feb-2021 10:00:00 +0000",
            "0000000005-Feb-2021 10:00:00 +0000",
            "-Feb-2021 10:00:00 +0000",
        ] {
            assert!(append_with_date(bad).is_err(), "{bad}");
        }
    }
}
