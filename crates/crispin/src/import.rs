//! `crispin import`: bring existing Maildir++ or mbox mail into an account.

use anyhow::{Context, Result, bail};
use crispin_delivery::import::{Found, Mbox, maildir_folders, maildir_messages};
use crispin_server::Config;
use crispin_store::{MailboxId, MessageData, NewMessage, Store};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::path::PathBuf;

pub async fn import(
    config: &Config,
    user: &str,
    maildir: Option<PathBuf>,
    mbox: Option<PathBuf>,
    base: Option<String>,
) -> Result<()> {
    let store =
        crispin_server::server::open_store(config, crispin_store::OpenMode::Existing).await?;
    store.notify_running_server();
    let account = store
        .account(user)
        .await?
        .with_context(|| format!("no account {user}"))?;
    let base = base.unwrap_or_else(|| "INBOX".into());
    let mut importer = Importer {
        store: store.as_ref(),
        account: account.id,
        base,
        mailboxes: HashMap::new(),
        added: 0,
        skipped: 0,
        bytes: 0,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} messages, {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    match (maildir, mbox) {
        (Some(root), None) => {
            let folders = maildir_folders(&root)
                .with_context(|| format!("cannot read {}", root.display()))?;
            if folders.is_empty() {
                bail!("{} is not a Maildir", root.display());
            }
            let mut all = Vec::new();
            for (folder, dir) in folders {
                all.push(maildir_messages(&folder, &dir)?);
            }
            bar.set_length(all.iter().map(|v| v.len() as u64).sum());
            for found in all.into_iter().flatten() {
                importer.add(found).await?;
                importer.progress(&bar);
            }
        }
        (None, Some(path)) => {
            let file = std::fs::File::open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            for found in Mbox::new(std::io::BufReader::new(file)) {
                importer.add(found?).await?;
                bar.inc_length(1);
                importer.progress(&bar);
            }
        }
        _ => bail!("give exactly one of --maildir and --mbox"),
    }
    bar.finish();
    eprintln!(
        "imported {} messages ({} bytes); {} already present",
        importer.added, importer.bytes, importer.skipped
    );
    store.close().await;
    Ok(())
}

struct Importer<'a> {
    store: &'a dyn Store,
    account: crispin_store::AccountId,
    base: String,
    mailboxes: HashMap<String, MailboxId>,
    added: u64,
    skipped: u64,
    bytes: u64,
}

impl Importer<'_> {
    fn progress(&self, bar: &ProgressBar) {
        let secs = bar.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!(
            "{:.1} MB, {:.0} msg/s",
            self.bytes as f64 / 1e6,
            (self.added + self.skipped) as f64 / secs
        ));
        bar.inc(1);
    }

    /// The mailbox for a source folder, created (with its parents) if
    /// needed.
    async fn mailbox(&mut self, folder: &str) -> Result<MailboxId> {
        let name = if folder.is_empty() {
            self.base.clone()
        } else if self.base == "INBOX" {
            folder.to_string()
        } else {
            format!("{}/{folder}", self.base)
        };
        if let Some(id) = self.mailboxes.get(&name) {
            return Ok(*id);
        }
        let mut path = String::new();
        let mut id = None;
        for level in name.split('/') {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(level);
            id = Some(match self.store.mailbox(self.account, &path).await? {
                Some(info) => info.id,
                None => self.store.create_mailbox(self.account, &path, None).await?,
            });
        }
        let id = id.context("empty mailbox name")?;
        self.mailboxes.insert(name, id);
        Ok(id)
    }

    async fn add(&mut self, found: Found) -> Result<()> {
        let mailbox = self.mailbox(&found.folder).await?;
        let len = found.data.len() as u64;
        let result = self
            .store
            .append(
                self.account,
                mailbox,
                NewMessage {
                    data: MessageData::Bytes(found.data),
                    flags: found.flags,
                    internal_date: found.date,
                    skip_if_present: true,
                },
            )
            .await?;
        if result.duplicate {
            self.skipped += 1;
        } else {
            self.added += 1;
            self.bytes += len;
        }
        Ok(())
    }
}
