//! `queryMsgTraceById`: a message's trace, read from the trace topic (the records the
//! clients' trace dispatchers wrote, found by key = the message id), printed as mqadmin
//! prints it (`Pub` rows, then `Sub` rows per consumer group), or as JSON with every
//! record (`SubBefore` and `EndTransaction` too).

use std::collections::BTreeMap;

use anyhow::bail;
use serde_json::json;

use super::client::AdminClient;
use super::messages::query;
use super::output::Out;
use crate::protocol::trace::{self, TraceRecord, TraceType};

#[derive(clap::Args, Debug)]
pub struct QueryMsgTraceById {
    /// The message id (the client's unique id).
    #[arg(short = 'i', long = "msgId")]
    pub msg_id: String,
    /// The trace topic.
    #[arg(short = 't', long = "traceTopic", default_value = trace::DEFAULT_TRACE_TOPIC)]
    pub trace_topic: String,
    #[arg(short = 'b', long = "beginTimestamp", default_value_t = 0)]
    pub begin_timestamp: i64,
    #[arg(short = 'e', long = "endTimestamp", default_value_t = i64::MAX)]
    pub end_timestamp: i64,
    #[arg(short = 'c', long = "maxNum", default_value_t = 64)]
    pub max_num: i32,
}

/// One record of the trace with the host of the client that wrote it (the trace
/// message's born host, as mqadmin shows it).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceView {
    #[serde(flatten)]
    pub record: TraceRecord,
    pub client_host: String,
    pub status: &'static str,
}

/// The records of `msg_id` in the trace topic, oldest first.
pub async fn trace_of(
    admin: &AdminClient,
    a: &QueryMsgTraceById,
) -> anyhow::Result<Vec<TraceView>> {
    let messages = query(
        admin,
        &a.trace_topic,
        &a.msg_id,
        false,
        a.max_num,
        a.begin_timestamp,
        a.end_timestamp,
    )
    .await?;
    let mut views: Vec<TraceView> = Vec::new();
    for m in &messages {
        let body = String::from_utf8_lossy(&m.body);
        for record in trace::decode(&body) {
            if record.msg_id != a.msg_id {
                continue;
            }
            let status = if record.success { "success" } else { "failed" };
            views.push(TraceView {
                record,
                client_host: m.born_host.ip().to_string(),
                status,
            });
        }
    }
    // A SubAfter without its group (cloud layout) takes its SubBefore's.
    let groups: BTreeMap<String, String> = views
        .iter()
        .filter(|v| v.record.kind == TraceType::SubBefore)
        .map(|v| (v.record.request_id.clone(), v.record.group.clone()))
        .collect();
    for v in &mut views {
        if v.record.kind == TraceType::SubAfter && v.record.group.is_empty() {
            if let Some(group) = groups.get(&v.record.request_id) {
                v.record.group = group.clone();
            }
        }
    }
    views.sort_by_key(|v| v.record.timestamp);
    Ok(views)
}

pub async fn query_msg_trace_by_id(
    admin: &AdminClient,
    out: Out,
    a: QueryMsgTraceById,
) -> anyhow::Result<()> {
    let views = match trace_of(admin, &a).await {
        Ok(views) => views,
        // No trace yet is an empty trace, not an error, for scripts and the console.
        Err(e) if out.json && format!("{e:#}").contains("no route") => Vec::new(),
        Err(e) => return Err(e),
    };
    if out.json(&json!({"msgId": a.msg_id, "traceTopic": a.trace_topic, "traces": views})) {
        return Ok(());
    }
    if views.is_empty() {
        bail!(
            "no trace of message {} in topic {}",
            a.msg_id,
            a.trace_topic
        );
    }
    let time = |ms: i64| super::output::human_ms(ms)[..19].to_owned();
    let row = |a: &str, b: &str, c: &str, d: &str, e: &str, f: &str| {
        println!("{a:<10} {b:<20} {c:<20} {d:<20} {e:<10} {f:<10}");
    };
    for v in views.iter().filter(|v| v.record.kind == TraceType::Pub) {
        row(
            "#Type",
            "#ProducerGroup",
            "#ClientHost",
            "#SendTime",
            "#CostTimes",
            "#Status",
        );
        let r = &v.record;
        row(
            "Pub",
            &r.group,
            &v.client_host,
            &time(r.timestamp),
            &format!("{}ms", r.cost_time),
            v.status,
        );
        println!();
    }
    let mut by_group: BTreeMap<&str, Vec<&TraceView>> = BTreeMap::new();
    for v in views
        .iter()
        .filter(|v| v.record.kind == TraceType::SubAfter)
    {
        by_group.entry(v.record.group.as_str()).or_default().push(v);
    }
    for (group, subs) in by_group {
        row(
            "#Type",
            "#ConsumerGroup",
            "#ClientHost",
            "#ConsumerTime",
            "#CostTimes",
            "#Status",
        );
        for v in subs {
            let r = &v.record;
            row(
                "Sub",
                group,
                &v.client_host,
                &time(r.timestamp),
                &format!("{}ms", r.cost_time),
                v.status,
            );
        }
        println!();
    }
    Ok(())
}
