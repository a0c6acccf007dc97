//! The grammar of the commands that talk about the server: ID (RFC 2971)
//! and ENABLE (RFC 5161); CAPABILITY, NOOP, LOGOUT and NAMESPACE have no
//! arguments (their rows parse them).

use super::{PResult, Parser};
use crate::command::*;

impl Parser {
    pub(crate) fn id(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        self.id_params()
    }

    fn id_params(&mut self) -> PResult<CommandBody> {
        if self.eat_word("NIL") {
            return Ok(CommandBody::Id(None));
        }
        self.expect(b'(')?;
        let mut params = Vec::new();
        if !self.eat(b')') {
            loop {
                let key = String::from_utf8_lossy(&self.string()?).into_owned();
                self.sp()?;
                let value = self
                    .nstring()?
                    .map(|v| String::from_utf8_lossy(&v).into_owned());
                params.push((key, value));
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
                if params.len() >= 30 {
                    return Err("too many ID parameters".into());
                }
            }
        }
        Ok(CommandBody::Id(Some(params)))
    }

    pub(crate) fn enable(&mut self) -> PResult<CommandBody> {
        let mut caps = Vec::new();
        while self.eat(b' ') {
            caps.push(self.atom()?.to_ascii_uppercase());
        }
        if caps.is_empty() {
            return Err("ENABLE needs at least one capability".into());
        }
        Ok(CommandBody::Enable(caps))
    }
}
