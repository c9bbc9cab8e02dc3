//! The broker's queries (request family "offsets and messages"): queue offsets
//! (GET_MAX_OFFSET, GET_MIN_OFFSET, GET_EARLIEST_MSG_STORETIME, SEARCH_OFFSET_BY_TIMESTAMP)
//! and messages by key or offset (QUERY_MESSAGE, VIEW_MESSAGE_BY_ID), read from the store.

use super::pull;
use super::service::{ok, BrokerService};
use crate::protocol::header::broker::*;
use crate::protocol::{RemotingCommand, ResponseCode};
use crate::remoting::reply::{error, Reply};
use crate::store::QueueKey;

impl BrokerService {
    pub(super) fn max_offset(&self, req: &RemotingCommand) -> Reply {
        let header: TopicQueue = req.header()?;
        let offset = self
            .parts()
            .store
            .max_offset(&QueueKey::new(header.topic, header.queue_id)) as i64;
        Ok(ok().with_header(&OffsetResponse { offset }))
    }

    pub(super) fn min_offset(&self, req: &RemotingCommand) -> Reply {
        let header: TopicQueue = req.header()?;
        let offset = self
            .parts()
            .store
            .min_offset(&QueueKey::new(header.topic, header.queue_id)) as i64;
        Ok(ok().with_header(&OffsetResponse { offset }))
    }

    pub(super) fn earliest_time(&self, req: &RemotingCommand) -> Reply {
        let header: TopicQueue = req.header()?;
        let key = QueueKey::new(header.topic.clone(), header.queue_id);
        match pull::store_time_at(
            &self.parts().store,
            &key,
            self.parts().store.min_offset(&key),
        ) {
            Some(timestamp) => Ok(ok().with_header(&TimestampResponse { timestamp })),
            None => error(
                ResponseCode::SYSTEM_ERROR,
                format!(
                    "Find the earliest message store time failed: {} {}",
                    header.topic, header.queue_id
                ),
            ),
        }
    }

    pub(super) fn search_offset(&self, req: &RemotingCommand) -> Reply {
        let header: SearchOffsetRequest = req.header()?;
        let key = QueueKey::new(header.topic, header.queue_id);
        let upper = header
            .boundary_type
            .as_deref()
            .is_some_and(|b| b.eq_ignore_ascii_case("UPPER"));
        let offset = pull::search_by_time(&self.parts().store, &key, header.timestamp, upper);
        Ok(ok().with_header(&OffsetResponse { offset }))
    }

    pub(super) fn query_message(&self, req: &RemotingCommand) -> Reply {
        let header: QueryMessageRequest = req.header()?;
        let unique = req.ext("_UNIQUE_KEY_QUERY") == Some("true");
        let max = if unique {
            32
        } else {
            header.max_num.clamp(1, 64) as usize
        };
        let store = &self.parts().store;
        let found = store.query_by_key(
            &header.topic,
            &header.key,
            header.begin_timestamp,
            header.end_timestamp,
            max,
        );
        let mut body = Vec::new();
        for phy in &found {
            if let Some(size) = store.with_record(*phy, |r| r.size) {
                if let Some(bytes) = store.read(*phy, size) {
                    body.extend_from_slice(&bytes);
                }
            }
        }
        if body.is_empty() {
            return error(
                ResponseCode::QUERY_NOT_FOUND,
                "can not find message, maybe time range not correct",
            );
        }
        Ok(ok()
            .with_header(&QueryMessageResponse {
                index_last_update_timestamp: crate::util::now_ms(),
                index_last_update_phyoffset: store.dispatched() as i64,
            })
            .with_body(body))
    }

    pub(super) fn view_message(&self, req: &RemotingCommand) -> Reply {
        let header: ViewMessageRequest = req.header()?;
        let store = &self.parts().store;
        let phy = u64::try_from(header.offset).unwrap_or(u64::MAX);
        let bytes = store
            .with_record(phy, |r| r.size)
            .and_then(|size| store.read(phy, size));
        match bytes {
            Some(bytes) => Ok(ok().with_body(bytes)),
            None => error(
                ResponseCode::SYSTEM_ERROR,
                format!("can not find message by the offset, {}", header.offset),
            ),
        }
    }
}
