//! The IMAP grammar both ways: framing of lines and literals, the command
//! parser, the command spec table (what each command means to a session),
//! typed responses and their one encoder, and modified UTF-7. Knows
//! nothing of sessions or storage.

pub mod command;
pub mod framer;
pub mod mutf7;
pub mod parser;
pub mod response;
pub mod sequence;
pub mod spec;

pub use command::*;
pub use framer::{Chunk, Connection, Frame, FrameError, Limits, Literal, Stream};
pub use parser::{ParseError, parse_command};
pub use sequence::{Ranges, SeqNum, SequenceSet};
