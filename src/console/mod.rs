//! The built-in web console and the Prometheus endpoint, over HTTP (actix-web), served by
//! `apogee standalone` and `apogee broker`.
//!
//! - `GET /` and `GET /assets/…`: the single-page console, embedded in the binary
//!   (`src/console/assets/`), so it works offline and needs no install;
//! - `POST /api/admin` `{"args": ["topicStatus", "-t", "T"]}`: runs that `apogee admin`
//!   command — the same code, see [`api`] — against the console's name server and answers
//!   the JSON document the command prints with `--json`; every page reads and changes
//!   the cluster through it;
//! - `GET /api/info`: the console's version, name server and broker;
//! - `GET /metrics`: the broker's metrics as Prometheus text ([`crate::broker::metrics`]).
//!
//! The HTTP server runs one worker thread of its own; the broker's metrics are asked for
//! through a [`Scraper`].

pub mod api;

use std::net::SocketAddr;

use actix_web::http::header;
use actix_web::{web, App, HttpResponse, HttpServer};
use rust_embed::RustEmbed;

use crate::broker::scrape::Scraper;

#[derive(RustEmbed)]
#[folder = "src/console/assets/"]
struct Assets;

/// Where the console listens and what it talks to.
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    pub listen: SocketAddr,
    /// The name servers the admin commands use, `;`-separated.
    pub namesrv: String,
    /// The broker this console runs beside (shown; its metrics are served).
    pub broker: Option<SocketAddr>,
}

#[derive(Clone)]
struct State {
    config: ConsoleConfig,
    scraper: Option<Scraper>,
}

/// A running console; [`Console::stop`] stops it.
pub struct Console {
    pub local_addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl Console {
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// Binds the console's address and serves it (on the current actix system).
pub fn start(config: ConsoleConfig, scraper: Option<Scraper>) -> std::io::Result<Console> {
    let state = State { config, scraper };
    let listen = state.config.listen;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(web::JsonConfig::default().limit(64 * 1024))
            .route("/", web::get().to(index))
            .route("/assets/{file}", web::get().to(asset))
            .route("/api/info", web::get().to(info))
            .route("/api/admin", web::post().to(api::admin))
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(listen)?;
    let local_addr = server.addrs().first().copied().unwrap_or(listen);
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(listen = %local_addr, "console started");
    Ok(Console { local_addr, handle })
}

async fn index() -> HttpResponse {
    serve_asset("index.html")
}

async fn asset(file: web::Path<String>) -> HttpResponse {
    serve_asset(&file)
}

fn serve_asset(name: &str) -> HttpResponse {
    match Assets::get(name) {
        Some(file) => {
            let mime = match name.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("png") => "image/png",
                Some("svg") => "image/svg+xml",
                _ => "application/octet-stream",
            };
            HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, mime))
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .body(file.data.into_owned())
        }
        None => HttpResponse::NotFound().body(format!("no such file: {name}\n")),
    }
}

async fn info(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "namesrv": state.config.namesrv,
        "broker": state.config.broker.map(|b| b.to_string()),
    }))
}

async fn metrics(state: web::Data<State>) -> HttpResponse {
    let text = match &state.scraper {
        Some(scraper) => scraper.scrape().await,
        None => Some("# EOF\n".to_owned()),
    };
    match text {
        Some(text) => HttpResponse::Ok()
            .insert_header((
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ))
            .body(text),
        None => HttpResponse::ServiceUnavailable().body("the broker is stopping\n"),
    }
}
