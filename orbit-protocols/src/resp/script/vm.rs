//! The Lua 5.1 state scripts and functions run in (one per node): Redis'
//! environment (`redis`, `cjson`, `cmsgpack`, `bit`, `struct`; read-only
//! globals), the compiled scripts by SHA1, and the function libraries.
//!
//! `redis.call` reaches the front door through the [`Bridge`] set for the
//! run ([`Serve`]): on a multi-threaded runtime the script runs on its
//! client's thread and each command is answered in place, by a callback
//! that lives only as long as the run; otherwise the state runs on a
//! blocking thread, the command is sent to the client's task, which runs it
//! as EXEC runs its commands, and the Lua thread waits for the reply.

use super::convert;
use super::running::Running;
use crate::keyspace::Value;
use crate::resp::server::lock;
use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value as Lua_, Variadic};
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// The hook checks for SCRIPT KILL and the time limits this often.
const HOOK_EVERY: u32 = 10_000;

/// What a running script asks of the front door.
pub(crate) enum Ask {
    /// Run a command (`redis.call`, `redis.pcall`), its reply shaped for
    /// RESP3 if the script chose it.
    Call(Vec<Bytes>, bool),
    /// Whether the user may run it (`redis.acl_check_cmd`).
    AclCheck(Vec<Bytes>),
}

pub(crate) struct Request {
    pub ask: Ask,
    pub reply: oneshot::Sender<Value>,
}

/// How a running script's requests reach its client.
pub(crate) enum Serve<'a> {
    /// The script runs on a blocking thread: requests are sent to the
    /// client's task.
    Channel(mpsc::Sender<Request>),
    /// The script runs on the client's thread: requests are answered in
    /// place.
    Inline(&'a mut dyn FnMut(Ask) -> Value),
}

/// The registry name of the run's in-place answering callback.
const ANSWER: &str = "orbit.answer";

/// The running script's line to its client, set for one run.
struct Bridge {
    /// `None`: answered in place, through the [`ANSWER`] callback.
    tx: Option<mpsc::Sender<Request>>,
    /// `redis.setresp(3)` was called.
    resp3: AtomicBool,
    /// The request handed to the [`ANSWER`] callback, then its answer.
    asked: Mutex<Option<Ask>>,
    answered: Mutex<Option<Value>>,
}

impl Bridge {
    fn ask(&self, lua: &Lua, ask: Ask) -> Value {
        let gone = || Value::err("ERR the client running this script is gone");
        let Some(tx) = &self.tx else {
            *lock(&self.asked) = Some(ask);
            let answered = lua.named_registry_value::<Function>(ANSWER).and_then(|f| f.call::<()>(()));
            return match answered {
                Ok(()) => lock(&self.answered).take().unwrap_or_else(gone),
                Err(_) => gone(),
            };
        };
        let (reply, answer) = oneshot::channel();
        if tx.blocking_send(Request { ask, reply }).is_err() {
            return gone();
        }
        answer.blocking_recv().unwrap_or_else(|_| gone())
    }
}

/// One function of a library.
pub(crate) struct Func {
    pub callback: Function,
    pub flags: Vec<String>,
    pub description: Option<String>,
}

pub(crate) struct Library {
    pub code: String,
    pub functions: BTreeMap<String, Func>,
}

/// What to run.
pub(crate) enum Target<'a> {
    /// A compiled script, by SHA1.
    Script(&'a str),
    /// A library's function, by name.
    Function(&'a str),
}

pub(crate) struct Vm {
    lua: Lua,
    /// The real globals (KEYS and ARGV are set here for a script's run).
    real: Table,
    /// The read-only environment every chunk runs in.
    env: Table,
    run: Function,
    /// Switches `redis` between the run-time and the load-time table.
    use_api: Function,
    scripts: HashMap<String, Function>,
    pub libraries: BTreeMap<String, Library>,
}

/// The SHA1 of a script, in lower-case hex, as EVALSHA names it.
pub(crate) fn sha1_hex(body: &[u8]) -> String {
    hex::encode(Sha1::digest(body))
}

fn err_table(lua: &Lua, text: &str) -> mlua::Result<Lua_> {
    let t = lua.create_table()?;
    t.raw_set("err", text)?;
    Ok(Lua_::Table(t))
}

/// A command's arguments from Lua: strings, or numbers as Lua prints them.
fn argv_of(lua: &Lua, args: MultiValue) -> Result<Vec<Bytes>, &'static str> {
    let mut argv = Vec::with_capacity(args.len());
    for arg in args {
        let s = match arg {
            Lua_::String(s) => s,
            Lua_::Integer(_) | Lua_::Number(_) => match lua.coerce_string(arg) {
                Ok(Some(s)) => s,
                _ => return Err("ERR Lua redis lib command arguments must be strings or integers"),
            },
            _ => return Err("ERR Lua redis lib command arguments must be strings or integers"),
        };
        argv.push(Bytes::copy_from_slice(&s.as_bytes()));
    }
    Ok(argv)
}

/// An error reply raised in a script (by `redis.call`, or when the script
/// is killed or times out): the reply's text as it is, and the line of the
/// script it was raised at.
#[derive(Debug)]
pub(crate) struct ReplyError {
    text: String,
    line: Option<usize>,
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for ReplyError {}

fn reply_error(e: &mlua::Error) -> Option<&ReplyError> {
    e.chain().find_map(|cause| cause.downcast_ref::<ReplyError>())
}

/// The line of the script that called the running Rust function.
fn caller_line(lua: &Lua) -> Option<usize> {
    lua.inspect_stack(1, |debug| {
        let source = debug.source();
        let ours = source.short_src.as_deref().is_some_and(|s| s == "user_script" || s == "user_function");
        if ours { debug.current_line() } else { None }
    })
    .flatten()
}

/// An error raised by one of `redis`'s functions, at the script's line.
fn raise(lua: &Lua, message: &str) -> mlua::Error {
    mlua::Error::external(ReplyError { text: format!("ERR {message}"), line: caller_line(lua) })
}

/// Runs a command for `redis.call`/`redis.pcall`: its reply as Lua sees
/// it, or the text of its error reply.
fn command(lua: &Lua, args: MultiValue) -> mlua::Result<Result<Lua_, String>> {
    if args.is_empty() {
        return Ok(Err("ERR Please specify at least one argument for this redis lib call".into()));
    }
    let argv = match argv_of(lua, args) {
        Ok(argv) => argv,
        Err(text) => return Ok(Err(text.into())),
    };
    let Some(bridge) = lua.app_data_ref::<Bridge>() else {
        return Ok(Err("ERR redis.call is only available while a script runs".into()));
    };
    let resp3 = bridge.resp3.load(Ordering::Relaxed);
    let reply = bridge.ask(lua, Ask::Call(argv, resp3));
    drop(bridge);
    match reply {
        Value::Error(text) => Ok(Err(text)),
        reply => convert::to_lua(lua, reply, resp3).map(Ok),
    }
}

impl Vm {
    /// A Lua state that may allocate `memory_limit` bytes: past it an
    /// allocation fails and the script ends with "not enough memory".
    pub fn new(running: Arc<Running>, version: &str, memory_limit: usize) -> mlua::Result<Vm> {
        let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::default())?;
        super::libs::install(&lua)?;
        let api = lua.create_table()?;
        let load_api = lua.create_table()?;
        for table in [&api, &load_api] {
            table.raw_set("LOG_DEBUG", 0)?;
            table.raw_set("LOG_VERBOSE", 1)?;
            table.raw_set("LOG_NOTICE", 2)?;
            table.raw_set("LOG_WARNING", 3)?;
            table.raw_set("REDIS_VERSION", version)?;
            table.raw_set("REDIS_VERSION_NUM", version_num(version))?;
            table.raw_set("log", lua.create_function(log)?)?;
            table.raw_set("sha1hex", lua.create_function(sha1hex)?)?;
        }
        api.raw_set("REPL_NONE", 0)?;
        api.raw_set("REPL_AOF", 1)?;
        api.raw_set("REPL_SLAVE", 2)?;
        api.raw_set("REPL_REPLICA", 2)?;
        api.raw_set("REPL_ALL", 3)?;
        api.raw_set("setresp", lua.create_function(setresp)?)?;
        api.raw_set("set_repl", lua.create_function(set_repl)?)?;
        api.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
        api.raw_set("acl_check_cmd", lua.create_function(acl_check_cmd)?)?;
        api.raw_set(
            "call",
            lua.create_function(|lua, args: MultiValue| match command(lua, args)? {
                Ok(reply) => Ok(reply),
                Err(text) => Err(mlua::Error::external(ReplyError { text, line: caller_line(lua) })),
            })?,
        )?;
        api.raw_set(
            "pcall",
            lua.create_function(|lua, args: MultiValue| match command(lua, args)? {
                Ok(reply) => Ok(reply),
                Err(text) => err_table(lua, &text),
            })?,
        )?;
        let as_table = lua.create_function(|lua, error: Lua_| match &error {
            Lua_::Error(e) => match reply_error(e) {
                Some(r) => err_table(lua, &r.text),
                None => Ok(Lua_::Nil),
            },
            _ => Ok(Lua_::Nil),
        })?;
        let real = lua.globals();
        let prelude = lua.load(include_str!("prelude.lua")).set_name("=orbit");
        let (env, run, use_api): (Table, Function, Function) =
            prelude.call((real.clone(), api, load_api, as_table))?;
        lua.set_global_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, debug| {
            running
                .tick()
                .map_err(|text| mlua::Error::external(ReplyError { text, line: debug.current_line() }))
        })?;
        lua.set_memory_limit(memory_limit)?;
        Ok(Vm { lua, real, env, run, use_api, scripts: HashMap::new(), libraries: BTreeMap::new() })
    }

    /// Compiles a script's body (its shebang line already removed) under
    /// its SHA1.
    pub fn compile(&mut self, sha: &str, body: &[u8]) -> Result<(), Value> {
        if self.scripts.contains_key(sha) {
            return Ok(());
        }
        let chunk = self.lua.load(body).set_name("@user_script").set_environment(self.env.clone());
        let function = chunk.into_function().map_err(|e| {
            Value::err(one_line(&format!("ERR Error compiling script (new function): {}", message_of(&e))))
        })?;
        self.scripts.insert(sha.to_string(), function);
        Ok(())
    }

    pub fn forget_scripts(&mut self) {
        self.scripts.clear();
        self.lua.gc_collect().ok();
    }

    /// Runs a script or function; its reply, or its error as Redis words it.
    /// The reply's shape follows the protocol the script chose.
    pub fn call(
        &mut self,
        target: Target<'_>,
        keys: Vec<Bytes>,
        args: Vec<Bytes>,
        serve: Serve<'_>,
    ) -> Value {
        let (tx, answer) = match serve {
            Serve::Channel(tx) => (Some(tx), None),
            Serve::Inline(answer) => (None, Some(answer)),
        };
        let bridge =
            Bridge { tx, resp3: AtomicBool::new(false), asked: Mutex::default(), answered: Mutex::default() };
        self.lua.set_app_data(bridge);
        let result = match answer {
            None => self.call_inner(&target, keys, args),
            Some(answer) => self.lua.scope(|scope| {
                let callback = scope.create_function_mut(|lua, ()| {
                    let asked = lua.app_data_ref::<Bridge>().and_then(|b| lock(&b.asked).take());
                    if let Some(ask) = asked {
                        let value = answer(ask);
                        if let Some(bridge) = lua.app_data_ref::<Bridge>() {
                            *lock(&bridge.answered) = Some(value);
                        }
                    }
                    Ok(())
                })?;
                self.lua.set_named_registry_value(ANSWER, callback)?;
                let result = self.call_inner(&target, keys, args);
                self.lua.unset_named_registry_value(ANSWER)?;
                result
            }),
        };
        // Booleans become RESP3 booleans only for a script that chose RESP3
        // (`redis.setresp(3)`), whatever its client speaks.
        let resp3 = self.lua.remove_app_data::<Bridge>().is_some_and(|b| b.resp3.load(Ordering::Relaxed));
        // What a failed script left behind is garbage: collected at once, so
        // the next script starts with the memory it may use.
        if !matches!(result, Ok((true, _))) {
            self.lua.gc_collect().ok();
        }
        let (name, source) = match target {
            Target::Script(sha) => (sha, "user_script"),
            Target::Function(name) => (name, "user_function"),
        };
        match result {
            Ok((true, value)) => convert::to_reply(&value, resp3),
            Ok((false, error)) => script_error(&error, name, source),
            Err(e) => Value::err(one_line(&format!("ERR {} script: {name}, on @{source}.", message_of(&e)))),
        }
    }

    fn call_inner(
        &self,
        target: &Target<'_>,
        keys: Vec<Bytes>,
        args: Vec<Bytes>,
    ) -> mlua::Result<(bool, Lua_)> {
        let strings = |items: Vec<Bytes>| -> mlua::Result<Table> {
            let t = self.lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, self.lua.create_string(item)?)?;
            }
            Ok(t)
        };
        match target {
            Target::Script(sha) => {
                let function = self
                    .scripts
                    .get(*sha)
                    .cloned()
                    .ok_or_else(|| mlua::Error::runtime("the script is not compiled"))?;
                self.real.raw_set("KEYS", strings(keys)?)?;
                self.real.raw_set("ARGV", strings(args)?)?;
                let result = self.run.call::<(bool, Lua_)>(function);
                self.real.raw_set("KEYS", Lua_::Nil)?;
                self.real.raw_set("ARGV", Lua_::Nil)?;
                result
            }
            Target::Function(name) => {
                let callback = self
                    .function(name)
                    .map(|(_, f)| f.callback.clone())
                    .ok_or_else(|| mlua::Error::runtime("Function not found"))?;
                self.run.call::<(bool, Lua_)>((callback, strings(keys)?, strings(args)?))
            }
        }
    }

    /// A function by name: its library's name and the function.
    pub fn function(&self, name: &str) -> Option<(&str, &Func)> {
        self.libraries.iter().find_map(|(lib, l)| l.functions.get(name).map(|f| (lib.as_str(), f)))
    }

    /// FUNCTION LOAD: runs a library's code with the load-time `redis`
    /// and keeps the functions it registered. Returns the library's name.
    pub fn load_library(&mut self, code: &str, replace: bool) -> Result<String, Value> {
        let (name, body) = parse_library_header(code)?;
        if self.libraries.contains_key(&name) && !replace {
            return Err(Value::err(format!("ERR Library '{name}' already exists")));
        }
        let chunk = self.lua.load(body).set_name("@user_function").set_environment(self.env.clone());
        let chunk = chunk.into_function().map_err(|e| {
            Value::err(one_line(&format!("ERR Error compiling function: {}", message_of(&e))))
        })?;
        let lua_err = |e: mlua::Error| Value::err(one_line(&format!("ERR {}", message_of(&e))));
        let registered: Table = self.use_api.call("load").map_err(lua_err)?;
        let outcome = self.run.call::<(bool, Lua_)>(chunk);
        self.use_api.call::<Table>("run").map_err(lua_err)?;
        match outcome.map_err(lua_err)? {
            (true, _) => {}
            (false, error) => {
                let text = match script_error(&error, "", "") {
                    Value::Error(text) => text.split(" script: ").next().unwrap_or_default().to_string(),
                    _ => String::new(),
                };
                return Err(Value::err(format!("ERR Error registering functions: {text}")));
            }
        }
        let mut functions = BTreeMap::new();
        for entry in registered.sequence_values::<Table>() {
            let entry = entry.map_err(lua_err)?;
            let fname: String = entry.raw_get("name").map_err(lua_err)?;
            let flags: Vec<String> = entry.raw_get::<Vec<String>>("flags").unwrap_or_default();
            let func = Func {
                callback: entry.raw_get("callback").map_err(lua_err)?,
                flags,
                description: entry.raw_get("description").map_err(lua_err)?,
            };
            functions.insert(fname, func);
        }
        if functions.is_empty() {
            return Err(Value::err("ERR No functions registered"));
        }
        for fname in functions.keys() {
            if let Some((lib, _)) = self.function(fname)
                && lib != name
            {
                return Err(Value::err(format!("ERR Function {fname} already exists")));
            }
        }
        self.libraries.insert(name.clone(), Library { code: code.to_string(), functions });
        Ok(name)
    }
}

/// The `#!lua name=<lib>` line of a library, and the code with that line
/// left empty (Lua does not skip it; line numbers stay those of the code).
fn parse_library_header(code: &str) -> Result<(String, String), Value> {
    let Some(header) = code.strip_prefix("#!") else {
        return Err(Value::err("ERR Missing library metadata"));
    };
    let (line, _) = header.split_once('\n').unwrap_or((header, ""));
    let mut words = line.split_whitespace();
    let engine = words.next().unwrap_or_default();
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(Value::err(format!("ERR Engine '{engine}' not found")));
    }
    let mut name = None;
    for word in words {
        match word.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => return Err(Value::err(format!("ERR Invalid metadata value given: {word}"))),
        }
    }
    let Some(name) = name else { return Err(Value::err("ERR Library name was not given")) };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Value::err(
            "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ));
    }
    let body = code.split_once('\n').map_or(String::new(), |(_, rest)| format!("\n{rest}"));
    Ok((name, body))
}

/// An error raised by a script, as Redis replies it: an error reply's
/// table keeps its text, anything else is `ERR` and its message; then the
/// script's name and the line it was at.
fn script_error(error: &Lua_, name: &str, source: &str) -> Value {
    let (text, line) = match error {
        Lua_::Table(t) => {
            let text = t.raw_get::<String>("err").unwrap_or_else(|_| "ERR unknown error".into());
            (text, t.raw_get::<Option<usize>>("line").ok().flatten())
        }
        Lua_::String(s) => {
            let s = s.to_string_lossy();
            let line = line_in(&s, source);
            (format!("ERR {s}"), line)
        }
        Lua_::Error(e) => match reply_error(e) {
            Some(reply) => (reply.text.clone(), reply.line),
            None => {
                let message = message_of(e);
                let line = line_in(&message, source);
                (format!("ERR {message}"), line)
            }
        },
        other => (format!("ERR {}", other.type_name()), None),
    };
    let at = line.map(|l| format!(":{l}")).unwrap_or_default();
    Value::err(one_line(&format!("{text} script: {name}, on @{source}{at}.")))
}

/// The line of a message Lua positioned (`user_script:3: ...`).
fn line_in(message: &str, source: &str) -> Option<usize> {
    let rest = message.strip_prefix(source)?.strip_prefix(':')?;
    rest.split(':').next()?.parse().ok()
}

/// The message of a Lua error without mlua's decoration.
fn message_of(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::CallbackError { cause, .. } => message_of(cause),
        other => other.to_string(),
    }
}

/// Error replies are one line.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// `7.2.4` as `0x070204`.
fn version_num(version: &str) -> i64 {
    version.split('.').take(3).fold(0, |acc, part| (acc << 8) | part.parse::<i64>().unwrap_or(0))
}

fn log(lua: &Lua, (level, parts): (Lua_, Variadic<Lua_>)) -> mlua::Result<()> {
    let level = match level {
        Lua_::Integer(n) => n,
        Lua_::Number(n) => n as i64,
        _ => return Err(raise(lua, "First argument must be a number (log level).")),
    };
    if !(0..=3).contains(&level) {
        return Err(raise(lua, "Invalid debug level."));
    }
    let text: Vec<String> = parts
        .iter()
        .map(|p| match p {
            Lua_::String(s) => s.to_string_lossy(),
            Lua_::Integer(n) => n.to_string(),
            Lua_::Number(n) => n.to_string(),
            other => other.type_name().to_string(),
        })
        .collect();
    let text = text.join(" ");
    match level {
        0 | 1 => tracing::debug!(target: "orbit::script", "{text}"),
        2 => tracing::info!(target: "orbit::script", "{text}"),
        _ => tracing::warn!(target: "orbit::script", "{text}"),
    }
    Ok(())
}

fn sha1hex(lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    match args.into_iter().collect::<Vec<_>>().as_slice() {
        [Lua_::String(s)] => Ok(sha1_hex(&s.as_bytes())),
        [Lua_::Integer(n)] => Ok(sha1_hex(n.to_string().as_bytes())),
        _ => Err(raise(lua, "wrong number of arguments")),
    }
}

fn setresp(lua: &Lua, version: Lua_) -> mlua::Result<()> {
    let resp3 = match version {
        Lua_::Integer(2) => false,
        Lua_::Integer(3) => true,
        _ => return Err(raise(lua, "RESP version must be 2 or 3.")),
    };
    if let Some(bridge) = lua.app_data_ref::<Bridge>() {
        bridge.resp3.store(resp3, Ordering::Relaxed);
    }
    Ok(())
}

/// Orbit writes a script's effects to its partition's log whatever the
/// flags: only "everything" can be asked for.
fn set_repl(_: &Lua, flags: Lua_) -> mlua::Result<()> {
    match flags {
        Lua_::Integer(3) => Ok(()),
        Lua_::Integer(0..=2) => Err(mlua::Error::runtime(
            "Orbit always persists and replicates a script's writes: redis.set_repl accepts only redis.REPL_ALL",
        )),
        _ => Err(mlua::Error::runtime(
            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        )),
    }
}

fn acl_check_cmd(lua: &Lua, args: MultiValue) -> mlua::Result<bool> {
    if args.is_empty() {
        return Err(raise(lua, "Please specify at least one argument for this redis lib call"));
    }
    let argv = argv_of(lua, args).map_err(|text| raise(lua, text.trim_start_matches("ERR ")))?;
    let Some(bridge) = lua.app_data_ref::<Bridge>() else {
        return Err(raise(lua, "redis.acl_check_cmd is only available while a script runs"));
    };
    let answer = bridge.ask(lua, Ask::AclCheck(argv));
    drop(bridge);
    match answer {
        Value::Bool(allowed) => Ok(allowed),
        Value::Error(text) => Err(raise(lua, &text)),
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm() -> Vm {
        Vm::new(Arc::new(Running::new(60_000)), "7.2.4", 16 << 20).unwrap()
    }

    fn eval(vm: &mut Vm, body: &str) -> Value {
        let sha = sha1_hex(body.as_bytes());
        if let Err(e) = vm.compile(&sha, body.as_bytes()) {
            return e;
        }
        // No client behind the bridge: redis.call answers that it is gone.
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        vm.call(Target::Script(&sha), Vec::new(), Vec::new(), Serve::Channel(tx))
    }

    #[test]
    fn a_script_that_allocates_without_bound_ends_with_an_error() {
        let mut vm = vm();
        let hog = "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end return #t";
        let Value::Error(text) = eval(&mut vm, hog) else { panic!("an error") };
        assert!(text.contains("not enough memory"), "{text}");
        // The state is usable afterwards.
        assert_eq!(eval(&mut vm, "return 1 + 1"), Value::Int(2));
    }

    #[test]
    fn errors_name_the_script_and_the_line() {
        let mut vm = vm();
        let body = "local x = 1\nerror('boom')";
        let sha = sha1_hex(body.as_bytes());
        assert_eq!(
            eval(&mut vm, body),
            Value::err(format!("ERR user_script:2: boom script: {sha}, on @user_script:2."))
        );
        let Value::Error(text) = eval(&mut vm, "return redis.call('get', 'k')") else { panic!("an error") };
        assert!(text.starts_with("ERR the client running this script is gone script: "), "{text}");
        assert!(text.ends_with("on @user_script:1."), "{text}");
    }

    #[test]
    fn globals_are_read_only_and_unknown_ones_are_errors() {
        let mut vm = vm();
        let Value::Error(text) = eval(&mut vm, "x = 5") else { panic!("an error") };
        assert!(text.starts_with("ERR user_script:1: Attempt to modify a readonly table"), "{text}");
        let Value::Error(text) = eval(&mut vm, "return string.nope()") else { panic!("an error") };
        assert!(text.contains("attempt to call field 'nope'"), "{text}");
        let Value::Error(text) = eval(&mut vm, "string.len = nil") else { panic!("an error") };
        assert!(text.contains("Attempt to modify a readonly table"), "{text}");
        assert_eq!(eval(&mut vm, "return loadstring('return _G == nil')()"), Value::Nil);
        let Value::Error(text) = eval(&mut vm, "return loadstring('y = 1')()") else { panic!("an error") };
        assert!(text.contains("Attempt to modify a readonly table"), "{text}");
    }
}
