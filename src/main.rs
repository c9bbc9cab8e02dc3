//! The `apogee` command: one binary, one subcommand per role.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use apogee::namesrv::{self, NamesrvConfig};

#[derive(Parser)]
#[command(
    name = "apogee",
    version,
    about = "A RocketMQ-compatible message broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a name server.
    Namesrv(NamesrvArgs),
}

#[derive(clap::Args)]
struct NamesrvArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9876")]
    listen: SocketAddr,
    /// KV config file (default: $HOME/namesrv/kvConfig.json, as RocketMQ).
    #[arg(long)]
    kv_config: Option<PathBuf>,
    /// Keep the KV config in memory only.
    #[arg(long, conflicts_with = "kv_config")]
    no_kv_file: bool,
    /// Drop a broker after this many milliseconds without heartbeat.
    #[arg(long, default_value_t = 120_000)]
    broker_timeout_ms: u64,
    /// Check for expired brokers every this many milliseconds.
    #[arg(long, default_value_t = 10_000)]
    scan_interval_ms: u64,
    /// Fill `orderTopicConf` of routes from the KV namespace ORDER_TOPIC_CONFIG.
    #[arg(long)]
    order_message_enable: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Namesrv(args) => run_namesrv(args),
    }
}

fn run_namesrv(args: NamesrvArgs) -> anyhow::Result<()> {
    let kv_config_path = if args.no_kv_file {
        None
    } else {
        Some(match args.kv_config {
            Some(path) => path,
            None => home_dir()?.join("namesrv").join("kvConfig.json"),
        })
    };
    let config = NamesrvConfig {
        listen: args.listen,
        broker_timeout: Duration::from_millis(args.broker_timeout_ms),
        scan_interval: Duration::from_millis(args.scan_interval_ms.max(1)),
        kv_config_path,
        order_message_enable: args.order_message_enable,
        ..NamesrvConfig::default()
    };
    actix_rt::System::new().block_on(async move {
        let server = namesrv::start(config)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        println!("apogee name server listening on {}", server.local_addr());
        tracing::info!(addr = %server.local_addr(), "name server started");
        tokio::signal::ctrl_c()
            .await
            .context("waiting for ctrl-c")?;
        tracing::info!("name server stopping");
        Ok(())
    })
}

fn home_dir() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set; pass --kv-config or --no-kv-file")
}
