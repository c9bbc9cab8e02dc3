//! The controller's remoting service, on its peer address: brokers' and admin tools'
//! requests (RocketMQ 5's controller codes) and the other controllers' Raft RPCs.

use std::rc::Rc;
use std::sync::Arc;

use actix::Addr;
use serde::{Deserialize, Serialize};

use super::core::{parse_set, Core};
use super::raft;
use super::state::Liveness;
use crate::actors::broker_liveness::{BrokerLiveness, Closed, Heartbeat};
use crate::protocol::header::controller::BrokerHeartbeat;
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::server::{Connection, LocalFuture, Service};

pub struct ControllerService {
    pub core: Arc<Core>,
    pub liveness: Addr<BrokerLiveness>,
}

/// Apogee adds whether the answering controller leads to its heartbeat answers (a master
/// counts its lease only on the leader's word).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatAnswer {
    pub is_leader: bool,
}

fn bad(e: impl std::fmt::Display) -> RemotingCommand {
    RemotingCommand::error(ResponseCode::CONTROLLER_INVALID_REQUEST, e.to_string())
}

impl Service for ControllerService {
    fn call(
        &self,
        conn: &Connection,
        request: RemotingCommand,
    ) -> LocalFuture<Option<RemotingCommand>> {
        let core = Arc::clone(&self.core);
        let liveness = self.liveness.clone();
        let conn_id = conn.id;
        let oneway = request.is_oneway();
        Box::pin(async move {
            let code = request.code;
            let response = match RequestCode::from_wire(code) {
                RequestCode::BROKER_HEARTBEAT => match request.header::<BrokerHeartbeat>() {
                    Ok(h) => match h.broker_id {
                        None => bad("Heart beat with empty brokerId"),
                        Some(id) => {
                            liveness.do_send(Heartbeat {
                                group: h.broker_name,
                                id,
                                address: h.broker_addr,
                                conn: Some(conn_id),
                                timeout_ms: h.heartbeat_timeout_mills,
                                liveness: Liveness {
                                    epoch: h.epoch.unwrap_or(-1),
                                    max_offset: h.max_offset.unwrap_or(-1),
                                    election_priority: h.election_priority.unwrap_or(i32::MAX),
                                },
                            });
                            RemotingCommand::response(ResponseCode::SUCCESS)
                                .with_remark("Heart beat success")
                                .with_header(&HeartbeatAnswer {
                                    is_leader: core.is_leader(),
                                })
                        }
                    },
                    Err(e) => bad(e),
                },
                RequestCode::CONTROLLER_GET_METADATA_INFO => core.metadata(),
                RequestCode::CONTROLLER_GET_NEXT_BROKER_ID => match request.header() {
                    Ok(h) => core.next_broker_id(h).await,
                    Err(e) => bad(e),
                },
                RequestCode::CONTROLLER_APPLY_BROKER_ID => match request.header() {
                    Ok(h) => core.apply_broker_id(h).await,
                    Err(e) => bad(e),
                },
                RequestCode::CONTROLLER_REGISTER_BROKER => match request.header() {
                    Ok(h) => core.register(h).await,
                    Err(e) => bad(e),
                },
                RequestCode::CONTROLLER_GET_REPLICA_INFO => match request.header() {
                    Ok(h) => core.replica_info(h),
                    Err(e) => bad(e),
                },
                RequestCode::CONTROLLER_ELECT_MASTER => match request.header() {
                    Ok(h) => core.elect(h).await,
                    Err(e) => bad(e),
                },
                RequestCode::CONTROLLER_ALTER_SYNC_STATE_SET => {
                    match (request.header(), parse_set(&request.body)) {
                        (Ok(h), Some(set)) => core.alter_sync_state_set(h, set).await,
                        (Err(e), _) => bad(e),
                        (_, None) => bad("the body is not a SyncStateSet"),
                    }
                }
                RequestCode::CONTROLLER_GET_SYNC_STATE_DATA => {
                    match serde_json::from_slice::<Vec<String>>(&request.body) {
                        Ok(names) => core.sync_state_data(names).await,
                        Err(e) => bad(format!("the body is not a list of broker names: {e}")),
                    }
                }
                RequestCode::CLEAN_BROKER_DATA => match request.header() {
                    Ok(h) => core.clean(h).await,
                    Err(e) => bad(e),
                },
                _ if (raft::RAFT_APPEND..=raft::RAFT_SNAPSHOT).contains(&code) => {
                    match raft::serve_rpc(&core.raft, code, &request.body).await {
                        Ok(body) => {
                            RemotingCommand::response(ResponseCode::SUCCESS).with_body(body)
                        }
                        Err(e) => RemotingCommand::error(ResponseCode::SYSTEM_ERROR, e),
                    }
                }
                _ => RemotingCommand::error(
                    ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                    format!(" request type {code} not supported"),
                ),
            };
            (!oneway).then_some(response)
        })
    }

    fn disconnected(&self, conn: &Connection) {
        self.liveness.do_send(Closed(conn.id));
    }
}

/// The service behind an `Rc`, as the server takes it.
pub fn shared(service: ControllerService) -> Rc<ControllerService> {
    Rc::new(service)
}
