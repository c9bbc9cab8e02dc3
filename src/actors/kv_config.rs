//! KvConfig: the name server's KV configuration (namespace → key → value).
//!
//! **Owns** a [`KvStore`] and, when a file is configured, the latest content to persist.
//!
//! **Handles** [`PutKv`], [`GetKv`], [`DeleteKv`], [`GetNamespace`] from the name server's
//! request service.
//!
//! **Sends** each changed snapshot to its [`ConfigWriter`] (the newest content wins), which
//! writes `kvConfig.json` atomically on a blocking thread, never in a handler.
//!
//! **Lifecycle**: supervised; on (re)start it loads the file (or its `.bak`). Mailbox: 1024.

use std::collections::BTreeMap;
use std::path::PathBuf;

use actix::prelude::*;
use tracing::warn;

use super::ConfigWriter;
use crate::namesrv::kv::KvStore;
use crate::store::config_file;

pub struct KvConfig {
    store: KvStore,
    file: Option<ConfigWriter>,
}

impl KvConfig {
    /// A KV config kept in `path` (or only in memory when `None`).
    pub fn new(path: Option<PathBuf>) -> Self {
        Self {
            store: KvStore::default(),
            file: path.map(ConfigWriter::new),
        }
    }

    fn load(&mut self) {
        let Some(path) = self.file.as_ref().map(ConfigWriter::path) else {
            return;
        };
        self.store = match config_file::read(path) {
            Ok(Some(bytes)) => match crate::protocol::fastjson::from_slice(&bytes) {
                Ok(store) => store,
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "unreadable KV config, starting empty");
                    KvStore::default()
                }
            },
            Ok(None) => KvStore::default(),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot read KV config, starting empty");
                KvStore::default()
            }
        };
    }

    fn changed(&self) {
        if let Some(file) = &self.file {
            file.send(self.store.to_json());
        }
    }
}

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 1_024;

impl Actor for KvConfig {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.load();
        if let Some(file) = &self.file {
            file.start();
        }
    }
}

impl Supervised for KvConfig {}

/// PUT_KV_CONFIG.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PutKv {
    pub namespace: String,
    pub key: String,
    pub value: String,
}

impl Handler<PutKv> for KvConfig {
    type Result = ();

    fn handle(&mut self, msg: PutKv, _: &mut Context<Self>) {
        self.store.put(&msg.namespace, &msg.key, &msg.value);
        self.changed();
    }
}

/// GET_KV_CONFIG.
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub struct GetKv {
    pub namespace: String,
    pub key: String,
}

impl Handler<GetKv> for KvConfig {
    type Result = Option<String>;

    fn handle(&mut self, msg: GetKv, _: &mut Context<Self>) -> Option<String> {
        self.store.get(&msg.namespace, &msg.key).map(str::to_owned)
    }
}

/// DELETE_KV_CONFIG.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeleteKv {
    pub namespace: String,
    pub key: String,
}

impl Handler<DeleteKv> for KvConfig {
    type Result = ();

    fn handle(&mut self, msg: DeleteKv, _: &mut Context<Self>) {
        if self.store.delete(&msg.namespace, &msg.key) {
            self.changed();
        }
    }
}

/// GET_KVLIST_BY_NAMESPACE: the whole namespace, if it exists.
#[derive(Message)]
#[rtype(result = "Option<BTreeMap<String, String>>")]
pub struct GetNamespace(pub String);

impl Handler<GetNamespace> for KvConfig {
    type Result = Option<BTreeMap<String, String>>;

    fn handle(&mut self, msg: GetNamespace, _: &mut Context<Self>) -> Self::Result {
        self.store.namespace(&msg.0).cloned()
    }
}
