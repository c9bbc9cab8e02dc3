//! Topic set-up for a benchmark: create each topic on every master of the cluster
//! (UPDATE_AND_CREATE_TOPIC) and wait until the name server routes it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::client::instance::Instance;
use crate::protocol::body::ClusterInfo;
use crate::protocol::header::broker::CreateTopicRequest;
use crate::protocol::{fastjson, RemotingCommand, RequestCode, ResponseCode};

pub async fn create_topics(
    instance: &Arc<Instance>,
    topics: &[String],
    queues: i32,
) -> anyhow::Result<()> {
    let response = instance
        .invoke_namesrv(RemotingCommand::request(
            RequestCode::GET_BROKER_CLUSTER_INFO,
        ))
        .await
        .context("asking the name server for the cluster")?;
    anyhow::ensure!(
        response.response_code() == ResponseCode::SUCCESS,
        "cluster info refused: {:?}",
        response.remark
    );
    let cluster: ClusterInfo =
        fastjson::from_slice(&response.body).context("reading the cluster info")?;
    let masters: Vec<String> = cluster
        .broker_addr_table
        .values()
        .filter_map(|b| b.master_addr().map(str::to_owned))
        .collect();
    anyhow::ensure!(
        !masters.is_empty(),
        "no broker is registered with the name server"
    );
    let started = Instant::now();
    for (i, topic) in topics.iter().enumerate() {
        for addr in &masters {
            let request = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC)
                .with_header(&CreateTopicRequest {
                    topic: topic.clone(),
                    default_topic: "TBW102".into(),
                    read_queue_nums: queues,
                    write_queue_nums: queues,
                    perm: 6,
                    topic_filter_type: Some("SINGLE_TAG".into()),
                    topic_sys_flag: Some(0),
                    order: false,
                });
            let r = instance
                .invoke(addr, request, Duration::from_secs(10))
                .await
                .with_context(|| format!("creating {topic} on {addr}"))?;
            anyhow::ensure!(
                r.response_code() == ResponseCode::SUCCESS,
                "creating {topic} on {addr}: {} {:?}",
                r.response_code(),
                r.remark
            );
        }
        if topics.len() > 50 && (i + 1) % 256 == 0 {
            eprintln!("created {} of {} topics", i + 1, topics.len());
        }
    }
    // Brokers register new topics with the name server; wait for every route.
    let deadline = Instant::now() + Duration::from_secs(60);
    for topic in topics {
        loop {
            match instance.fetch_route(topic).await {
                Ok(route)
                    if route
                        .queue_datas
                        .iter()
                        .map(|q| q.write_queue_nums)
                        .sum::<i32>()
                        >= queues =>
                {
                    break
                }
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                other => anyhow::bail!("no route for {topic} after creating it: {other:?}"),
            }
        }
    }
    eprintln!(
        "{} topic(s) with {queues} queues on {} master(s) ready in {:.1} s",
        topics.len(),
        masters.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
