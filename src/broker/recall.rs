//! RECALL_MESSAGE (RocketMQ 5.3.2+, `DefaultMQProducer.recallMessage`): cancels a timer
//! message by the handle its send answer carried. Checked as the Java broker checks it
//! (`recallMessageEnable`, the topic, the handle, its broker and time), answered with the
//! Java broker's codes and remarks; the timer wheel then drops the timer instead of
//! delivering it.

use super::service::{ok, BrokerService};
use super::timer::RecallHandle;
use crate::actors::timer_wheel::Recall;
use crate::protocol::{RemotingCommand, ResponseCode};
use crate::remoting::reply::{error, Reply};

impl BrokerService {
    pub(super) async fn recall(&self, req: &RemotingCommand) -> Reply {
        let p = self.parts();
        let config = p.config.load_full();
        let refuse = |code, remark: &str| error(code, remark.to_owned());
        if !config.recall_message_enable {
            return refuse(
                ResponseCode::NO_PERMISSION,
                "recall failed, operation is forbidden",
            );
        }
        let topic = req.ext("topic").unwrap_or_default();
        if self.topic(topic).is_none() {
            return error(
                ResponseCode::TOPIC_NOT_EXIST,
                format!("recall failed, the topic[{topic}] not exist"),
            );
        }
        let illegal = ResponseCode::ILLEGAL_OPERATION;
        let Some(handle) = req.ext("recallHandle").and_then(RecallHandle::decode) else {
            return refuse(illegal, "recall handle is invalid");
        };
        if handle.topic != topic {
            return refuse(illegal, "recall failed, topic not match");
        }
        if handle.broker_name != config.broker_name {
            return refuse(illegal, "recall failed, broker service not available");
        }
        let left = handle.timestamp - config.clock.now_ms();
        if left <= 0 || left >= config.timer_max_delay_sec * 1000 {
            return refuse(illegal, "recall failed, timestamp invalid");
        }
        let Some(timers) = &p.timers else {
            return refuse(ResponseCode::SYSTEM_ERROR, "recall failed, execute error");
        };
        timers
            .send(Recall {
                key: handle.key(),
                at: handle.timestamp,
            })
            .await?;
        let mut response = ok();
        response
            .ext_fields
            .get_or_insert_with(Default::default)
            .insert("msgId", &handle.msg_id);
        Ok(response)
    }
}
