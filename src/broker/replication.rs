//! Replication's requests: what a master answers its slaves' metadata sync
//! (GET_ALL_CONSUMER_OFFSET, GET_ALL_DELAY_OFFSET; topics and groups are in `admin`),
//! GET_BROKER_HA_STATUS (mqadmin haStatus), and the slave's sync itself ([`sync_from`]):
//! every 10 s, as RocketMQ 4's SlaveSynchronize, it asks the master for topics, consumer
//! offsets, delay offsets and subscription groups and hands them to the actors that own
//! them.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use serde::Serialize;

use super::service::{ok, BrokerService};
use crate::actors::ha_client::{self, HaClient};
use crate::actors::{consumer_offsets, subscription_groups, topic_config, ConfigWriter};
use crate::protocol::body::TopicConfigWrapper;
use crate::protocol::{fastjson, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::reply::{error, json, Reply};
use crate::remoting::RemotingClient;
use crate::store::config as config_files;

/// `HARuntimeInfo` (GET_BROKER_HA_STATUS), as RocketMQ 5 writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HaRuntimeInfo {
    master: bool,
    master_commit_log_max_offset: i64,
    in_sync_slave_nums: i32,
    ha_connection_info: Vec<HaConnectionInfo>,
    ha_client_runtime_info: HaClientRuntimeInfo,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HaConnectionInfo {
    addr: String,
    slave_ack_offset: i64,
    diff: i64,
    in_sync: bool,
    transferred_byte_in_second: i64,
    transfer_from_where: i64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct HaClientRuntimeInfo {
    master_addr: String,
    transferred_byte_in_second: i64,
    max_offset: i64,
    last_read_timestamp: i64,
    last_write_timestamp: i64,
    master_flush_offset: i64,
}

impl BrokerService {
    pub(super) async fn all_consumer_offsets(&self) -> Reply {
        match self.parts().offsets.send(consumer_offsets::All).await {
            Ok(table) => Ok(ok().with_body(json(&table))),
            Err(_) => error(ResponseCode::SYSTEM_ERROR, "consumer offsets restarting"),
        }
    }

    /// The delay levels' offsets, as last written (every 5 s when they move).
    pub(super) fn all_delay_offsets(&self) -> Reply {
        let path = self
            .parts()
            .store
            .config()
            .config_dir()
            .join(config_files::DELAY_OFFSETS);
        let offsets = config_files::load::<config_files::DelayOffsets>(&path)
            .ok()
            .flatten()
            .unwrap_or_default();
        Ok(ok().with_body(json(&offsets)))
    }

    pub(super) async fn ha_status(&self) -> Reply {
        let p = self.parts();
        let max = p.store.commit_log().appended();
        let gap = p.config.load().ha.max_gap_not_in_sync;
        let mut info = HaRuntimeInfo {
            master: p.ha_client.is_none(),
            master_commit_log_max_offset: max as i64,
            in_sync_slave_nums: 0,
            ha_connection_info: Vec::new(),
            ha_client_runtime_info: HaClientRuntimeInfo::default(),
        };
        if let Some(ha) = &p.ha_service {
            let Ok(slaves) = ha.send(crate::actors::ha_service::Status).await else {
                return error(ResponseCode::SYSTEM_ERROR, "HA service restarting");
            };
            for slave in slaves {
                let diff = max.saturating_sub(slave.acked);
                info.in_sync_slave_nums += i32::from(diff < gap);
                info.ha_connection_info.push(HaConnectionInfo {
                    addr: slave.addr.to_string(),
                    slave_ack_offset: slave.acked as i64,
                    diff: diff as i64,
                    in_sync: diff < gap,
                    transferred_byte_in_second: 0,
                    transfer_from_where: slave.sent_to as i64,
                });
            }
        }
        if let Some(client) = &p.ha_client {
            let Ok(following) = client.send(ha_client::Status).await else {
                return error(ResponseCode::SYSTEM_ERROR, "HA client restarting");
            };
            info.ha_client_runtime_info = HaClientRuntimeInfo {
                master_addr: following.ha.map(|a| a.to_string()).unwrap_or_default(),
                transferred_byte_in_second: 0,
                max_offset: max as i64,
                last_read_timestamp: following.link.last_read_ms,
                last_write_timestamp: following.link.last_write_ms,
                master_flush_offset: 0,
            };
        }
        Ok(ok().with_body(json(&info)))
    }
}

impl BrokerService {
    /// GET_BROKER_EPOCH_CACHE: the master terms of this broker's log.
    pub(super) fn epoch_cache(&self) -> Reply {
        let p = self.parts();
        let Some(epochs) = &p.epochs else {
            return error(
                ResponseCode::SYSTEM_ERROR,
                "not in controller mode: no epochs",
            );
        };
        let config = p.config.load();
        let end = p.store.commit_log().appended();
        let entries = crate::util::lock(epochs).entries().to_vec();
        let cache = crate::protocol::body::controller::EpochEntryCache {
            cluster_name: config.cluster_name.clone(),
            broker_name: config.broker_name.clone(),
            broker_id: config.broker_id,
            epoch_list: crate::store::epoch::with_ends(&entries, end),
            max_offset: end as i64,
        };
        Ok(ok().with_body(json(&cache)))
    }

    /// NOTIFY_BROKER_ROLE_CHANGED from the controller: handed to the controlled runner.
    pub(super) fn role_changed(&self, req: &RemotingCommand) -> Reply {
        let config = self.parts().config.load();
        let Some(assigned) = &config.assigned else {
            return error(ResponseCode::SYSTEM_ERROR, "not in controller mode");
        };
        let header: crate::protocol::header::controller::MasterInfo = req.header()?;
        let set: crate::protocol::body::controller::SyncStateSet =
            serde_json::from_slice(&req.body).unwrap_or_default();
        let _ = assigned.notices.send(super::controller_mode::RoleNotice {
            master_id: header.master_broker_id,
            master_address: header.master_address,
            master_epoch: header.master_epoch.unwrap_or(0),
            set: set.sync_state_set,
            set_epoch: header
                .sync_state_set_epoch
                .unwrap_or(set.sync_state_set_epoch),
        });
        Ok(ok())
    }
}

/// Where a slave's metadata sync hands what it gets.
pub struct SyncTargets {
    pub client: Addr<HaClient>,
    pub topics: Addr<topic_config::TopicConfigs>,
    pub offsets: Addr<consumer_offsets::ConsumerOffsets>,
    pub groups: Addr<subscription_groups::SubscriptionGroupConfigs>,
    pub delay_file: ConfigWriter,
}

const SYNC_PERIOD: Duration = Duration::from_secs(10);
const SYNC_TIMEOUT: Duration = Duration::from_secs(3);

/// The slave's metadata sync, forever: 3 s after start, then every 10 s.
pub async fn sync_from(targets: Arc<SyncTargets>) {
    targets.delay_file.start();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut client: Option<(String, RemotingClient)> = None;
    loop {
        let master = targets
            .client
            .send(ha_client::Status)
            .await
            .ok()
            .and_then(|f| f.master_broker);
        if let Some(master) = master {
            if client
                .as_ref()
                .is_none_or(|(a, c)| *a != master || !c.is_open())
            {
                client = match master.parse() {
                    Ok(addr) => RemotingClient::connect(addr)
                        .await
                        .ok()
                        .map(|c| (master.clone(), c)),
                    Err(_) => None,
                };
            }
            if let Some((_, c)) = &client {
                if let Err(e) = sync_once(c, &targets).await {
                    tracing::warn!(master = %master, error = %e, "metadata sync from the master failed");
                }
            }
        }
        tokio::time::sleep(SYNC_PERIOD).await;
    }
}

async fn ask(client: &RemotingClient, code: RequestCode) -> Result<bytes::Bytes, String> {
    let answer = client
        .invoke(RemotingCommand::request(code), SYNC_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if answer.response_code() != ResponseCode::SUCCESS {
        return Err(format!(
            "{code:?} answered {}: {}",
            answer.code,
            answer.remark.unwrap_or_default()
        ));
    }
    Ok(answer.body)
}

async fn sync_once(client: &RemotingClient, targets: &SyncTargets) -> Result<(), String> {
    let body = ask(client, RequestCode::GET_ALL_TOPIC_CONFIG).await?;
    let topics: TopicConfigWrapper = fastjson::from_slice(&body).map_err(|e| e.to_string())?;
    targets
        .topics
        .do_send(topic_config::Replace(topic_config::Topics {
            data_version: topics.data_version,
            table: topics.topic_config_table,
        }));
    let body = ask(client, RequestCode::GET_ALL_CONSUMER_OFFSET).await?;
    let offsets: config_files::ConsumerOffsets =
        fastjson::from_slice(&body).map_err(|e| e.to_string())?;
    targets.offsets.do_send(consumer_offsets::Merge(offsets));
    let body = ask(client, RequestCode::GET_ALL_DELAY_OFFSET).await?;
    let delays: config_files::DelayOffsets =
        fastjson::from_slice(&body).map_err(|e| e.to_string())?;
    targets
        .delay_file
        .send(config_files::to_json_pretty(&delays));
    let body = ask(client, RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await?;
    let groups: config_files::SubscriptionGroups =
        fastjson::from_slice(&body).map_err(|e| e.to_string())?;
    targets.groups.do_send(subscription_groups::Replace(groups));
    tracing::debug!("metadata synced from the master");
    Ok(())
}
