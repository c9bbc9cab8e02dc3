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
    use super::ConfigWriter;

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
