//! Request-reply (RocketMQ 4.6+, `DefaultMQProducer.request`, the Go client's
//! `Producer.Request`): a consumer answers a request message by sending its reply with
//! SEND_REPLY_MESSAGE (324, or 325 with the one-letter header) to `<cluster>_REPLY_TOPIC`.
//! The broker pushes the reply to the requester (the client named by the reply's
//! `REPLY_TO_CLIENT` property, on the connection it heartbeats on) with
//! PUSH_REPLY_MESSAGE_TO_CLIENT (326), and stores it in the reply topic as well
//! (`storeReplyMessageEnable`). The answer to the replier says whether the push
//! succeeded, with the Java broker's codes and remarks (`ReplyMessageProcessor`).

use std::time::Duration;

use crate::actors::client_manager::ConnectionOf;
use crate::actors::queue_writer::OwnedMessage;
use crate::protocol::header::broker::SendRequest;
use crate::protocol::message::offset_msg_id;
use crate::protocol::{
    properties, ExtFields, HeaderError, LanguageCode, RemotingCommand, RequestCode, ResponseCode,
};
use crate::remoting::reply::Reply;
use crate::remoting::Connection;
use crate::store::QueueKey;

use super::service::BrokerService;

/// How long the requester has to take the pushed reply (Java's `Broker2Client.callClient`).
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

impl BrokerService {
    /// SEND_REPLY_MESSAGE / SEND_REPLY_MESSAGE_V2.
    pub(super) async fn send_reply(&self, conn: &Connection, req: &RemotingCommand) -> Reply {
        let ext = req
            .ext_fields
            .as_ref()
            .ok_or(HeaderError::NoExtFields("topic"))?;
        let header = SendRequest::from_ext(ext)?;
        let queue_id = match self.send_target(&header).await? {
            Ok(queue_id) => queue_id,
            Err(refused) => return Ok(refused),
        };
        let p = self.parts();
        let pushed = self.push_reply(conn, &header, req).await;
        let mut response = match &pushed {
            Ok(()) => RemotingCommand::response(ResponseCode::SUCCESS),
            Err(remark) => RemotingCommand::error(ResponseCode::SYSTEM_ERROR, remark.clone()),
        };
        // The Java broker answers "0" and offset 0 until the store says otherwise.
        let (mut msg_id, mut queue_offset) = ("0".to_owned(), 0u64);
        if p.config.load().store_reply_message_enable {
            let message = OwnedMessage {
                flag: header.flag,
                body: req.body.clone(),
                properties: header.properties.clone(),
                sys_flag: header.sys_flag,
                born_timestamp: header.born_timestamp,
                born_host: conn.peer,
                store_host: p.store_host,
                reconsume_times: header.reconsume_times,
                prepared_transaction_offset: 0,
            };
            let key = QueueKey::new(header.topic.clone(), queue_id);
            match p.writers.append(key, vec![message], false).await {
                Ok(appended) => {
                    if let Err(e) = p.sync_waits.durable(appended.end).await {
                        tracing::warn!(topic = %header.topic, error = %e, "reply stored, not flushed in time");
                    }
                    if let Some(placed) = appended.placed.first() {
                        msg_id = offset_msg_id(p.store_host, placed.physical_offset as i64);
                    }
                    queue_offset = appended.first_queue_offset;
                }
                Err(e) => tracing::warn!(topic = %header.topic, error = ?e, "reply not stored"),
            }
        }
        let mut out = ExtFields::new();
        out.append("MSG_REGION", &p.config.load().region_id);
        out.append("TRACE_ON", "true");
        out.append("msgId", &msg_id);
        out.append("queueId", &queue_id.to_string());
        out.append("queueOffset", &queue_offset.to_string());
        response.ext_fields = Some(out);
        Ok(response)
    }

    /// Pushes the reply to its requester; the remark of the failure otherwise.
    async fn push_reply(
        &self,
        conn: &Connection,
        header: &SendRequest,
        req: &RemotingCommand,
    ) -> Result<(), String> {
        let Some(sender) = properties::get(&header.properties, properties::REPLY_TO_CLIENT) else {
            tracing::warn!("REPLY_TO_CLIENT is null, can not reply message");
            return Err(format!(
                "reply message properties[{}] is null",
                properties::REPLY_TO_CLIENT
            ));
        };
        let requester = self
            .parts()
            .clients
            .send(ConnectionOf(sender.to_owned()))
            .await
            .ok()
            .flatten();
        let Some(requester) = requester else {
            let remark = format!("push reply message fail, channel of <{sender}> not found.");
            tracing::warn!("{remark}");
            return Err(remark);
        };
        let now = crate::util::now_ms();
        let props = properties::with(
            &header.properties,
            properties::PUSH_REPLY_TIME,
            &now.to_string(),
        );
        let mut ext = ExtFields::new();
        ext.append("bornHost", &conn.peer.to_string());
        ext.append("bornTimestamp", &header.born_timestamp.to_string());
        ext.append("defaultTopic", &header.default_topic);
        ext.append(
            "defaultTopicQueueNums",
            &header.default_topic_queue_nums.to_string(),
        );
        ext.append("flag", &header.flag.to_string());
        ext.append("producerGroup", &header.producer_group);
        ext.append("properties", &props);
        ext.append("queueId", &header.queue_id.to_string());
        ext.append("reconsumeTimes", &header.reconsume_times.to_string());
        ext.append("storeHost", &self.parts().store_host.to_string());
        ext.append("storeTimestamp", &now.to_string());
        ext.append("sysFlag", &header.sys_flag.to_string());
        ext.append("topic", &header.topic);
        ext.append("unitMode", if header.unit_mode { "true" } else { "false" });
        let mut push = RemotingCommand::request(RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT)
            .with_body(req.body.clone());
        push.ext_fields = Some(ext);
        // As for NOTIFY_CONSUMER_IDS_CHANGED: 4.x Java clients know no language RUST.
        push.language = LanguageCode::JAVA;
        match requester.request(push, PUSH_TIMEOUT).await {
            Ok(answer) if answer.response_code() == ResponseCode::SUCCESS => Ok(()),
            Ok(answer) => {
                tracing::warn!(requester = %sender, remark = ?answer.remark, "push reply message returned a failure");
                Err(format!("push reply message to {sender}fail."))
            }
            Err(e) => {
                tracing::warn!(requester = %sender, error = %e, "push reply message failed");
                Err(format!("push reply message to {sender}fail."))
            }
        }
    }
}
