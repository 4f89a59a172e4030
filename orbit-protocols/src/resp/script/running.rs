//! The script running now (one at a time per node: a script holds the
//! keyspace lock exclusively), as other clients see it: past
//! `busy-reply-threshold` they are answered BUSY, and SCRIPT KILL or
//! FUNCTION KILL stops it unless it wrote. The Lua hook calls [`Running::tick`].

use crate::resp::server::lock;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A library's code gets this long to register its functions.
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// EVAL and EVALSHA.
    Script,
    /// FCALL.
    Function,
    /// FUNCTION LOAD running a library's code.
    Load,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub started: Instant,
    pub kind: Kind,
    /// The script's SHA1 or the function's name.
    pub name: String,
    /// The command that started it (`eval`, `fcall`...) and its arguments.
    pub command: Vec<String>,
    /// It ran a write command: it cannot be killed any more.
    pub wrote: bool,
}

#[derive(Default)]
pub struct Running {
    run: Mutex<Option<Run>>,
    kill: AtomicBool,
    busy: AtomicBool,
    became_busy: Notify,
    /// `busy-reply-threshold`, in milliseconds.
    pub threshold_ms: AtomicU64,
}

/// What SCRIPT KILL and FUNCTION KILL answer.
#[derive(Debug, PartialEq, Eq)]
pub enum KillOutcome {
    Killed,
    NotBusy,
    Unkillable,
    /// FUNCTION KILL of a script or SCRIPT KILL of a function.
    OtherKind(Kind),
}

impl Running {
    pub fn new(threshold_ms: u64) -> Running {
        Running { threshold_ms: AtomicU64::new(threshold_ms), ..Running::default() }
    }

    pub fn begin(&self, kind: Kind, name: String, command: Vec<String>) {
        self.kill.store(false, Ordering::Release);
        self.busy.store(false, Ordering::Release);
        *lock(&self.run) = Some(Run { started: Instant::now(), kind, name, command, wrote: false });
    }

    pub fn end(&self) {
        *lock(&self.run) = None;
        self.kill.store(false, Ordering::Release);
        self.busy.store(false, Ordering::Release);
    }

    pub fn wrote(&self) {
        if let Some(run) = lock(&self.run).as_mut() {
            run.wrote = true;
        }
    }

    pub fn current(&self) -> Option<Run> {
        lock(&self.run).clone()
    }

    /// A script has run past the threshold: other clients get BUSY.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// Resolves once the running script is past the threshold (at once if
    /// it is already).
    pub async fn busy(&self) {
        let notified = self.became_busy.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_busy() {
            return;
        }
        notified.await;
    }

    /// The reply other clients get while a script is busy.
    pub fn busy_reply(&self) -> String {
        let word = match self.current().map(|r| r.kind) {
            Some(Kind::Function) => "FUNCTION",
            _ => "SCRIPT",
        };
        format!("BUSY Redis is busy running a script. You can only call {word} KILL or SHUTDOWN NOSAVE.")
    }

    pub fn kill(&self, kind: Kind) -> KillOutcome {
        let run = lock(&self.run);
        match run.as_ref() {
            None => KillOutcome::NotBusy,
            Some(r) if r.kind == Kind::Load => KillOutcome::NotBusy,
            Some(r) if r.kind != kind => KillOutcome::OtherKind(r.kind),
            Some(r) if r.wrote => KillOutcome::Unkillable,
            Some(_) => {
                self.kill.store(true, Ordering::Release);
                KillOutcome::Killed
            }
        }
    }

    /// Called by the Lua hook every few thousand instructions: the error
    /// reply that ends the script, if it is to end.
    pub fn tick(&self) -> Result<mlua::VmState, String> {
        if self.kill.load(Ordering::Acquire) {
            let word = match self.current().map(|r| r.kind) {
                Some(Kind::Function) => "FUNCTION",
                _ => "SCRIPT",
            };
            return Err(format!("ERR Script killed by user with {word} KILL..."));
        }
        let Some((started, kind)) = lock(&self.run).as_ref().map(|r| (r.started, r.kind)) else {
            return Ok(mlua::VmState::Continue);
        };
        let elapsed = started.elapsed();
        super::hand_off_worker(elapsed);
        if kind == Kind::Load {
            if elapsed > LOAD_TIMEOUT {
                return Err("ERR FUNCTION LOAD timeout".into());
            }
        } else if !self.is_busy() && elapsed.as_millis() as u64 >= self.threshold_ms.load(Ordering::Relaxed) {
            self.busy.store(true, Ordering::Release);
            self.became_busy.notify_waiters();
        }
        Ok(mlua::VmState::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_that_wrote_cannot_be_killed() {
        let running = Running::new(0);
        assert_eq!(running.kill(Kind::Script), KillOutcome::NotBusy);
        running.begin(Kind::Script, "sha".into(), vec![]);
        assert_eq!(running.kill(Kind::Function), KillOutcome::OtherKind(Kind::Script));
        running.wrote();
        assert_eq!(running.kill(Kind::Script), KillOutcome::Unkillable);
        running.end();
        running.begin(Kind::Function, "f".into(), vec![]);
        assert!(running.tick().is_ok());
        assert!(running.is_busy(), "threshold 0: busy at the first tick");
        assert_eq!(running.kill(Kind::Function), KillOutcome::Killed);
        assert!(running.tick().is_err());
        running.end();
        assert!(!running.is_busy());
    }
}
