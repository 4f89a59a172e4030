//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT; and running a script or
//! function against the keyspace: the Lua thread asks, the client's task
//! runs each command as EXEC runs its queued ones (the keyspace lock held
//! exclusively), checking what Redis checks first.

use super::running::{KillOutcome, Kind};
use super::vm::{Ask, Request, Serve, Target, sha1_hex};
use super::{Flags, Scripts, split_keys, store};
use crate::keyspace::Value;
use crate::resp::connection::{Conn, Outcome};
use crate::resp::server::{CROSSSLOT, lock};
use crate::resp::table::{self, BLOCKING, Route, Spec};
use bytes::Bytes;
use orbit_shared::{ActorGateway, DurableToken};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Who may write, and which keys the script declared.
pub(crate) struct Policy {
    pub read_only: bool,
    pub keys: Vec<Bytes>,
    pub allow_cross_slot: bool,
    /// The script runs at most one command ([`at_most_one_command`]).
    pub one_command: bool,
}

pub(crate) async fn run<G: ActorGateway>(
    conn: &mut Conn<G>,
    name: &str,
    argv: &[Bytes],
    locked: bool,
) -> Value {
    match name {
        "script" => script(conn, argv, locked).await,
        "fcall" | "fcall_ro" => super::functions::fcall(conn, name, argv, locked).await,
        "function" => super::functions::function(conn, argv, locked).await,
        _ => {
            let server = conn.server.clone();
            server.exclusively(locked, eval(conn, name, argv)).await
        }
    }
}

/// Reads the stored scripts and libraries once, at the first use.
pub(crate) async fn ensure_loaded<G: ActorGateway>(conn: &Conn<G>) -> Result<(), Value> {
    let server = conn.server.clone();
    let scripts = server.scripts.clone();
    scripts
        .loaded
        .get_or_try_init(|| async {
            let (stored, libraries) = store::load_all(&server).await?;
            for (sha, body) in stored {
                scripts.remember(sha, body);
            }
            for code in libraries {
                let loaded = scripts.with_vm(move |vm| vm.load_library(&code, true)).await?;
                if let Err(e) = loaded {
                    tracing::error!(error = ?e, "a stored function library does not load");
                }
            }
            super::functions::recount(&scripts).await
        })
        .await
        .map(|_| ())
}

/// A script's flags from its shebang line, and the body to compile (that
/// line left empty, so line numbers stay those of the script).
pub(crate) fn shebang(body: &[u8]) -> Result<(Flags, Vec<u8>), Value> {
    let Some(rest) = body.strip_prefix(b"#!") else { return Ok((Flags::default(), body.to_vec())) };
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = String::from_utf8_lossy(&rest[..end]).into_owned();
    let mut words = line.split_whitespace();
    let engine = words.next().unwrap_or_default();
    if engine != "lua" {
        return Err(Value::err(format!("ERR Could not find engine '{engine}'")));
    }
    let mut flags = Flags { declared: true, ..Flags::default() };
    for word in words {
        match word.strip_prefix("flags=") {
            Some(list) => flags = Flags::parse(list.split(',').filter(|f| !f.is_empty()))?,
            None => return Err(Value::err(format!("ERR Unknown lua shebang option: {word}"))),
        }
    }
    let mut compiled = b"\n".to_vec();
    compiled.extend_from_slice(rest.get(end + 1..).unwrap_or_default());
    Ok((flags, compiled))
}

/// EVAL and friends, the keyspace lock held: the reply, durable once the
/// token is.
async fn eval<G: ActorGateway>(
    conn: &mut Conn<G>,
    name: &str,
    argv: &[Bytes],
) -> Result<(Value, DurableToken), Value> {
    let (keys, args) = split_keys(&argv[2..])?;
    let server = conn.server.clone();
    ensure_loaded(conn).await?;
    let scripts = server.scripts.clone();
    let (sha, body) = if name.starts_with("evalsha") {
        let sha = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        let body =
            scripts.body(&sha).ok_or_else(|| Value::err("NOSCRIPT No matching script. Please use EVAL."))?;
        (sha, body)
    } else {
        (sha1_hex(&argv[1]), argv[1].clone())
    };
    let (flags, compiled) = shebang(&body)?;
    let one_command = at_most_one_command(&compiled);
    if name.ends_with("_ro") && flags.declared && !flags.no_writes {
        return Err(Value::err("ERR Can not execute a script with write flag using *_ro command."));
    }
    let key = sha.clone();
    scripts.with_vm(move |vm| vm.compile(&key, &compiled)).await??;
    scripts.remember(sha.clone(), body);
    let policy = Policy {
        read_only: name.ends_with("_ro") || flags.no_writes,
        keys,
        allow_cross_slot: flags.allow_cross_slot,
        one_command,
    };
    let command = argv.iter().take(3).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    Ok(run_script(conn, &scripts, Kind::Script, sha, command, args, policy).await)
}

/// Runs a compiled script or a function and serves its commands until it
/// ends: on this thread ([`super::in_place`]) or from the blocking pool.
pub(crate) async fn run_script<G: ActorGateway>(
    conn: &mut Conn<G>,
    scripts: &Arc<Scripts>,
    kind: Kind,
    name: String,
    command: Vec<String>,
    args: Vec<Bytes>,
    policy: Policy,
) -> (Value, DurableToken) {
    let declared: Vec<&Bytes> = policy.keys.iter().collect();
    if declared.len() > 1 && !policy.allow_cross_slot && !conn.server.gateway.colocated(&declared) {
        return (Value::err(CROSSSLOT), DurableToken::NONE);
    }
    if let Some(threshold) = conn.server.params.get("busy-reply-threshold").and_then(|v| v.parse().ok()) {
        scripts.running.threshold_ms.store(threshold, std::sync::atomic::Ordering::Relaxed);
    }
    scripts.running.begin(kind, name.clone(), command);
    let _end = EndOnDrop(scripts.clone());
    let (vm, keys) = (scripts.vm.clone(), policy.keys.clone());
    let run = move |serve: Serve<'_>| {
        let target = match kind {
            Kind::Function => Target::Function(&name),
            _ => Target::Script(&name),
        };
        match lock(&vm).as_mut() {
            Some(vm) => vm.call(target, keys, args, serve),
            None => Value::err("ERR the Lua interpreter is not available"),
        }
    };
    let db = conn.db;
    let server = conn.server.clone();
    // A script that may write runs as one atomic session, as EXEC does:
    // its writes land together or not at all, also across a crash. (One
    // allowed to cross slots may call keys of several partitions, which a
    // session cannot hold; one that runs at most one command is atomic as
    // that command is; a failed script keeps what it wrote, as in Redis:
    // its error is a reply, not a failed session.)
    let in_session = !policy.read_only && !policy.allow_cross_slot && !policy.one_command;
    let script = async {
        if super::in_place() {
            // The script runs on this worker thread, and each command it
            // calls runs in place: no thread crossing per command. A script
            // that runs long or a command that has to wait hands the
            // worker's other tasks to another thread (`block_in_place`).
            let handle = tokio::runtime::Handle::current();
            let _on_worker = super::OnWorker::enter();
            let mut answer = |ask| now_or_block(&handle, answer(conn, scripts, &policy, ask));
            run(Serve::Inline(&mut answer))
        } else {
            let (tx, mut rx) = mpsc::channel::<Request>(1);
            let lua = tokio::task::spawn_blocking(move || run(Serve::Channel(tx)));
            while let Some(Request { ask, reply }) = rx.recv().await {
                let _ = reply.send(answer(conn, scripts, &policy, ask).await);
            }
            lua.await.unwrap_or_else(|_| Value::err("ERR the Lua interpreter failed"))
        }
    };
    let (reply, token) = match in_session {
        true => match server.atomically(script).await {
            Ok(done) => done,
            Err(e) => (crate::resp::server::error_reply(&e), DurableToken::NONE),
        },
        false => (script.await, DurableToken::NONE),
    };
    // SELECT inside a script changes the database for the script only.
    conn.db = db;
    (reply, token)
}

/// Whether a script's body can run at most one command, judged from its
/// words alone (strings and comments included, which only ever makes the
/// answer "no"): `redis` appears once, as `redis.call(` or
/// `redis.pcall(`, and no word could repeat that call or reach `redis`
/// another way (loops, `goto`, functions, dynamic code, the globals table).
/// Such a script needs no session: its one command is atomic by itself.
pub(crate) fn at_most_one_command(body: &[u8]) -> bool {
    const REPEATS_OR_REACHES: [&[u8]; 17] = [
        b"for",
        b"while",
        b"repeat",
        b"goto",
        b"function",
        b"load",
        b"loadstring",
        b"loadfile",
        b"dofile",
        b"require",
        b"package",
        b"_G",
        b"getfenv",
        b"setfenv",
        b"rawget",
        b"setmetatable",
        b"coroutine",
    ];
    let word_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut calls = 0;
    let mut i = 0;
    while i < body.len() {
        if !word_byte(body[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < body.len() && word_byte(body[i]) {
            i += 1;
        }
        let word = &body[start..i];
        if REPEATS_OR_REACHES.contains(&word) {
            return false;
        }
        if word == b"redis" {
            let rest = &body[i..];
            if !(rest.starts_with(b".call(") || rest.starts_with(b".pcall(")) {
                return false;
            }
            calls += 1;
        }
    }
    calls <= 1
}

/// Runs `future` to its end on this thread: polled once in place, and only
/// if it has to wait, driven by `Handle::block_on` under `block_in_place`.
/// Most commands a script calls outside a session finish in that first
/// poll (an idle actor's turn runs inline).
fn now_or_block<F: std::future::Future>(handle: &tokio::runtime::Handle, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => tokio::task::block_in_place(|| handle.block_on(future)),
    }
}

/// Answers one request of a running script.
async fn answer<G: ActorGateway>(conn: &mut Conn<G>, scripts: &Scripts, policy: &Policy, ask: Ask) -> Value {
    match ask {
        Ask::Call(argv, resp3) => {
            // Replies take the shape of the script's protocol, not its
            // client's (XREAD's is not a flattened map in RESP2).
            let client = std::mem::replace(&mut conn.resp3, resp3);
            let reply = serve(conn, scripts, policy, argv).await;
            conn.resp3 = client;
            reply
        }
        Ask::AclCheck(argv) => acl_check(conn, &argv),
    }
}

/// Clears the running script even if the client's task is dropped.
struct EndOnDrop(Arc<Scripts>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.0.running.end();
    }
}

/// Commands a script may not run: transactions, subscriptions, blocking
/// commands, scripting itself, and connection commands. As in Redis, a
/// few blocking commands run: BLMPOP and BZMPOP as if their timeout had
/// passed (a script never waits), XREAD and XREADGROUP refused only with
/// BLOCK ([`blocks`]).
fn forbidden(spec: &Spec) -> bool {
    let runs = matches!(spec.name, "xread" | "xreadgroup" | "blmpop" | "bzmpop");
    let waits = spec.flags & BLOCKING != 0 || spec.route == Route::Blocking;
    matches!(spec.route, Route::Tx)
        || (waits && !runs)
        || matches!(
            spec.name,
            "subscribe"
                | "unsubscribe"
                | "psubscribe"
                | "punsubscribe"
                | "ssubscribe"
                | "sunsubscribe"
                | "eval"
                | "evalsha"
                | "eval_ro"
                | "evalsha_ro"
                | "script"
                | "fcall"
                | "fcall_ro"
                | "function"
                | "auth"
                | "hello"
                | "quit"
                | "reset"
                | "client"
                | "monitor"
                | "shutdown"
                | "debug"
        )
}

async fn serve<G: ActorGateway>(
    conn: &mut Conn<G>,
    scripts: &Scripts,
    policy: &Policy,
    mut argv: Vec<Bytes>,
) -> Value {
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    let Some(spec) = table::lookup(&name) else {
        return Value::err("ERR Unknown Redis command called from script");
    };
    if !spec.arity_ok(argv.len()) {
        return Value::err("ERR Wrong number of args calling Redis command from script");
    }
    if forbidden(spec) {
        return Value::err("ERR This Redis command is not allowed from script");
    }
    if policy.read_only && spec.is_write() {
        return Value::err("ERR Write commands are not allowed from read-only scripts.");
    }
    if let Some(refused) = crate::resp::cmd::acl::refusal(conn, spec, &argv) {
        return refused;
    }
    let mut keys = spec.keys(&argv);
    keys.extend(policy.keys.first());
    if keys.len() > 1 && !policy.allow_cross_slot && !conn.server.gateway.colocated(&keys) {
        return Value::err("ERR Script attempted to access keys that do not hash to the same slot");
    }
    if spec.is_write() {
        scripts.running.wrote();
    }
    if let Some(refused) = blocks(spec, &argv) {
        return refused;
    }
    argv[0] = Bytes::from_static(spec.name.as_bytes());
    match Box::pin(conn.execute(spec, argv, true)).await {
        Outcome::Reply(v) => v,
        Outcome::Replies(vs) => Value::Array(vs),
        // Commands run with the lock held do not block (`blocking::run`).
        Outcome::Block(_) => Value::err("ERR internal error: a command blocked inside a script"),
    }
}

/// XREAD and XREADGROUP with BLOCK: refused in the command's own words, as
/// Redis' stream commands refuse it (the name as the script spelled it).
fn blocks(spec: &Spec, argv: &[Bytes]) -> Option<Value> {
    let block = matches!(spec.name, "xread" | "xreadgroup")
        && argv[1..]
            .iter()
            .take_while(|a| !a.eq_ignore_ascii_case(b"streams"))
            .any(|a| a.eq_ignore_ascii_case(b"block"));
    block.then(|| {
        let name = String::from_utf8_lossy(&argv[0]);
        Value::err(format!("ERR {name} command is not allowed with BLOCK option from scripts"))
    })
}

/// `redis.acl_check_cmd`: whether the script's user may run the command.
fn acl_check<G: ActorGateway>(conn: &mut Conn<G>, argv: &[Bytes]) -> Value {
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    match table::lookup(&name) {
        None => Value::err("Invalid command passed to redis.acl_check_cmd()"),
        Some(spec) => Value::Bool(crate::resp::cmd::acl::refusal(conn, spec, argv).is_none()),
    }
}

async fn script<G: ActorGateway>(conn: &mut Conn<G>, argv: &[Bytes], locked: bool) -> Value {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let scripts = conn.server.scripts.clone();
    match (sub.as_str(), &argv[2..]) {
        ("kill", []) => match scripts.running.kill(Kind::Script) {
            KillOutcome::Killed => Value::ok(),
            KillOutcome::Unkillable => Value::err(UNKILLABLE),
            KillOutcome::NotBusy | KillOutcome::OtherKind(_) => {
                Value::err("NOTBUSY No scripts in execution right now.")
            }
        },
        ("help", []) => help(),
        ("debug", [_]) => Value::err("ERR SCRIPT DEBUG is not supported by Orbit (no Lua debugger)"),
        ("load", [body]) => {
            let server = conn.server.clone();
            let _guard = server.exclusive(locked).await;
            script_load(conn, &scripts, body.clone()).await.unwrap_or_else(|e| e)
        }
        ("exists", shas) if !shas.is_empty() => {
            let server = conn.server.clone();
            let _guard = server.exclusive(locked).await;
            if let Err(e) = ensure_loaded(conn).await {
                return e;
            }
            let known =
                |sha: &Bytes| scripts.body(&String::from_utf8_lossy(sha).to_ascii_lowercase()).is_some();
            Value::Array(shas.iter().map(|sha| Value::Int(i64::from(known(sha)))).collect())
        }
        ("flush", mode) if mode.len() <= 1 => {
            if let [m] = mode
                && !(m.eq_ignore_ascii_case(b"async") || m.eq_ignore_ascii_case(b"sync"))
            {
                return Value::err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            }
            let server = conn.server.clone();
            let _guard = server.exclusive(locked).await;
            lock(&scripts.bodies).clear();
            if let Err(e) = scripts.with_vm(|vm| vm.forget_scripts()).await {
                return e;
            }
            match store::forget_scripts(&server).await {
                Ok(token) => {
                    conn.unsynced = conn.unsynced.and(token);
                    Value::ok()
                }
                Err(e) => e,
            }
        }
        _ => crate::resp::cmd::subcommand_error("script", &argv[1], &["load", "exists", "flush", "kill"]),
    }
}

const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";

async fn script_load<G: ActorGateway>(
    conn: &mut Conn<G>,
    scripts: &Scripts,
    body: Bytes,
) -> Result<Value, Value> {
    ensure_loaded(conn).await?;
    let sha = sha1_hex(&body);
    let (_, compiled) = shebang(&body)?;
    let key = sha.clone();
    scripts.with_vm(move |vm| vm.compile(&key, &compiled)).await??;
    let token = store::save_script(&conn.server, &sha, &body).await?;
    conn.unsynced = conn.unsynced.and(token);
    scripts.remember(sha.clone(), body);
    Ok(Value::bulk(sha))
}

fn help() -> Value {
    let lines = [
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Print this help.",
    ];
    Value::Array(lines.iter().map(|l| Value::Simple((*l).into())).collect())
}

#[cfg(test)]
mod tests {
    use super::at_most_one_command;

    #[test]
    fn only_a_script_that_cannot_run_a_second_command_is_judged_to_run_one() {
        for one in [
            "return redis.call('incr', KEYS[1])",
            "local v = redis.pcall('get', KEYS[1]) if v then return v end return 0",
            "return 1",
            "\nreturn cjson.encode({a = ARGV[1]})",
        ] {
            assert!(at_most_one_command(one.as_bytes()), "{one}");
        }
        for more in [
            "redis.call('set', KEYS[1], 1) return redis.call('incr', KEYS[1])",
            "for i = 1, 3 do redis.call('incr', KEYS[1]) end",
            "while true do redis.call('incr', KEYS[1]) end",
            "local c = redis.call c('incr', KEYS[1]) c('incr', KEYS[1])",
            "local r = redis return r.call('incr', KEYS[1])",
            "local function f() return redis.call('incr', KEYS[1]) end f() return f()",
            "return pcall(redis.call, 'incr', KEYS[1])",
            "return _G['re' .. 'dis'].call('incr', KEYS[1])",
            "return getfenv()['redis'].call('incr', KEYS[1])",
            "return loadstring('return 1')()",
            "::top:: redis.call('incr', KEYS[1]) goto top",
            "redis.setresp(3) return redis.call('get', KEYS[1])",
            "return redis . call('incr', KEYS[1])",
        ] {
            assert!(!at_most_one_command(more.as_bytes()), "{more}");
        }
    }
}
