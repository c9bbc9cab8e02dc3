//! Actors: each owns one piece of state and is the only thing that mutates it. One actor per
//! file; each file opens with what it owns, which messages it handles and who sends them.

pub mod client_manager;
pub mod consumer_offsets;
pub mod delay_scheduler;
pub mod kv_config;
pub mod long_poll;
pub mod queue_locks;
pub mod queue_writer;
pub mod registrar;
pub mod registry;
pub mod reput;
pub mod route_table;
pub mod topic_config;

use actix::{Actor, ActorContext, Context};

/// Runs the work of a message handler. A panic does not take the arbiter's task down with
/// it: it is logged, the actor is stopped, and its `Supervisor` restarts it — `restarting`,
/// then `started`, which reloads the actor's state from its files. The message that caused
/// it gets no reply (its sender sees the mailbox error).
pub(crate) fn guard<A, R>(
    actor: &mut A,
    ctx: &mut Context<A>,
    body: impl FnOnce(&mut A, &mut Context<A>) -> R,
) -> Option<R>
where
    A: Actor<Context = Context<A>>,
{
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(actor, ctx))) {
        Ok(result) => Some(result),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(actor = std::any::type_name::<A>(), panic = %what, "actor panicked; restarting it");
            ctx.stop();
            None
        }
    }
}

/// Makes an actor panic (tests of supervision; nothing on the network can send it).
#[doc(hidden)]
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Poison;

/// Writes the newest content sent on `latest` to `path`, atomically, on a blocking thread:
/// actors hand their config file's content over here and never wait for the disk. When
/// several versions arrive during one write, only the newest is written next.
pub(crate) async fn persist_latest(
    path: std::path::PathBuf,
    mut latest: tokio::sync::watch::Receiver<Vec<u8>>,
) {
    while latest.changed().await.is_ok() {
        let content = latest.borrow_and_update().clone();
        let target = path.clone();
        let written = tokio::task::spawn_blocking(move || {
            crate::store::config_file::write_atomic(&target, &content)
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(path = %path.display(), error = %e, "cannot persist config file")
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "config file writer failed")
            }
        }
    }
}
