//! Asking a consumer for its subscriptions when its pulls are ahead of its heartbeats.
//!
//! A push consumer gives its subscriptions a new version at every rebalance, then sends a
//! heartbeat; its pulls carry the new version, and a broker that has not seen it answers
//! SUBSCRIPTION_NOT_LATEST (the client then waits 3 s and pulls again). The Java client
//! skips that heartbeat when another one holds its heartbeat lock (`tryLock`), and then its
//! pulls are refused until the next periodic heartbeat, up to 30 s later; Apache RocketMQ's
//! broker leaves it so. On the first such pull, Apogee asks the client on the pull's
//! connection for its subscriptions (GET_CONSUMER_RUNNING_INFO, the request behind
//! `mqadmin consumerStatus`), takes them as a heartbeat's, and serves the pull.
//!
//! Pulls of the same (connection, group) share one question. A question is not asked again
//! within [`REASK`] of the last (a client that does not answer it is asked at most that
//! often, and each of its pulls waits at most [`ANSWER_TIMEOUT`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use actix::Addr;
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use tokio::time::Instant;

use crate::actors::client_manager::{ClientManager, MembersOn, Subscribed};
use crate::protocol::body::client::ConsumerRunningInfo;
use crate::protocol::header::broker::ConsumerRunningInfoRequest;
use crate::protocol::{fastjson, LanguageCode, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::{ConnId, Connection};

/// How long a pull waits for the client's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_millis(1000);
/// A (connection, group) is asked at most this often.
pub const REASK: Duration = Duration::from_secs(3);
/// Questions older than this are forgotten (the table stays small).
const FORGET: Duration = Duration::from_secs(60);

struct Question {
    asked: Instant,
    /// True once the client's subscriptions were taken.
    answer: Shared<LocalBoxFuture<'static, bool>>,
}

/// The questions in flight or recently asked, by (connection, group). Lives on the serving
/// thread, like the service that owns it.
#[derive(Default)]
pub struct SubscriptionRefresh {
    questions: RefCell<HashMap<(ConnId, String), Question>>,
}

impl SubscriptionRefresh {
    /// Asks the members of `group` on `conn` for their subscriptions (or joins the
    /// question already asked); true if the broker's subscriptions were updated from an
    /// answer. False at once when the last question is less than [`REASK`] old and done.
    pub async fn refresh(
        &self,
        conn: &Connection,
        group: &str,
        clients: &Addr<ClientManager>,
    ) -> bool {
        let now = Instant::now();
        let key = (conn.id, group.to_owned());
        let answer = {
            let mut questions = self.questions.borrow_mut();
            questions.retain(|_, q| now.duration_since(q.asked) < FORGET);
            match questions.get(&key) {
                Some(q) if q.answer.peek().is_none() => q.answer.clone(),
                Some(q) if now.duration_since(q.asked) < REASK => return false,
                _ => {
                    let answer = ask(conn.clone(), group.to_owned(), clients.clone())
                        .boxed_local()
                        .shared();
                    questions.insert(
                        key,
                        Question {
                            asked: now,
                            answer: answer.clone(),
                        },
                    );
                    answer
                }
            }
        };
        answer.await
    }
}

/// One question: GET_CONSUMER_RUNNING_INFO to each member of `group` on the connection
/// until one answers with its subscriptions, which the client manager then takes.
async fn ask(conn: Connection, group: String, clients: Addr<ClientManager>) -> bool {
    let members = clients
        .send(MembersOn {
            conn: conn.id,
            group: group.clone(),
        })
        .await
        .unwrap_or_default();
    for client_id in members {
        let mut request = RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO)
            .with_header(&ConsumerRunningInfoRequest {
                consumer_group: group.clone(),
                client_id: client_id.clone(),
                jstack_enable: false,
            });
        // As for NOTIFY_CONSUMER_IDS_CHANGED: 4.x Java clients know no language RUST.
        request.language = LanguageCode::JAVA;
        let response = match conn.request(request, ANSWER_TIMEOUT).await {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(peer = %conn.peer, %group, client = %client_id, error = %e, "no running info");
                continue;
            }
        };
        if response.response_code() != ResponseCode::SUCCESS {
            tracing::debug!(peer = %conn.peer, %group, client = %client_id, code = response.code, remark = ?response.remark, "running info refused");
            continue;
        }
        let info: ConsumerRunningInfo = match fastjson::from_slice(&response.body) {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(peer = %conn.peer, %group, client = %client_id, error = %e, "unreadable running info");
                continue;
            }
        };
        tracing::debug!(peer = %conn.peer, %group, client = %client_id, "subscriptions taken from the client's running info");
        let _ = clients
            .send(Subscribed {
                client_id,
                group: group.clone(),
                subscriptions: info.subscription_set,
            })
            .await;
        return true;
    }
    false
}
