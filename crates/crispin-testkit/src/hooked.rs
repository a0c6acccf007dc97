//! A store that runs a test's code just before one of its operations:
//! what another session does in the middle of a command (an EXPUNGE
//! between a FETCH's metadata read and its body read), made to happen at
//! that exact point instead of by timing luck.
//!
//! `TestImap::builder().hooked()` puts one under the sessions; a test arms
//! a hook with [`HookedStore::before`], which runs once, on the next call
//! of that operation, with the store underneath, and then the operation
//! goes on.

use async_trait::async_trait;
use crispin_store::*;
use futures_util::future::BoxFuture;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

/// The operations a hook can go before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`Store::fetch`] (a FETCH's metadata read).
    Fetch,
    /// [`Store::open_blob`] and [`Store::read_blob`] (a FETCH's body reads).
    BodyRead,
    /// [`Store::copy`] (COPY and MOVE).
    Copy,
    /// [`Store::search`].
    Search,
    /// [`Store::store_flags`].
    StoreFlags,
}

/// What a hook does, given the store underneath.
pub type Hook = Box<dyn FnOnce(Arc<dyn Store>) -> BoxFuture<'static, ()> + Send>;

/// Every call is passed to `inner`; an armed hook runs first.
pub struct HookedStore {
    inner: Arc<dyn Store>,
    hooks: Mutex<Vec<(Op, Hook)>>,
}

impl HookedStore {
    pub fn new(inner: Arc<dyn Store>) -> HookedStore {
        HookedStore {
            inner,
            hooks: Mutex::new(Vec::new()),
        }
    }

    /// The store underneath (what a hook is given).
    pub fn inner(&self) -> Arc<dyn Store> {
        self.inner.clone()
    }

    /// Runs `hook` once, just before the next call of `op`.
    pub fn before<F>(&self, op: Op, hook: impl FnOnce(Arc<dyn Store>) -> F + Send + 'static)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let hook: Hook = Box::new(move |s| Box::pin(hook(s)));
        self.hooks.lock().unwrap().push((op, hook));
    }

    /// Whether hooks armed are still waiting for their operation.
    pub fn pending(&self) -> usize {
        self.hooks.lock().unwrap().len()
    }

    async fn run(&self, op: Op) {
        let hook = {
            let mut hooks = self.hooks.lock().unwrap();
            hooks
                .iter()
                .position(|h| h.0 == op)
                .map(|i| hooks.remove(i).1)
        };
        if let Some(hook) = hook {
            hook(self.inner.clone()).await;
        }
    }
}

/// Expunges the messages of `uids` in `account`'s `mailbox` as another
/// session would (\Deleted, then UID EXPUNGE): a hook's usual errand.
pub async fn expunge_now(store: &dyn Store, account: &str, mailbox: &str, uids: &[u32]) {
    let account = store.account(account).await.unwrap().unwrap().id;
    let mailbox = store.mailbox(account, mailbox).await.unwrap().unwrap().id;
    let deleted = Flags {
        system: flag::DELETED,
        keywords: Vec::new(),
    };
    store
        .store_flags(account, mailbox, uids, FlagOp::Add, &deleted)
        .await
        .unwrap();
    store.expunge(account, mailbox, Some(uids)).await.unwrap();
}

#[async_trait]
impl Store for HookedStore {
    async fn close(&self) {
        self.inner.close().await
    }
    fn spool_dir(&self) -> &Path {
        self.inner.spool_dir()
    }
    fn notify_running_server(&self) {
        self.inner.notify_running_server()
    }
    fn listen_for_other_processes(&self) -> std::io::Result<()> {
        self.inner.listen_for_other_processes()
    }
    fn tell_running_server(&self, notice: &AccountNotice) -> std::io::Result<bool> {
        self.inner.tell_running_server(notice)
    }
    fn account_notices(&self) -> broadcast::Receiver<AccountNotice> {
        self.inner.account_notices()
    }
    async fn create_account(&self, name: &str, credentials: &Credentials) -> Result<AccountId> {
        self.inner.create_account(name, credentials).await
    }
    async fn delete_account(&self, name: &str) -> Result<()> {
        self.inner.delete_account(name).await
    }
    async fn set_credentials(&self, name: &str, credentials: &Credentials) -> Result<()> {
        self.inner.set_credentials(name, credentials).await
    }
    async fn account(&self, name: &str) -> Result<Option<Account>> {
        self.inner.account(name).await
    }
    async fn list_accounts(&self) -> Result<Vec<String>> {
        self.inner.list_accounts().await
    }
    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<MailboxInfo>> {
        self.inner.list_mailboxes(account).await
    }
    async fn mailbox(&self, account: AccountId, name: &str) -> Result<Option<MailboxInfo>> {
        self.inner.mailbox(account, name).await
    }
    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<&str>,
    ) -> Result<MailboxId> {
        self.inner.create_mailbox(account, name, special_use).await
    }
    async fn delete_mailbox(&self, account: AccountId, mailbox: MailboxId) -> Result<()> {
        self.inner.delete_mailbox(account, mailbox).await
    }
    async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        self.inner.rename_mailbox(account, from, to).await
    }
    async fn subscriptions(&self, account: AccountId) -> Result<Vec<String>> {
        self.inner.subscriptions(account).await
    }
    async fn set_subscribed(&self, account: AccountId, name: &str, on: bool) -> Result<()> {
        self.inner.set_subscribed(account, name, on).await
    }
    async fn status(&self, account: AccountId, mailbox: MailboxId) -> Result<MailboxStatus> {
        self.inner.status(account, mailbox).await
    }
    async fn snapshot(&self, account: AccountId, mailbox: MailboxId) -> Result<Snapshot> {
        self.inner.snapshot(account, mailbox).await
    }
    async fn changes_since(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        modseq: u64,
        fresh: bool,
    ) -> Result<Changes> {
        self.inner
            .changes_since(account, mailbox, modseq, fresh)
            .await
    }
    async fn claim_recent(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uid_next: u32,
    ) -> Result<u32> {
        self.inner.claim_recent(account, mailbox, uid_next).await
    }
    fn subscribe(&self, account: AccountId) -> Subscription {
        self.inner.subscribe(account)
    }
    fn watch(&self, mailbox: MailboxId) -> watch::Receiver<u64> {
        self.inner.watch(mailbox)
    }
    async fn append(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        message: NewMessage,
    ) -> Result<Appended> {
        self.inner.append(account, mailbox, message).await
    }
    async fn append_queued(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        message: NewMessage,
    ) -> Result<BoxFuture<'static, Result<Appended>>> {
        self.inner.append_queued(account, mailbox, message).await
    }
    async fn fetch(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
        need: FetchNeed,
    ) -> Result<Vec<MessageRecord>> {
        self.run(Op::Fetch).await;
        self.inner.fetch(account, mailbox, uids, need).await
    }
    async fn read_blob(
        &self,
        account: AccountId,
        blob: &str,
        start: u64,
        len: u64,
    ) -> Result<Vec<u8>> {
        self.run(Op::BodyRead).await;
        self.inner.read_blob(account, blob, start, len).await
    }
    async fn open_blob(&self, account: AccountId, blob: &str) -> Result<BlobReader> {
        self.run(Op::BodyRead).await;
        self.inner.open_blob(account, blob).await
    }
    async fn store_flags_unchanged_since(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<StoreResult> {
        self.run(Op::StoreFlags).await;
        self.inner
            .store_flags_unchanged_since(account, mailbox, uids, op, flags, unchanged_since)
            .await
    }
    async fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: Option<&[u32]>,
    ) -> Result<Vec<u32>> {
        self.inner.expunge(account, mailbox, uids).await
    }
    async fn copy(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
        is_move: bool,
    ) -> Result<CopyResult> {
        self.run(Op::Copy).await;
        self.inner.copy(account, from, uids, to, is_move).await
    }
    async fn search(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        query: &Query,
    ) -> Result<Vec<u32>> {
        self.run(Op::Search).await;
        self.inner.search(account, mailbox, query).await
    }
}
