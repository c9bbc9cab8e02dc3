//! Message commands: queryMsgById, queryMsgByKey, queryMsgByUniqueKey, queryMsgByOffset,
//! printMsg, sendMessage, consumeMessage.

use std::net::SocketAddr;

use anyhow::{anyhow, bail};
use bytes::Bytes;
use serde_json::json;

use super::client::AdminClient;
use super::output::{human_ms, Out};
use crate::client::{ClientConfig, Message, MessageExt, Producer, ProducerConfig};
use crate::protocol::header::broker::{
    PullRequest, QueryMessageRequest, TopicQueue, ViewMessageRequest,
};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};

fn message_json(m: &MessageExt) -> serde_json::Value {
    json!({
        "msgId": m.msg_id, "offsetMsgId": m.offset_msg_id, "topic": m.topic,
        "tags": m.tags(), "keys": m.keys(), "brokerName": m.broker_name,
        "queueId": m.queue_id, "queueOffset": m.queue_offset, "commitLogOffset": m.commit_log_offset,
        "reconsumeTimes": m.reconsume_times, "bornTimestamp": m.born_timestamp,
        "storeTimestamp": m.store_timestamp, "bornHost": m.born_host.to_string(),
        "storeHost": m.store_host.to_string(), "sysFlag": m.sys_flag,
        "properties": properties(m), "body": String::from_utf8_lossy(&m.body),
    })
}

fn properties(m: &MessageExt) -> std::collections::BTreeMap<String, String> {
    crate::protocol::properties::iter(&m.properties)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// mqadmin's `printMsg` block (`%-20s %s`).
fn print_message(m: &MessageExt, with_body: bool) {
    let line = |k: &str, v: String| println!("{k:<20} {v}");
    line("OffsetID:", m.offset_msg_id.clone());
    line("Topic:", m.topic.clone());
    line("Tags:", format!("[{}]", m.tags().unwrap_or("null")));
    line("Keys:", format!("[{}]", m.keys().unwrap_or("null")));
    line("Queue ID:", m.queue_id.to_string());
    line("Queue Offset:", m.queue_offset.to_string());
    line("CommitLog Offset:", m.commit_log_offset.to_string());
    line("Reconsume Times:", m.reconsume_times.to_string());
    line("Born Timestamp:", human_ms(m.born_timestamp));
    line("Store Timestamp:", human_ms(m.store_timestamp));
    line("Born Host:", m.born_host.to_string());
    line("Store Host:", m.store_host.to_string());
    line("System Flag:", m.sys_flag.to_string());
    let props: Vec<String> = properties(m)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    line("Properties:", format!("{{{}}}", props.join(", ")));
    if with_body {
        line(
            "Message Body:",
            String::from_utf8_lossy(&m.body).into_owned(),
        );
    }
}

fn emit(out: Out, found: &[MessageExt], with_body: bool) {
    if out.json(&found.iter().map(message_json).collect::<Vec<_>>()) {
        return;
    }
    for (i, m) in found.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print_message(m, with_body);
    }
}

/// QUERY_MESSAGE on every master of the topic.
pub(super) async fn query(
    admin: &AdminClient,
    topic: &str,
    key: &str,
    unique: bool,
    max: i32,
    begin: i64,
    end: i64,
) -> anyhow::Result<Vec<MessageExt>> {
    let mut found = Vec::new();
    for (broker_name, address) in admin.route_masters(topic).await? {
        let mut request = RemotingCommand::request(RequestCode::QUERY_MESSAGE).with_header(
            &QueryMessageRequest {
                topic: topic.to_owned(),
                key: key.to_owned(),
                max_num: max,
                begin_timestamp: begin,
                end_timestamp: end,
            },
        );
        request
            .ext_fields
            .get_or_insert_with(Default::default)
            .insert("_UNIQUE_KEY_QUERY", if unique { "true" } else { "false" });
        let response = admin.call(address, request, super::client::TIMEOUT).await?;
        if response.response_code() == ResponseCode::QUERY_NOT_FOUND {
            continue;
        }
        let response = super::client::check(address, response)?;
        let messages = MessageExt::decode_all(&response.body, &broker_name)
            .map_err(|e| anyhow!("{address}: undecodable messages: {e}"))?;
        found.extend(messages.into_iter().filter(|m| {
            m.topic == topic
                && if unique {
                    m.msg_id == key
                } else {
                    m.keys().is_some_and(|k| k.split(' ').any(|k| k == key))
                }
        }));
    }
    Ok(found)
}

#[derive(clap::Args, Debug)]
pub struct QueryMsgById {
    #[arg(short = 't', long = "topic")]
    pub topic: Option<String>,
    /// Message ids, comma-separated: offset ids, or unique keys with -t.
    #[arg(short = 'i', long = "msgId")]
    pub msg_id: String,
    /// Print the body too (mqadmin writes it to a file).
    #[arg(short = 'f', long = "bodyFormat")]
    pub body_format: Option<String>,
    /// With -d: have this group's consumer consume the message now (CONSUME_MESSAGE_DIRECTLY).
    #[arg(short = 'g', long = "consumerGroup", requires = "client_id")]
    pub consumer_group: Option<String>,
    #[arg(short = 'd', long = "clientId", requires = "consumer_group")]
    pub client_id: Option<String>,
}

pub async fn query_msg_by_id(admin: &AdminClient, out: Out, a: QueryMsgById) -> anyhow::Result<()> {
    let mut found = Vec::new();
    for id in a.msg_id.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some((host, offset)) = crate::protocol::message::decode_offset_msg_id(id) {
            let request = RemotingCommand::request(RequestCode::VIEW_MESSAGE_BY_ID).with_header(
                &ViewMessageRequest {
                    offset: offset as i64,
                },
            );
            if let Ok(response) = admin.ok(host, request).await {
                let mut messages = MessageExt::decode_all(&response.body, "")
                    .map_err(|e| anyhow!("{host}: undecodable message: {e}"))?;
                if !messages.is_empty() {
                    found.push(messages.remove(0));
                    continue;
                }
            }
        }
        // Not an offset id, or not found there: a unique key of the topic.
        let Some(topic) = &a.topic else {
            bail!("message {id} not found (give its topic with -t to look it up by unique key)");
        };
        let mut by_key = query(admin, topic, id, true, 32, 0, i64::MAX).await?;
        if by_key.is_empty() {
            bail!("message {id} not found in topic {topic}");
        }
        by_key.sort_by_key(|m| m.store_timestamp);
        found.push(by_key.remove(0));
    }
    if let (Some(group), Some(client_id)) = (&a.consumer_group, &a.client_id) {
        return consume_directly(admin, out, &found, group, client_id).await;
    }
    emit(out, &found, a.body_format.is_some());
    Ok(())
}

/// CONSUME_MESSAGE_DIRECTLY of each message, to its store host, for one consumer.
async fn consume_directly(
    admin: &AdminClient,
    out: Out,
    found: &[MessageExt],
    group: &str,
    client_id: &str,
) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for m in found {
        let request = RemotingCommand::request(RequestCode::CONSUME_MESSAGE_DIRECTLY).with_header(
            &crate::protocol::header::admin::ConsumeMessageDirectlyRequest {
                consumer_group: group.to_owned(),
                client_id: client_id.to_owned(),
                msg_id: m.offset_msg_id.clone(),
                broker_name: None,
                topic: Some(m.topic.clone()),
            },
        );
        let response = admin.ok(m.store_host, request).await?;
        let result: serde_json::Value = super::client::body(&response, "direct consumption")?;
        if !out.json {
            println!(
                "ConsumeMessageDirectlyResult [order={}, autoCommit={}, consumeResult={}, remark={}, spentTimeMills={}]",
                result["order"], result["autoCommit"], result["consumeResult"].as_str().unwrap_or_default(),
                result["remark"].as_str().unwrap_or("null"), result["spentTimeMills"]
            );
        }
        results.push(result);
    }
    out.json(&results);
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct QueryMsgByKey {
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    #[arg(short = 'k', long = "msgKey")]
    pub msg_key: String,
    #[arg(short = 'b', long = "beginTimestamp", default_value_t = 0)]
    pub begin_timestamp: i64,
    #[arg(short = 'e', long = "endTimestamp", default_value_t = i64::MAX)]
    pub end_timestamp: i64,
    #[arg(short = 'm', long = "maxNum", default_value_t = 64)]
    pub max_num: i32,
}

pub async fn query_msg_by_key(
    admin: &AdminClient,
    out: Out,
    a: QueryMsgByKey,
) -> anyhow::Result<()> {
    let found = query(
        admin,
        &a.topic,
        &a.msg_key,
        false,
        a.max_num,
        a.begin_timestamp,
        a.end_timestamp,
    )
    .await?;
    if found.is_empty() {
        bail!(
            "query message by key finished, but no message: key {} in topic {}",
            a.msg_key,
            a.topic
        );
    }
    if out.json(&found.iter().map(message_json).collect::<Vec<_>>()) {
        return Ok(());
    }
    println!("{:<50} {:>4} {:>40}", "#Message ID", "#QID", "#Offset");
    for m in &found {
        println!("{:<50} {:>4} {:>40}", m.msg_id, m.queue_id, m.queue_offset);
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct QueryMsgByUniqueKey {
    #[arg(short = 'i', long = "msgId")]
    pub msg_id: String,
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Every message with this key, not only the first stored.
    #[arg(short = 'a', long = "showAll")]
    pub show_all: bool,
}

pub async fn query_msg_by_unique_key(
    admin: &AdminClient,
    out: Out,
    a: QueryMsgByUniqueKey,
) -> anyhow::Result<()> {
    let mut found = query(admin, &a.topic, &a.msg_id, true, 32, 0, i64::MAX).await?;
    if found.is_empty() {
        bail!(
            "query message by key finished, but no message: unique key {} in topic {}",
            a.msg_id,
            a.topic
        );
    }
    found.sort_by_key(|m| m.store_timestamp);
    if !a.show_all {
        found.truncate(1);
    }
    emit(out, &found, false);
    Ok(())
}

/// One queue of a topic, on its master.
struct Queue<'a> {
    broker: SocketAddr,
    broker_name: &'a str,
    topic: &'a str,
    queue_id: i32,
}

/// One PULL_MESSAGE of up to `max` messages from `offset` (no commit, no suspension).
async fn pull(
    admin: &AdminClient,
    q: &Queue<'_>,
    offset: i64,
    max: i32,
    group: &str,
) -> anyhow::Result<(Vec<MessageExt>, i64, ResponseCode)> {
    let (broker, broker_name, topic, queue_id) = (q.broker, q.broker_name, q.topic, q.queue_id);
    let request = RemotingCommand::request(RequestCode::PULL_MESSAGE).with_header(&PullRequest {
        consumer_group: group.to_owned(),
        topic: topic.to_owned(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: max,
        sys_flag: 4,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
    });
    let response = admin
        .call(broker, request, super::client::TIMEOUT * 2)
        .await?;
    let code = response.response_code();
    let next = response
        .ext("nextBeginOffset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(offset);
    if code != ResponseCode::SUCCESS {
        return Ok((Vec::new(), next, code));
    }
    let messages = MessageExt::decode_all(&Bytes::clone(&response.body), broker_name)
        .map_err(|e| anyhow!("{broker}: undecodable messages: {e}"))?;
    Ok((messages, next, code))
}

#[derive(clap::Args, Debug)]
pub struct QueryMsgByOffset {
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    #[arg(short = 'b', long = "brokerName")]
    pub broker_name: String,
    #[arg(short = 'i', long = "queueId")]
    pub queue_id: i32,
    #[arg(short = 'o', long = "offset")]
    pub offset: i64,
    #[arg(short = 'f', long = "bodyFormat")]
    pub body_format: Option<String>,
}

pub async fn query_msg_by_offset(
    admin: &AdminClient,
    out: Out,
    a: QueryMsgByOffset,
) -> anyhow::Result<()> {
    let masters = admin.route_masters(&a.topic).await?;
    let broker = *masters.get(&a.broker_name).ok_or_else(|| {
        anyhow!(
            "broker {} has no queues of topic {}",
            a.broker_name,
            a.topic
        )
    })?;
    let (mut found, _, code) = pull(
        admin,
        &Queue {
            broker,
            broker_name: &a.broker_name,
            topic: &a.topic,
            queue_id: a.queue_id,
        },
        a.offset,
        1,
        "TOOLS_CONSUMER",
    )
    .await?;
    if found.is_empty() {
        bail!(
            "no message at offset {} of {}/{}/{} ({code})",
            a.offset,
            a.topic,
            a.broker_name,
            a.queue_id
        );
    }
    found.truncate(1);
    emit(out, &found, a.body_format.is_some());
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct PrintMsg {
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Print bodies (true) or not.
    #[arg(short = 'd', long = "printBody", default_value_t = true, action = clap::ArgAction::Set)]
    pub print_body: bool,
    /// Start at this store time (ms or yyyy-MM-dd#HH:mm:ss:SSS, UTC).
    #[arg(short = 'b', long = "beginTimestamp")]
    pub begin_timestamp: Option<String>,
    #[arg(short = 'e', long = "endTimestamp")]
    pub end_timestamp: Option<String>,
}

/// The queues of a topic's route: (broker name, master, queue id).
async fn queues(
    admin: &AdminClient,
    topic: &str,
) -> anyhow::Result<Vec<(String, SocketAddr, i32)>> {
    let route = admin.route(topic).await?;
    let masters = admin.route_masters(topic).await?;
    let mut out = Vec::new();
    for q in &route.queue_datas {
        let Some(master) = masters.get(&q.broker_name) else {
            continue;
        };
        for id in 0..q.read_queue_nums {
            out.push((q.broker_name.clone(), *master, id));
        }
    }
    Ok(out)
}

async fn offset_of(
    admin: &AdminClient,
    broker: SocketAddr,
    topic: &str,
    queue_id: i32,
    code: RequestCode,
    time: Option<i64>,
) -> anyhow::Result<i64> {
    let request = match time {
        Some(timestamp) => RemotingCommand::request(RequestCode::SEARCH_OFFSET_BY_TIMESTAMP)
            .with_header(&crate::protocol::header::broker::SearchOffsetRequest {
                topic: topic.to_owned(),
                queue_id,
                timestamp,
                boundary_type: None,
            }),
        None => RemotingCommand::request(code).with_header(&TopicQueue {
            topic: topic.to_owned(),
            queue_id,
        }),
    };
    let response = admin.ok(broker, request).await?;
    Ok(response
        .ext("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0))
}

fn time_arg(text: &Option<String>) -> anyhow::Result<Option<i64>> {
    text.as_deref()
        .map(|t| {
            t.parse()
                .ok()
                .or_else(|| super::output::parse_time(t))
                .ok_or_else(|| anyhow!("bad time `{t}`: expected ms or yyyy-MM-dd#HH:mm:ss:SSS"))
        })
        .transpose()
}

pub async fn print_msg(admin: &AdminClient, out: Out, a: PrintMsg) -> anyhow::Result<()> {
    let (begin, end) = (time_arg(&a.begin_timestamp)?, time_arg(&a.end_timestamp)?);
    let mut all = Vec::new();
    for (broker_name, broker, queue_id) in queues(admin, &a.topic).await? {
        let min = offset_of(
            admin,
            broker,
            &a.topic,
            queue_id,
            RequestCode::GET_MIN_OFFSET,
            begin,
        )
        .await?;
        let max = offset_of(
            admin,
            broker,
            &a.topic,
            queue_id,
            RequestCode::GET_MAX_OFFSET,
            end,
        )
        .await?;
        if !out.json {
            println!("minOffset={min}, maxOffset={max}, MessageQueue [topic={}, brokerName={broker_name}, queueId={queue_id}]", a.topic);
        }
        let mut offset = min;
        while offset < max {
            let (messages, next, _) = pull(
                admin,
                &Queue {
                    broker,
                    broker_name: &broker_name,
                    topic: &a.topic,
                    queue_id,
                },
                offset,
                32,
                "TOOLS_CONSUMER",
            )
            .await?;
            if messages.is_empty() || next <= offset {
                break;
            }
            for m in messages.into_iter().filter(|m| m.queue_offset < max) {
                if !out.json {
                    let body = if a.print_body {
                        String::from_utf8_lossy(&m.body).into_owned()
                    } else {
                        "NOT PRINT BODY".into()
                    };
                    println!(
                        "MSGID: {} queueOffset={} storeTimestamp={} BODY: {body}",
                        m.msg_id, m.queue_offset, m.store_timestamp
                    );
                }
                all.push(m);
            }
            offset = next;
        }
        if !out.json {
            println!("--------------------------------------------------------");
        }
    }
    // `-d false` leaves the bodies out of the JSON too.
    let documents = all.iter().map(|m| {
        let mut doc = message_json(m);
        if let (false, Some(fields)) = (a.print_body, doc.as_object_mut()) {
            fields.remove("body");
        }
        doc
    });
    out.json(&documents.collect::<Vec<_>>());
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct SendMessage {
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    #[arg(short = 'p', long = "body")]
    pub body: String,
    #[arg(short = 'k', long = "key")]
    pub key: Option<String>,
    #[arg(short = 'c', long = "tags")]
    pub tags: Option<String>,
    /// With -i: to this broker's queue.
    #[arg(short = 'b', long = "broker")]
    pub broker: Option<String>,
    #[arg(short = 'i', long = "qid")]
    pub qid: Option<i32>,
    /// Trace the send as the Java client's `enableMsgTrace` does (Apogee's option).
    #[arg(long)]
    pub trace: bool,
}

pub async fn send_message(admin: &AdminClient, out: Out, a: SendMessage) -> anyhow::Result<()> {
    if a.qid.is_some() && a.broker.is_none() {
        bail!("Broker name must be set if the queue is chosen!");
    }
    let namesrv = admin
        .namesrv
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(";");
    let mut config = ProducerConfig::new(crate::util::now_ms().to_string());
    config.enable_trace = a.trace;
    let producer = Producer::start(ClientConfig::new(&namesrv), config).await?;
    let mut msg = Message::new(a.topic.clone(), Bytes::from(a.body.clone()));
    if let Some(tags) = &a.tags {
        msg = msg.with_tags(tags.clone());
    }
    if let Some(key) = &a.key {
        msg = msg.with_keys([key.clone()]);
    }
    let result = match (&a.broker, a.qid) {
        (Some(broker), Some(qid)) => {
            let queue = crate::client::MessageQueue {
                broker_name: broker.clone(),
                queue_id: qid,
                topic: a.topic.clone(),
            };
            producer.send_to_queue(msg, &queue).await
        }
        _ => producer.send(msg).await,
    };
    producer.shutdown().await;
    let result = result?;
    let status = match result.status {
        crate::client::SendStatus::SendOk => "SEND_OK",
        crate::client::SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
        crate::client::SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
        crate::client::SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
    };
    if out.json(
        &json!({"brokerName": result.queue.broker_name, "queueId": result.queue.queue_id,
        "sendStatus": status, "msgId": result.msg_id, "offsetMsgId": result.offset_msg_id,
        "queueOffset": result.queue_offset}),
    ) {
        return Ok(());
    }
    println!(
        "{:<32}  {:<4}  {:<20}    #MsgId",
        "#Broker Name", "#QID", "#Send Result"
    );
    println!(
        "{:<32}  {:<4}  {:<20}    {}",
        result.queue.broker_name, result.queue.queue_id, status, result.msg_id
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ConsumeMessage {
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    #[arg(short = 'b', long = "brokerName")]
    pub broker_name: Option<String>,
    #[arg(short = 'i', long = "queueId")]
    pub queue_id: Option<i32>,
    #[arg(short = 'o', long = "offset")]
    pub offset: Option<i64>,
    #[arg(short = 'g', long = "consumerGroup", default_value = "TOOLS_CONSUMER")]
    pub consumer_group: String,
    /// How many messages at most.
    #[arg(short = 'c', long = "MessageNumber", default_value_t = 128)]
    pub message_number: i64,
}

/// Reads messages without committing offsets: the oldest `-c` of the topic, or of one queue
/// (`-b`, `-i`), from `-o`.
pub async fn consume_message(
    admin: &AdminClient,
    out: Out,
    a: ConsumeMessage,
) -> anyhow::Result<()> {
    if a.message_number <= 0 {
        bail!("Please input a positive messageNumber!");
    }
    if a.queue_id.is_some() && a.broker_name.is_none() {
        bail!("Please set the brokerName before queueId!");
    }
    if a.offset.is_some() && a.queue_id.is_none() {
        bail!("Please set queueId before offset!");
    }
    let mut left = a.message_number;
    let mut all = Vec::new();
    for (broker_name, broker, queue_id) in queues(admin, &a.topic).await? {
        if a.broker_name.as_ref().is_some_and(|b| b != &broker_name)
            || a.queue_id.is_some_and(|q| q != queue_id)
        {
            continue;
        }
        let min = offset_of(
            admin,
            broker,
            &a.topic,
            queue_id,
            RequestCode::GET_MIN_OFFSET,
            None,
        )
        .await?;
        let max = offset_of(
            admin,
            broker,
            &a.topic,
            queue_id,
            RequestCode::GET_MAX_OFFSET,
            None,
        )
        .await?;
        let mut offset = a.offset.unwrap_or(min).max(min);
        while offset < max && left > 0 {
            let batch = left.min(32) as i32;
            let (messages, next, _) = pull(
                admin,
                &Queue {
                    broker,
                    broker_name: &broker_name,
                    topic: &a.topic,
                    queue_id,
                },
                offset,
                batch,
                &a.consumer_group,
            )
            .await?;
            if messages.is_empty() || next <= offset {
                break;
            }
            for m in messages.into_iter().take(left as usize) {
                left -= 1;
                if !out.json {
                    println!(
                        "MSGID: {} queueOffset={} BODY: {}",
                        m.msg_id,
                        m.queue_offset,
                        String::from_utf8_lossy(&m.body)
                    );
                }
                all.push(m);
            }
            offset = next;
        }
    }
    if !out.json(&all.iter().map(message_json).collect::<Vec<_>>()) {
        println!("Consume ok: {} message(s)", all.len());
    }
    Ok(())
}
