//! The name server's request service: decodes each request's header and body, asks the
//! actors, and builds the response. Holds no state of its own.

use std::collections::BTreeSet;

use actix::Addr;

use super::kv::ORDER_TOPIC_CONFIG;
use super::NamesrvConfig;
use crate::actors::kv_config::{self, KvConfig};
use crate::actors::registry::{self, Registry};
use crate::actors::route_table::{self, RouteTable};
use crate::protocol::body::{
    DataVersion, KvTable, RegisterBrokerBody, TopicConfigWrapper, TopicList, TopicRouteData,
};
use crate::protocol::header::namesrv::*;
use crate::protocol::{fastjson, HeaderError, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::reply::{json, respond, Reply};
use crate::remoting::{Connection, LocalFuture, Service};

/// Brokers older than V3_0_11 send a bare topic-config wrapper instead of a RegisterBrokerBody.
const VERSION_WITH_REGISTER_BODY: i32 = 37;

/// The actors a name server's service talks to.
#[derive(Clone)]
pub struct NamesrvService {
    pub registry: Addr<Registry>,
    pub routes: Addr<RouteTable>,
    pub kv: Addr<KvConfig>,
    pub order_message_enable: bool,
}

impl NamesrvService {
    pub fn new(
        config: &NamesrvConfig,
        registry: Addr<Registry>,
        routes: Addr<RouteTable>,
        kv: Addr<KvConfig>,
    ) -> Self {
        Self {
            registry,
            routes,
            kv,
            order_message_enable: config.order_message_enable,
        }
    }

    /// Handles one request (the server fills opaque, flags and version).
    pub async fn handle(&self, conn: Option<&Connection>, req: RemotingCommand) -> RemotingCommand {
        let result = match req.request_code() {
            RequestCode::REGISTER_BROKER => self.register_broker(conn, &req).await,
            RequestCode::UNREGISTER_BROKER => self.unregister_broker(&req).await,
            RequestCode::BROKER_HEARTBEAT => self.broker_heartbeat(&req).await,
            RequestCode::QUERY_DATA_VERSION => self.query_data_version(&req).await,
            RequestCode::GET_ROUTEINFO_BY_TOPIC => self.route_by_topic(&req).await,
            RequestCode::GET_BROKER_CLUSTER_INFO => self.cluster_info().await,
            RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => self.all_topics().await,
            RequestCode::GET_TOPICS_BY_CLUSTER => self.topics_by_cluster(&req).await,
            RequestCode::DELETE_TOPIC_IN_NAMESRV => self.delete_topic(&req).await,
            RequestCode::PUT_KV_CONFIG => self.put_kv(&req).await,
            RequestCode::GET_KV_CONFIG => self.get_kv(&req).await,
            RequestCode::DELETE_KV_CONFIG => self.delete_kv(&req).await,
            RequestCode::GET_KVLIST_BY_NAMESPACE => self.kv_namespace(&req).await,
            RequestCode::WIPE_WRITE_PERM_OF_BROKER => self.set_write_perm(&req, false).await,
            RequestCode::ADD_WRITE_PERM_OF_BROKER => self.set_write_perm(&req, true).await,
            RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_NS => self.system_topics().await,
            _ => Ok(RemotingCommand::error(
                ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                format!(" request type {} not supported", req.code),
            )),
        };
        respond(result)
    }

    async fn register_broker(&self, conn: Option<&Connection>, req: &RemotingCommand) -> Reply {
        let header: RegisterBrokerRequest = req.header()?;
        if header.body_crc32 != 0 {
            let crc = (crc32fast::hash(&req.body) & 0x7FFF_FFFF) as i32;
            if crc != header.body_crc32 {
                return Ok(RemotingCommand::error(
                    ResponseCode::SYSTEM_ERROR,
                    "crc32 not match",
                ));
            }
        }
        let wrapper = if req.version >= VERSION_WITH_REGISTER_BODY {
            RegisterBrokerBody::decode(&req.body, header.compressed, req.version)?
                .topic_config_serialize_wrapper
        } else if req.body.is_empty() {
            TopicConfigWrapper::default()
        } else {
            fastjson::from_slice(&req.body)
                .map_err(|e| HeaderError::Body(format!("topic config wrapper: {e}")))?
        };
        let registered = self
            .registry
            .send(registry::Register {
                header,
                data_version: wrapper.data_version,
                topics: wrapper.topic_config_table.into_values().collect(),
                conn: conn.map(|c| c.id),
            })
            .await?;
        let registered = match registered {
            Ok(registered) => registered,
            Err(e) => {
                return Ok(RemotingCommand::error(
                    ResponseCode::SYSTEM_ERROR,
                    e.to_string(),
                ))
            }
        };
        let mut response =
            RemotingCommand::response(ResponseCode::SUCCESS).with_header(&registered.response);
        let order = self
            .kv
            .send(kv_config::GetNamespace(ORDER_TOPIC_CONFIG.into()))
            .await?;
        if let Some(table) = order {
            response = response.with_body(json(&KvTable { table }));
        }
        Ok(response)
    }

    async fn unregister_broker(&self, req: &RemotingCommand) -> Reply {
        let who: BrokerIdentity = req.header()?;
        self.registry.send(registry::Unregister(who)).await?;
        Ok(RemotingCommand::response(ResponseCode::SUCCESS))
    }

    async fn broker_heartbeat(&self, req: &RemotingCommand) -> Reply {
        let who: BrokerIdentity = req.header()?;
        self.registry
            .send(registry::Heartbeat {
                cluster: who.cluster_name,
                addr: who.broker_addr,
            })
            .await?;
        Ok(RemotingCommand::response(ResponseCode::SUCCESS))
    }

    async fn query_data_version(&self, req: &RemotingCommand) -> Reply {
        let broker: BrokerIdentity = req.header()?;
        let version: DataVersion = fastjson::from_slice(&req.body)
            .map_err(|e| HeaderError::Body(format!("data version: {e}")))?;
        let (changed, stored) = self
            .registry
            .send(registry::QueryDataVersion { broker, version })
            .await?;
        let mut response = RemotingCommand::response(ResponseCode::SUCCESS)
            .with_header(&QueryDataVersionResponse { changed });
        if let Some(stored) = stored {
            response = response.with_body(json(&stored));
        }
        Ok(response)
    }

    async fn route_by_topic(&self, req: &RemotingCommand) -> Reply {
        let header: RouteByTopicRequest = req.header()?;
        let queue_datas = self
            .routes
            .send(route_table::QueueDatas(header.topic.clone()))
            .await?
            .unwrap_or_default();
        let names = queue_datas.iter().map(|q| q.broker_name.clone()).collect();
        let broker_datas = self.registry.send(registry::BrokerDatas(names)).await?;
        if broker_datas.is_empty() {
            return Ok(RemotingCommand::error(
                ResponseCode::TOPIC_NOT_EXIST,
                format!(
                    "No topic route info in name server for the topic: {}\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details.",
                    header.topic
                ),
            ));
        }
        let order_topic_conf = if self.order_message_enable {
            self.kv
                .send(kv_config::GetKv {
                    namespace: ORDER_TOPIC_CONFIG.into(),
                    key: header.topic,
                })
                .await?
        } else {
            None
        };
        let route = TopicRouteData {
            broker_datas,
            filter_server_table: Default::default(),
            order_topic_conf,
            queue_datas,
        };
        // Always standard JSON (quoted map keys): every client reads it, whatever its version.
        Ok(RemotingCommand::response(ResponseCode::SUCCESS).with_body(json(&route)))
    }

    async fn cluster_info(&self) -> Reply {
        let info = self.registry.send(registry::GetClusterInfo).await?;
        Ok(RemotingCommand::response(ResponseCode::SUCCESS).with_body(json(&info)))
    }

    /// WIPE_WRITE_PERM_OF_BROKER / ADD_WRITE_PERM_OF_BROKER: the count in the answer's
    /// header (`wipeTopicCount` / `addTopicCount`).
    async fn set_write_perm(&self, req: &RemotingCommand, allow: bool) -> Reply {
        use crate::protocol::header::admin::*;
        let header: BrokerNameRequest = req.header()?;
        let count = self
            .routes
            .send(route_table::SetWritePerm {
                broker_name: header.broker_name,
                allow,
            })
            .await?;
        let response = RemotingCommand::response(ResponseCode::SUCCESS);
        Ok(if allow {
            response.with_header(&AddWritePermResponse {
                add_topic_count: count,
            })
        } else {
            response.with_header(&WipeWritePermResponse {
                wipe_topic_count: count,
            })
        })
    }

    /// GET_SYSTEM_TOPIC_LIST_FROM_NS: as the Java name server, the cluster and broker names
    /// (each is a system topic) and the address of a broker.
    async fn system_topics(&self) -> Reply {
        let info = self.registry.send(registry::GetClusterInfo).await?;
        let mut topic_list: BTreeSet<String> = info.cluster_addr_table.keys().cloned().collect();
        topic_list.extend(info.broker_addr_table.keys().cloned());
        let broker_addr = info
            .broker_addr_table
            .values()
            .find_map(|b| b.broker_addrs.values().next().cloned());
        Ok(
            RemotingCommand::response(ResponseCode::SUCCESS).with_body(json(&TopicList {
                broker_addr,
                topic_list,
            })),
        )
    }

    async fn all_topics(&self) -> Reply {
        let topic_list = self.routes.send(route_table::TopicNames).await?;
        Ok(topic_list_response(topic_list))
    }

    async fn topics_by_cluster(&self, req: &RemotingCommand) -> Reply {
        let header: TopicsByClusterRequest = req.header()?;
        let brokers = self
            .registry
            .send(registry::ClusterBrokers(header.cluster))
            .await?;
        let topic_list = self.routes.send(route_table::TopicsOn(brokers)).await?;
        Ok(topic_list_response(topic_list))
    }

    async fn delete_topic(&self, req: &RemotingCommand) -> Reply {
        let header: DeleteTopicRequest = req.header()?;
        let only_on: Option<BTreeSet<String>> = match header.cluster_name.filter(|c| !c.is_empty())
        {
            Some(cluster) => Some(
                self.registry
                    .send(registry::ClusterBrokers(cluster))
                    .await?,
            ),
            None => None,
        };
        self.routes
            .send(route_table::DeleteTopic {
                topic: header.topic,
                only_on,
            })
            .await?;
        Ok(RemotingCommand::response(ResponseCode::SUCCESS))
    }

    async fn put_kv(&self, req: &RemotingCommand) -> Reply {
        let header: PutKvRequest = req.header()?;
        self.kv
            .send(kv_config::PutKv {
                namespace: header.namespace,
                key: header.key,
                value: header.value,
            })
            .await?;
        Ok(RemotingCommand::response(ResponseCode::SUCCESS))
    }

    async fn get_kv(&self, req: &RemotingCommand) -> Reply {
        let header: KvKeyRequest = req.header()?;
        let value = self
            .kv
            .send(kv_config::GetKv {
                namespace: header.namespace.clone(),
                key: header.key.clone(),
            })
            .await?;
        Ok(match value {
            Some(value) => RemotingCommand::response(ResponseCode::SUCCESS)
                .with_header(&KvValueResponse { value }),
            None => RemotingCommand::error(
                ResponseCode::QUERY_NOT_FOUND,
                format!(
                    "No config item, Namespace: {} Key: {}",
                    header.namespace, header.key
                ),
            ),
        })
    }

    async fn delete_kv(&self, req: &RemotingCommand) -> Reply {
        let header: KvKeyRequest = req.header()?;
        self.kv
            .send(kv_config::DeleteKv {
                namespace: header.namespace,
                key: header.key,
            })
            .await?;
        Ok(RemotingCommand::response(ResponseCode::SUCCESS))
    }

    async fn kv_namespace(&self, req: &RemotingCommand) -> Reply {
        let header: NamespaceRequest = req.header()?;
        let table = self
            .kv
            .send(kv_config::GetNamespace(header.namespace.clone()))
            .await?;
        Ok(match table {
            Some(table) => {
                RemotingCommand::response(ResponseCode::SUCCESS).with_body(json(&KvTable { table }))
            }
            None => RemotingCommand::error(
                ResponseCode::QUERY_NOT_FOUND,
                format!("No config item, Namespace: {}", header.namespace),
            ),
        })
    }
}

fn topic_list_response(topic_list: BTreeSet<String>) -> RemotingCommand {
    RemotingCommand::response(ResponseCode::SUCCESS).with_body(json(&TopicList {
        broker_addr: None,
        topic_list,
    }))
}

impl Service for NamesrvService {
    fn call(
        &self,
        conn: &Connection,
        request: RemotingCommand,
    ) -> LocalFuture<Option<RemotingCommand>> {
        let service = self.clone();
        let conn = conn.clone();
        Box::pin(async move { Some(service.handle(Some(&conn), request).await) })
    }

    fn disconnected(&self, conn: &Connection) {
        self.registry.do_send(registry::ConnectionClosed(conn.id));
    }
}
