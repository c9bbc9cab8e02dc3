//! The name server's KV config: namespace → key → value (e.g. `ORDER_TOPIC_CONFIG`), kept in
//! `kvConfig.json` as `{"configTable":{namespace:{key:value}}}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Namespace of the order-topic configuration (`"brokerA:4;brokerB:4"` per topic).
pub const ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvStore {
    #[serde(default)]
    pub config_table: BTreeMap<String, BTreeMap<String, String>>,
}

impl KvStore {
    pub fn put(&mut self, namespace: &str, key: &str, value: &str) {
        self.config_table
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<&str> {
        self.config_table
            .get(namespace)?
            .get(key)
            .map(String::as_str)
    }

    /// Removes a key; the namespace stays even when emptied (as RocketMQ does).
    pub fn delete(&mut self, namespace: &str, key: &str) -> bool {
        self.config_table
            .get_mut(namespace)
            .is_some_and(|table| table.remove(key).is_some())
    }

    pub fn namespace(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.config_table.get(namespace)
    }

    /// The file form (standard JSON, pretty-printed like RocketMQ's config files).
    pub fn to_json(&self) -> Vec<u8> {
        crate::store::config::to_json_pretty(self)
    }
}
