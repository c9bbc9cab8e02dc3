//! `POST /api/admin`: the console's one door to the cluster. The body names an `apogee
//! admin` command and its options as they are typed (`{"args": ["updateTopic", "-c",
//! "DefaultCluster", "-t", "T"]}`); they are parsed by the same clap definitions and run
//! by the same functions as `apogee admin … --json`, with the console's name servers. The
//! answer is `{"result": <the JSON document the command prints>}`, or `{"error": "…"}`
//! with 400 (bad arguments) or 502 (the command failed).
//!
//! Only `application/json` bodies are taken, so a page of another origin cannot post
//! here without the browser's preflight, which this server does not grant.

use actix_web::{web, HttpResponse};
use clap::{Args as _, FromArgMatches as _};
use serde::Deserialize;
use serde_json::json;

use super::State;
use crate::admin::{self, output, AdminArgs};

#[derive(Debug, Deserialize)]
pub struct AdminRequest {
    pub args: Vec<String>,
}

/// Why a console request failed.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// The arguments do not parse (HTTP 400).
    BadArgs(String),
    /// The command ran and failed (HTTP 502).
    Failed(String),
}

/// Parses `args` as `apogee admin` would, with `-n namesrv --json` added.
pub fn parse(namesrv: &str, args: &[String]) -> Result<AdminArgs, Refusal> {
    if args
        .iter()
        .any(|a| a == "-n" || a.starts_with("--namesrvAddr") || a == "--json")
    {
        return Err(Refusal::BadArgs(
            "the console chooses the name server and the output: leave out -n and --json".into(),
        ));
    }
    let argv = std::iter::once("admin".to_owned())
        .chain(args.iter().cloned())
        .chain(["-n".to_owned(), namesrv.to_owned(), "--json".to_owned()]);
    let command = AdminArgs::augment_args(clap::Command::new("admin").subcommand_required(true));
    let parsed = command
        .try_get_matches_from(argv)
        .and_then(|m| AdminArgs::from_arg_matches(&m))
        .map_err(|e| {
            // clap's message, up to its usage lines, on one line.
            let text = e.to_string();
            let why: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let why = why.join(" ");
            let why = why.trim_start_matches("error: ");
            Refusal::BadArgs(if why.is_empty() {
                "bad arguments".into()
            } else {
                why.to_owned()
            })
        })?;
    Ok(parsed)
}

/// Runs one admin command and returns what it printed with `--json`.
pub async fn run(namesrv: &str, args: &[String]) -> Result<serde_json::Value, Refusal> {
    let parsed = parse(namesrv, args)?;
    let name = parsed.command.name();
    output::capture(admin::run(parsed))
        .await
        .map_err(|e| Refusal::Failed(format!("{name}: {e:#}")))
}

pub(super) async fn admin(state: web::Data<State>, body: web::Json<AdminRequest>) -> HttpResponse {
    match run(&state.config.namesrv, &body.args).await {
        Ok(result) => HttpResponse::Ok().json(json!({ "result": result })),
        Err(Refusal::BadArgs(why)) => HttpResponse::BadRequest().json(json!({ "error": why })),
        Err(Refusal::Failed(why)) => HttpResponse::BadGateway().json(json!({ "error": why })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_parse_as_apogee_admin_parses_them() {
        let parsed = parse("127.0.0.1:9876", &args(&["topicStatus", "-t", "T"])).unwrap();
        assert!(parsed.json);
        assert_eq!(parsed.namesrv_addr.as_deref(), Some("127.0.0.1:9876"));
        assert_eq!(parsed.command.name(), "topicStatus");
        let Err(Refusal::BadArgs(why)) = parse("x", &args(&["topicStatus"])) else {
            panic!("a missing -t parses");
        };
        assert!(why.contains("--topic"), "{why}");
        let Err(Refusal::BadArgs(why)) = parse("x", &args(&["noSuchCommand"])) else {
            panic!("an unknown command parses");
        };
        assert!(why.contains("noSuchCommand"), "{why}");
        assert!(matches!(
            parse("x", &args(&["topicList", "-n", "10.0.0.1:9876"])),
            Err(Refusal::BadArgs(_))
        ));
        assert!(matches!(parse("x", &[]), Err(Refusal::BadArgs(_))));
    }
}
