//! The grammar of the not-authenticated state: LOGIN, AUTHENTICATE with
//! RFC 4959's initial response, and the client's lines during a SASL
//! exchange. STARTTLS has no arguments.

use super::{PResult, Parser};
use crate::command::*;

impl Parser {
    pub(crate) fn login(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let username = self.astring()?;
        self.sp()?;
        let password = self.astring()?;
        Ok(CommandBody::Login { username, password })
    }

    pub(crate) fn authenticate(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let mechanism = self.atom()?.to_ascii_uppercase();
        let initial = if self.eat(b' ') {
            let t = self.take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
            if t.is_empty() {
                return Err("invalid initial response".into());
            }
            Some(if t == b"=" { Vec::new() } else { t.to_vec() })
        } else {
            None
        };
        Ok(CommandBody::Authenticate { mechanism, initial })
    }
}

/// Parses the client's line during AUTHENTICATE: base64 or `*` to cancel.
pub fn parse_sasl_response(line: &[u8]) -> Option<SaslLine> {
    if line == b"*" {
        return Some(SaslLine::Cancel);
    }
    if line
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
    {
        return Some(SaslLine::Data(line.to_vec()));
    }
    None
}

#[derive(Debug, PartialEq, Eq)]
pub enum SaslLine {
    Cancel,
    Data(Vec<u8>),
}
