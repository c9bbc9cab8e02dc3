//! The `apogee` command: one binary, one subcommand per role.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use apogee::broker::config::ConsoleListen;
use apogee::broker::{self, BrokerConfig};

/// mimalloc: the broker and the bench allocate many small, short-lived buffers per message
/// (headers, properties, responses); glibc's malloc spent ~8 % of a sync-send run in
/// `_int_malloc`/`_int_free`/`malloc_consolidate` (perf, P1).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
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
    /// Run a broker that registers with name servers.
    Broker(BrokerArgs),
    /// Run a controller (RocketMQ 5's controller mode: elects masters, on Raft).
    Controller(ControllerArgs),
    /// Run a name server and a broker in one process, on a default data directory.
    Standalone(StandaloneArgs),
    /// Load generator and latency meter for any RocketMQ-compatible cluster.
    Bench(apogee::bench::BenchArgs),
    /// Administration with mqadmin's commands and options (updateTopic, clusterList, …).
    Admin(apogee::admin::AdminArgs),
}

#[derive(clap::Args)]
struct BrokerArgs {
    /// RocketMQ `broker.conf` (brokerClusterName, brokerName, listenPort, storePathRootDir, …).
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Name server addresses, `;`-separated (overrides namesrvAddr of the file).
    #[arg(short = 'n', long = "namesrv")]
    namesrv: Option<String>,
    /// Web console and /metrics: `host:port` or `off` (overrides consoleListen; default off).
    #[arg(long, value_parser = parse_console)]
    console_listen: Option<ConsoleListen>,
}

#[derive(clap::Args)]
struct ControllerArgs {
    /// RocketMQ `controller.conf` (controllerDLegerGroup, controllerDLegerPeers,
    /// controllerDLegerSelfId, controllerStorePath, …).
    #[arg(short = 'c', long = "config")]
    config: PathBuf,
}

#[derive(clap::Args)]
struct StandaloneArgs {
    /// Data directory (store, name server KV config): default $HOME/apogee.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1:9876")]
    namesrv_listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:10911")]
    broker_listen: SocketAddr,
    /// RocketMQ `broker.conf` (same keys as `apogee broker`).
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Web console and /metrics: `host:port` or `off` (overrides consoleListen; default
    /// 127.0.0.1:8080).
    #[arg(long, value_parser = parse_console)]
    console_listen: Option<ConsoleListen>,
}

fn parse_console(text: &str) -> Result<ConsoleListen, String> {
    ConsoleListen::parse(text)
}

/// Starts the console beside `broker` where configured. An address the user chose must
/// be free; the default one may be taken (then the console is left out, with a warning).
fn start_console(
    broker: &broker::Broker,
    listen: ConsoleListen,
    default: Option<SocketAddr>,
    namesrv: &str,
) -> anyhow::Result<Option<apogee::console::Console>> {
    let (addr, chosen) = match (listen, default) {
        (ConsoleListen::At(addr), _) => (addr, true),
        (ConsoleListen::Default, Some(addr)) => (addr, false),
        _ => return Ok(None),
    };
    let config = apogee::console::ConsoleConfig {
        listen: addr,
        namesrv: namesrv.to_owned(),
        broker: Some(broker.advertised),
    };
    match apogee::console::start(config, Some(broker.scraper.clone())) {
        Ok(console) => Ok(Some(console)),
        Err(e) if !chosen => {
            tracing::warn!(%addr, error = %e, "console not started (pass --console-listen to choose another address)");
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!("console: cannot listen on {addr}: {e}")),
    }
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
    /// RocketMQ `namesrv.conf` (listenPort, kvConfigPath, orderMessageEnable;
    /// enableControllerInNamesrv=true with the controller's keys runs a controller inside).
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
}

/// What a `namesrv.conf` sets: the name server's keys, and the controller's when
/// `enableControllerInNamesrv=true` (the other lines, checked as a controller.conf).
fn namesrv_conf(
    path: &std::path::Path,
    config: &mut NamesrvConfig,
) -> anyhow::Result<Option<apogee::controller::ControllerConfig>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = path.display().to_string();
    let mut controller_lines = Vec::new();
    let mut enabled = false;
    for (n, line) in text.lines().enumerate() {
        let kv = line
            .split_once(['=', ':'])
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, _)| !k.starts_with('#') && !k.starts_with('!'));
        let bad = |why: &str| anyhow::anyhow!("{file}:{}: {why}", n + 1);
        match kv {
            Some(("listenPort", v)) => config
                .listen
                .set_port(v.parse().map_err(|_| bad("listenPort: not a port"))?),
            Some(("orderMessageEnable", v)) => config.order_message_enable = v == "true",
            Some(("kvConfigPath", v)) => config.kv_config_path = Some(PathBuf::from(v)),
            Some(("enableControllerInNamesrv", v)) => enabled = v == "true",
            _ => {
                controller_lines.push(line.to_string());
                continue;
            }
        }
        controller_lines.push(String::new());
    }
    let rest = controller_lines.join("\n");
    if !enabled {
        if let Some((n, line)) = rest
            .lines()
            .enumerate()
            .find(|(_, l)| !l.trim().is_empty() && !l.trim().starts_with('#'))
        {
            anyhow::bail!("{file}:{}: unknown key in `{}` (controller keys need enableControllerInNamesrv=true)", n + 1, line.trim());
        }
        return Ok(None);
    }
    let controller = apogee::controller::ControllerConfig::parse(
        &file,
        &rest,
        home_dir()?.join("DLedgerController"),
    )
    .map_err(anyhow::Error::msg)?;
    Ok(Some(controller))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            // One line naming what failed and why, never a backtrace.
            eprintln!("apogee: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<std::process::ExitCode> {
    // Logs go to stderr; stdout carries only the one "listening on" line scripts wait for.
    let cli = Cli::parse();
    // An admin command prints its result on stdout; only warnings go to the log.
    let default_level = match cli.command {
        Command::Admin(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .init();
    let ok = std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Namesrv(args) => run_namesrv(args).map(|()| ok),
        Command::Broker(args) => run_broker(args).map(|()| ok),
        Command::Controller(args) => run_controller(args).map(|()| ok),
        Command::Standalone(args) => run_standalone(args).map(|()| ok),
        Command::Bench(args) => apogee::bench::run(args).map(|()| ok),
        Command::Admin(args) => Ok(apogee::admin::main(args)),
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
    let mut config = NamesrvConfig {
        listen: args.listen,
        broker_timeout: Duration::from_millis(args.broker_timeout_ms),
        scan_interval: Duration::from_millis(args.scan_interval_ms.max(1)),
        kv_config_path,
        order_message_enable: args.order_message_enable,
        ..NamesrvConfig::default()
    };
    let controller = match &args.config {
        Some(path) => namesrv_conf(path, &mut config)?,
        None => None,
    };
    let listen = config.listen;
    actix_rt::System::new().block_on(async move {
        let server = namesrv::start(config)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        // enableControllerInNamesrv: the controller in this process, on its peer address.
        let controller = match controller {
            Some(c) => Some(apogee::controller::start(c).await?),
            None => None,
        };
        println!(
            "apogee name server listening on {}{}",
            server.local_addr(),
            controller
                .as_ref()
                .map(|c| format!(", controller on {}", c.server.local_addr))
                .unwrap_or_default()
        );
        tracing::info!(addr = %server.local_addr(), "name server started");
        tokio::signal::ctrl_c()
            .await
            .context("waiting for ctrl-c")?;
        tracing::info!("name server stopping");
        Ok(())
    })
}

fn run_controller(args: ControllerArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read {}", args.config.display()))?;
    let config = apogee::controller::ControllerConfig::parse(
        &args.config.display().to_string(),
        &text,
        home_dir()?.join("DLedgerController"),
    )
    .map_err(anyhow::Error::msg)?;
    actix_rt::System::new().block_on(async move {
        let controller = apogee::controller::start(config).await?;
        println!(
            "apogee controller {} listening on {}",
            controller.core.config.peers[&controller.core.config.self_id].0,
            controller.server.local_addr
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for ctrl-c")?;
        tracing::info!("controller stopping");
        controller.shutdown().await;
        Ok(())
    })
}

fn broker_config(file: Option<&PathBuf>, store_root: PathBuf) -> anyhow::Result<BrokerConfig> {
    let mut config = BrokerConfig::new(store_root);
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        config.apply_conf(&path.display().to_string(), &text)?;
    }
    Ok(config)
}

fn run_broker(args: BrokerArgs) -> anyhow::Result<()> {
    let mut config = broker_config(args.config.as_ref(), home_dir()?.join("store"))?;
    if let Some(namesrv) = &args.namesrv {
        config.apply_conf("--namesrv", &format!("namesrvAddr={namesrv}"))?;
    }
    if config.namesrv_addrs.is_empty() {
        anyhow::bail!("no name server: pass -n 127.0.0.1:9876 or set namesrvAddr in broker.conf");
    }
    if config.controller.enabled {
        // Controller mode: the role comes from the controllers and may change.
        return actix_rt::System::new().block_on(broker::controlled::run(config, async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("broker stopping");
        }));
    }
    let console_listen = args.console_listen.unwrap_or(config.console_listen);
    let namesrv = join_addrs(&config.namesrv_addrs);
    actix_rt::System::new().block_on(async move {
        let broker = broker::start(config).await?;
        let console = start_console(&broker, console_listen, None, &namesrv)?;
        // One line on stdout (scripts wait for it, and may close the pipe after it).
        println!(
            "apogee broker listening on {} (advertised as {}){}{}",
            broker.local_addr(),
            broker.advertised,
            broker
                .ha_addr
                .map(|a| format!(", slaves connect to {a}"))
                .unwrap_or_default(),
            console_note(console.as_ref())
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for ctrl-c")?;
        tracing::info!("broker stopping");
        if let Some(console) = console {
            console.stop().await;
        }
        broker.shutdown().await?;
        Ok(())
    })
}

fn run_standalone(args: StandaloneArgs) -> anyhow::Result<()> {
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => home_dir()?.join("apogee"),
    };
    let mut config = broker_config(args.config.as_ref(), data_dir.join("store"))?;
    config.listen = args.broker_listen;
    let namesrv_config = NamesrvConfig {
        listen: args.namesrv_listen,
        kv_config_path: Some(data_dir.join("namesrv").join("kvConfig.json")),
        ..NamesrvConfig::default()
    };
    actix_rt::System::new().block_on(async move {
        let namesrv = namesrv::start(namesrv_config)
            .await
            .with_context(|| format!("cannot listen on {}", args.namesrv_listen))?;
        config.namesrv_addrs = vec![namesrv.local_addr()];
        let console_listen = args.console_listen.unwrap_or(config.console_listen);
        let broker = broker::start(config).await?;
        let default = SocketAddr::from(([127, 0, 0, 1], 8080));
        let console = start_console(
            &broker,
            console_listen,
            Some(default),
            &namesrv.local_addr().to_string(),
        )?;
        println!(
            "apogee standalone: name server on {}, broker on {} (data in {}){}",
            namesrv.local_addr(),
            broker.local_addr(),
            data_dir.display(),
            console_note(console.as_ref())
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for ctrl-c")?;
        tracing::info!("standalone stopping");
        if let Some(console) = console {
            console.stop().await;
        }
        broker.shutdown().await?;
        Ok(())
    })
}

/// `", console on http://…"` when the console runs.
fn console_note(console: Option<&apogee::console::Console>) -> String {
    console.map_or(String::new(), |c| {
        format!(", console on http://{}", c.local_addr)
    })
}

fn join_addrs(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(";")
}

fn home_dir() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set; pass --kv-config or --no-kv-file")
}
