//! The connections of `apogee admin`: name servers (`-n`, or `NAMESRV_ADDR`) and brokers,
//! one connection each, opened when first used. Failures name the server and the reason.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde::de::DeserializeOwned;

use crate::protocol::body::{BrokerData, ClusterInfo, TopicList, TopicRouteData};
use crate::protocol::header::namesrv::RouteByTopicRequest;
use crate::protocol::{fastjson, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::client::RemotingClient;
use crate::util::lock;

/// Java admin's default (`DefaultMQAdminExt.timeoutMillis`), tripled for consume stats.
pub const TIMEOUT: Duration = Duration::from_secs(5);

pub struct AdminClient {
    pub namesrv: Vec<SocketAddr>,
    conns: Mutex<HashMap<SocketAddr, RemotingClient>>,
}

/// A refusal from a server: its answer code and remark.
#[derive(Debug, thiserror::Error)]
#[error("{server} answered {code}: {remark}")]
pub struct Refused {
    pub server: String,
    pub code: ResponseCode,
    pub remark: String,
}

/// `host:port`, or the last part of an `http://…/host:port` endpoint.
pub fn addr(text: &str) -> anyhow::Result<SocketAddr> {
    let text = text.trim();
    let text = text.rsplit('/').next().unwrap_or(text);
    text.parse()
        .or_else(|_| {
            use std::net::ToSocketAddrs;
            text.to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or(())
        })
        .map_err(|_| anyhow!("`{text}` is not a host:port address"))
}

impl AdminClient {
    /// Name servers from `-n` (`;`-separated) or the `NAMESRV_ADDR` environment variable.
    pub fn new(namesrv: Option<&str>) -> anyhow::Result<Self> {
        let list = match namesrv {
            Some(list) => list.to_owned(),
            None => std::env::var("NAMESRV_ADDR").map_err(|_| {
                anyhow!("no name server: pass -n 127.0.0.1:9876 or set NAMESRV_ADDR")
            })?,
        };
        let namesrv = list
            .split(';')
            .filter(|a| !a.trim().is_empty())
            .map(addr)
            .collect::<anyhow::Result<Vec<_>>>()?;
        if namesrv.is_empty() {
            bail!("no name server: pass -n 127.0.0.1:9876 or set NAMESRV_ADDR");
        }
        Ok(Self {
            namesrv,
            conns: Mutex::default(),
        })
    }

    async fn conn(&self, addr: SocketAddr) -> anyhow::Result<RemotingClient> {
        if let Some(c) = lock(&self.conns).get(&addr).filter(|c| c.is_open()) {
            return Ok(c.clone());
        }
        let client = tokio::time::timeout(TIMEOUT, RemotingClient::connect(addr))
            .await
            .map_err(|_| anyhow!("cannot reach {addr}: no connection within {TIMEOUT:?}"))?
            .map_err(|e| anyhow!("cannot reach {addr}: {e}"))?;
        lock(&self.conns).insert(addr, client.clone());
        Ok(client)
    }

    /// One request to `addr`; the answer whatever its code.
    pub async fn call(
        &self,
        addr: SocketAddr,
        request: RemotingCommand,
        timeout: Duration,
    ) -> anyhow::Result<RemotingCommand> {
        let code = request.code;
        let conn = self.conn(addr).await?;
        conn.invoke(request, timeout)
            .await
            .map_err(|e| anyhow!("{addr} (request {code}): {e}"))
    }

    /// One request to `addr`, which must answer SUCCESS.
    pub async fn ok(
        &self,
        addr: SocketAddr,
        request: RemotingCommand,
    ) -> anyhow::Result<RemotingCommand> {
        let response = self.call(addr, request, TIMEOUT * 3).await?;
        check(addr, response)
    }

    /// To the first name server that answers.
    pub async fn namesrv(&self, request: RemotingCommand) -> anyhow::Result<RemotingCommand> {
        let mut last = None;
        for addr in &self.namesrv {
            match self.call(*addr, request.clone(), TIMEOUT).await {
                Ok(response) => return check(*addr, response),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("no name server")))
    }

    /// To every name server (KV config, write permissions): the answers in order.
    pub async fn every_namesrv(
        &self,
        request: RemotingCommand,
    ) -> Vec<(SocketAddr, anyhow::Result<RemotingCommand>)> {
        let mut out = Vec::new();
        for addr in &self.namesrv {
            let answer = match self.call(*addr, request.clone(), TIMEOUT).await {
                Ok(response) => check(*addr, response),
                Err(e) => Err(e),
            };
            out.push((*addr, answer));
        }
        out
    }

    pub async fn cluster_info(&self) -> anyhow::Result<ClusterInfo> {
        let response = self
            .namesrv(RemotingCommand::request(
                RequestCode::GET_BROKER_CLUSTER_INFO,
            ))
            .await?;
        body(&response, "cluster info")
    }

    pub async fn route(&self, topic: &str) -> anyhow::Result<TopicRouteData> {
        let request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC).with_header(
            &RouteByTopicRequest {
                topic: topic.to_owned(),
                accept_standard_json_only: None,
            },
        );
        let response =
            self.namesrv(request)
                .await
                .map_err(|e| match e.downcast_ref::<Refused>() {
                    Some(r) if r.code == ResponseCode::TOPIC_NOT_EXIST => {
                        anyhow!("unknown topic {topic}: no route in the name server")
                    }
                    _ => e,
                })?;
        body(&response, "topic route")
    }

    pub async fn all_topics(&self) -> anyhow::Result<BTreeSet<String>> {
        let response = self
            .namesrv(RemotingCommand::request(
                RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            ))
            .await?;
        Ok(body::<TopicList>(&response, "topic list")?.topic_list)
    }

    /// The brokers of a cluster by name; an unknown cluster is an error.
    pub async fn cluster_brokers(&self, cluster: &str) -> anyhow::Result<Vec<BrokerData>> {
        let info = self.cluster_info().await?;
        let names = info.cluster_addr_table.get(cluster).ok_or_else(|| {
            anyhow!(
                "unknown cluster {cluster} (the name server knows: {})",
                info.cluster_addr_table
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        Ok(names
            .iter()
            .filter_map(|n| info.broker_addr_table.get(n).cloned())
            .collect())
    }

    /// The masters of a cluster (brokerId 0).
    pub async fn cluster_masters(&self, cluster: &str) -> anyhow::Result<Vec<SocketAddr>> {
        let brokers = self.cluster_brokers(cluster).await?;
        brokers
            .iter()
            .filter_map(|b| b.master_addr())
            .map(addr)
            .collect()
    }

    /// `-b addr` or the masters of `-c cluster`.
    pub async fn targets(
        &self,
        broker: Option<&str>,
        cluster: Option<&str>,
    ) -> anyhow::Result<Vec<SocketAddr>> {
        match (broker, cluster) {
            (Some(broker), _) => Ok(vec![addr(broker)?]),
            (None, Some(cluster)) => self.cluster_masters(cluster).await,
            (None, None) => bail!("give a broker (-b ip:port) or a cluster (-c name)"),
        }
    }

    /// The master of each broker of a topic's route, by broker name.
    pub async fn route_masters(&self, topic: &str) -> anyhow::Result<BTreeMap<String, SocketAddr>> {
        let route = self.route(topic).await?;
        route
            .broker_datas
            .iter()
            .filter_map(|b| {
                let master = b
                    .master_addr()
                    .or_else(|| b.broker_addrs.values().next().map(|s| s.as_str()))?;
                Some(addr(master).map(|a| (b.broker_name.clone(), a)))
            })
            .collect()
    }
}

/// The answer if SUCCESS, else a [`Refused`] error.
pub fn check(addr: SocketAddr, response: RemotingCommand) -> anyhow::Result<RemotingCommand> {
    if response.response_code() == ResponseCode::SUCCESS {
        Ok(response)
    } else {
        Err(Refused {
            server: addr.to_string(),
            code: response.response_code(),
            remark: response.remark.clone().unwrap_or_default(),
        }
        .into())
    }
}

/// The answer's JSON body (fastjson's dialect) as `T`.
pub fn body<T: DeserializeOwned>(response: &RemotingCommand, what: &str) -> anyhow::Result<T> {
    fastjson::from_slice(&response.body).with_context(|| format!("unreadable {what} body"))
}
