//! The broker: wiring of the store, the actors and the request service.
//!
//! [`start`] opens the store (recovering it), starts the actors — topic configs, consumer
//! offsets, client manager, long-poll service on this arbiter; queue writers on this arbiter
//! too (or on their own with `dedicatedStoreThreads=true`); the reput dispatcher on its own
//! — serves [`service::BrokerService`] on the
//! listen address, and registers with the name servers. See docs/ARCHITECTURE.md.

pub mod admin;
pub mod clients;
pub mod config;
pub mod consumers;
pub mod controlled;
pub mod controller_mode;
pub mod ha;
pub mod ha_auto;
pub mod ha_waits;
pub mod hold;
pub mod inspect;
pub mod locks;
pub mod metrics;
pub mod pull;
pub mod pulls;
pub mod queries;
pub mod recall;
pub mod refresh;
pub mod refusals;
pub mod replication;
pub mod reply;
pub mod retry;
pub mod scrape;
pub mod service;
pub mod stats;
pub mod sync_waits;
pub mod timer;
pub mod transaction;
pub mod txn;
pub mod writers;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use actix::{Actor, Addr, Arbiter};
use thiserror::Error;

pub use config::{BrokerConfig, ConfigError};

use crate::actors::client_manager::{self, ClientManager};
use crate::actors::consumer_offsets::{self, ConsumerOffsets};
use crate::actors::delay_scheduler::{self, DelayScheduler};
use crate::actors::long_poll::{self, LongPoll};
use crate::actors::queue_locks::{self, QueueLocks};
use crate::actors::registrar::{self, Identity, Registrar};
use crate::actors::reput::{self, Reput};
use crate::actors::subscription_groups::{self, SubscriptionGroupConfigs};
use crate::actors::timer_wheel::{self, TimerWheel};
use crate::actors::topic_config::{self, TopicConfigs, TopicSettings};
use crate::actors::txn_checker::{self, CheckerSettings, TxnChecker};
use crate::actors::{self, ConfigWriter, Persist};
use crate::remoting::server::{self, ServerConfig, ServerHandle};
use crate::store::{self, Store, StoreError};
use service::{BrokerService, Parts};

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// A running broker.
pub struct Broker {
    pub service: BrokerService,
    pub server: ServerHandle,
    /// The VIP channel (listenPort - 2), when its port was free.
    vip: Option<ServerHandle>,
    /// The address clients use (advertised to name servers, in message ids).
    pub advertised: SocketAddr,
    pub store: Arc<Store>,
    pub recovery: store::RecoveryReport,
    /// Asks for the metrics text from any thread (the console's `/metrics`).
    pub scraper: scrape::Scraper,
    registrar: Addr<Registrar>,
    offsets: Addr<ConsumerOffsets>,
    /// Not on a slave (its master schedules; the offsets come with the metadata sync).
    delays: Option<Addr<DelayScheduler>>,
    /// Where slaves connect (a master's), the HA port.
    pub ha_addr: Option<SocketAddr>,
    timers: Option<Addr<TimerWheel>>,
    txn_checker: Addr<TxnChecker>,
    /// The config files' writers (topics, consumer offsets, delay offsets, subscription
    /// groups).
    config_files: Vec<ConfigWriter>,
    store_home: actix::ArbiterHandle,
    arbiters: Vec<Arbiter>,
}

impl Broker {
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr
    }

    /// The arbiter the queue writers run on (diagnostics and tests).
    pub fn store_arbiter(&self) -> actix::ArbiterHandle {
        self.store_home.clone()
    }

    /// Unregisters, stops accepting connections, writes the config files (offsets that
    /// changed since their last periodic write included) and closes them and the store.
    /// When it returns, nothing of this broker writes to its data directory any more (an
    /// offset committed later on a connection still open is not written).
    pub async fn shutdown(self) -> Result<(), StoreError> {
        self.registrar.do_send(registrar::Unregister);
        self.server.stop();
        if let Some(vip) = &self.vip {
            vip.stop();
        }
        let _ = self.offsets.send(Persist).await;
        if let Some(delays) = &self.delays {
            let _ = delays.send(Persist).await;
        }
        if let Some(timers) = &self.timers {
            let _ = timers.send(Persist).await;
        }
        let _ = self.txn_checker.send(Persist).await;
        let files = self.config_files;
        let written = actix_rt::task::spawn_blocking(move || {
            for file in &files {
                if let Err(e) = file.close() {
                    tracing::error!(path = %file.path().display(), error = %e, "cannot persist config file");
                }
            }
        });
        written.await.map_err(StoreError::internal)?;
        // Give the unregistration a moment to leave.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
        let store = Arc::clone(&self.store);
        actix_rt::task::spawn_blocking(move || store.shutdown())
            .await
            .map_err(StoreError::internal)?
    }
}

/// Starts a broker on the current arbiter.
pub async fn start(config: BrokerConfig) -> Result<Broker, BrokerError> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| BrokerError::Listen {
            addr: config.listen,
            source,
        })?;
    let actual = listener
        .local_addr()
        .map_err(|source| BrokerError::Listen {
            addr: config.listen,
            source,
        })?;
    let advertised = config.advertised(actual);
    let config_listen_port = config.listen.port();
    let slave = config.role == config::BrokerRole::Slave;
    // A master serves its slaves on the HA port (bound now: a busy port fails the start).
    let ha_listener = if slave {
        None
    } else {
        let at = config.ha_listen(actual);
        match tokio::net::TcpListener::bind(at).await {
            Ok(listener) => Some(listener),
            // Without slaves configured this only costs replication: say so, serve on.
            Err(e) => {
                tracing::error!(ha = %at, error = %e, "cannot listen for slaves (haListenPort): replication is off");
                None
            }
        }
    };
    let ha_addr = ha_listener.as_ref().and_then(|l| l.local_addr().ok());
    let store_config = config.store.clone();
    let (store, recovery) = actix_rt::task::spawn_blocking(move || Store::open(store_config))
        .await
        .map_err(StoreError::internal)??;
    store.set_read_only(slave);
    // Controller mode: the log's master terms; a master starts its own at the log's end.
    let assigned = config.assigned.clone();
    let epochs = match &assigned {
        Some(a) => {
            let mut file = store::epoch::EpochFile::open(&config.store.root)?;
            if a.master {
                file.begin(a.master_epoch, store.commit_log().appended())?;
                tracing::info!(
                    epoch = a.master_epoch,
                    from = store.commit_log().appended(),
                    "master term begins"
                );
            }
            Some(Arc::new(std::sync::Mutex::new(file)))
        }
        None => None,
    };
    let config_dir = config.store.config_dir();
    let wheel = timer::Wheel::new(config.timer_precision_ms);
    let config_files: Vec<ConfigWriter> = [
        store::config::TOPICS,
        store::config::CONSUMER_OFFSETS,
        store::config::DELAY_OFFSETS,
        store::config::SUBSCRIPTION_GROUPS,
        txn_checker::STATE_FILE,
        timer_wheel::STATE_FILE,
    ]
    .into_iter()
    .map(|name| ConfigWriter::new(config_dir.join(name)))
    .collect();
    let (topic_actor, topics) = TopicConfigs::new(TopicSettings {
        writer: config_files[0].clone(),
        cluster_name: config.cluster_name.clone(),
        broker_name: config.broker_name.clone(),
        auto_create_topic_enable: config.auto_create_topic_enable,
        default_topic_queue_nums: config.default_topic_queue_nums,
        trace_topic: config
            .trace_topic_enable
            .then(|| config.msg_trace_topic_name.clone()),
        timer_queues: config.timer_wheel_enable.then(|| wheel.queues()),
    });
    let topic_actor = actors::supervise(topic_config::MAILBOX, topic_actor);
    if assigned.as_ref().is_some_and(|a| a.master) {
        // A new master adopts the topics its log has queues for: one created on the old
        // master after the last metadata sync would otherwise be unknown here.
        let mut queues: std::collections::BTreeMap<String, i32> = Default::default();
        for key in store.queue_keys() {
            let n = queues.entry(key.topic.clone()).or_insert(0);
            *n = (*n).max(key.queue_id + 1);
        }
        for (topic, n) in queues {
            topic_actor.do_send(topic_config::EnsureTopic(
                crate::protocol::body::TopicConfig::new(topic, n),
            ));
        }
    }
    let offsets_file = config_files[1].clone();
    let offsets = actors::supervise(
        consumer_offsets::MAILBOX,
        ConsumerOffsets::new(offsets_file),
    );
    let (groups_actor, subscription_group_view) =
        SubscriptionGroupConfigs::new(config_files[3].clone());
    let subscription_groups = actors::supervise(subscription_groups::MAILBOX, groups_actor);
    let (clients_actor, subscriptions) = ClientManager::new(topic_actor.clone());
    let clients = actors::supervise(client_manager::MAILBOX, clients_actor);
    let poll_store = Arc::clone(&store);
    let long_poll = actors::supervise(long_poll::MAILBOX, LongPoll::new(poll_store));
    let locks = actors::supervise(queue_locks::MAILBOX, QueueLocks::default());
    // The reput dispatcher on a thread of its own (building consume queues faults in pages
    // of thousands of files when a broker has many queues; that must not stall serving);
    // queue writers on this thread, or on their own with `dedicatedStoreThreads`.
    let mut arbiters: Vec<Arbiter> = vec![Arbiter::new()];
    if config.dedicated_store_threads {
        arbiters.push(Arbiter::new());
    }
    let reput_home = arbiters[0].handle();
    let store_home = arbiters
        .get(1)
        .map_or_else(Arbiter::current, Arbiter::handle);
    let (reput_store, reput_poll) = (Arc::clone(&store), long_poll.clone());
    let reput = actors::supervise_in(&reput_home, reput::MAILBOX, move || {
        Reput::new(reput_store, reput_poll)
    });
    // Replication: a master's HA service and its acceptor, or a slave's client and link,
    // on an arbiter of their own (the links copy the log; serving must not wait for them).
    let ha_arbiter = Arbiter::new();
    let ha_home = ha_arbiter.handle();
    arbiters.push(ha_arbiter);
    let (ha_service, ha_acks) = match ha_listener {
        Some(listener) => {
            let (actor, acks) = actors::ha_service::HaService::new();
            let addr = actors::supervise(actors::ha_service::MAILBOX, actor);
            let (store, ha, cfg) = (Arc::clone(&store), addr.clone(), config.ha.clone());
            let listener = listener.into_std().map_err(|source| BrokerError::Listen {
                addr: actual,
                source,
            })?;
            let auto = match (&assigned, &epochs) {
                (Some(a), Some(epochs)) => {
                    if config.controller.all_ack_in_sync_state_set {
                        addr.do_send(actors::ha_service::SetRequired {
                            me: a.my_id,
                            set: a.set.clone(),
                        });
                    }
                    Some(ha_auto::MasterSide {
                        store: Arc::clone(&store),
                        ha: addr.clone(),
                        acks: acks.clone(),
                        epochs: Arc::clone(epochs),
                        cfg: cfg.clone(),
                    })
                }
                _ => None,
            };
            ha_home.spawn(async move {
                match (tokio::net::TcpListener::from_std(listener), auto) {
                    (Ok(listener), Some(side)) => ha_auto::serve(listener, side).await,
                    (Ok(listener), None) => ha::serve(listener, store, ha, cfg).await,
                    (Err(e), _) => tracing::error!(error = %e, "cannot serve slaves"),
                }
            });
            (Some(addr), Some(acks))
        }
        None => (None, None),
    };
    let ha_client = slave.then(|| {
        let configured = config
            .ha
            .master_address
            .as_deref()
            .and_then(|a| a.parse().ok());
        let (actor, target) = actors::ha_client::HaClient::new(configured);
        let actor = match &assigned {
            Some(a) => actor.expecting(a.master_address.clone()),
            None => actor,
        };
        let client = actors::supervise(actors::ha_client::MAILBOX, actor);
        let (store, reput, link_client, cfg) = (
            Arc::clone(&store),
            reput.clone(),
            client.clone(),
            config.ha.clone(),
        );
        match (&assigned, &epochs) {
            (Some(a), Some(epochs)) => {
                let side = ha_auto::SlaveSide {
                    store,
                    reput,
                    client: link_client,
                    epochs: Arc::clone(epochs),
                    cfg,
                    broker_id: a.my_id,
                };
                ha_home.spawn(ha_auto::follow(target, side));
            }
            _ => {
                ha_home.spawn(ha::follow(target, store, reput, link_client, cfg));
            }
        }
        client
    });
    let registration = Registrar::new(
        Identity {
            cluster_name: config.cluster_name.clone(),
            broker_name: config.broker_name.clone(),
            broker_id: config.broker_id,
            broker_addr: advertised.to_string(),
            ha_server_addr: SocketAddr::new(
                advertised.ip(),
                ha_addr.map_or_else(|| config.ha_listen(actual).port(), |a| a.port()),
            )
            .to_string(),
        },
        config.namesrv_addrs.clone(),
        topics.clone(),
    );
    let registration = match &ha_client {
        Some(client) => registration.with_follower(client.clone().recipient()),
        None => registration,
    };
    let registrar = Registrar::create(move |ctx| {
        ctx.set_mailbox_capacity(registrar::MAILBOX);
        registration
    });
    let writers = Rc::new(writers::Writers::new(
        Arc::clone(&store),
        reput,
        store_home.clone(),
        config.send_queue_capacity,
    ));
    let delay_file = config_files[2].clone();
    let (delay_store, delay_writers) = (Arc::clone(&store), Rc::clone(&writers));
    let delays = (!slave).then(|| {
        actors::supervise(
            delay_scheduler::MAILBOX,
            DelayScheduler::new(delay_store, delay_writers, delay_file),
        )
    });
    let timer_cursor = timer_wheel::Cursor::default();
    let timers = (config.timer_wheel_enable && !slave).then(|| {
        let (wheel_store, wheel_writers) = (Arc::clone(&store), Rc::clone(&writers));
        let (file, clock, cursor) = (
            config_files[5].clone(),
            config.clock.clone(),
            timer_cursor.clone(),
        );
        actors::supervise(
            timer_wheel::MAILBOX,
            TimerWheel::new(wheel_store, wheel_writers, file, wheel, clock, cursor),
        )
    });
    let (checker_store, checker_writers) = (Arc::clone(&store), Rc::clone(&writers));
    let txn_checker = actors::supervise(
        txn_checker::MAILBOX,
        TxnChecker::new(
            checker_store,
            checker_writers,
            clients.clone(),
            topic_actor.clone(),
            config_files[4].clone(),
            CheckerSettings {
                timeout_ms: config.transaction_timeout_ms,
                check_interval_ms: config.transaction_check_interval_ms,
                check_max: config.transaction_check_max,
                broker_name: config.broker_name.clone(),
                store_host: advertised,
            },
        ),
    );
    let stats = Arc::new(stats::BrokerStats::new(crate::util::now_ms()));
    {
        let stats = Arc::downgrade(&stats);
        actix_rt::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                match stats.upgrade() {
                    Some(stats) => stats.sample(crate::util::now_ms()),
                    None => return,
                }
            }
        });
    }
    let metrics = Arc::new(metrics::Metrics::new(
        &config.cluster_name,
        &config.broker_name,
        store.commit_log().flush_latency(),
    ));
    let timer_settings = timer::TimerSettings {
        enabled: config.timer_wheel_enable,
        max_delay_sec: config.timer_max_delay_sec,
        wheel,
    };
    let replica_waits = ha_acks
        .filter(|_| config.role == config::BrokerRole::SyncMaster)
        .map(|acks| {
            ha_waits::ReplicaWaits::new(
                acks,
                Arc::clone(&store),
                std::time::Duration::from_millis(config.ha.slave_timeout_ms),
                config.ha.max_gap_not_in_sync,
            )
        });
    let service = BrokerService::new(Parts {
        timer: timer_settings,
        timer_cursor,
        timers: timers.clone(),
        stats,
        metrics,
        config: Arc::new(arc_swap::ArcSwap::from_pointee(config)),
        config_version: Default::default(),
        store: Arc::clone(&store),
        store_host: advertised,
        topics,
        topic_actor,
        subscription_groups,
        subscription_group_view,
        txn_checker: txn_checker.clone(),
        subscriptions,
        clients,
        offsets: offsets.clone(),
        long_poll,
        locks,
        writers,
        sync_waits: sync_waits::SyncWaits::new(Arc::clone(&store)),
        replica_waits,
        ha_service,
        ha_client,
        epochs,
        refresh: Default::default(),
        filter_cache: Default::default(),
    });
    let server = server::serve(listener, Rc::new(service.clone()), ServerConfig::default())
        .map_err(|source| BrokerError::Listen {
            addr: actual,
            source,
        })?;
    // RocketMQ's "VIP channel", listenPort - 2: Java slaves ask their master's topics
    // there, and clients with `sendMessageWithVIPChannel` send there. Served when free.
    let vip_port = (config_listen_port != 0)
        .then(|| actual.port().checked_sub(2))
        .flatten();
    let vip = match vip_port.filter(|p| *p > 0) {
        Some(port) => match tokio::net::TcpListener::bind(SocketAddr::new(actual.ip(), port)).await
        {
            Ok(vip) => server::serve(vip, Rc::new(service.clone()), ServerConfig::default()).ok(),
            Err(e) => {
                tracing::warn!(port, error = %e, "cannot serve the VIP channel (listenPort - 2)");
                None
            }
        },
        None => None,
    };
    if let Some(client) = &service.parts().ha_client {
        let targets = replication::SyncTargets {
            client: client.clone(),
            topics: service.parts().topic_actor.clone(),
            offsets: offsets.clone(),
            groups: service.parts().subscription_groups.clone(),
            delay_file: config_files[2].clone(),
        };
        actix_rt::spawn(replication::sync_from(Arc::new(targets)));
    }
    let scraper = scrape::serve(service.clone(), server.open.clone());
    let flush = match store.config().flush.mode {
        store::FlushMode::Sync => "SYNC_FLUSH",
        store::FlushMode::Async => "ASYNC_FLUSH",
    };
    tracing::info!(listen = %actual, advertised = %advertised, flush, "broker started");
    Ok(Broker {
        service,
        server,
        vip,
        advertised,
        store,
        recovery,
        scraper,
        registrar,
        offsets,
        delays,
        ha_addr,
        timers,
        txn_checker,
        config_files,
        store_home,
        arbiters,
    })
}
