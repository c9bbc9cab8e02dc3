//! Consumed offsets of a group: in memory, committed to the broker (clustering) or to a
//! local file (broadcasting), and where a queue without one starts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::pull::{master, max_offset, min_offset, offset_by_time};
use super::{ConsumeFromWhere, MessageModel};
use crate::client::error::ClientError;
use crate::client::instance::{check, Instance};
use crate::protocol::body::client::MessageQueue;
use crate::protocol::header::broker::{QueryConsumerOffsetRequest, UpdateConsumerOffsetRequest};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::util::lock;

#[derive(Debug)]
pub(crate) struct OffsetStore {
    instance: Arc<Instance>,
    group: String,
    /// Broadcasting: the local file.
    file: Option<PathBuf>,
    table: Mutex<HashMap<MessageQueue, i64>>,
    /// Broadcasting: what the file held at start.
    loaded: HashMap<MessageQueue, i64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileEntry {
    #[serde(flatten)]
    queue: MessageQueue,
    offset: i64,
}

impl OffsetStore {
    pub fn new(
        instance: Arc<Instance>,
        group: &str,
        model: MessageModel,
        dir: &std::path::Path,
    ) -> Self {
        let file = (model == MessageModel::Broadcasting).then(|| {
            let who = instance
                .config
                .instance_name
                .clone()
                .unwrap_or_else(|| "DEFAULT".into());
            dir.join(format!("{}@{who}", instance.client_ip))
                .join(group)
                .join("offsets.json")
        });
        let loaded = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| serde_json::from_slice::<Vec<FileEntry>>(&bytes).ok())
            .map(|entries| entries.into_iter().map(|e| (e.queue, e.offset)).collect())
            .unwrap_or_default();
        Self {
            instance,
            group: group.to_owned(),
            file,
            table: Mutex::default(),
            loaded,
        }
    }

    /// Records progress; `increase_only` ignores a smaller offset (concurrent acks).
    pub fn update(&self, queue: &MessageQueue, offset: i64, increase_only: bool) {
        let mut table = lock(&self.table);
        let slot = table.entry(queue.clone()).or_insert(offset);
        if !increase_only || offset > *slot {
            *slot = offset;
        }
    }

    pub fn in_memory(&self, queue: &MessageQueue) -> Option<i64> {
        lock(&self.table).get(queue).copied()
    }

    pub fn remove(&self, queue: &MessageQueue) {
        lock(&self.table).remove(queue);
    }

    /// A queue is no longer ours: commit its offset (errors are logged by `persist`) and
    /// forget it.
    pub async fn release(&self, queue: &MessageQueue) {
        let _ = self.persist(Some(std::slice::from_ref(queue))).await;
        self.remove(queue);
    }

    /// The committed offset (broker or file), `None` if the queue has none.
    pub async fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>, ClientError> {
        if self.file.is_some() {
            return Ok(self.loaded.get(queue).copied());
        }
        let addr = master(&self.instance, queue).await?;
        let request = RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET).with_header(
            &QueryConsumerOffsetRequest {
                consumer_group: self.group.clone(),
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
                set_zero_if_not_found: None,
            },
        );
        let response = self
            .instance
            .invoke(&addr, request, self.instance.config.request_timeout)
            .await?;
        if response.response_code() == ResponseCode::QUERY_NOT_FOUND {
            return Ok(None);
        }
        let response = check(&addr, response)?;
        Ok(response
            .ext("offset")
            .and_then(|v| v.trim().parse().ok())
            .filter(|o: &i64| *o >= 0))
    }

    /// Where to start a newly assigned queue (RocketMQ's `computePullFromWhere`).
    pub async fn start_offset(
        &self,
        queue: &MessageQueue,
        from: ConsumeFromWhere,
    ) -> Result<i64, ClientError> {
        if let Some(o) = self.committed(queue).await? {
            return Ok(o);
        }
        let retry = queue.topic.starts_with("%RETRY%");
        match from {
            ConsumeFromWhere::LastOffset if retry => Ok(0),
            ConsumeFromWhere::LastOffset => max_offset(&self.instance, queue).await,
            ConsumeFromWhere::FirstOffset => min_offset(&self.instance, queue).await,
            ConsumeFromWhere::Timestamp(_) if retry => max_offset(&self.instance, queue).await,
            ConsumeFromWhere::Timestamp(t) => offset_by_time(&self.instance, queue, t).await,
        }
    }

    /// Commits the in-memory offsets of `queues` (all when `None`).
    pub async fn persist(&self, queues: Option<&[MessageQueue]>) -> Result<(), ClientError> {
        let snapshot: Vec<(MessageQueue, i64)> = {
            let table = lock(&self.table);
            match queues {
                Some(qs) => qs
                    .iter()
                    .filter_map(|q| table.get(q).map(|o| (q.clone(), *o)))
                    .collect(),
                None => table.iter().map(|(q, o)| (q.clone(), *o)).collect(),
            }
        };
        if let Some(file) = &self.file {
            let mut all: HashMap<MessageQueue, i64> = self.loaded.clone();
            all.extend(lock(&self.table).iter().map(|(q, o)| (q.clone(), *o)));
            let entries: Vec<FileEntry> = all
                .into_iter()
                .map(|(queue, offset)| FileEntry { queue, offset })
                .collect();
            let json = serde_json::to_vec_pretty(&entries).unwrap_or_default();
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let tmp = file.with_extension("json.tmp");
            std::fs::write(&tmp, json)?;
            std::fs::rename(&tmp, file)?;
            return Ok(());
        }
        let mut first_error = None;
        for (queue, offset) in snapshot {
            if let Err(e) = self.commit(&queue, offset).await {
                tracing::debug!(?queue, error = %e, "offset commit failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn commit(&self, queue: &MessageQueue, offset: i64) -> Result<(), ClientError> {
        let addr = master(&self.instance, queue).await?;
        let request = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET).with_header(
            &UpdateConsumerOffsetRequest {
                consumer_group: self.group.clone(),
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
                commit_offset: offset,
            },
        );
        let response = self
            .instance
            .invoke(&addr, request, self.instance.config.request_timeout)
            .await?;
        check(&addr, response).map(drop)
    }
}
