//! Settings shared by producers and consumers (RocketMQ's `ClientConfig`).

use std::time::Duration;

/// Where the cluster is and how the client talks to it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Name servers, `host:port` (RocketMQ's `namesrvAddr`, split on `;`).
    pub namesrv_addrs: Vec<String>,
    /// Part of the client id (`ip@instance`); `None` = `pid#nanos`, unique per client.
    pub instance_name: Option<String>,
    /// Timeout of heartbeats, route and offset requests (`mqClientApiTimeout`, 3 s).
    pub request_timeout: Duration,
    /// Heartbeat to every broker (`heartbeatBrokerInterval`, 30 s).
    pub heartbeat_interval: Duration,
    /// Route refresh from the name server (`pollNameServerInterval`, 30 s).
    pub route_refresh_interval: Duration,
}

impl ClientConfig {
    /// Name servers given as RocketMQ writes them: `"a:9876;b:9876"`.
    pub fn new(namesrv: &str) -> Self {
        Self {
            namesrv_addrs: namesrv
                .split([';', ','])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            instance_name: None,
            request_timeout: Duration::from_secs(3),
            heartbeat_interval: Duration::from_secs(30),
            route_refresh_interval: Duration::from_secs(30),
        }
    }
}
