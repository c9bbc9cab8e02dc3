//! One client instance: the connections of a producer or consumer to name servers and
//! brokers, the topic route cache, the heartbeat, and requests brokers send to the client.
//!
//! Background tasks (ended by [`Instance::shutdown`]): route refresh every 30 s, heartbeat
//! to every known broker every 30 s, and one task per broker connection that answers the
//! broker's requests (NOTIFY_CONSUMER_IDS_CHANGED wakes that group's rebalance at once;
//! RESET_CONSUMER_CLIENT_OFFSET and GET_CONSUMER_RUNNING_INFO go to the group's
//! [`ConsumerHooks`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use super::error::ClientError;
use super::message::MessageExt;
use super::message::UniqueIds;
use super::ClientConfig;
use crate::protocol::body::client::{ConsumerData, HeartbeatData, MessageQueue, ProducerData};
use crate::protocol::body::{BrokerData, TopicRouteData};
use crate::protocol::header::broker::{
    CheckTransactionStateRequest, ConsumerGroupRequest, UnregisterClientRequest,
};
use crate::protocol::header::namesrv::RouteByTopicRequest;
use crate::protocol::{fastjson, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::client::RemotingClient;
use crate::util::{lock, read, write};

/// What a consumer of a group answers when a broker (for an admin tool) asks.
pub trait ConsumerHooks: Send + Sync {
    /// RESET_CONSUMER_CLIENT_OFFSET: go on from these offsets of the topic's queues.
    fn reset_offsets(&self, topic: &str, offsets: Vec<(MessageQueue, i64)>);
    /// GET_CONSUMER_RUNNING_INFO: the consumer's state as RocketMQ's `ConsumerRunningInfo`.
    fn running_info(&self) -> serde_json::Value;
    /// CONSUME_MESSAGE_DIRECTLY: hand one message to the listener now (it may block);
    /// RocketMQ's `ConsumeMessageDirectlyResult`.
    fn consume_directly(&self, message: MessageExt) -> serde_json::Value;
}

impl std::fmt::Debug for dyn ConsumerHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsumerHooks")
    }
}

/// Shared by a producer or consumer and its background tasks.
#[derive(Debug)]
pub struct Instance {
    pub config: ClientConfig,
    /// `ip@instance`, as brokers and other consumers of the group see us.
    pub client_id: String,
    pub client_ip: IpAddr,
    pub(crate) ids: UniqueIds,
    namesrv: Mutex<Option<RemotingClient>>,
    brokers: Mutex<HashMap<String, RemotingClient>>,
    routes: RwLock<HashMap<String, Arc<TopicRouteData>>>,
    broker_groups: RwLock<BTreeMap<String, BrokerData>>,
    producer_groups: Mutex<BTreeSet<String>>,
    consumers: Mutex<BTreeMap<String, ConsumerData>>,
    rebalance_wakers: Mutex<HashMap<String, Arc<Notify>>>,
    /// Producer group → who answers a broker's transaction check-back.
    transaction_checkers: Mutex<HashMap<String, TransactionChecker>>,
    /// Consumer group → its consumer's answers to brokers.
    consumer_hooks: Mutex<HashMap<String, std::sync::Weak<dyn ConsumerHooks>>>,
    pub(crate) shutdown: CancellationToken,
}

/// Answers a CHECK_TRANSACTION_STATE: the connection it came on, its header, the message.
#[derive(Clone)]
pub(crate) struct TransactionChecker(
    pub Arc<dyn Fn(RemotingClient, CheckTransactionStateRequest, MessageExt) + Send + Sync>,
);

impl std::fmt::Debug for TransactionChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransactionChecker")
    }
}

impl Instance {
    /// Connects to a name server (its local address gives our client ip) and starts the
    /// route-refresh and heartbeat tasks.
    pub async fn start(config: ClientConfig) -> Result<Arc<Self>, ClientError> {
        if config.namesrv_addrs.is_empty() {
            return Err(ClientError::NoNameServer);
        }
        let namesrv = connect_any(&config.namesrv_addrs).await?;
        let client_ip = namesrv.local.ip();
        let instance_name = config.instance_name.clone().unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{}#{}", std::process::id(), nanos)
        });
        let this = Arc::new(Self {
            client_id: format!("{client_ip}@{instance_name}"),
            client_ip,
            ids: UniqueIds::new(client_ip),
            namesrv: Mutex::new(Some(namesrv.client)),
            brokers: Mutex::default(),
            routes: RwLock::default(),
            broker_groups: RwLock::default(),
            producer_groups: Mutex::default(),
            consumers: Mutex::default(),
            rebalance_wakers: Mutex::default(),
            transaction_checkers: Mutex::default(),
            consumer_hooks: Mutex::default(),
            shutdown: CancellationToken::new(),
            config,
        });
        tokio::spawn(Arc::clone(&this).background());
        Ok(this)
    }

    async fn background(self: Arc<Self>) {
        let mut routes = tokio::time::interval(self.config.route_refresh_interval);
        let mut heartbeat = tokio::time::interval(self.config.heartbeat_interval);
        routes.tick().await;
        heartbeat.tick().await;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = routes.tick() => {
                    let topics: Vec<String> = read(&self.routes).keys().cloned().collect();
                    for topic in topics {
                        if let Err(e) = self.update_route(&topic).await {
                            tracing::debug!(%topic, error = %e, "route refresh failed");
                        }
                    }
                }
                _ = heartbeat.tick() => self.heartbeat_all().await,
            }
        }
    }

    /// Stops the background tasks and tells every broker we are gone.
    pub async fn shutdown(self: &Arc<Self>) {
        let producers: Vec<String> = lock(&self.producer_groups).iter().cloned().collect();
        let consumers: Vec<String> = lock(&self.consumers).keys().cloned().collect();
        for addr in self.master_addrs() {
            for (producer_group, consumer_group) in producers
                .iter()
                .map(|p| (Some(p.clone()), None))
                .chain(consumers.iter().map(|c| (None, Some(c.clone()))))
            {
                let header = UnregisterClientRequest {
                    client_id: self.client_id.clone(),
                    producer_group,
                    consumer_group,
                };
                let request =
                    RemotingCommand::request(RequestCode::UNREGISTER_CLIENT).with_header(&header);
                let _ = self
                    .invoke(&addr, request, self.config.request_timeout)
                    .await;
            }
        }
        self.shutdown.cancel();
    }

    // ---- requests ------------------------------------------------------------------

    /// A connection to `addr` (`ip:port`), made on first use and remade after it closes.
    pub async fn broker(self: &Arc<Self>, addr: &str) -> Result<RemotingClient, ClientError> {
        if let Some(c) = lock(&self.brokers).get(addr).filter(|c| c.is_open()) {
            return Ok(c.clone());
        }
        let socket = resolve(addr).await?;
        let (client, inbound) = RemotingClient::connect_with_inbound(socket).await?;
        let mut table = lock(&self.brokers);
        if let Some(existing) = table.get(addr).filter(|c| c.is_open()) {
            return Ok(existing.clone());
        }
        table.insert(addr.to_owned(), client.clone());
        drop(table);
        tokio::spawn(Arc::clone(self).serve_inbound(client.clone(), inbound));
        // A broker we just connected to learns of our groups at once, not at the next
        // heartbeat (up to 30 s): it may have to ask us (transaction checks, replies).
        let (this, first) = (Arc::clone(self), client.clone());
        tokio::spawn(async move { this.heartbeat_on(&first).await });
        Ok(client)
    }

    /// Sends a request to a broker and returns its response (any code).
    pub async fn invoke(
        self: &Arc<Self>,
        addr: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        let client = self.broker(addr).await?;
        Ok(client.invoke(request, timeout).await?)
    }

    /// Sends a request to a name server, trying each in turn.
    pub async fn invoke_namesrv(
        &self,
        request: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        let current = lock(&self.namesrv).clone().filter(RemotingClient::is_open);
        let client = match current {
            Some(c) => c,
            None => {
                let c = connect_any(&self.config.namesrv_addrs).await?.client;
                *lock(&self.namesrv) = Some(c.clone());
                c
            }
        };
        match client
            .invoke(request.clone(), self.config.request_timeout)
            .await
        {
            Ok(r) => Ok(r),
            Err(e) if self.config.namesrv_addrs.len() > 1 => {
                tracing::debug!(error = %e, "name server failed; trying another");
                let c = connect_any(&self.config.namesrv_addrs).await?.client;
                *lock(&self.namesrv) = Some(c.clone());
                Ok(c.invoke(request, self.config.request_timeout).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    // ---- routes --------------------------------------------------------------------

    /// The cached route of `topic`, asked of the name server on first use.
    pub async fn route(&self, topic: &str) -> Result<Arc<TopicRouteData>, ClientError> {
        if let Some(route) = read(&self.routes).get(topic) {
            return Ok(Arc::clone(route));
        }
        self.update_route(topic).await
    }

    /// Asks the name server for `topic`'s route and caches it.
    pub async fn update_route(&self, topic: &str) -> Result<Arc<TopicRouteData>, ClientError> {
        let route = Arc::new(self.fetch_route(topic).await?);
        self.remember_brokers(&route);
        write(&self.routes).insert(topic.to_owned(), Arc::clone(&route));
        Ok(route)
    }

    /// Makes the brokers of a route addressable by name (e.g. `TBW102`'s, for a topic
    /// that has no route yet).
    pub fn remember_brokers(&self, route: &TopicRouteData) {
        let mut groups = write(&self.broker_groups);
        for b in &route.broker_datas {
            groups.insert(b.broker_name.clone(), b.clone());
        }
    }

    /// GET_ROUTEINFO_BY_TOPIC without caching.
    pub async fn fetch_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        let request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC).with_header(
            &RouteByTopicRequest {
                topic: topic.to_owned(),
                accept_standard_json_only: None,
            },
        );
        let response = self.invoke_namesrv(request).await?;
        match response.response_code() {
            ResponseCode::SUCCESS => {
                fastjson::from_slice(&response.body).map_err(|e| ClientError::BadResponse {
                    addr: "name server".into(),
                    source: crate::protocol::HeaderError::Body(e.to_string()),
                })
            }
            ResponseCode::TOPIC_NOT_EXIST => Err(ClientError::NoRoute(topic.to_owned())),
            code => Err(ClientError::Response {
                addr: "name server".into(),
                code,
                remark: response.remark.unwrap_or_default(),
            }),
        }
    }

    /// The master address of a broker group seen in some route.
    pub fn master_addr(&self, broker_name: &str) -> Option<String> {
        read(&self.broker_groups)
            .get(broker_name)
            .and_then(|b| b.master_addr().map(str::to_owned))
    }

    fn master_addrs(&self) -> Vec<String> {
        read(&self.broker_groups)
            .values()
            .filter_map(|b| b.master_addr().map(str::to_owned))
            .collect()
    }

    // ---- membership ----------------------------------------------------------------

    pub(crate) fn add_producer_group(&self, group: &str) {
        lock(&self.producer_groups).insert(group.to_owned());
    }

    /// Who answers check-backs for the halves of `group`.
    pub(crate) fn set_transaction_checker(&self, group: &str, checker: TransactionChecker) {
        lock(&self.transaction_checkers).insert(group.to_owned(), checker);
    }

    /// Who answers RESET_CONSUMER_CLIENT_OFFSET and GET_CONSUMER_RUNNING_INFO for `group`.
    pub(crate) fn set_consumer_hooks(
        &self,
        group: &str,
        hooks: std::sync::Weak<dyn ConsumerHooks>,
    ) {
        lock(&self.consumer_hooks).insert(group.to_owned(), hooks);
    }

    fn hooks_of(&self, group: &str) -> Option<Arc<dyn ConsumerHooks>> {
        lock(&self.consumer_hooks).get(group)?.upgrade()
    }

    /// Registers (or replaces) a consumer group's heartbeat data; returns the group's
    /// rebalance waker.
    pub(crate) fn set_consumer(&self, data: ConsumerData) -> Arc<Notify> {
        let group = data.group_name.clone();
        lock(&self.consumers).insert(group.clone(), data);
        Arc::clone(lock(&self.rebalance_wakers).entry(group).or_default())
    }

    /// HEART_BEAT to every master we know (from cached routes).
    /// HEART_BEAT on one connection, if we have any group to tell of.
    async fn heartbeat_on(&self, client: &RemotingClient) {
        let empty = lock(&self.producer_groups).is_empty() && lock(&self.consumers).is_empty();
        if empty {
            return;
        }
        let request =
            RemotingCommand::request(RequestCode::HEART_BEAT).with_body(self.heartbeat_body());
        if let Err(e) = client.invoke(request, self.config.request_timeout).await {
            tracing::debug!(error = %e, "first heartbeat failed");
        }
    }

    pub async fn heartbeat_all(self: &Arc<Self>) {
        let body = self.heartbeat_body();
        for addr in self.master_addrs() {
            let request = RemotingCommand::request(RequestCode::HEART_BEAT).with_body(body.clone());
            match self
                .invoke(&addr, request, self.config.request_timeout)
                .await
            {
                Ok(r) if r.response_code() == ResponseCode::SUCCESS => {}
                Ok(r) => tracing::warn!(%addr, code = %r.response_code(),
                    remark = r.remark.as_deref().unwrap_or(""), "heartbeat refused"),
                Err(e) => tracing::debug!(%addr, error = %e, "heartbeat failed"),
            }
        }
    }

    fn heartbeat_body(&self) -> Vec<u8> {
        let data = HeartbeatData {
            client_id: self.client_id.clone(),
            producer_data_set: lock(&self.producer_groups)
                .iter()
                .map(|g| ProducerData {
                    group_name: g.clone(),
                })
                .collect(),
            consumer_data_set: lock(&self.consumers).values().cloned().collect(),
            heartbeat_fingerprint: None,
            without_sub: false,
        };
        serde_json::to_vec(&data).unwrap_or_default()
    }

    /// GET_CONSUMER_LIST_BY_GROUP at `addr`.
    pub async fn consumer_ids(
        self: &Arc<Self>,
        addr: &str,
        group: &str,
    ) -> Result<Vec<String>, ClientError> {
        let request = RemotingCommand::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP)
            .with_header(&ConsumerGroupRequest {
                consumer_group: group.to_owned(),
            });
        let response = self
            .invoke(addr, request, self.config.request_timeout)
            .await?;
        let response = check(addr, response)?;
        let list: crate::protocol::body::client::ConsumerList =
            fastjson::from_slice(&response.body).map_err(|e| ClientError::BadResponse {
                addr: addr.to_owned(),
                source: crate::protocol::HeaderError::Body(e.to_string()),
            })?;
        Ok(list.consumer_id_list)
    }

    /// Answers what a broker asks of us on one connection.
    async fn serve_inbound(
        self: Arc<Self>,
        client: RemotingClient,
        mut inbound: mpsc::Receiver<RemotingCommand>,
    ) {
        loop {
            let request = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                r = inbound.recv() => match r { Some(r) => r, None => return },
            };
            match request.request_code() {
                RequestCode::NOTIFY_CONSUMER_IDS_CHANGED => {
                    let group = request.ext("consumerGroup").unwrap_or_default();
                    tracing::debug!(%group, "consumer ids changed; rebalancing");
                    if let Some(w) = lock(&self.rebalance_wakers).get(group) {
                        w.notify_one();
                    }
                }
                RequestCode::CHECK_TRANSACTION_STATE => self.check_transaction(&client, &request),
                RequestCode::RESET_CONSUMER_CLIENT_OFFSET => self.reset_offsets(&request),
                RequestCode::CONSUME_MESSAGE_DIRECTLY => {
                    let group = request.ext("consumerGroup").unwrap_or_default().to_owned();
                    let broker_name = request.ext("brokerName").unwrap_or_default().to_owned();
                    let hooks = self.hooks_of(&group);
                    let message = MessageExt::decode_all(&request.body, &broker_name)
                        .ok()
                        .and_then(|mut all| (!all.is_empty()).then(|| all.remove(0)));
                    let opaque = request.opaque;
                    let client = client.clone();
                    // The listener may block: off this connection's task.
                    tokio::spawn(async move {
                        let response = match (hooks, message) {
                            (Some(hooks), Some(message)) => {
                                match tokio::task::spawn_blocking(move || {
                                    hooks.consume_directly(message)
                                })
                                .await
                                {
                                    Ok(result) => RemotingCommand::response(ResponseCode::SUCCESS)
                                        .with_body(serde_json::to_vec(&result).unwrap_or_default()),
                                    Err(e) => RemotingCommand::error(
                                        ResponseCode::SYSTEM_ERROR,
                                        e.to_string(),
                                    ),
                                }
                            }
                            (None, _) => RemotingCommand::error(
                                ResponseCode::SYSTEM_ERROR,
                                format!("The Consumer Group <{group}> not exist in this consumer"),
                            ),
                            (_, None) => RemotingCommand::error(
                                ResponseCode::SYSTEM_ERROR,
                                "no message in the request",
                            ),
                        };
                        let _ = client.respond(response.with_opaque(opaque)).await;
                    });
                }
                RequestCode::GET_CONSUMER_RUNNING_INFO => {
                    let group = request.ext("consumerGroup").unwrap_or_default();
                    let response = match self.hooks_of(group) {
                        Some(hooks) => RemotingCommand::response(ResponseCode::SUCCESS).with_body(
                            crate::protocol::fastjson::to_vec_object_keys(&hooks.running_info()),
                        ),
                        None => RemotingCommand::error(
                            ResponseCode::SYSTEM_ERROR,
                            format!("The Consumer Group <{group}> not exist in this consumer"),
                        ),
                    }
                    .with_opaque(request.opaque);
                    let _ = client.respond(response).await;
                }
                code if !request.is_oneway() => {
                    let response = RemotingCommand::error(
                        ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                        format!("request type {} not supported", code.wire()),
                    )
                    .with_opaque(request.opaque);
                    let _ = client.respond(response).await;
                }
                _ => {}
            }
        }
    }
}

impl Instance {
    /// RESET_CONSUMER_CLIENT_OFFSET: the body's offsets (`ResetOffsetBody`, message queues
    /// as keys) to the group's consumer.
    fn reset_offsets(&self, request: &RemotingCommand) {
        let group = request.ext("group").unwrap_or_default();
        let topic = request.ext("topic").unwrap_or_default();
        let body: crate::protocol::body::admin::ResetOffsetBody =
            match fastjson::from_slice(&request.body) {
                Ok(body) => body,
                Err(e) => {
                    tracing::warn!(%group, %topic, error = %e, "bad offset reset body");
                    return;
                }
            };
        let offsets: Vec<(MessageQueue, i64)> = body
            .offset_table
            .iter()
            .filter_map(|(k, o)| Some((crate::protocol::body::admin::parse_queue_key(k)?, *o)))
            .collect();
        match self.hooks_of(group) {
            Some(hooks) => {
                tracing::info!(%group, %topic, queues = offsets.len(), "offsets reset by the broker");
                hooks.reset_offsets(topic, offsets);
            }
            None => tracing::warn!(%group, "offset reset for a group without a consumer here"),
        }
    }

    /// A broker asks how the local transaction of a half ended: the listener of the half's
    /// producer group (`PGROUP`) answers.
    fn check_transaction(&self, client: &RemotingClient, request: &RemotingCommand) {
        let header: CheckTransactionStateRequest = match request.header() {
            Ok(header) => header,
            Err(e) => {
                tracing::warn!(error = %e, "bad transaction check header");
                return;
            }
        };
        let broker_name = header.broker_name.clone().unwrap_or_default();
        let message = match MessageExt::decode_all(&request.body, &broker_name) {
            Ok(mut all) if all.len() == 1 => all.remove(0),
            _ => {
                tracing::warn!("bad transaction check body");
                return;
            }
        };
        let group = message
            .property(crate::protocol::properties::PRODUCER_GROUP)
            .unwrap_or_default()
            .to_owned();
        let checker = lock(&self.transaction_checkers).get(&group).cloned();
        match checker {
            Some(checker) => (checker.0)(client.clone(), header, message),
            None => {
                tracing::warn!(%group, "transaction check for a group without a transaction producer")
            }
        }
    }
}

/// A SUCCESS response, or the error it carries.
pub(crate) fn check(addr: &str, response: RemotingCommand) -> Result<RemotingCommand, ClientError> {
    if response.response_code() == ResponseCode::SUCCESS {
        Ok(response)
    } else {
        Err(ClientError::Response {
            addr: addr.to_owned(),
            code: response.response_code(),
            remark: response.remark.unwrap_or_default(),
        })
    }
}

struct Connected {
    client: RemotingClient,
    local: SocketAddr,
}

async fn connect_any(addrs: &[String]) -> Result<Connected, ClientError> {
    let mut last = ClientError::NoNameServer;
    for addr in addrs {
        let socket = match resolve(addr).await {
            Ok(s) => s,
            Err(e) => {
                last = e;
                continue;
            }
        };
        match RemotingClient::connect(socket).await {
            Ok(client) => {
                return Ok(Connected {
                    local: client.local,
                    client,
                })
            }
            Err(e) => last = e.into(),
        }
    }
    Err(last)
}

pub(crate) async fn resolve(addr: &str) -> Result<SocketAddr, ClientError> {
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    tokio::net::lookup_host(addr)
        .await
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| ClientError::BadAddress(addr.to_owned()))
}
