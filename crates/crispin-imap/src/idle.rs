//! IDLE (RFC 2177): wait on the change feed and report changes as they
//! are committed, until the client sends DONE.

use crate::selected::{Selected, SyncError};
use crate::session::{Session, Status, mailbox_deleted};
use crispin_proto::FrameError;
use crispin_proto::response::write_continuation;
use crispin_proto::spec::After;
use std::io;
use tokio::time::{Instant, sleep_until};

impl Session {
    /// IDLE, in the selected state with `selected`, or in the
    /// authenticated state, where it only waits for DONE.
    pub(crate) async fn idle(
        &mut self,
        mut selected: Option<&mut Selected>,
    ) -> io::Result<Option<Status>> {
        // Report what is already pending, then start waiting.
        if let Some(sel) = selected.as_deref_mut()
            && let Err(e) = self.report(sel, After::Poll).await
        {
            return self.idle_sync_failed(e).await;
        }
        write_continuation(&mut self.conn.out, b"idling");
        self.conn.flush().await?;
        let config = self.config.clone();
        let shutdown = self.ctx.shutdown.clone();
        let mut watch = selected.as_ref().map(|s| s.watch());
        // The timers live across wake-ups: with thousands of idlers woken
        // by one delivery, re-arming three timers per wake-up is real work.
        let keepalive = sleep_until(Instant::now() + config.idle_keepalive);
        let recheck = sleep_until(Instant::now() + config.idle_recheck);
        // RFC 3501's autologout applies while idling too; keepalives from
        // us do not count as client activity.
        let logout_at = sleep_until(Instant::now() + config.autologout);
        tokio::pin!(keepalive, recheck, logout_at);
        loop {
            let changed = async {
                match watch.as_mut() {
                    Some(w) => w.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                line = self.conn.read_line() => {
                    return match line {
                        Ok(l) if l.eq_ignore_ascii_case(b"DONE") => {
                            Ok(Some(Status::ok("IDLE terminated")))
                        }
                        Ok(_) | Err(FrameError::LineTooLong { .. }) => {
                            Ok(Some(Status::bad("Expected DONE")))
                        }
                        Err(FrameError::Io(e)) => Err(e),
                        Err(_) => Err(io::ErrorKind::UnexpectedEof.into()),
                    };
                }
                ok = changed => {
                    if !ok {
                        watch = None;
                    }
                    if let Some(sel) = selected.as_deref_mut()
                        && let Err(e) = self.report(sel, After::News).await
                    {
                        return self.idle_sync_failed(e).await;
                    }
                    self.conn.flush().await?;
                }
                _ = &mut recheck => {
                    recheck.as_mut().reset(Instant::now() + config.idle_recheck);
                    if let Some(sel) = selected.as_deref_mut()
                        && let Err(e) = self.report(sel, After::Poll).await
                    {
                        return self.idle_sync_failed(e).await;
                    }
                    self.conn.flush().await?;
                }
                _ = &mut keepalive => {
                    keepalive.as_mut().reset(Instant::now() + config.idle_keepalive);
                    self.untagged(Status::ok("Still here"));
                    self.conn.flush().await?;
                }
                _ = &mut logout_at => {
                    self.untagged(Status::bye("Autologout: idle for too long"));
                    self.conn.flush().await?;
                    return Err(io::ErrorKind::TimedOut.into());
                }
                _ = shutdown.cancelled() => {
                    self.untagged(Status::bye("Server shutting down"));
                    self.conn.flush().await?;
                    return Err(io::ErrorKind::ConnectionAborted.into());
                }
            }
        }
    }

    async fn idle_sync_failed(&mut self, e: SyncError) -> io::Result<Option<Status>> {
        match e {
            SyncError::Io(e) => Err(e),
            SyncError::Gone => {
                self.untagged(mailbox_deleted());
                self.conn.flush().await?;
                Err(io::ErrorKind::NotFound.into())
            }
            SyncError::Store(e) => Ok(Some(crate::session::store_error(e))),
        }
    }
}
