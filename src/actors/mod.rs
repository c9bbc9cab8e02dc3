//! Actors: each owns one piece of state and is the only thing that mutates it. One actor per
//! file; each file opens with what it owns, which messages it handles and who sends them.

pub mod broker_liveness;
pub mod client_manager;
pub mod consumer_offsets;
pub mod delay_scheduler;
pub mod ha_client;
pub mod ha_service;
pub mod kv_config;
pub mod long_poll;
pub mod queue_locks;
pub mod queue_writer;
pub mod registrar;
pub mod registry;
pub mod reput;
pub mod route_table;
pub mod subscription_groups;
pub mod timer_wheel;
pub mod topic_config;
pub mod txn_checker;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use actix::dev::ContextFut;
use actix::{Actor, ActorContext, Addr, ArbiterHandle, Context, Supervised, Supervisor};

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

/// Starts `actor` supervised on the current arbiter, its mailbox holding `capacity` messages
/// from the moment its address exists. (A capacity set in `started` applies only once the
/// actor first runs; until then actix's default of 16 does, and `try_send` to a new actor
/// finds its mailbox full: a new queue writer answered a burst of sends SYSTEM_BUSY.)
pub fn supervise<A>(capacity: usize, actor: A) -> Addr<A>
where
    A: Supervised + Actor<Context = Context<A>>,
{
    Supervisor::start(move |ctx: &mut Context<A>| {
        ctx.set_mailbox_capacity(capacity);
        actor
    })
}

/// As [`supervise`], on `arbiter`'s thread (`make` runs there). actix's
/// `Supervisor::start_in_arbiter` makes the mailbox with the default capacity.
pub fn supervise_in<A, F>(arbiter: &ArbiterHandle, capacity: usize, make: F) -> Addr<A>
where
    A: Supervised + Actor<Context = Context<A>> + Unpin,
    F: FnOnce() -> A + Send + 'static,
{
    let (tx, rx) = actix::dev::channel::channel(capacity);
    arbiter.spawn_fn(move || {
        let fut = Context::with_receiver(rx).into_future(make());
        actix_rt::spawn(Supervising(fut));
    });
    Addr::new(tx)
}

/// What actix's `Supervisor` does: runs the actor's context, and restarts the actor when it
/// stops while its address is still held.
struct Supervising<A: Supervised + Actor<Context = Context<A>> + Unpin>(ContextFut<A, Context<A>>);

impl<A: Supervised + Actor<Context = Context<A>> + Unpin> Future for Supervising<A> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        loop {
            match Pin::new(&mut self.0).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => {
                    if !self.0.restart() {
                        return Poll::Ready(());
                    }
                }
            }
        }
    }
}

/// Makes an actor panic (tests of supervision; nothing on the network can send it).
#[doc(hidden)]
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Poison;

/// Hand the actor's table to its [`ConfigWriter`] now if it changed since it was last
/// handed over (the broker's shutdown, which then writes and closes the file with
/// [`ConfigWriter::close`]). Handled by `ConsumerOffsets` and `DelayScheduler`.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Persist;

/// The writer of one config file (topics, offsets, delay offsets, KV config).
///
/// Actors hand it each new content with [`send`](Self::send) and never wait for the disk: a
/// task writes the newest content handed over, atomically, on a blocking thread; contents
/// replaced before their turn are skipped. Writes never overlap and never go backwards (each
/// takes its content while holding the write lock). [`close`](Self::close) at shutdown is
/// final: a write already under way finishes first, the newest content is written, and
/// nothing is written after it. The task ends when the last handle is dropped.
#[derive(Clone)]
pub struct ConfigWriter(std::sync::Arc<WriterState>);

struct WriterState {
    path: std::path::PathBuf,
    /// The content not written yet; `closed` once [`ConfigWriter::close`] ran.
    pending: std::sync::Mutex<Pending>,
    /// Held across each write.
    writing: std::sync::Mutex<()>,
    wake: tokio::sync::watch::Sender<()>,
    task_started: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Pending {
    content: Option<Vec<u8>>,
    closed: bool,
}

impl std::fmt::Debug for ConfigWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ConfigWriter").field(&self.0.path).finish()
    }
}

impl ConfigWriter {
    pub fn new(path: std::path::PathBuf) -> Self {
        Self(std::sync::Arc::new(WriterState {
            path,
            pending: Default::default(),
            writing: Default::default(),
            wake: tokio::sync::watch::channel(()).0,
            task_started: Default::default(),
        }))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0.path
    }

    /// Starts the writing task on the current arbiter, unless one runs already (an actor
    /// calls this from `started`, which a supervised restart runs again).
    pub fn start(&self) {
        use std::sync::atomic::Ordering;
        if self.0.task_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let state = std::sync::Arc::downgrade(&self.0);
        let mut wake = self.0.wake.subscribe();
        actix::spawn(async move {
            while wake.changed().await.is_ok() {
                let Some(state) = state.upgrade() else { break };
                let path = state.path.clone();
                let written =
                    tokio::task::spawn_blocking(move || ConfigWriter(state).write_pending()).await;
                match written {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(path = %path.display(), error = %e, "cannot persist config file")
                    }
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "config file writer failed")
                    }
                }
            }
        });
    }

    /// Hands over the file's new content; the task writes it soon (or a newer one). After
    /// [`close`](Self::close) the content is dropped.
    pub fn send(&self, content: Vec<u8>) {
        let mut pending = crate::util::lock(&self.0.pending);
        if pending.closed {
            tracing::debug!(path = %self.0.path.display(), "config file closed: change not written");
            return;
        }
        pending.content = Some(content);
        drop(pending);
        self.0.wake.send_replace(());
    }

    /// Writes what is pending (see [`write_pending`](Self::write_pending)) and refuses
    /// later contents: after it returns, nothing writes this file any more (shutdown).
    pub fn close(&self) -> std::io::Result<bool> {
        crate::util::lock(&self.0.pending).closed = true;
        self.write_pending()
    }

    /// Writes the content handed over and not written yet, if any, on this thread (it blocks
    /// on the disk: shutdown and blocking threads only). `Ok(false)`: nothing was pending.
    /// A failed write keeps its content pending unless a newer one arrived meanwhile.
    pub fn write_pending(&self) -> std::io::Result<bool> {
        let _writing = crate::util::lock(&self.0.writing);
        let Some(content) = crate::util::lock(&self.0.pending).content.take() else {
            return Ok(false);
        };
        if let Err(e) = crate::store::config_file::write_atomic(&self.0.path, &content) {
            crate::util::lock(&self.0.pending)
                .content
                .get_or_insert(content);
            return Err(e);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use actix::prelude::*;

    use super::ConfigWriter;

    /// Counts its messages; `Stop` stops it (its supervisor then restarts it).
    struct Counter {
        handled: Arc<AtomicUsize>,
        restarts: Arc<AtomicUsize>,
    }

    impl Actor for Counter {
        type Context = Context<Self>;
    }

    impl Supervised for Counter {
        fn restarting(&mut self, _: &mut Context<Self>) {
            self.restarts.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Count;

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Stop;

    impl Handler<Count> for Counter {
        type Result = ();
        fn handle(&mut self, _: Count, _: &mut Context<Self>) {
            self.handled.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Handler<Stop> for Counter {
        type Result = ();
        fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
            ctx.stop();
        }
    }

    #[actix_rt::test]
    async fn a_new_actors_mailbox_has_its_capacity_before_it_runs_and_it_is_restarted() {
        let handled = Arc::new(AtomicUsize::new(0));
        let restarts = Arc::new(AtomicUsize::new(0));
        let (h, r) = (Arc::clone(&handled), Arc::clone(&restarts));
        // This arbiter: nothing runs on it until the test yields.
        let addr = super::supervise_in(&Arbiter::current(), 100, move || Counter {
            handled: h,
            restarts: r,
        });
        // actix's own `Supervisor::start_in_arbiter` refuses the 17th (16 + the address's
        // own slot).
        for i in 0..100 {
            assert!(addr.try_send(Count).is_ok(), "message {i} refused");
        }
        let (h, r) = (Arc::clone(&handled), Arc::clone(&restarts));
        let local = super::supervise(
            100,
            Counter {
                handled: h,
                restarts: r,
            },
        );
        for i in 0..100 {
            assert!(local.try_send(Count).is_ok(), "message {i} refused");
        }
        addr.send(Stop).await.unwrap();
        addr.send(Count).await.unwrap();
        local.send(Count).await.unwrap();
        assert_eq!(handled.load(Ordering::SeqCst), 202);
        assert_eq!(
            restarts.load(Ordering::SeqCst),
            1,
            "stopped once, restarted once"
        );
        assert!(addr.connected());
    }

    #[test]
    fn a_config_writer_writes_the_newest_content_once_and_keeps_a_failed_one() {
        let dir = std::env::temp_dir().join(format!("apogee-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // The file's directory is a plain file at first: writes fail.
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        std::fs::write(&dir, b"in the way").unwrap();
        let writer = ConfigWriter::new(dir.join("offsets.json"));
        assert!(!writer.write_pending().unwrap(), "nothing handed over yet");
        writer.send(b"one".to_vec());
        writer.send(b"two".to_vec());
        assert!(writer.write_pending().is_err());
        std::fs::remove_file(&dir).unwrap();
        assert!(
            writer.write_pending().unwrap(),
            "the failed content is kept"
        );
        assert_eq!(std::fs::read(writer.path()).unwrap(), b"two");
        assert!(!writer.write_pending().unwrap(), "written once");
        // A newer content replaces a failed one.
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::write(&dir, b"in the way").unwrap();
        writer.send(b"three".to_vec());
        assert!(writer.write_pending().is_err());
        writer.send(b"four".to_vec());
        std::fs::remove_file(&dir).unwrap();
        assert!(writer.write_pending().unwrap());
        assert_eq!(std::fs::read(writer.path()).unwrap(), b"four");
        // Closing writes what is pending, then nothing more is taken.
        writer.send(b"five".to_vec());
        assert!(writer.close().unwrap());
        assert_eq!(std::fs::read(writer.path()).unwrap(), b"five");
        writer.send(b"six".to_vec());
        assert!(!writer.write_pending().unwrap(), "closed");
        assert_eq!(std::fs::read(writer.path()).unwrap(), b"five");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
