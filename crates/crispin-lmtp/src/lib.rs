//! crispin-lmtp
