//! A scrape of the broker's metrics: the gauges are set from the actors and the store at
//! that moment, then the registry is written as Prometheus text. The console's HTTP
//! workers run on threads of their own; they ask through a [`Scraper`], answered by a
//! task on the broker's thread (where the service lives).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::service::BrokerService;
use crate::actors::client_manager::ConnectionCounts;
use crate::actors::consumer_offsets::OffsetsOf;
use crate::actors::long_poll::HeldCount;
use crate::broker::metrics::{ConsumerConnectionLabels, LagLabels, ProducerConnectionLabels};
use crate::broker::pull;
use crate::store::QueueKey;

/// Asks the broker for its metrics text (cheap to clone, `Send`).
#[derive(Clone)]
pub struct Scraper(mpsc::Sender<oneshot::Sender<String>>);

impl Scraper {
    /// The metrics text; `None` when the broker is gone.
    pub async fn scrape(&self) -> Option<String> {
        let (reply, text) = oneshot::channel();
        self.0.send(reply).await.ok()?;
        text.await.ok()
    }
}

/// Serves scrapes on the current (broker) thread until every [`Scraper`] is dropped.
pub fn serve(service: BrokerService, connections: Arc<AtomicUsize>) -> Scraper {
    let (asks, mut asked) = mpsc::channel::<oneshot::Sender<String>>(16);
    tokio::task::spawn_local(async move {
        while let Some(reply) = asked.recv().await {
            let text = service.scrape(connections.load(Ordering::Relaxed)).await;
            let _ = reply.send(text);
        }
    });
    Scraper(asks)
}

impl BrokerService {
    /// Sets the gauges and writes every metric as Prometheus text.
    pub async fn scrape(&self, connections: usize) -> String {
        let p = self.parts();
        let g = &p.metrics.gauges;
        let now = crate::util::now_ms();
        let topics = p.topics.borrow().clone();
        g.topics.set(topics.table.len() as i64);
        let groups = self.group_names();
        g.consumer_groups.set(groups.len() as i64);
        // Lag: per group and topic it committed offsets of, what is stored beyond them,
        // and how long the first message not consumed has waited.
        g.consumer_lag.clear();
        g.consumer_lag_latency.clear();
        for group in groups {
            let Ok(committed) = p.offsets.send(OffsetsOf(group.clone())).await else {
                continue;
            };
            for (topic, offsets) in committed {
                let Some(config) = topics.table.get(&topic) else {
                    continue;
                };
                let (mut lag, mut oldest) = (0i64, None::<i64>);
                for queue_id in 0..config.write_queue_nums {
                    let key = QueueKey::new(topic.clone(), queue_id);
                    let max = p.store.max_offset(&key) as i64;
                    let consumed = offsets.get(&queue_id).copied().unwrap_or(0).max(0);
                    if max > consumed {
                        lag += max - consumed;
                        if let Some(t) = pull::store_time_at(&p.store, &key, consumed as u64) {
                            oldest = Some(oldest.map_or(t, |o| o.min(t)));
                        }
                    }
                }
                let labels = LagLabels::new(&group, &topic);
                g.consumer_lag.get_or_create(&labels).set(lag);
                g.consumer_lag_latency
                    .get_or_create(&labels)
                    .set(oldest.map_or(0, |t| (now - t).max(0)));
            }
        }
        g.consumer_connections.clear();
        g.producer_connections.clear();
        if let Ok(counts) = p.clients.send(ConnectionCounts).await {
            for ((group, language, version, mode), n) in counts.consumers {
                let labels = ConsumerConnectionLabels {
                    is_system: group.starts_with("CID_RMQ_SYS_"),
                    consumer_group: group,
                    language: language.to_ascii_lowercase(),
                    version: version_label(version),
                    consume_mode: mode,
                    protocol_type: "remoting",
                };
                g.consumer_connections.get_or_create(&labels).set(n as i64);
            }
            for ((language, version), n) in counts.producers {
                let labels = ProducerConnectionLabels {
                    language: language.to_ascii_lowercase(),
                    version: version_label(version),
                    protocol_type: "remoting",
                };
                g.producer_connections.get_or_create(&labels).set(n as i64);
            }
        }
        // Read and write: the broker has no setting that takes either away.
        g.broker_permission.set(6);
        if let Ok(held) = p.long_poll.send(HeldCount).await {
            g.held_pulls.set(held as i64);
        }
        g.connections.set(connections as i64);
        let log = p.store.commit_log();
        let written = log.written();
        g.storage_size.set(dir_size(&p.store.config().root) as i64);
        g.flush_behind
            .set(written.saturating_sub(log.flushed()) as i64);
        g.dispatch_behind
            .set(written.saturating_sub(p.store.dispatched()) as i64);
        let earliest = p
            .store
            .with_record(log.min_offset(), |r| r.store_timestamp)
            .unwrap_or(now);
        g.reserve_time.set((now - earliest).max(0));
        if let Ok(ratio) = crate::store::retention::disk_used_ratio(&p.store.config().root) {
            g.disk_used.set(ratio);
        }
        p.metrics.encode()
    }
}

/// A client version as RocketMQ's metrics write it (`v4_9_8`).
fn version_label(version: i32) -> String {
    crate::admin::output::version_desc(version).to_ascii_lowercase()
}

/// Bytes of the files under `dir` (as RocketMQ's `calculateFileSizeInPath`).
fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_size(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
