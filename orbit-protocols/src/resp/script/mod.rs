//! Scripting: EVAL and Redis 7 functions on a Lua 5.1 interpreter (`mlua`
//! with Lua 5.1 built from source, the version Redis embeds).
//!
//! | file | concept |
//! |---|---|
//! | `vm.rs` | the Lua state: Redis' environment (its Lua half in `prelude.lua`), compiled scripts, libraries |
//! | `convert.rs` | replies between RESP and Lua, both ways |
//! | `running.rs` | the script running now: BUSY past the threshold, SCRIPT/FUNCTION KILL |
//! | `eval.rs` | EVAL, EVALSHA, their `_RO` forms, SCRIPT; running a script against the keyspace |
//! | `functions.rs` | FUNCTION and FCALL |
//! | `store.rs` | loaded scripts and libraries kept in storage, so they survive restarts |
//! | `libs/` | `cjson`, `cmsgpack`, `bit`, `struct` |
//!
//! Atomicity: a script holds the keyspace lock exclusively for its whole
//! run, as EXEC does, so no other command on this node interleaves with it;
//! its commands run one by one through the same path as EXEC's (each is
//! durable before the script's reply is sent). A script that fails halfway
//! keeps what it wrote, as in Redis. One script runs at a time per node, so
//! one Lua state serves them all.
//!
//! In a cluster, scripts and libraries are stored in one partition (any node
//! finds them); the compiled copies are per node: a library deleted on one
//! node stays callable on the others until they restart.

/// Whether Lua runs on the calling task's thread rather than on the
/// blocking pool: on a multi-threaded runtime, where `block_in_place` can
/// hand the worker's other tasks to another thread when a script runs long
/// or a command it calls has to wait (a current-thread runtime does not
/// allow it). Other uses of the state (compiling, loading a library under
/// its time limit) run in place.
fn in_place() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// How long a script runs on a runtime worker before the worker's other
/// tasks are handed to another thread.
const HAND_OFF_AFTER: std::time::Duration = std::time::Duration::from_millis(1);

thread_local! {
    /// A script runs on this thread, a runtime worker, in place.
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as running a script in place until dropped.
struct OnWorker;

impl OnWorker {
    fn enter() -> Self {
        ON_WORKER.with(|w| w.set(true));
        OnWorker
    }
}

impl Drop for OnWorker {
    fn drop(&mut self) {
        ON_WORKER.with(|w| w.set(false));
    }
}

/// From the Lua hook, once a script has run [`HAND_OFF_AFTER`] in place:
/// hands the worker's queued tasks to another thread (`block_in_place`), so
/// a long script does not hold them up. Tried at every hook until another
/// thread has taken the worker; a no-op after that and off a worker.
fn hand_off_worker(elapsed: std::time::Duration) {
    if elapsed >= HAND_OFF_AFTER && ON_WORKER.with(|w| w.get()) {
        tokio::task::block_in_place(std::thread::yield_now);
    }
}

mod convert;
pub(crate) mod eval;
pub(crate) mod functions;
mod libs;
pub(crate) mod running;
mod store;
mod vm;

use crate::keyspace::Value;
use crate::resp::server::lock;
use bytes::Bytes;
use running::Running;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vm::Vm;

/// Redis' default `busy-reply-threshold`, in milliseconds.
pub const DEFAULT_BUSY_MS: u64 = 5000;

/// The node's scripting state, shared by its connections.
pub struct Scripts {
    vm: Arc<Mutex<Option<Vm>>>,
    pub running: Arc<Running>,
    /// Script bodies by SHA1: what EVALSHA and SCRIPT EXISTS know.
    bodies: Mutex<HashMap<String, Bytes>>,
    /// The stored scripts and libraries were read.
    loaded: tokio::sync::OnceCell<()>,
    /// Libraries and functions loaded, for FUNCTION STATS.
    counts: Mutex<(usize, usize)>,
    /// Bytes the Lua state may allocate.
    memory_limit: usize,
}

impl Scripts {
    pub fn new(memory_limit: usize) -> Self {
        Scripts {
            vm: Arc::default(),
            running: Arc::new(Running::new(DEFAULT_BUSY_MS)),
            bodies: Mutex::default(),
            loaded: tokio::sync::OnceCell::new(),
            counts: Mutex::default(),
            memory_limit,
        }
    }

    /// Runs `f` on the Lua state (created on first use), in place or on a
    /// blocking thread ([`in_place`]). Callers hold the keyspace lock
    /// exclusively, so the state is never contended.
    async fn with_vm<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vm) -> R + Send + 'static,
    ) -> Result<R, Value> {
        let vm = self.vm.clone();
        let (running, limit) = (self.running.clone(), self.memory_limit);
        let run = move || {
            let mut slot = lock(&vm);
            if slot.is_none() {
                let created = Vm::new(running, crate::resp::cmd::admin::REDIS_VERSION, limit)
                    .map_err(|e| Value::err(format!("ERR the Lua interpreter could not start: {e}")))?;
                *slot = Some(created);
            }
            match slot.as_mut() {
                Some(vm) => Ok(f(vm)),
                None => Err(Value::err("ERR the Lua interpreter is not available")),
            }
        };
        if in_place() {
            return run();
        }
        tokio::task::spawn_blocking(run).await.map_err(|_| Value::err("ERR the Lua interpreter failed"))?
    }

    fn body(&self, sha: &str) -> Option<Bytes> {
        lock(&self.bodies).get(sha).cloned()
    }

    fn remember(&self, sha: String, body: Bytes) {
        lock(&self.bodies).insert(sha, body);
    }
}

/// A script's flags, from its `#!lua flags=...` line (Redis 7): a script
/// with the line declares its flags; one without it may write.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Flags {
    pub declared: bool,
    pub no_writes: bool,
    pub allow_cross_slot: bool,
}

impl Flags {
    fn parse<'a>(names: impl Iterator<Item = &'a str>) -> Result<Flags, Value> {
        let mut flags = Flags { declared: true, ..Flags::default() };
        for name in names {
            match name {
                "no-writes" => flags.no_writes = true,
                "allow-cross-slot-keys" => flags.allow_cross_slot = true,
                "allow-oom" | "allow-stale" | "no-cluster" => {}
                other => return Err(Value::err(format!("ERR Unexpected flag in script shebang: {other}"))),
            }
        }
        Ok(flags)
    }
}

/// Splits `numkeys key... arg...` as EVAL and FCALL take them.
pub(crate) fn split_keys(args: &[Bytes]) -> Result<(Vec<Bytes>, Vec<Bytes>), Value> {
    let numkeys = crate::keyspace::parse_i64(&args[0])?;
    if numkeys < 0 {
        return Err(Value::err("ERR Number of keys can't be negative"));
    }
    let rest = &args[1..];
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > rest.len() {
        return Err(Value::err("ERR Number of keys can't be greater than number of args"));
    }
    Ok((rest[..numkeys].to_vec(), rest[numkeys..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_arguments_split_as_redis_checks_them() {
        let words = |w: &[&str]| w.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect::<Vec<_>>();
        let (keys, args) = split_keys(&words(&["2", "a", "b", "c"])).unwrap();
        assert_eq!((keys.len(), args.len()), (2, 1));
        assert_eq!(split_keys(&words(&["-1"])), Err(Value::err("ERR Number of keys can't be negative")));
        assert_eq!(
            split_keys(&words(&["3", "a"])),
            Err(Value::err("ERR Number of keys can't be greater than number of args"))
        );
        assert!(split_keys(&words(&["x"])).is_err());
        assert_eq!(Flags::parse(["no-writes"].into_iter()).map(|f| f.no_writes), Ok(true));
        assert!(Flags::parse(["nope"].into_iter()).is_err());
    }
}
