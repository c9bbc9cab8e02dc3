//! `apogee admin`: mqadmin's commands, with its names and short options, against any
//! RocketMQ-compatible cluster (Apogee or Apache RocketMQ). Tables are printed as mqadmin
//! prints them; `--json` prints one JSON document instead. A failure prints one line that
//! names the server and the reason, and exits 1 (mqadmin prints a stack trace and exits 0);
//! bad arguments exit 2.

pub mod brokers;
pub mod client;
pub mod groups;
pub mod messages;
pub mod output;
pub mod topics;
pub mod trace;

use client::AdminClient;
use output::Out;

#[derive(clap::Args, Debug)]
pub struct AdminArgs {
    /// Name servers, `;`-separated (default: $NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr", global = true)]
    pub namesrv_addr: Option<String>,
    /// Print the result as JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AdminCommand {
    /// Create or update a topic on a broker or on every master of a cluster.
    #[command(name = "updateTopic")]
    UpdateTopic(topics::UpdateTopic),
    /// Delete a topic from a cluster's brokers and the name servers.
    #[command(name = "deleteTopic")]
    DeleteTopic(topics::DeleteTopic),
    /// List the topics the name server knows.
    #[command(name = "topicList")]
    TopicList(topics::TopicList),
    /// A topic's route.
    #[command(name = "topicRoute")]
    TopicRoute(topics::TopicRoute),
    /// A topic's queues: min and max offsets, last update.
    #[command(name = "topicStatus")]
    TopicStatus(topics::TopicStatus),
    /// The clusters a topic is on.
    #[command(name = "topicClusterList")]
    TopicClusterList(topics::TopicClusterList),
    /// Create or update a subscription group.
    #[command(name = "updateSubGroup")]
    UpdateSubGroup(groups::UpdateSubGroup),
    /// Delete a subscription group.
    #[command(name = "deleteSubGroup")]
    DeleteSubGroup(groups::DeleteSubGroup),
    /// A consumer group's progress (lag per queue), or every group's.
    #[command(name = "consumerProgress")]
    ConsumerProgress(groups::ConsumerProgress),
    /// The consumers of a group online.
    #[command(name = "consumerConnection")]
    ConsumerConnection(groups::ConsumerConnectionArgs),
    /// The producers of a group online.
    #[command(name = "producerConnection")]
    ProducerConnection(groups::ProducerConnectionArgs),
    /// Each consumer's running info, asked through the broker.
    #[command(name = "consumerStatus")]
    ConsumerStatus(groups::ConsumerStatus),
    /// Move a group's offsets of a topic to a time.
    #[command(name = "resetOffsetByTime")]
    ResetOffsetByTime(groups::ResetOffsetByTime),
    /// Copy one group's offsets of a topic to another group.
    #[command(name = "cloneGroupOffset")]
    CloneGroupOffset(groups::CloneGroupOffset),
    /// The brokers of the clusters, with their rates.
    #[command(name = "clusterList")]
    ClusterList(brokers::ClusterList),
    /// A broker's runtime info.
    #[command(name = "brokerStatus")]
    BrokerStatus(brokers::BrokerStatus),
    /// Replication: a master's slaves and how far each has acknowledged, or what a slave follows.
    #[command(name = "haStatus")]
    HaStatus(brokers::HaStatus),
    /// Every group's lag on one broker.
    #[command(name = "brokerConsumeStats")]
    BrokerConsumeStats(brokers::BrokerConsumeStats),
    /// A broker's settings.
    #[command(name = "getBrokerConfig")]
    GetBrokerConfig(brokers::GetBrokerConfig),
    /// Change a broker setting at run time.
    #[command(name = "updateBrokerConfig")]
    UpdateBrokerConfig(brokers::UpdateBrokerConfig),
    /// Take write permission away from a broker's topics in the name servers.
    #[command(name = "wipeWritePerm")]
    WipeWritePerm(brokers::WritePerm),
    /// Give write permission back to a broker's topics in the name servers.
    #[command(name = "addWritePerm")]
    AddWritePerm(brokers::WritePerm),
    /// Set a KV config item on every name server.
    #[command(name = "updateKvConfig")]
    UpdateKvConfig(brokers::UpdateKvConfig),
    /// Delete a KV config item from every name server.
    #[command(name = "deleteKvConfig")]
    DeleteKvConfig(brokers::DeleteKvConfig),
    /// Messages by id (offset id, or unique key with -t).
    #[command(name = "queryMsgById")]
    QueryMsgById(messages::QueryMsgById),
    /// A message's trace (what its producer and consumers reported).
    #[command(name = "queryMsgTraceById")]
    QueryMsgTraceById(trace::QueryMsgTraceById),
    /// Messages by key.
    #[command(name = "queryMsgByKey")]
    QueryMsgByKey(messages::QueryMsgByKey),
    /// Messages by unique key (the client's message id).
    #[command(name = "queryMsgByUniqueKey")]
    QueryMsgByUniqueKey(messages::QueryMsgByUniqueKey),
    /// The message at a queue offset.
    #[command(name = "queryMsgByOffset")]
    QueryMsgByOffset(messages::QueryMsgByOffset),
    /// Every message of a topic (or of a time range).
    #[command(name = "printMsg")]
    PrintMsg(messages::PrintMsg),
    /// Send one message.
    #[command(name = "sendMessage")]
    SendMessage(messages::SendMessage),
    /// Read messages without committing offsets.
    #[command(name = "consumeMessage")]
    ConsumeMessage(messages::ConsumeMessage),
}

impl AdminCommand {
    /// mqadmin's name of the command (for error lines).
    pub fn name(&self) -> &'static str {
        use AdminCommand::*;
        match self {
            UpdateTopic(_) => "updateTopic",
            DeleteTopic(_) => "deleteTopic",
            TopicList(_) => "topicList",
            TopicRoute(_) => "topicRoute",
            TopicStatus(_) => "topicStatus",
            TopicClusterList(_) => "topicClusterList",
            UpdateSubGroup(_) => "updateSubGroup",
            DeleteSubGroup(_) => "deleteSubGroup",
            ConsumerProgress(_) => "consumerProgress",
            ConsumerConnection(_) => "consumerConnection",
            ProducerConnection(_) => "producerConnection",
            ConsumerStatus(_) => "consumerStatus",
            ResetOffsetByTime(_) => "resetOffsetByTime",
            CloneGroupOffset(_) => "cloneGroupOffset",
            ClusterList(_) => "clusterList",
            BrokerStatus(_) => "brokerStatus",
            HaStatus(_) => "haStatus",
            BrokerConsumeStats(_) => "brokerConsumeStats",
            GetBrokerConfig(_) => "getBrokerConfig",
            UpdateBrokerConfig(_) => "updateBrokerConfig",
            WipeWritePerm(_) => "wipeWritePerm",
            AddWritePerm(_) => "addWritePerm",
            UpdateKvConfig(_) => "updateKvConfig",
            DeleteKvConfig(_) => "deleteKvConfig",
            QueryMsgById(_) => "queryMsgById",
            QueryMsgTraceById(_) => "queryMsgTraceById",
            QueryMsgByKey(_) => "queryMsgByKey",
            QueryMsgByUniqueKey(_) => "queryMsgByUniqueKey",
            QueryMsgByOffset(_) => "queryMsgByOffset",
            PrintMsg(_) => "printMsg",
            SendMessage(_) => "sendMessage",
            ConsumeMessage(_) => "consumeMessage",
        }
    }
}

/// Runs one admin command.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let admin = AdminClient::new(args.namesrv_addr.as_deref())?;
    let out = Out { json: args.json };
    use AdminCommand::*;
    match args.command {
        UpdateTopic(a) => topics::update_topic(&admin, out, a).await,
        DeleteTopic(a) => topics::delete_topic(&admin, out, a).await,
        TopicList(a) => topics::topic_list(&admin, out, a).await,
        TopicRoute(a) => topics::topic_route(&admin, out, a).await,
        TopicStatus(a) => topics::topic_status(&admin, out, a).await,
        TopicClusterList(a) => topics::topic_cluster_list(&admin, out, a).await,
        UpdateSubGroup(a) => groups::update_sub_group(&admin, out, a).await,
        DeleteSubGroup(a) => groups::delete_sub_group(&admin, out, a).await,
        ConsumerProgress(a) => groups::consumer_progress(&admin, out, a).await,
        ConsumerConnection(a) => groups::consumer_connection(&admin, out, a).await,
        ProducerConnection(a) => groups::producer_connection(&admin, out, a).await,
        ConsumerStatus(a) => groups::consumer_status(&admin, out, a).await,
        ResetOffsetByTime(a) => groups::reset_offset_by_time(&admin, out, a).await,
        CloneGroupOffset(a) => groups::clone_group_offset(&admin, out, a).await,
        ClusterList(a) => brokers::cluster_list(&admin, out, a).await,
        BrokerStatus(a) => brokers::broker_status(&admin, out, a).await,
        HaStatus(a) => brokers::ha_status(&admin, out, a).await,
        BrokerConsumeStats(a) => brokers::broker_consume_stats(&admin, out, a).await,
        GetBrokerConfig(a) => brokers::get_broker_config(&admin, out, a).await,
        UpdateBrokerConfig(a) => brokers::update_broker_config(&admin, out, a).await,
        WipeWritePerm(a) => brokers::write_perm(&admin, out, a, false).await,
        AddWritePerm(a) => brokers::write_perm(&admin, out, a, true).await,
        UpdateKvConfig(a) => brokers::update_kv_config(&admin, out, a).await,
        DeleteKvConfig(a) => brokers::delete_kv_config(&admin, out, a).await,
        QueryMsgById(a) => messages::query_msg_by_id(&admin, out, a).await,
        QueryMsgTraceById(a) => trace::query_msg_trace_by_id(&admin, out, a).await,
        QueryMsgByKey(a) => messages::query_msg_by_key(&admin, out, a).await,
        QueryMsgByUniqueKey(a) => messages::query_msg_by_unique_key(&admin, out, a).await,
        QueryMsgByOffset(a) => messages::query_msg_by_offset(&admin, out, a).await,
        PrintMsg(a) => messages::print_msg(&admin, out, a).await,
        SendMessage(a) => messages::send_message(&admin, out, a).await,
        ConsumeMessage(a) => messages::consume_message(&admin, out, a).await,
    }
}

/// `apogee admin …` from the command line: a tokio runtime, the command, one error line.
pub fn main(args: AdminArgs) -> std::process::ExitCode {
    // Output piped into `head` ends quietly, as other command-line tools do.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let name = args.command.name();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("apogee admin {name}: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apogee admin {name}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
