//! Cluster and broker commands: clusterList, brokerStatus, haStatus, getBrokerConfig,
//! updateBrokerConfig, wipeWritePerm, addWritePerm, updateKvConfig, deleteKvConfig.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::bail;
use serde_json::json;

use super::client::{addr, body, AdminClient};
use super::output::Out;
use crate::protocol::body::KvTable;
use crate::protocol::header::admin::BrokerNameRequest;
use crate::protocol::header::namesrv::{KvKeyRequest, PutKvRequest};
use crate::protocol::{RemotingCommand, RequestCode};

async fn runtime_info(
    admin: &AdminClient,
    addr: SocketAddr,
) -> anyhow::Result<BTreeMap<String, String>> {
    let response = admin
        .ok(
            addr,
            RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO),
        )
        .await?;
    Ok(body::<KvTable>(&response, "runtime info")?.table)
}

#[derive(clap::Args, Debug)]
pub struct ClusterList {
    /// Messages in and out, yesterday and today.
    #[arg(short = 'm', long = "moreStats")]
    pub more_stats: bool,
    /// Print again every this many seconds.
    #[arg(short = 'i', long = "interval")]
    pub interval: Option<u64>,
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
}

pub async fn cluster_list(admin: &AdminClient, out: Out, a: ClusterList) -> anyhow::Result<()> {
    loop {
        cluster_list_once(admin, out, &a).await?;
        match a.interval {
            Some(secs) => tokio::time::sleep(std::time::Duration::from_secs(secs.max(1))).await,
            None => return Ok(()),
        }
    }
}

async fn cluster_list_once(admin: &AdminClient, out: Out, a: &ClusterList) -> anyhow::Result<()> {
    let info = admin.cluster_info().await?;
    if let Some(cluster) = &a.cluster_name {
        if !info.cluster_addr_table.contains_key(cluster) {
            bail!("unknown cluster {cluster}");
        }
    }
    let mut rows = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        if a.cluster_name.as_ref().is_some_and(|c| c != cluster) {
            continue;
        }
        for name in names {
            let Some(broker) = info.broker_addr_table.get(name) else {
                continue;
            };
            for (id, address) in &broker.broker_addrs {
                let table = match addr(address) {
                    Ok(a) => runtime_info(admin, a).await.unwrap_or_else(|e| {
                        eprintln!("apogee admin clusterList: {address}: {e:#}");
                        BTreeMap::new()
                    }),
                    Err(_) => BTreeMap::new(),
                };
                rows.push((cluster.clone(), name.clone(), *id, address.clone(), table));
            }
        }
    }
    if out.json(&rows.iter().map(|(c, n, id, ad, t)| json!({"cluster": c, "brokerName": n, "brokerId": id, "addr": ad, "runtimeInfo": t})).collect::<Vec<_>>()) {
        return Ok(());
    }
    let get = |t: &BTreeMap<String, String>, k: &str| t.get(k).cloned().unwrap_or_default();
    let num = |t: &BTreeMap<String, String>, k: &str| -> i64 {
        t.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    if a.more_stats {
        println!(
            "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}",
            "#Cluster Name",
            "#Broker Name",
            "#InTotalYest",
            "#OutTotalYest",
            "#InTotalToday",
            "#OutTotalToday"
        );
        for (cluster, name, _, _, t) in &rows {
            println!(
                "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}",
                cluster,
                name,
                num(t, "msgPutTotalTodayMorning") - num(t, "msgPutTotalYesterdayMorning"),
                num(t, "msgGetTotalTodayMorning") - num(t, "msgGetTotalYesterdayMorning"),
                num(t, "msgPutTotalTodayNow") - num(t, "msgPutTotalTodayMorning"),
                num(t, "msgGetTotalTodayNow") - num(t, "msgGetTotalTodayMorning"),
            );
        }
        return Ok(());
    }
    println!(
        "{:<22}  {:<22}  {:<4}  {:<22} {:<16}  {:>16}  {:>30}  {:<22}  {:<11}  {:<12}  {:<8}  {:<10}",
        "#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Version", "#InTPS(LOAD)", "#OutTPS(LOAD)",
        "#Timer(Progress)", "#PCWait(ms)", "#Hour", "#SPACE", "#ACTIVATED"
    );
    let now = crate::util::now_ms();
    for (cluster, name, id, address, t) in &rows {
        let first = |k: &str| -> f64 {
            get(t, k)
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        let in_tps = format!(
            "{:9.2}({},{}ms)",
            first("putTps"),
            get(t, "sendThreadPoolQueueSize"),
            get(t, "sendThreadPoolQueueHeadWaitTimeMills")
        );
        let out_tps = format!(
            "{:9.2}({},{}ms|{},{}ms)",
            first("getTransferredTps"),
            get(t, "pullThreadPoolQueueSize"),
            get(t, "pullThreadPoolQueueHeadWaitTimeMills"),
            t.get("ackThreadPoolQueueSize").map_or("N", |s| s),
            t.get("ackThreadPoolQueueHeadWaitTimeMills")
                .map_or("N", |s| s),
        );
        let timer = format!(
            "{}-{}({:.1}w, {:.1}, {:.1})",
            num(t, "timerReadBehind"),
            num(t, "timerOffsetBehind"),
            num(t, "timerCongestNum") as f64 / 10_000.0,
            get(t, "timerEnqueueTps").parse::<f64>().unwrap_or(0.0),
            get(t, "timerDequeueTps").parse::<f64>().unwrap_or(0.0),
        );
        let earliest = num(t, "earliestMessageTimeStamp");
        let hours = (now - earliest) as f64 / 3_600_000.0;
        let space = get(t, "commitLogDiskRatio").parse::<f64>().unwrap_or(0.0);
        println!(
            "{:<22}  {:<22}  {:<4}  {:<22} {:<16}  {:>16}  {:>30}  {:<22}  {:>11}  {:<12}  {:<8}  {:>10}",
            cluster, name, id, address, get(t, "brokerVersionDesc"), in_tps, out_tps, timer,
            get(t, "pageCacheLockTimeMills"), format!("{hours:2.2}"), format!("{space:.4}"),
            get(t, "brokerActive") == "true"
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct BrokerTarget {
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
}

/// `-b`, or every broker (masters and slaves) of `-c`.
async fn all_of(admin: &AdminClient, t: &BrokerTarget) -> anyhow::Result<Vec<SocketAddr>> {
    match (&t.broker_addr, &t.cluster_name) {
        (Some(b), _) => Ok(vec![addr(b)?]),
        (None, Some(c)) => admin
            .cluster_brokers(c)
            .await?
            .iter()
            .flat_map(|b| b.broker_addrs.values().map(|a| addr(a)))
            .collect(),
        (None, None) => bail!("give a broker (-b ip:port) or a cluster (-c name)"),
    }
}

#[derive(clap::Args, Debug)]
pub struct BrokerStatus {
    #[command(flatten)]
    pub target: BrokerTarget,
}

pub async fn broker_status(admin: &AdminClient, out: Out, a: BrokerStatus) -> anyhow::Result<()> {
    let addrs = all_of(admin, &a.target).await?;
    let mut all = BTreeMap::new();
    for address in &addrs {
        all.insert(address.to_string(), runtime_info(admin, *address).await?);
    }
    if out.json(&all) {
        return Ok(());
    }
    for (address, table) in &all {
        for (k, v) in table {
            if a.target.broker_addr.is_some() {
                println!("{k:<32}: {v}");
            } else {
                println!("{address:<24} {k:<32}: {v}");
            }
        }
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct HaStatus {
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    /// Every master of the cluster.
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// Print again every this many seconds (3 when given empty), until stopped.
    #[arg(short = 'i', long = "interval", num_args = 0..=1, default_missing_value = "3")]
    pub interval: Option<u64>,
}

/// mqadmin's haStatus: GET_BROKER_HA_STATUS of a broker (`-b`) or of a cluster's masters.
pub async fn ha_status(admin: &AdminClient, out: Out, a: HaStatus) -> anyhow::Result<()> {
    let addrs = match (&a.broker_addr, &a.cluster_name) {
        (Some(b), _) => vec![addr(b)?],
        (None, Some(c)) => admin.cluster_masters(c).await?,
        (None, None) => bail!("give a broker (-b ip:port) or a cluster (-c name)"),
    };
    loop {
        let mut all = BTreeMap::new();
        for address in &addrs {
            let response = admin
                .ok(
                    *address,
                    RemotingCommand::request(RequestCode::GET_BROKER_HA_STATUS),
                )
                .await?;
            let info: serde_json::Value = body(&response, "HA status")?;
            all.insert(address.to_string(), info);
        }
        if !out.json(&all) {
            for (address, info) in &all {
                print_ha_status(address, info);
            }
        }
        let Some(secs) = a.interval else {
            return Ok(());
        };
        tokio::time::sleep(std::time::Duration::from_secs(secs.max(1))).await;
    }
}

/// As mqadmin prints `HARuntimeInfo`.
fn print_ha_status(address: &str, info: &serde_json::Value) {
    let int = |v: &serde_json::Value| v.as_i64().unwrap_or(0);
    if info["master"].as_bool().unwrap_or(false) {
        let slaves = info["haConnectionInfo"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        println!(
            "\n#MasterAddr\t{address}\n#MasterCommitLogMaxOffset\t{}\n#SlaveNum\t{}\n#InSyncSlaveNum\t{}",
            int(&info["masterCommitLogMaxOffset"]),
            slaves.len(),
            int(&info["inSyncSlaveNums"])
        );
        println!(
            "{:<32}  {:<16} {:>16} {:>16} {:>16} {:>16}",
            "#SlaveAddr",
            "#SlaveAckOffset",
            "#Diff",
            "#TransferSpeed(KB/s)",
            "#Status",
            "#TransferFromWhere"
        );
        for s in &slaves {
            println!(
                "{:<32}  {:<16} {:>16} {:>16.2} {:>16} {:>16}",
                s["addr"].as_str().unwrap_or(""),
                int(&s["slaveAckOffset"]),
                int(&s["diff"]),
                int(&s["transferredByteInSecond"]) as f64 / 1024.0,
                if s["inSync"].as_bool().unwrap_or(false) {
                    "OK"
                } else {
                    "Fall Behind"
                },
                int(&s["transferFromWhere"])
            );
        }
    } else {
        let c = &info["haClientRuntimeInfo"];
        println!("\n#MasterAddr\t{}", c["masterAddr"].as_str().unwrap_or(""));
        println!("#CommitLogMaxOffset\t{}", int(&c["maxOffset"]));
        println!(
            "#TransferSpeed(KB/s)\t{:.2}",
            int(&c["transferredByteInSecond"]) as f64 / 1024.0
        );
        println!(
            "#LastReadTime\t{}",
            super::output::human_ms(int(&c["lastReadTimestamp"]))
        );
        println!(
            "#LastWriteTime\t{}",
            super::output::human_ms(int(&c["lastWriteTimestamp"]))
        );
        println!("#MasterFlushOffset\t{}", int(&c["masterFlushOffset"]));
    }
}

#[derive(clap::Args, Debug)]
pub struct GetBrokerConfig {
    #[command(flatten)]
    pub target: BrokerTarget,
}

pub async fn get_broker_config(
    admin: &AdminClient,
    out: Out,
    a: GetBrokerConfig,
) -> anyhow::Result<()> {
    let mut all = BTreeMap::new();
    for address in all_of(admin, &a.target).await? {
        let response = admin
            .ok(
                address,
                RemotingCommand::request(RequestCode::GET_BROKER_CONFIG),
            )
            .await?;
        let props =
            crate::broker::config::parse_properties(&String::from_utf8_lossy(&response.body));
        all.insert(address.to_string(), props);
    }
    if out.json(
        &all.iter()
            .map(|(a, p)| (a.clone(), p.iter().cloned().collect::<BTreeMap<_, _>>()))
            .collect::<BTreeMap<_, _>>(),
    ) {
        return Ok(());
    }
    for (address, props) in &all {
        println!("============{address}============");
        if props.is_empty() {
            println!("Broker[{address}] has no config property!");
        }
        for (k, v) in props {
            println!("{k:<50}=  {v}");
        }
        println!();
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct UpdateBrokerConfig {
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// With -c: slaves too.
    #[arg(short = 'a', long = "updateAllBroker")]
    pub update_all_broker: bool,
    #[arg(short = 'k', long = "key")]
    pub key: String,
    #[arg(short = 'v', long = "value")]
    pub value: String,
}

pub async fn update_broker_config(
    admin: &AdminClient,
    out: Out,
    a: UpdateBrokerConfig,
) -> anyhow::Result<()> {
    if a.key == "brokerPermission" && !a.value.parse::<i32>().is_ok_and(|p| (0..8).contains(&p)) {
        bail!("brokerPermission value: {} is invalid.", a.value);
    }
    let targets = if a.update_all_broker && a.broker_addr.is_none() {
        all_of(
            admin,
            &BrokerTarget {
                broker_addr: None,
                cluster_name: a.cluster_name.clone(),
            },
        )
        .await?
    } else {
        admin
            .targets(a.broker_addr.as_deref(), a.cluster_name.as_deref())
            .await?
    };
    let body = format!("{}={}\n", a.key, a.value);
    for address in &targets {
        let request = RemotingCommand::request(RequestCode::UPDATE_BROKER_CONFIG)
            .with_body(body.clone().into_bytes());
        admin.ok(*address, request).await?;
        if !out.json {
            println!("update broker config success, {address}");
        }
    }
    out.json(&json!({"key": a.key, "value": a.value, "brokers": targets.iter().map(|t| t.to_string()).collect::<Vec<_>>()}));
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct WritePerm {
    /// A broker name (not an address).
    #[arg(short = 'b', long = "brokerName")]
    pub broker_name: String,
}

pub async fn write_perm(
    admin: &AdminClient,
    out: Out,
    a: WritePerm,
    allow: bool,
) -> anyhow::Result<()> {
    let code = if allow {
        RequestCode::ADD_WRITE_PERM_OF_BROKER
    } else {
        RequestCode::WIPE_WRITE_PERM_OF_BROKER
    };
    let request = RemotingCommand::request(code).with_header(&BrokerNameRequest {
        broker_name: a.broker_name.clone(),
    });
    let verb = if allow { "add" } else { "wipe" };
    let mut failed = false;
    let mut results = Vec::new();
    for (namesrv, answer) in admin.every_namesrv(request).await {
        match answer {
            Ok(response) => {
                let count = response
                    .ext(if allow {
                        "addTopicCount"
                    } else {
                        "wipeTopicCount"
                    })
                    .and_then(|c| c.parse::<i64>().ok())
                    .unwrap_or(0);
                results.push(json!({"nameServer": namesrv.to_string(), "topics": count}));
                if !out.json {
                    println!(
                        "{verb} write perm of broker[{}] in name server[{namesrv}] OK, {count}",
                        a.broker_name
                    );
                }
            }
            Err(e) => {
                failed = true;
                results.push(json!({"nameServer": namesrv.to_string(), "error": e.to_string()}));
                if !out.json {
                    println!(
                        "{verb} write perm of broker[{}] in name server[{namesrv}] Failed",
                        a.broker_name
                    );
                    eprintln!("apogee admin: {e:#}");
                }
            }
        }
    }
    out.json(&results);
    if failed {
        bail!(
            "not every name server changed the write permission of {}",
            a.broker_name
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct UpdateKvConfig {
    #[arg(short = 's', long = "namespace")]
    pub namespace: String,
    #[arg(short = 'k', long = "key")]
    pub key: String,
    #[arg(short = 'v', long = "value")]
    pub value: String,
}

pub async fn update_kv_config(
    admin: &AdminClient,
    out: Out,
    a: UpdateKvConfig,
) -> anyhow::Result<()> {
    let request = RemotingCommand::request(RequestCode::PUT_KV_CONFIG).with_header(&PutKvRequest {
        namespace: a.namespace.clone(),
        key: a.key.clone(),
        value: a.value.clone(),
    });
    for (_, answer) in admin.every_namesrv(request).await {
        answer?;
    }
    if !out.json(&json!({"namespace": a.namespace, "key": a.key, "value": a.value})) {
        println!("create or update kv config to namespace success.");
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct DeleteKvConfig {
    #[arg(short = 's', long = "namespace")]
    pub namespace: String,
    #[arg(short = 'k', long = "key")]
    pub key: String,
}

pub async fn delete_kv_config(
    admin: &AdminClient,
    out: Out,
    a: DeleteKvConfig,
) -> anyhow::Result<()> {
    let request =
        RemotingCommand::request(RequestCode::DELETE_KV_CONFIG).with_header(&KvKeyRequest {
            namespace: a.namespace.clone(),
            key: a.key.clone(),
        });
    for (_, answer) in admin.every_namesrv(request).await {
        answer?;
    }
    if !out.json(&json!({"namespace": a.namespace, "key": a.key, "deleted": true})) {
        println!("delete kv config from namespace success.");
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct BrokerConsumeStats {
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: String,
    /// Only queues that lag by at least this much.
    #[arg(short = 'l', long = "level", default_value_t = 0)]
    pub level: i64,
    /// Only ordered topics.
    #[arg(short = 'o', long = "order", default_value_t = false, action = clap::ArgAction::Set)]
    pub order: bool,
}

pub async fn broker_consume_stats(
    admin: &AdminClient,
    out: Out,
    a: BrokerConsumeStats,
) -> anyhow::Result<()> {
    use crate::protocol::body::admin::{parse_queue_key, ConsumeStatsList};
    let mut request = RemotingCommand::request(RequestCode::GET_BROKER_CONSUME_STATS);
    request
        .ext_fields
        .get_or_insert_with(Default::default)
        .insert("isOrder", if a.order { "true" } else { "false" });
    let response = admin.ok(addr(&a.broker_addr)?, request).await?;
    let list: ConsumeStatsList = body(&response, "broker consume stats")?;
    let mut rows = Vec::new();
    for groups in &list.consume_stats_list {
        for (group, stats) in groups {
            for s in stats {
                let mut queues: Vec<_> = s
                    .offset_table
                    .iter()
                    .filter_map(|(k, o)| Some((parse_queue_key(k)?, o.clone())))
                    .collect();
                queues.sort_by(|x, y| x.0.cmp(&y.0));
                for (mq, o) in queues {
                    let diff = o.broker_offset - o.consumer_offset;
                    if diff >= a.level && o.last_timestamp > 0 {
                        rows.push((mq, group.clone(), o, diff));
                    }
                }
            }
        }
    }
    if out.json(&json!({"brokerAddr": list.broker_addr, "totalDiff": list.total_diff,
        "queues": rows.iter().map(|(mq, g, o, d)| json!({"topic": mq.topic, "group": g, "brokerName": mq.broker_name,
            "queueId": mq.queue_id, "brokerOffset": o.broker_offset, "consumerOffset": o.consumer_offset,
            "diff": d, "lastTimestamp": o.last_timestamp})).collect::<Vec<_>>()}))
    {
        return Ok(());
    }
    println!(
        "{:<64}  {:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20}  #LastTime",
        "#Topic", "#Group", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff"
    );
    for (mq, group, o, diff) in &rows {
        println!(
            "{:<64}  {:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20}  {}",
            super::output::front(&mq.topic, 64),
            group,
            super::output::front(&mq.broker_name, 32),
            mq.queue_id,
            o.broker_offset,
            o.consumer_offset,
            diff,
            super::output::human(o.last_timestamp)
        );
    }
    println!();
    println!("Diff Total: {}", list.total_diff);
    Ok(())
}
