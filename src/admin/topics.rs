//! Topic commands: updateTopic, deleteTopic, topicList, topicRoute, topicStatus,
//! topicClusterList — the requests mqadmin sends, the tables it prints.

use std::collections::BTreeMap;

use anyhow::bail;
use serde_json::json;

use super::client::{addr, body, AdminClient};
use super::output::{front, human_ms, Out};
use crate::protocol::body::admin::{parse_queue_key, GroupList, TopicStatsTable};
use crate::protocol::header::broker::{CreateTopicRequest, TopicRequest};
use crate::protocol::header::namesrv::DeleteTopicRequest;
use crate::protocol::{RemotingCommand, RequestCode};

#[derive(clap::Args, Debug)]
pub struct UpdateTopic {
    /// Create the topic on this broker (ip:port).
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    /// Create the topic on every master of this cluster.
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
    pub read_queue_nums: i32,
    #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
    pub write_queue_nums: i32,
    /// 2 (W), 4 (R) or 6 (RW).
    #[arg(short = 'p', long = "perm", default_value_t = 6)]
    pub perm: i32,
    #[arg(short = 'o', long = "order", default_value_t = false, action = clap::ArgAction::Set)]
    pub order: bool,
}

/// TopicConfig.toString's `perm=RW-`.
fn perm_string(perm: i32) -> String {
    let bit = |mask: i32, c: char| if perm & mask != 0 { c } else { '-' };
    [bit(4, 'R'), bit(2, 'W'), bit(1, 'X')].iter().collect()
}

pub async fn update_topic(admin: &AdminClient, out: Out, a: UpdateTopic) -> anyhow::Result<()> {
    if !(0..8).contains(&a.perm) {
        bail!("topicPermission value: {} is invalid.", a.perm);
    }
    if let Some(why) = crate::actors::topic_config::invalid_topic_name(&a.topic) {
        bail!("{why}");
    }
    let targets = admin
        .targets(a.broker_addr.as_deref(), a.cluster_name.as_deref())
        .await?;
    let header = CreateTopicRequest {
        topic: a.topic.clone(),
        default_topic: "TBW102".into(),
        read_queue_nums: a.read_queue_nums,
        write_queue_nums: a.write_queue_nums,
        perm: a.perm,
        topic_filter_type: Some("SINGLE_TAG".into()),
        topic_sys_flag: Some(0),
        order: a.order,
    };
    let mut created = Vec::new();
    for addr in &targets {
        let request =
            RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC).with_header(&header);
        admin.ok(*addr, request).await?;
        created.push(addr.to_string());
        if !out.json {
            println!("create topic to {addr} success.");
        }
    }
    if !out.json(
        &json!({"topic": a.topic, "brokers": created, "readQueueNums": a.read_queue_nums,
        "writeQueueNums": a.write_queue_nums, "perm": a.perm, "order": a.order}),
    ) {
        println!(
            "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, topicFilterType=SINGLE_TAG, topicSysFlag=0, order={}, attributes={{}}]",
            a.topic, a.read_queue_nums, a.write_queue_nums, perm_string(a.perm), a.order
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct DeleteTopic {
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: String,
}

pub async fn delete_topic(admin: &AdminClient, out: Out, a: DeleteTopic) -> anyhow::Result<()> {
    for addr in admin.cluster_masters(&a.cluster_name).await? {
        let request = RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_BROKER).with_header(
            &TopicRequest {
                topic: a.topic.clone(),
            },
        );
        admin.ok(addr, request).await?;
    }
    if !out.json {
        println!(
            "delete topic [{}] from cluster [{}] success.",
            a.topic, a.cluster_name
        );
    }
    let request = RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_NAMESRV).with_header(
        &DeleteTopicRequest {
            topic: a.topic.clone(),
            cluster_name: Some(a.cluster_name.clone()),
        },
    );
    for (_, answer) in admin.every_namesrv(request).await {
        answer?;
    }
    if !out.json(&json!({"topic": a.topic, "cluster": a.cluster_name, "deleted": true})) {
        println!("delete topic [{}] from NameServer success.", a.topic);
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct TopicList {
    /// With each topic's cluster and consumer groups.
    #[arg(short = 'c', long = "clusterModel")]
    pub cluster_model: bool,
}

pub async fn topic_list(admin: &AdminClient, out: Out, a: TopicList) -> anyhow::Result<()> {
    let topics = admin.all_topics().await?;
    if !a.cluster_model {
        if !out.json(&topics) {
            for topic in &topics {
                println!("{topic}");
            }
        }
        return Ok(());
    }
    let info = admin.cluster_info().await?;
    let mut rows = Vec::new();
    for topic in topics
        .iter()
        .filter(|t| !t.starts_with("%RETRY%") && !t.starts_with("%DLQ%"))
    {
        let (cluster, groups) = match admin.route(topic).await {
            Ok(route) => {
                let first = route.broker_datas.first();
                let cluster = first
                    .and_then(|b| {
                        info.cluster_addr_table
                            .iter()
                            .find(|(_, names)| names.contains(&b.broker_name))
                            .map(|(c, _)| c.clone())
                    })
                    .unwrap_or_default();
                let groups = match first.and_then(|b| b.master_addr()).map(addr) {
                    Some(Ok(addr)) => {
                        let request =
                            RemotingCommand::request(RequestCode::QUERY_TOPIC_CONSUME_BY_WHO)
                                .with_header(&TopicRequest {
                                    topic: topic.clone(),
                                });
                        match admin.ok(addr, request).await {
                            Ok(r) => body::<GroupList>(&r, "group list")
                                .map(|g| g.group_list.into_iter().collect())
                                .unwrap_or_default(),
                            Err(_) => Vec::new(),
                        }
                    }
                    _ => Vec::new(),
                };
                (cluster, groups)
            }
            Err(_) => (String::new(), Vec::new()),
        };
        rows.push((cluster, topic.clone(), groups));
    }
    if out.json(
        &rows
            .iter()
            .map(|(c, t, g)| json!({"cluster": c, "topic": t, "groups": g}))
            .collect::<Vec<_>>(),
    ) {
        return Ok(());
    }
    println!(
        "{:<20}  {:<48}  {:<48}",
        "#Cluster Name", "#Topic", "#Consumer Group"
    );
    for (cluster, topic, groups) in rows {
        let groups = if groups.is_empty() {
            vec![String::new()]
        } else {
            groups
        };
        for group in groups {
            println!(
                "{:<20}  {:<64}  {:<64}",
                front(&cluster, 20),
                front(&topic, 64),
                front(&group, 64)
            );
        }
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct TopicRoute {
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// One line per broker.
    #[arg(short = 'l', long = "list")]
    pub list: bool,
}

pub async fn topic_route(admin: &AdminClient, out: Out, a: TopicRoute) -> anyhow::Result<()> {
    let route = admin.route(&a.topic).await?;
    if out.json(&route) {
        return Ok(());
    }
    if !a.list {
        println!("{}", serde_json::to_string_pretty(&route)?);
        return Ok(());
    }
    let info = admin.cluster_info().await?;
    let row = |c: &str, b: &str, addrs: &str, r: &str, w: &str, p: &str| {
        println!("{c:<45} {b:<32} {addrs:<50} {r:<10} {w:<11} {p:<5}")
    };
    row(
        "#ClusterName",
        "#BrokerName",
        "#BrokerAddrs",
        "#ReadQueue",
        "#WriteQueue",
        "#Perm",
    );
    let (mut reads, mut writes) = (0, 0);
    let mut brokers = route.broker_datas.clone();
    brokers.sort_by(|x, y| x.broker_name.cmp(&y.broker_name));
    for b in &brokers {
        let q = route
            .queue_datas
            .iter()
            .find(|q| q.broker_name == b.broker_name);
        let (r, w, p) = q
            .map(|q| (q.read_queue_nums, q.write_queue_nums, q.perm))
            .unwrap_or_default();
        reads += r;
        writes += w;
        let cluster = info
            .cluster_addr_table
            .iter()
            .find(|(_, names)| names.contains(&b.broker_name))
            .map(|(c, _)| c.as_str())
            .unwrap_or(&b.cluster);
        let addrs = b
            .broker_addrs
            .iter()
            .map(|(id, addr)| format!("{id}={addr}"))
            .collect::<Vec<_>>()
            .join(", ");
        row(
            cluster,
            &b.broker_name,
            &format!("{{{addrs}}}"),
            &r.to_string(),
            &w.to_string(),
            &p.to_string(),
        );
    }
    println!("{}", "-".repeat(158));
    row(
        "Total:",
        &brokers.len().to_string(),
        "",
        &reads.to_string(),
        &writes.to_string(),
        "",
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct TopicStatus {
    #[arg(short = 't', long = "topic")]
    pub topic: String,
}

pub async fn topic_status(admin: &AdminClient, out: Out, a: TopicStatus) -> anyhow::Result<()> {
    let mut table = BTreeMap::new();
    for (_, addr) in admin.route_masters(&a.topic).await? {
        let request = RemotingCommand::request(RequestCode::GET_TOPIC_STATS_INFO).with_header(
            &TopicRequest {
                topic: a.topic.clone(),
            },
        );
        let stats: TopicStatsTable = body(&admin.ok(addr, request).await?, "topic stats")?;
        for (key, offset) in stats.offset_table {
            if let Some(mq) = parse_queue_key(&key) {
                table.insert(mq, offset);
            }
        }
    }
    if table.is_empty() {
        bail!("Not found the topic stats info");
    }
    if out.json(&table.iter().map(|(mq, o)| json!({"brokerName": mq.broker_name, "queueId": mq.queue_id,
        "minOffset": o.min_offset, "maxOffset": o.max_offset, "lastUpdateTimestamp": o.last_update_timestamp})).collect::<Vec<_>>())
    {
        return Ok(());
    }
    println!(
        "{:<32}  {:<4}  {:<20}  {:<20}    #Last Updated",
        "#Broker Name", "#QID", "#Min Offset", "#Max Offset"
    );
    for (mq, o) in &table {
        let last = if o.last_update_timestamp > 0 {
            human_ms(o.last_update_timestamp)
        } else {
            String::new()
        };
        println!(
            "{:<32}  {:<4}  {:<20}  {:<20}    {last}",
            front(&mq.broker_name, 32),
            mq.queue_id,
            o.min_offset,
            o.max_offset
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct TopicClusterList {
    #[arg(short = 't', long = "topic")]
    pub topic: String,
}

pub async fn topic_cluster_list(
    admin: &AdminClient,
    out: Out,
    a: TopicClusterList,
) -> anyhow::Result<()> {
    let route = admin.route(&a.topic).await?;
    let info = admin.cluster_info().await?;
    let Some(first) = route.broker_datas.first() else {
        bail!("topic {} has no broker in its route", a.topic);
    };
    let clusters: Vec<&String> = info
        .cluster_addr_table
        .iter()
        .filter(|(_, names)| names.contains(&first.broker_name))
        .map(|(c, _)| c)
        .collect();
    if !out.json(&clusters) {
        for cluster in clusters {
            println!("{cluster}");
        }
    }
    Ok(())
}
