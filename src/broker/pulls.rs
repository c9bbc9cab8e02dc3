//! PULL_MESSAGE and LITE_PULL_MESSAGE: checks, the read, long polling, the answer.

use std::time::Duration;

use tokio::sync::oneshot;

use super::pull::{self, Pulled};
use super::service::{BrokerService, MAX_SUSPEND};
use crate::actors::consumer_offsets;
use crate::actors::long_poll::{Hold, PullTask};
use crate::protocol::body::register::perm;
use crate::protocol::header::broker::*;
use crate::protocol::{RemotingCommand, ResponseCode};
use crate::remoting::reply::{error, Reply};
use crate::remoting::Connection;
use crate::store::QueueKey;

impl BrokerService {
    pub(super) async fn pull(&self, conn: &Connection, req: &RemotingCommand) -> Reply {
        let header: PullRequest = req.header()?;
        let p = self.parts();
        let Some(topic) = self.topic(&header.topic) else {
            return error(
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist, apply first please!", header.topic),
            );
        };
        if !perm::readable(topic.perm) {
            return error(
                ResponseCode::NO_PERMISSION,
                format!("the topic[{}] pulling message is forbidden", header.topic),
            );
        }
        if header.queue_id < 0 || header.queue_id >= topic.read_queue_nums {
            return error(
                ResponseCode::INVALID_PARAMETER,
                format!(
                    "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}]",
                    header.queue_id, header.topic, topic.read_queue_nums
                ),
            );
        }
        if let Some(refused) = self.group_check(&header.consumer_group, &header.topic) {
            return Ok(refused);
        }
        let filter = match self.pull_filter(&header) {
            Ok(filter) => filter,
            // The pull knows a newer subscription than the heartbeats told: ask the client
            // (see `refresh`), then try again.
            Err(response)
                if response.response_code() == ResponseCode::SUBSCRIPTION_NOT_LATEST
                    && p.refresh
                        .refresh(conn, &header.consumer_group, &p.clients)
                        .await =>
            {
                match self.pull_filter(&header) {
                    Ok(filter) => filter,
                    Err(response) => return Ok(*response),
                }
            }
            Err(response) => return Ok(*response),
        };
        // A slave does not take offsets from pulls (its master's come with the metadata
        // sync), as RocketMQ's.
        let on_slave = p.store.is_read_only();
        if header.sys_flag & pull_flag::COMMIT_OFFSET != 0 && header.commit_offset >= 0 && !on_slave
        {
            p.offsets.do_send(consumer_offsets::Commit {
                group: header.consumer_group.clone(),
                topic: header.topic.clone(),
                queue_id: header.queue_id,
                offset: header.commit_offset,
            });
        }
        let key = QueueKey::new(header.topic.clone(), header.queue_id);
        let max_msgs = usize::try_from(header.max_msg_nums).unwrap_or(1);
        let read_started = std::time::Instant::now();
        let pulled = pull::read(
            &p.store,
            &key,
            header.queue_offset,
            max_msgs,
            filter.as_ref(),
        );
        p.stats.get_took(read_started.elapsed());
        let suspend =
            header.sys_flag & pull_flag::SUSPEND != 0 && header.suspend_timeout_millis > 0;
        let (group, topic) = (&header.consumer_group, &header.topic);
        if pulled.code != ResponseCode::PULL_NOT_FOUND || !suspend {
            return Ok(self.counted(group, topic, pulled));
        }
        let hold = Duration::from_millis(header.suspend_timeout_millis as u64).min(MAX_SUSPEND);
        let (reply, woken) = oneshot::channel();
        let task = PullTask {
            key,
            offset: header.queue_offset,
            max_msgs,
            filter,
            reply,
        };
        let deadline = tokio::time::Instant::now() + hold;
        super::metrics::mark_held();
        if p.long_poll.try_send(Hold { task, deadline }).is_err() {
            return Ok(self.counted(group, topic, pulled));
        }
        Ok(match woken.await {
            Ok(pulled) => self.counted(group, topic, pulled),
            Err(_) => self.counted(group, topic, pulled),
        })
    }

    /// A pull's answer, counted.
    fn counted(&self, group: &str, topic: &str, pulled: Pulled) -> RemotingCommand {
        self.parts().stats.got(pulled.messages);
        self.parts()
            .metrics
            .message_out(group, topic, pulled.messages, pulled.body.len());
        let suggest = self.suggested_broker(&pulled);
        pull_response(pulled, suggest)
    }

    /// `suggestWhichBrokerId`, as RocketMQ: with `slaveReadEnable`, a consumer further
    /// behind the log's end than 40 % of the machine's memory (what the page cache can
    /// hold) is sent to slave 1; otherwise to the master.
    fn suggested_broker(&self, pulled: &Pulled) -> i64 {
        const WHEN_CONSUME_SLOWLY: i64 = 1;
        if !self.parts().config.load().ha.slave_read_enable || pulled.messages == 0 {
            return 0;
        }
        let behind = self
            .parts()
            .store
            .commit_log()
            .written()
            .saturating_sub(pulled.last_physical);
        if behind > in_memory_max() {
            WHEN_CONSUME_SLOWLY
        } else {
            0
        }
    }
}

/// 40 % of the machine's memory (RocketMQ's `accessMessageInMemoryMaxRatio`).
fn in_memory_max() -> u64 {
    static MAX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        let total_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .unwrap_or(8 << 20);
        total_kib * 1024 / 100 * 40
    })
}

fn pull_response(pulled: Pulled, suggest_which_broker_id: i64) -> RemotingCommand {
    RemotingCommand::response(pulled.code)
        .with_header(&PullResponse {
            suggest_which_broker_id,
            next_begin_offset: pulled.next_begin_offset,
            min_offset: pulled.min_offset,
            max_offset: pulled.max_offset,
        })
        .with_body(pulled.body)
}
