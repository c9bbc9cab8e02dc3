//! Recall handles (RocketMQ 5.3.2+): what a timer message's send answer carries in
//! `recallHandle`, and RECALL_MESSAGE sends back to cancel it. Pure.

/// A timer's recall handle, as the Java broker gives it in the send answer
/// (`recallHandle`): Base64 URL of `v1 <topic> <broker name> <TIMER_OUT_MS + 1> <msgId>`.
pub fn recall_handle(topic: &str, broker_name: &str, timer_out_ms: i64, msg_id: &str) -> String {
    use base64::Engine as _;
    let raw = format!("v1 {topic} {broker_name} {} {msg_id}", timer_out_ms + 1);
    base64::engine::general_purpose::URL_SAFE.encode(raw)
}

/// A decoded recall handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallHandle {
    pub topic: String,
    pub broker_name: String,
    pub timestamp: i64,
    pub msg_id: String,
}

impl RecallHandle {
    pub fn decode(handle: &str) -> Option<Self> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(handle.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let mut parts = text.split(' ');
        if parts.next()? != "v1" {
            return None;
        }
        let (topic, broker_name) = (parts.next()?.to_owned(), parts.next()?.to_owned());
        let timestamp = parts.next()?.parse().ok()?;
        let msg_id = parts.next()?.to_owned();
        Some(Self {
            topic,
            broker_name,
            timestamp,
            msg_id,
        })
    }

    /// The key of the recalled timer (Java's `buildDeleteKey`: `topic+msgId`).
    pub fn key(&self) -> String {
        recall_key(&self.topic, &self.msg_id)
    }
}

pub fn recall_key(topic: &str, msg_id: &str) -> String {
    format!("{topic}+{msg_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_handles_read_back_as_written() {
        let handle = recall_handle("T", "broker-a", 1_700_000_000_000, "ABC");
        // What the Java broker writes for the same timer.
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(&handle)
            .unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            "v1 T broker-a 1700000000001 ABC"
        );
        let read = RecallHandle::decode(&handle).unwrap();
        assert_eq!(
            (read.topic.as_str(), read.timestamp, read.key().as_str()),
            ("T", 1_700_000_000_001, "T+ABC")
        );
        assert_eq!(RecallHandle::decode("not base64!"), None);
        let v2 = base64::engine::general_purpose::URL_SAFE.encode("v2 T b 1 x");
        assert_eq!(RecallHandle::decode(&v2), None);
    }
}
