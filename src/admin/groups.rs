//! Consumer and producer group commands: updateSubGroup, deleteSubGroup, consumerProgress,
//! consumerConnection, producerConnection, consumerStatus, resetOffsetByTime,
//! cloneGroupOffset.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::{anyhow, bail};
use serde_json::json;

use super::client::{addr, body, AdminClient, Refused};
use super::output::{front, human, version_desc, Out};
use crate::protocol::body::admin::*;
use crate::protocol::body::client::MessageQueue;
use crate::protocol::header::admin::{
    ConsumeStatsRequest, ProducerGroupRequest, ResetOffsetRequest,
};
use crate::protocol::header::broker::{
    ConsumerGroupRequest, ConsumerRunningInfoRequest, DeleteSubscriptionGroupRequest,
    UpdateConsumerOffsetRequest,
};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::store::config::SubscriptionGroup;

fn retry_topic(group: &str) -> String {
    format!("%RETRY%{group}")
}

#[derive(clap::Args, Debug)]
pub struct UpdateSubGroup {
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    #[arg(short = 'g', long = "groupName")]
    pub group_name: String,
    #[arg(short = 's', long = "consumeEnable", action = clap::ArgAction::Set)]
    pub consume_enable: Option<bool>,
    #[arg(short = 'm', long = "consumeFromMinEnable", action = clap::ArgAction::Set)]
    pub consume_from_min_enable: Option<bool>,
    #[arg(short = 'd', long = "consumeBroadcastEnable", action = clap::ArgAction::Set)]
    pub consume_broadcast_enable: Option<bool>,
    #[arg(short = 'o', long = "consumeMessageOrderly", action = clap::ArgAction::Set)]
    pub consume_message_orderly: Option<bool>,
    #[arg(short = 'q', long = "retryQueueNums")]
    pub retry_queue_nums: Option<i32>,
    #[arg(short = 'r', long = "retryMaxTimes")]
    pub retry_max_times: Option<i32>,
    #[arg(short = 'i', long = "brokerId")]
    pub broker_id: Option<i64>,
    #[arg(short = 'w', long = "whichBrokerWhenConsumeSlowly")]
    pub which_broker_when_consume_slowly: Option<i64>,
    #[arg(short = 'a', long = "notifyConsumerIdsChanged", action = clap::ArgAction::Set)]
    pub notify_consumer_ids_changed: Option<bool>,
}

pub async fn update_sub_group(
    admin: &AdminClient,
    out: Out,
    a: UpdateSubGroup,
) -> anyhow::Result<()> {
    let targets = admin
        .targets(a.broker_addr.as_deref(), a.cluster_name.as_deref())
        .await?;
    let mut group = SubscriptionGroup::new(a.group_name.clone());
    // As mqadmin: these two default to off when the command creates a group.
    group.consume_broadcast_enable = a.consume_broadcast_enable.unwrap_or(false);
    group.consume_from_min_enable = a.consume_from_min_enable.unwrap_or(false);
    // Settings left out keep RocketMQ's defaults.
    let g = &mut group;
    g.consume_enable = a.consume_enable.unwrap_or(g.consume_enable);
    g.consume_message_orderly = a
        .consume_message_orderly
        .unwrap_or(g.consume_message_orderly);
    g.retry_queue_nums = a.retry_queue_nums.unwrap_or(g.retry_queue_nums);
    g.retry_max_times = a.retry_max_times.unwrap_or(g.retry_max_times);
    g.broker_id = a.broker_id.unwrap_or(g.broker_id);
    g.which_broker_when_consume_slowly = a
        .which_broker_when_consume_slowly
        .unwrap_or(g.which_broker_when_consume_slowly);
    g.notify_consumer_ids_changed_enable = a
        .notify_consumer_ids_changed
        .unwrap_or(g.notify_consumer_ids_changed_enable);
    let body = serde_json::to_vec(&group)?;
    for addr in &targets {
        let request = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
            .with_body(body.clone());
        admin.ok(*addr, request).await?;
        if !out.json {
            println!("create subscription group to {addr} success.");
        }
    }
    if !out.json(&json!({"brokers": targets.iter().map(|a| a.to_string()).collect::<Vec<_>>(), "config": group})) {
        println!(
            "SubscriptionGroupConfig{{groupName={}, consumeEnable={}, consumeFromMinEnable={}, consumeBroadcastEnable={}, consumeMessageOrderly={}, retryQueueNums={}, retryMaxTimes={}, brokerId={}, whichBrokerWhenConsumeSlowly={}, notifyConsumerIdsChangedEnable={}}}",
            group.group_name, group.consume_enable, group.consume_from_min_enable,
            group.consume_broadcast_enable, group.consume_message_orderly, group.retry_queue_nums,
            group.retry_max_times, group.broker_id, group.which_broker_when_consume_slowly,
            group.notify_consumer_ids_changed_enable
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct DeleteSubGroup {
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    #[arg(short = 'g', long = "groupName")]
    pub group_name: String,
    /// Also remove the group's consumer offsets.
    #[arg(short = 'r', long = "removeOffset", default_value_t = false, action = clap::ArgAction::Set)]
    pub remove_offset: bool,
}

pub async fn delete_sub_group(
    admin: &AdminClient,
    out: Out,
    a: DeleteSubGroup,
) -> anyhow::Result<()> {
    let targets = admin
        .targets(a.broker_addr.as_deref(), a.cluster_name.as_deref())
        .await?;
    for addr in &targets {
        let request = RemotingCommand::request(RequestCode::DELETE_SUBSCRIPTIONGROUP).with_header(
            &DeleteSubscriptionGroupRequest {
                group_name: a.group_name.clone(),
                clean_offset: a.remove_offset,
            },
        );
        admin.ok(*addr, request).await?;
        if out.json {
            continue;
        }
        match &a.cluster_name {
            Some(cluster) => println!(
                "delete subscription group [{}] from broker [{addr}] in cluster [{cluster}] success.",
                a.group_name
            ),
            None => println!("delete subscription group [{}] from broker [{addr}] success.", a.group_name),
        }
    }
    out.json(&json!({"group": a.group_name, "brokers": targets.iter().map(|a| a.to_string()).collect::<Vec<_>>()}));
    Ok(())
}

/// GET_CONSUME_STATS from every broker of the group's retry topic (and of `topic`), merged.
async fn consume_stats(
    admin: &AdminClient,
    group: &str,
    topic: Option<&str>,
) -> anyhow::Result<(BTreeMap<MessageQueue, OffsetWrapper>, f64)> {
    let mut masters = admin
        .route_masters(&retry_topic(group))
        .await
        .unwrap_or_default();
    if let Some(topic) = topic {
        masters.extend(admin.route_masters(topic).await?);
    }
    if masters.is_empty() {
        bail!(
            "consumer group {group} is unknown: no route for {} in the name server",
            retry_topic(group)
        );
    }
    let mut table = BTreeMap::new();
    let mut tps = 0.0;
    for addr in masters.values() {
        let request = RemotingCommand::request(RequestCode::GET_CONSUME_STATS).with_header(
            &ConsumeStatsRequest {
                consumer_group: group.to_owned(),
                topic: topic.map(str::to_owned),
                topic_list: None,
            },
        );
        let stats: ConsumeStats = body(&admin.ok(*addr, request).await?, "consume stats")?;
        tps += stats.consume_tps;
        for (key, offsets) in stats.offset_table {
            if let Some(mq) = parse_queue_key(&key) {
                table.insert(mq, offsets);
            }
        }
    }
    Ok((table, tps))
}

/// GET_CONSUMER_CONNECTION_LIST from a broker of the group's retry topic (or `broker`).
async fn connections(
    admin: &AdminClient,
    group: &str,
    broker: Option<&str>,
) -> anyhow::Result<ConsumerConnection> {
    let addr: SocketAddr = match broker {
        Some(b) => addr(b)?,
        None => *admin
            .route_masters(&retry_topic(group))
            .await
            .map_err(|_| {
                anyhow!(
                    "consumer group {group} has no consumers online (no route for {})",
                    retry_topic(group)
                )
            })?
            .values()
            .next()
            .ok_or_else(|| anyhow!("consumer group {group} has no broker"))?,
    };
    let request = RemotingCommand::request(RequestCode::GET_CONSUMER_CONNECTION_LIST).with_header(
        &ConsumerGroupRequest {
            consumer_group: group.to_owned(),
        },
    );
    let response =
        admin
            .ok(addr, request)
            .await
            .map_err(|e| match e.downcast_ref::<Refused>() {
                Some(r) if r.code == ResponseCode::CONSUMER_NOT_ONLINE => {
                    anyhow!("consumer group {group} has no consumers online ({addr})")
                }
                _ => e,
            })?;
    let conns: ConsumerConnection = body(&response, "consumer connection")?;
    if conns.connection_set.is_empty() {
        bail!("Not found the consumer group connection: {group} has no consumers online");
    }
    Ok(conns)
}

#[derive(clap::Args, Debug)]
pub struct ConsumerProgress {
    #[arg(short = 'g', long = "groupName")]
    pub group_name: Option<String>,
    #[arg(short = 't', long = "topicName")]
    pub topic_name: Option<String>,
    #[arg(short = 's', long = "showClientIP", default_value_t = false, action = clap::ArgAction::Set)]
    pub show_client_ip: bool,
}

pub async fn consumer_progress(
    admin: &AdminClient,
    out: Out,
    a: ConsumerProgress,
) -> anyhow::Result<()> {
    let Some(group) = a.group_name else {
        return all_groups_progress(admin, out).await;
    };
    let (table, tps) = consume_stats(admin, &group, a.topic_name.as_deref()).await?;
    let rows: Vec<_> = table
        .iter()
        .map(|(mq, o)| {
            json!({"topic": mq.topic, "brokerName": mq.broker_name, "queueId": mq.queue_id,
                "brokerOffset": o.broker_offset, "consumerOffset": o.consumer_offset,
                "diff": o.broker_offset - o.consumer_offset, "inflight": o.pull_offset - o.consumer_offset,
                "lastTimestamp": o.last_timestamp})
        })
        .collect();
    let diff: i64 = table
        .values()
        .map(|o| o.broker_offset - o.consumer_offset)
        .sum();
    let inflight: i64 = table
        .values()
        .map(|o| o.pull_offset - o.consumer_offset)
        .sum();
    if out.json(&json!({"group": group, "queues": rows, "consumeTps": tps, "diffTotal": diff, "inflightTotal": inflight})) {
        return Ok(());
    }
    println!(
        "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}#LastTime",
        "#Topic",
        "#Broker Name",
        "#QID",
        "#Broker Offset",
        "#Consumer Offset",
        "#Diff",
        "#Inflight"
    );
    for (mq, o) in &table {
        let last = if o.last_timestamp == 0 {
            "N/A".to_owned()
        } else {
            human(o.last_timestamp)
        };
        println!(
            "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20} {last}",
            front(&mq.topic, 64),
            front(&mq.broker_name, 32),
            mq.queue_id,
            o.broker_offset,
            o.consumer_offset,
            o.broker_offset - o.consumer_offset,
            o.pull_offset - o.consumer_offset
        );
    }
    println!();
    println!("Consume TPS: {tps:.2}");
    println!("Consume Diff Total: {diff}");
    println!("Consume Inflight Total: {inflight}");
    Ok(())
}

async fn all_groups_progress(admin: &AdminClient, out: Out) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for topic in admin.all_topics().await? {
        let Some(group) = topic.strip_prefix("%RETRY%") else {
            continue;
        };
        let stats = consume_stats(admin, group, None).await.ok();
        let conns = connections(admin, group, None).await.ok();
        let count = conns.as_ref().map_or(0, |c| c.connection_set.len());
        let version = conns
            .as_ref()
            .and_then(|c| c.connection_set.iter().map(|c| c.version).min())
            .map(version_desc)
            .unwrap_or_else(|| "OFFLINE".into());
        let kind = match conns.as_ref().map(|c| c.consume_type.as_str()) {
            Some("CONSUME_ACTIVELY") => "PULL",
            Some(_) if count > 0 => "PUSH",
            _ => "",
        };
        let model = match &conns {
            Some(c) if count > 0 && c.consume_type == "CONSUME_PASSIVELY" => {
                c.message_model.clone()
            }
            _ => String::new(),
        };
        let (tps, diff) = stats
            .map(|(t, tps)| {
                (
                    tps as i64,
                    t.values()
                        .map(|o| o.broker_offset - o.consumer_offset)
                        .sum(),
                )
            })
            .unwrap_or((0, 0i64));
        rows.push((group.to_owned(), count, version, kind, model, tps, diff));
    }
    if out.json(
        &rows
            .iter()
            .map(|(g, c, v, k, m, t, d)| {
                json!({"group": g, "count": c, "version": v, "type": k,
        "model": m, "tps": t, "diffTotal": d})
            })
            .collect::<Vec<_>>(),
    ) {
        return Ok(());
    }
    println!(
        "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  #Diff Total",
        "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS"
    );
    for (group, count, version, kind, model, tps, diff) in rows {
        println!(
            "{:<64}  {count:<6}  {version:<24} {kind:<5}  {model:<14}  {tps:<7}  {diff}",
            front(&group, 64)
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ConsumerConnectionArgs {
    #[arg(short = 'g', long = "consumerGroup")]
    pub consumer_group: String,
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
}

pub async fn consumer_connection(
    admin: &AdminClient,
    out: Out,
    a: ConsumerConnectionArgs,
) -> anyhow::Result<()> {
    let conns = connections(admin, &a.consumer_group, a.broker_addr.as_deref()).await?;
    if out.json(&conns) {
        return Ok(());
    }
    println!(
        "{:<36} {:<22} {:<10} #Version",
        "#ClientId", "#ClientAddr", "#Language"
    );
    for c in &conns.connection_set {
        println!(
            "{:<36} {:<22} {:<10} {}",
            c.client_id,
            c.client_addr,
            c.language,
            version_desc(c.version)
        );
    }
    println!();
    println!("Below is subscription:");
    println!("{:<20} #SubExpression", "#Topic");
    for sub in conns.subscription_table.values() {
        println!("{:<20} {}", sub.topic, sub.sub_string);
    }
    println!();
    println!("ConsumeType: {}", conns.consume_type);
    println!("MessageModel: {}", conns.message_model);
    println!("ConsumeFromWhere: {}", conns.consume_from_where);
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ProducerConnectionArgs {
    #[arg(short = 'g', long = "producerGroup")]
    pub producer_group: String,
    #[arg(short = 't', long = "topic")]
    pub topic: String,
}

pub async fn producer_connection(
    admin: &AdminClient,
    out: Out,
    a: ProducerConnectionArgs,
) -> anyhow::Result<()> {
    let masters = admin.route_masters(&a.topic).await?;
    let addr = masters
        .values()
        .next()
        .ok_or_else(|| anyhow!("topic {} has no broker", a.topic))?;
    let request = RemotingCommand::request(RequestCode::GET_PRODUCER_CONNECTION_LIST).with_header(
        &ProducerGroupRequest {
            producer_group: a.producer_group.clone(),
        },
    );
    let conns: ProducerConnection = body(&admin.ok(*addr, request).await?, "producer connection")?;
    if conns.connection_set.is_empty() {
        bail!(
            "Not found the producer group connection: {} has no producers online",
            a.producer_group
        );
    }
    if !out.json(&conns) {
        for (i, c) in conns.connection_set.iter().enumerate() {
            println!(
                "{:04}  {:<32} {:<22} {:<8} {}",
                i + 1,
                c.client_id,
                c.client_addr,
                c.language,
                version_desc(c.version)
            );
        }
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ConsumerStatus {
    #[arg(short = 'g', long = "consumerGroup")]
    pub consumer_group: String,
    #[arg(short = 'i', long = "clientId")]
    pub client_id: Option<String>,
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
    #[arg(short = 's', long = "jstack")]
    pub jstack: bool,
}

pub async fn consumer_status(
    admin: &AdminClient,
    out: Out,
    a: ConsumerStatus,
) -> anyhow::Result<()> {
    let conns = connections(admin, &a.consumer_group, a.broker_addr.as_deref()).await?;
    let addr = match &a.broker_addr {
        Some(b) => addr(b)?,
        None => *admin
            .route_masters(&retry_topic(&a.consumer_group))
            .await?
            .values()
            .next()
            .ok_or_else(|| anyhow!("consumer group {} has no broker", a.consumer_group))?,
    };
    let mut infos = Vec::new();
    for c in &conns.connection_set {
        if a.client_id.as_ref().is_some_and(|id| id != &c.client_id) {
            continue;
        }
        let request = RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO).with_header(
            &ConsumerRunningInfoRequest {
                consumer_group: a.consumer_group.clone(),
                client_id: c.client_id.clone(),
                jstack_enable: a.jstack,
            },
        );
        let info: serde_json::Value = match admin.ok(addr, request).await {
            Ok(r) => body(&r, "consumer running info")?,
            Err(e) => json!({"error": e.to_string()}),
        };
        infos.push((c.client_id.clone(), c.version, info));
    }
    if let Some(id) = &a.client_id {
        if infos.is_empty() {
            bail!("The Consumer <{}> <{id}> not online", a.consumer_group);
        }
    }
    if out.json(
        &infos
            .iter()
            .map(|(id, _, info)| json!({"clientId": id, "runningInfo": info}))
            .collect::<Vec<_>>(),
    ) {
        return Ok(());
    }
    println!(
        "{:<10} {:<40} {:<20} #Properties",
        "#Index", "#ClientId", "#Version"
    );
    for (i, (id, version, info)) in infos.iter().enumerate() {
        let props = info.get("properties").cloned().unwrap_or_default();
        println!(
            "{:<10} {:<40} {:<20} {}",
            i + 1,
            id,
            version_desc(*version),
            props
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ResetOffsetByTime {
    #[arg(short = 'g', long = "group")]
    pub group: String,
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// now, a time in ms, or yyyy-MM-dd#HH:mm:ss:SSS (UTC).
    #[arg(short = 's', long = "timestamp")]
    pub timestamp: String,
    #[arg(short = 'f', long = "force", default_value_t = true, action = clap::ArgAction::Set)]
    pub force: bool,
    /// With -q: reset this broker's queue only.
    #[arg(short = 'b', long = "broker")]
    pub broker: Option<String>,
    #[arg(short = 'q', long = "queue")]
    pub queue: Option<i32>,
    /// With -b and -q: this offset rather than the one at the time.
    #[arg(short = 'o', long = "offset")]
    pub offset: Option<i64>,
}

fn parse_timestamp(text: &str) -> anyhow::Result<i64> {
    if text == "now" {
        return Ok(crate::util::now_ms());
    }
    text.parse()
        .ok()
        .or_else(|| super::output::parse_time(text))
        .ok_or_else(|| {
            anyhow!("bad timestamp `{text}`: expected now, milliseconds or yyyy-MM-dd#HH:mm:ss:SSS")
        })
}

pub async fn reset_offset_by_time(
    admin: &AdminClient,
    out: Out,
    a: ResetOffsetByTime,
) -> anyhow::Result<()> {
    let timestamp = parse_timestamp(&a.timestamp)?;
    let targets: Vec<SocketAddr> = match (&a.broker, a.queue) {
        (Some(b), Some(_)) => vec![addr(b)?],
        (Some(_), None) | (None, Some(_)) => {
            bail!("give both a broker (-b) and a queue (-q), or neither")
        }
        (None, None) => admin.route_masters(&a.topic).await?.into_values().collect(),
    };
    let mut table = BTreeMap::new();
    for addr in targets {
        let request = RemotingCommand::request(RequestCode::INVOKE_BROKER_TO_RESET_OFFSET)
            .with_header(&ResetOffsetRequest {
                topic: a.topic.clone(),
                group: a.group.clone(),
                timestamp: if a.offset.is_some() { 0 } else { timestamp },
                is_force: a.force,
                queue_id: a.queue,
                offset: a.offset,
            });
        let reset: ResetOffsetBody = body(&admin.ok(addr, request).await?, "reset offsets")?;
        for (key, offset) in reset.offset_table {
            if let Some(mq) = parse_queue_key(&key) {
                table.insert(mq, offset);
            }
        }
    }
    if out.json(&table.iter().map(|(mq, o)| json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": o})).collect::<Vec<_>>()) {
        return Ok(());
    }
    println!(
        "start reset consumer offset by specified, group[{}], topic[{}], force[{}], timestamp(string)[{}], timestamp(long)[{timestamp}]",
        a.group, a.topic, a.force, a.timestamp
    );
    println!("{:<40}  {:<40}  #offset", "#brokerName", "#queueId");
    for (mq, offset) in &table {
        println!(
            "{:<40}  {:<40}  {offset}",
            front(&mq.broker_name, 32),
            mq.queue_id
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct CloneGroupOffset {
    #[arg(short = 's', long = "srcGroup")]
    pub src_group: String,
    #[arg(short = 'd', long = "destGroup")]
    pub dest_group: String,
    #[arg(short = 't', long = "topic")]
    pub topic: String,
}

/// As mqadmin: the source group's offsets (GET_CONSUME_STATS) committed for the destination
/// group (UPDATE_CONSUMER_OFFSET) on the brokers of the topic.
pub async fn clone_group_offset(
    admin: &AdminClient,
    out: Out,
    a: CloneGroupOffset,
) -> anyhow::Result<()> {
    let (table, _) = consume_stats(admin, &a.src_group, Some(&a.topic)).await?;
    let masters = admin.route_masters(&a.topic).await?;
    let mut cloned = 0;
    for (mq, o) in table
        .iter()
        .filter(|(mq, o)| mq.topic == a.topic && o.consumer_offset >= 0)
    {
        let Some(addr) = masters.get(&mq.broker_name) else {
            continue;
        };
        let request = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET).with_header(
            &UpdateConsumerOffsetRequest {
                consumer_group: a.dest_group.clone(),
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                commit_offset: o.consumer_offset,
            },
        );
        admin.ok(*addr, request).await?;
        cloned += 1;
    }
    if !out.json(&json!({"srcGroup": a.src_group, "destGroup": a.dest_group, "topic": a.topic, "queues": cloned})) {
        println!(
            "clone group offset success. srcGroup[{}], destGroup=[{}], topic[{}]",
            a.src_group, a.dest_group, a.topic
        );
    }
    Ok(())
}
