//! Redis 7 functions: FUNCTION LOAD/LIST/DELETE/FLUSH/DUMP/RESTORE/KILL/
//! STATS and FCALL/FCALL_RO. A library's code runs once at load, with a
//! `redis` that can only register functions; its functions then run like
//! scripts, with their keys and arguments as parameters.

use super::eval::{Policy, ensure_loaded, run_script};
use super::running::{KillOutcome, Kind};
use super::{Scripts, split_keys, store};
use crate::keyspace::rdb;
use crate::keyspace::{Value, glob};
use crate::resp::connection::Conn;
use bytes::Bytes;
use orbit_shared::ActorGateway;

pub(crate) async fn fcall<G: ActorGateway>(
    conn: &mut Conn<G>,
    name: &str,
    argv: &[Bytes],
    locked: bool,
) -> Value {
    let server = conn.server.clone();
    server.exclusively(locked, fcall_locked(conn, name, argv)).await
}

async fn fcall_locked<G: ActorGateway>(
    conn: &mut Conn<G>,
    name: &str,
    argv: &[Bytes],
) -> Result<(Value, orbit_shared::DurableToken), Value> {
    let (keys, args) = split_keys(&argv[2..])?;
    ensure_loaded(conn).await?;
    let scripts = conn.server.scripts.clone();
    let function = String::from_utf8_lossy(&argv[1]).into_owned();
    let wanted = function.clone();
    let flags = scripts
        .with_vm(move |vm| vm.function(&wanted).map(|(_, f)| f.flags.clone()))
        .await?
        .ok_or_else(|| Value::err("ERR Function not found"))?;
    let no_writes = flags.iter().any(|f| f == "no-writes");
    if name == "fcall_ro" && !no_writes {
        return Err(Value::err("ERR Can not execute a script with write flag using *_ro command."));
    }
    let policy = Policy {
        read_only: no_writes,
        keys,
        allow_cross_slot: flags.iter().any(|f| f == "allow-cross-slot-keys"),
        // A function's body is its library's: not judged, always a session.
        one_command: false,
    };
    let command = argv.iter().take(3).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    Ok(run_script(conn, &scripts, Kind::Function, function, command, args, policy).await)
}

pub(crate) async fn function<G: ActorGateway>(conn: &mut Conn<G>, argv: &[Bytes], locked: bool) -> Value {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let scripts = conn.server.scripts.clone();
    let args = &argv[2..];
    match (sub.as_str(), args) {
        ("kill", []) => match scripts.running.kill(Kind::Function) {
            KillOutcome::Killed => Value::ok(),
            KillOutcome::Unkillable => Value::err(
                "UNKILLABLE The busy script was sent by a master instance in the context of replication and cannot be killed.",
            ),
            KillOutcome::NotBusy | KillOutcome::OtherKind(_) => {
                Value::err("NOTBUSY No scripts in execution right now.")
            }
        },
        ("stats", []) => stats(&scripts).await,
        ("help", []) => help(),
        ("load" | "list" | "delete" | "flush" | "dump" | "restore", _) => {
            let server = conn.server.clone();
            let _guard = server.exclusive(locked).await;
            if let Err(e) = ensure_loaded(conn).await {
                return e;
            }
            locked_subcommand(conn, &scripts, &sub, args).await.unwrap_or_else(|e| e)
        }
        _ => crate::resp::cmd::subcommand_error("function", &argv[1], SUBCOMMANDS),
    }
}

const SUBCOMMANDS: &[&str] = &["load", "list", "delete", "flush", "dump", "restore", "kill", "stats"];

async fn locked_subcommand<G: ActorGateway>(
    conn: &mut Conn<G>,
    scripts: &Scripts,
    sub: &str,
    args: &[Bytes],
) -> Result<Value, Value> {
    let syntax = || Value::err("ERR syntax error");
    match sub {
        "load" => {
            let (replace, code) = match args {
                [code] => (false, code),
                [flag, code] if flag.eq_ignore_ascii_case(b"replace") => (true, code),
                [_, _] => {
                    return Err(Value::err(format!(
                        "ERR Unknown option given: {}",
                        String::from_utf8_lossy(&args[0])
                    )));
                }
                _ => return Err(crate::resp::cmd::subcommand_error("function", b"load", SUBCOMMANDS)),
            };
            let code = String::from_utf8_lossy(code).into_owned();
            let name = load(conn, scripts, code, replace).await?;
            Ok(Value::bulk(name))
        }
        "list" => list(scripts, args).await,
        "delete" => {
            let [name] = args else {
                return Err(crate::resp::cmd::subcommand_error("function", b"delete", SUBCOMMANDS));
            };
            let name = String::from_utf8_lossy(name).into_owned();
            let wanted = name.clone();
            if scripts.with_vm(move |vm| vm.libraries.remove(&wanted).is_some()).await? {
                recount(scripts).await?;
                let token = store::forget_library(&conn.server, &name).await?;
                conn.unsynced = conn.unsynced.and(token);
                Ok(Value::ok())
            } else {
                Err(Value::err("ERR Library not found"))
            }
        }
        "flush" => {
            if let [mode] = args
                && !(mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync"))
            {
                return Err(Value::err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"));
            }
            if args.len() > 1 {
                return Err(syntax());
            }
            flush(conn, scripts).await?;
            Ok(Value::ok())
        }
        "dump" => {
            if !args.is_empty() {
                return Err(crate::resp::cmd::subcommand_error("function", b"dump", SUBCOMMANDS));
            }
            let codes = scripts
                .with_vm(|vm| vm.libraries.values().map(|l| l.code.clone()).collect::<Vec<_>>())
                .await?;
            Ok(Value::Bulk(rdb::functions_payload(&codes)))
        }
        "restore" => restore(conn, scripts, args).await,
        _ => Err(syntax()),
    }
}

/// Loads a library and stores its code; its name.
async fn load<G: ActorGateway>(
    conn: &mut Conn<G>,
    scripts: &Scripts,
    code: String,
    replace: bool,
) -> Result<String, Value> {
    let running = scripts.running.clone();
    let stored = code.clone();
    scripts.running.begin(Kind::Load, String::new(), Vec::new());
    let loaded = scripts.with_vm(move |vm| vm.load_library(&code, replace)).await;
    running.end();
    let name = loaded??;
    recount(scripts).await?;
    let token = store::save_library(&conn.server, &name, &stored).await?;
    conn.unsynced = conn.unsynced.and(token);
    Ok(name)
}

/// Keeps the library and function counts FUNCTION STATS shows (it answers
/// while a script holds the Lua state).
pub(crate) async fn recount(scripts: &Scripts) -> Result<(), Value> {
    let counts = scripts
        .with_vm(|vm| (vm.libraries.len(), vm.libraries.values().map(|l| l.functions.len()).sum::<usize>()))
        .await?;
    *crate::resp::server::lock(&scripts.counts) = counts;
    Ok(())
}

async fn flush<G: ActorGateway>(conn: &mut Conn<G>, scripts: &Scripts) -> Result<(), Value> {
    scripts.with_vm(|vm| vm.libraries.clear()).await?;
    recount(scripts).await?;
    let token = store::forget_libraries(&conn.server).await?;
    conn.unsynced = conn.unsynced.and(token);
    Ok(())
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]: every library of a
/// FUNCTION DUMP payload; APPEND (the default) fails on a library that
/// exists, REPLACE replaces it, FLUSH deletes every library first.
async fn restore<G: ActorGateway>(
    conn: &mut Conn<G>,
    scripts: &Scripts,
    args: &[Bytes],
) -> Result<Value, Value> {
    let (payload, policy) = match args {
        [payload] => (payload, b"append".to_vec()),
        [payload, policy] => (payload, policy.to_ascii_lowercase()),
        _ => return Err(crate::resp::cmd::subcommand_error("function", b"restore", SUBCOMMANDS)),
    };
    let codes = rdb::functions_from_payload(payload)
        .map_err(|_| Value::err("ERR payload version or checksum are wrong"))?;
    let replace = match policy.as_slice() {
        b"append" => false,
        b"replace" => true,
        b"flush" => {
            flush(conn, scripts).await?;
            false
        }
        _ => {
            return Err(Value::err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ));
        }
    };
    // All or nothing: every library is checked on the current set first.
    if !replace {
        let check = codes.clone();
        let clash = scripts
            .with_vm(move |vm| {
                check.iter().find_map(|code| {
                    let name = code.split_whitespace().find_map(|w| w.strip_prefix("name="))?.to_string();
                    vm.libraries.contains_key(&name).then_some(name)
                })
            })
            .await?;
        if let Some(name) = clash {
            return Err(Value::err(format!("ERR Library {name} already exists")));
        }
    }
    for code in codes {
        load(conn, scripts, code, replace).await?;
    }
    Ok(Value::ok())
}

async fn list(scripts: &Scripts, args: &[Bytes]) -> Result<Value, Value> {
    let mut pattern: Option<Bytes> = None;
    let mut with_code = false;
    let mut i = 0;
    while i < args.len() {
        if args[i].eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if args[i].eq_ignore_ascii_case(b"libraryname") && i + 1 < args.len() && pattern.is_none() {
            pattern = Some(args[i + 1].clone());
            i += 1;
        } else {
            return Err(Value::err(format!("ERR Unknown argument {}", String::from_utf8_lossy(&args[i]))));
        }
        i += 1;
    }
    scripts
        .with_vm(move |vm| {
            let libraries = vm
                .libraries
                .iter()
                .filter(|(name, _)| pattern.as_ref().is_none_or(|p| glob::matches(p, name.as_bytes())));
            let listed = libraries.map(|(name, lib)| {
                let functions = lib.functions.iter().map(|(fname, f)| {
                    Value::Map(vec![
                        (Value::bulk("name"), Value::bulk(fname.clone())),
                        (Value::bulk("description"), f.description.clone().map_or(Value::Nil, Value::bulk)),
                        (
                            Value::bulk("flags"),
                            Value::Set(f.flags.iter().map(|x| Value::bulk(x.clone())).collect()),
                        ),
                    ])
                });
                let mut fields = vec![
                    (Value::bulk("library_name"), Value::bulk(name.clone())),
                    (Value::bulk("engine"), Value::bulk("LUA")),
                    (Value::bulk("functions"), Value::Array(functions.collect())),
                ];
                if with_code {
                    fields.push((Value::bulk("library_code"), Value::bulk(lib.code.clone())));
                }
                Value::Map(fields)
            });
            Value::Array(listed.collect())
        })
        .await
}

async fn stats(scripts: &Scripts) -> Value {
    let running = match scripts.running.current() {
        Some(run) if run.kind != Kind::Load => Value::Map(vec![
            (Value::bulk("name"), Value::bulk(run.name.clone())),
            (
                Value::bulk("command"),
                Value::Array(run.command.iter().map(|c| Value::bulk(c.clone())).collect()),
            ),
            (Value::bulk("duration_ms"), Value::Int(run.started.elapsed().as_millis() as i64)),
        ]),
        _ => Value::Nil,
    };
    let (libraries, functions) = *crate::resp::server::lock(&scripts.counts);
    Value::Map(vec![
        (Value::bulk("running_script"), running),
        (
            Value::bulk("engines"),
            Value::Map(vec![(
                Value::bulk("LUA"),
                Value::Map(vec![
                    (Value::bulk("libraries_count"), Value::Int(libraries as i64)),
                    (Value::bulk("functions_count"), Value::Int(functions as i64)),
                ]),
            )]),
        ),
    ])
}

fn help() -> Value {
    let lines = [
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "DELETE <LIBRARY NAME>",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "FLUSH [ASYNC|SYNC]",
        "DUMP",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "KILL",
        "STATS",
        "HELP",
    ];
    Value::Array(lines.iter().map(|l| Value::Simple((*l).into())).collect())
}
