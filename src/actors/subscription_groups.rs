//! SubscriptionGroups: the broker's consumer groups and their settings
//! (`subscriptionGroup.json`, Java's `SubscriptionGroupManager`).
//!
//! **Owns** the subscription group table and its data version; hands the file's new
//! content to its [`ConfigWriter`](super::ConfigWriter) after every change.
//!
//! **Handles** [`Ensure`] (the broker service, on a consumer heartbeat: a group the broker
//! has not seen is created with RocketMQ's defaults when `autoCreateSubscriptionGroup` is
//! on, as the Java broker's heartbeat does) and [`All`] (GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
//! which mqadmin, the dashboard and the Go client's admin API send).
//!
//! **Sends** nothing.
//!
//! **Lifecycle**: supervised; (re)starts by loading the file, then adds RocketMQ's system
//! groups. Mailbox: [`MAILBOX`].

use actix::prelude::*;

use crate::store::config::{self as config_files, SubscriptionGroup, SubscriptionGroups};

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
}

impl SubscriptionGroupConfigs {
    pub fn new(writer: super::ConfigWriter) -> Self {
        Self {
            writer,
            groups: SubscriptionGroups::default(),
        }
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
        }
    }

    fn changed(&mut self) {
        let version = &mut self.groups.data_version;
        version.counter += 1;
        version.timestamp = crate::util::now_ms();
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

/// The whole table, as GET_ALL_SUBSCRIPTIONGROUP_CONFIG answers it.
#[derive(Message)]
#[rtype(result = "SubscriptionGroups")]
pub struct All;

impl Handler<All> for SubscriptionGroupConfigs {
    type Result = MessageResult<All>;
    fn handle(&mut self, _: All, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.groups.clone())
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
        let actor = super::super::supervise(MAILBOX, SubscriptionGroupConfigs::new(writer.clone()));
        let first = actor.send(All).await.unwrap();
        assert_eq!(first.subscription_group_table.len(), SYSTEM_GROUPS.len());
        actor
            .send(Ensure(vec!["g1".into(), "g1".into(), String::new()]))
            .await
            .unwrap();
        let after = actor.send(All).await.unwrap();
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
        assert_eq!(
            actor.send(All).await.unwrap().data_version,
            after.data_version
        );
        writer.close().unwrap();
        // What a new broker reads back from the file.
        let read: SubscriptionGroups = config_files::load(&path).unwrap().unwrap();
        assert_eq!(read, after);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
