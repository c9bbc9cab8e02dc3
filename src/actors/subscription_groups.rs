//! SubscriptionGroups: the broker's consumer groups and their settings
//! (`subscriptionGroup.json`, Java's `SubscriptionGroupManager`).
//!
//! **Owns** the subscription group table and its data version; hands the file's new
//! content to its [`ConfigWriter`](super::ConfigWriter) after every change.
//!
//! **Handles** [`Ensure`] (the broker service, on a consumer heartbeat or a pull: a group the
//! broker has not seen is created with RocketMQ's defaults when `autoCreateSubscriptionGroup`
//! is on, as the Java broker's `findSubscriptionGroupConfig` does), [`Upsert`] and [`Delete`]
//! (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, DELETE_SUBSCRIPTIONGROUP).
//!
//! **Sends** nothing; it *publishes* every new table as an immutable snapshot on a `watch`
//! channel ([`SubscriptionGroupView`]): the pull path checks a group's settings and
//! GET_ALL_SUBSCRIPTIONGROUP_CONFIG (mqadmin, the dashboard, the Go client's admin API)
//! answers from it without a message hop.
//!
//! **Lifecycle**: supervised; (re)starts by loading the file, then adds RocketMQ's system
//! groups. Mailbox: [`MAILBOX`].

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;

use crate::store::config::{self as config_files, SubscriptionGroup, SubscriptionGroups};

/// Cheap handle to the latest snapshot of the table.
pub type SubscriptionGroupView = watch::Receiver<Arc<SubscriptionGroups>>;

/// The groups every Java broker has (`SubscriptionGroupManager.init`).
pub const SYSTEM_GROUPS: [&str; 8] = [
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
    "CID_SYS_RMQ_TRANS",
];

/// The capacity of the actor's mailbox, given to it when it is made ([`super::supervise`]).
pub const MAILBOX: usize = 1_024;

pub struct SubscriptionGroupConfigs {
    writer: super::ConfigWriter,
    groups: SubscriptionGroups,
    publish: watch::Sender<Arc<SubscriptionGroups>>,
}

impl SubscriptionGroupConfigs {
    /// The actor and the view of its snapshots.
    pub fn new(writer: super::ConfigWriter) -> (Self, SubscriptionGroupView) {
        let (publish, view) = watch::channel(Arc::new(SubscriptionGroups::default()));
        let actor = Self {
            writer,
            groups: SubscriptionGroups::default(),
            publish,
        };
        (actor, view)
    }

    fn load(&mut self) {
        self.groups = match config_files::load::<SubscriptionGroups>(self.writer.path()) {
            Ok(Some(groups)) => groups,
            Ok(None) => SubscriptionGroups::default(),
            Err(e) => {
                tracing::error!(error = %e, "subscriptionGroup.json unreadable: starting from the system groups only");
                SubscriptionGroups::default()
            }
        };
        let before = self.groups.subscription_group_table.len();
        for name in SYSTEM_GROUPS {
            self.groups
                .subscription_group_table
                .entry(name.to_owned())
                .or_insert_with(|| SubscriptionGroup::new(name));
        }
        if self.groups.subscription_group_table.len() != before {
            self.changed();
        } else {
            self.publish.send_replace(Arc::new(self.groups.clone()));
        }
    }

    fn changed(&mut self) {
        let version = &mut self.groups.data_version;
        version.counter += 1;
        version.timestamp = crate::util::now_ms();
        self.publish.send_replace(Arc::new(self.groups.clone()));
        self.writer.send(config_files::to_json_pretty(&self.groups));
    }

    /// Adds the groups not in the table yet; true if any was.
    fn ensure(&mut self, names: Vec<String>) -> bool {
        let mut added = false;
        for name in names {
            if name.is_empty() || self.groups.subscription_group_table.contains_key(&name) {
                continue;
            }
            tracing::info!(group = %name, "subscription group created");
            let group = SubscriptionGroup::new(name.clone());
            self.groups.subscription_group_table.insert(name, group);
            added = true;
        }
        if added {
            self.changed();
        }
        added
    }
}

impl Actor for SubscriptionGroupConfigs {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.writer.start();
        self.load();
    }
}

impl Supervised for SubscriptionGroupConfigs {}

/// Creates these groups with RocketMQ's defaults unless they exist.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Ensure(pub Vec<String>);

impl Handler<Ensure> for SubscriptionGroupConfigs {
    type Result = ();
    fn handle(&mut self, msg: Ensure, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            this.ensure(msg.0);
        });
    }
}

/// Creates or replaces a group's settings (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Upsert(pub SubscriptionGroup);

impl Handler<Upsert> for SubscriptionGroupConfigs {
    type Result = ();
    fn handle(&mut self, msg: Upsert, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            let group = msg.0;
            if this.groups.subscription_group_table.get(&group.group_name) != Some(&group) {
                tracing::info!(group = %group.group_name, "subscription group updated");
                this.groups
                    .subscription_group_table
                    .insert(group.group_name.clone(), group);
                this.changed();
            }
        });
    }
}

/// Removes a group (DELETE_SUBSCRIPTIONGROUP); true if it existed.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Delete(pub String);

impl Handler<Delete> for SubscriptionGroupConfigs {
    type Result = bool;
    fn handle(&mut self, msg: Delete, ctx: &mut Context<Self>) -> bool {
        super::guard(self, ctx, |this, _| {
            let existed = this
                .groups
                .subscription_group_table
                .remove(&msg.0)
                .is_some();
            if existed {
                tracing::info!(group = %msg.0, "subscription group deleted");
                this.changed();
            }
            existed
        })
        .unwrap_or(false)
    }
}

/// A slave's metadata sync: the master's groups, as they are (its data version kept).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Replace(pub SubscriptionGroups);

impl Handler<Replace> for SubscriptionGroupConfigs {
    type Result = ();
    fn handle(&mut self, msg: Replace, ctx: &mut Context<Self>) {
        super::guard(self, ctx, |this, _| {
            if this.groups == msg.0 {
                return;
            }
            this.groups = msg.0;
            this.publish.send_replace(Arc::new(this.groups.clone()));
            this.writer.send(config_files::to_json_pretty(&this.groups));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("apogee-groups-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[actix_rt::test]
    async fn groups_are_created_once_and_survive_a_restart() {
        let dir = dir("restart");
        let path = dir.join(config_files::SUBSCRIPTION_GROUPS);
        let writer = super::super::ConfigWriter::new(path.clone());
        let (actor, view) = SubscriptionGroupConfigs::new(writer.clone());
        let actor = super::super::supervise(MAILBOX, actor);
        let all = |view: &SubscriptionGroupView| (**view.borrow()).clone();
        // A message through the mailbox: the actor has started and published.
        actor.send(Ensure(Vec::new())).await.unwrap();
        let first = all(&view);
        assert_eq!(first.subscription_group_table.len(), SYSTEM_GROUPS.len());
        actor
            .send(Ensure(vec!["g1".into(), "g1".into(), String::new()]))
            .await
            .unwrap();
        let after = all(&view);
        assert_eq!(
            after.subscription_group_table.len(),
            SYSTEM_GROUPS.len() + 1
        );
        assert_eq!(
            after.subscription_group_table["g1"],
            SubscriptionGroup::new("g1")
        );
        assert!(after.data_version.counter > first.data_version.counter);
        // Again: nothing changes, not even the version.
        actor.send(Ensure(vec!["g1".into()])).await.unwrap();
        assert_eq!(all(&view).data_version, after.data_version);
        // Settings replaced, then the group removed.
        let mut off = SubscriptionGroup::new("g1");
        off.consume_enable = false;
        actor.send(Upsert(off.clone())).await.unwrap();
        assert_eq!(all(&view).subscription_group_table["g1"], off);
        assert!(actor.send(Delete("g1".into())).await.unwrap());
        assert!(!actor.send(Delete("g1".into())).await.unwrap());
        assert!(!all(&view).subscription_group_table.contains_key("g1"));
        actor.send(Upsert(off.clone())).await.unwrap();
        let after = all(&view);
        writer.close().unwrap();
        // What a new broker reads back from the file.
        let read: SubscriptionGroups = config_files::load(&path).unwrap().unwrap();
        assert_eq!(read, after);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
