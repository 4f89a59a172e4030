//! Configuration and introspection as Redis answers them: CONFIG over every
//! Redis parameter (names, validation and error texts compared with a real
//! `redis-server`, all-or-nothing CONFIG SET), OBJECT ENCODING across the
//! thresholds (compared with redis-server), MEMORY USAGE (compared for the
//! compact encodings), INFO's sections, DEBUG, and SHUTDOWN of a node.
//!
//! The installed redis-server is 7.0: where 7.2 differs (sets encoded as
//! listpacks, four parameters 7.2 added), Orbit is set to 7.0's behaviour or
//! the difference is checked explicitly.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{
    PATIENCE, Peers as Pair, Raw, call, peers, resp2, resp3, run, show, start_with, try_call,
};
use orbit_server::Config;
use redis::Value;
use redis::aio::MultiplexedConnection;
use std::collections::BTreeMap;

/// The parameters Redis 7.2 added to 7.0's list.
const ADDED_IN_7_2: &[&str] = &[
    "cluster-announce-human-nodename",
    "locale-collate",
    "set-max-listpack-entries",
    "set-max-listpack-value",
];

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("expected text, got {}", show(other)),
    }
}

/// CONFIG GET's pairs, from a RESP2 flat array or a RESP3 map.
async fn config_get(con: &mut MultiplexedConnection, patterns: &[&str]) -> BTreeMap<String, String> {
    let mut words = vec!["CONFIG", "GET"];
    words.extend_from_slice(patterns);
    match call(con, &words).await {
        Value::Array(flat) => flat.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect(),
        Value::Map(pairs) => pairs.iter().map(|(k, v)| (text(k), text(v))).collect(),
        other => panic!("CONFIG GET: {}", show(&other)),
    }
}

/// The `name:value` fields of an INFO reply.
fn fields(info: &str) -> BTreeMap<String, String> {
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

impl Pair {
    /// Sends `words` to both servers; their replies, rendered.
    async fn both(&mut self, words: &[&str]) -> (String, String) {
        (show(&call(&mut self.redis, words).await), show(&call(&mut self.orbit, words).await))
    }

    /// Sends `words` to both servers and asserts the same reply.
    async fn same(&mut self, words: &[&str]) -> String {
        let (redis, orbit) = self.both(words).await;
        assert_eq!(orbit, redis, "{words:?}");
        orbit
    }
}

#[tokio::test]
async fn config_get_lists_every_redis_parameter() {
    let Some(mut p) = peers(false).await else { return };
    let redis = config_get(&mut p.redis, &["*"]).await;
    let orbit = config_get(&mut p.orbit, &["*"]).await;
    let missing: Vec<&String> = redis.keys().filter(|name| !orbit.contains_key(*name)).collect();
    assert!(missing.is_empty(), "Orbit lacks {missing:?}");
    let extra: Vec<&String> = orbit.keys().filter(|name| !redis.contains_key(*name)).collect();
    assert_eq!(extra, ADDED_IN_7_2.to_vec(), "only 7.2's additions are beyond 7.0's list");
    // docs/redis-config.md has a row per parameter (aliases in their
    // parameter's row).
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/redis-config.md")).unwrap();
    let mut documented: Vec<String> = Vec::new();
    for row in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        for cell in &cells[..2] {
            let name = cell.trim_start_matches("| ").trim_matches('`');
            if !name.is_empty() {
                documented.push(name.to_string());
            }
        }
    }
    documented.sort();
    assert_eq!(documented, orbit.keys().cloned().collect::<Vec<_>>(), "docs/redis-config.md");
    p.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn config_set_of_every_parameter_to_its_value_answers_as_redis() {
    let Some(mut p) = peers(false).await else { return };
    let redis = config_get(&mut p.redis, &["*"]).await;
    let orbit = config_get(&mut p.orbit, &["*"]).await;
    let mut refused = 0;
    for (name, value) in &orbit {
        let reply = show(&call(&mut p.orbit, &["CONFIG", "SET", name, value]).await);
        if reply == "+OK" {
            continue;
        }
        refused += 1;
        // An immutable or protected parameter: Redis refuses it the same
        // way whatever the value.
        let redis_value = redis.get(name).unwrap_or_else(|| panic!("Orbit refuses {name}: {reply}"));
        let expected = show(&call(&mut p.redis, &["CONFIG", "SET", name, redis_value]).await);
        assert_eq!(reply, expected, "CONFIG SET {name} {value:?}");
    }
    assert!(refused > 20, "the immutable parameters are refused ({refused})");
    assert_eq!(config_get(&mut p.orbit, &["*"]).await, orbit, "setting every value again changes nothing");
    p.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_values_are_refused_with_redis_errors() {
    let Some(mut p) = peers(false).await else { return };
    let cases: &[&[&str]] = &[
        &["daemonize", "yes"],
        &["DAEMONIZE", "yes"],
        &["no-such-parameter", "1"],
        &["dir", "/tmp"],
        &["dbfilename", "x.rdb"],
        &["activerehashing", "maybe"],
        &["hz", "abc"],
        &["hz", "+1"],
        &["hz", "01"],
        &["hz", " 1"],
        &["port", "70000"],
        &["maxmemory", "1xb"],
        &["maxmemory", "-1"],
        &["maxmemory", "1.5gb"],
        &["maxmemory", "+1"],
        &["maxmemory-clients", "200%"],
        &["maxmemory-clients", "abc"],
        &["maxmemory-policy", "bad"],
        &["appendfsync", "nope"],
        &["save", "abc"],
        &["save", "3600 1 300"],
        &["save", "0 0"],
        &["client-output-buffer-limit", "foo 1 2 3"],
        &["client-output-buffer-limit", "pubsub 1 2"],
        &["client-output-buffer-limit", "pubsub 1x 2 3"],
        &["client-output-buffer-limit", "pubsub -1 2 3"],
        &["oom-score-adj-values", "1 2"],
        &["oom-score-adj-values", "0 100 3000"],
        &["latency-tracking-info-percentiles", "101"],
        &["latency-tracking-info-percentiles", "a"],
        &["repl-timeout", "0"],
        &["maxclients", "0"],
        &["lua-time-limit", "-1"],
        &["proto-max-bulk-len", "10"],
        &["client-query-buffer-limit", "1000"],
        &["slowlog-log-slower-than", "-5"],
        &["timeout", "1.5"],
        &["shutdown-on-sigterm", "bad"],
        &["shutdown-on-sigint", "save nosave"],
        &["tracking-table-max-keys", "-1"],
        &["cluster-announce-hostname", "a b"],
        &["proc-title-template", "{foo}"],
        &["notify-keyspace-events", "Z"],
        &["repl-diskless-load", "bad"],
        &["sanitize-dump-payload", "bad"],
        &["oom-score-adj", "bad"],
        &["acl-pubsub-default", "x"],
        &["tls-auth-clients", "x"],
        &["maxmemory-eviction-tenacity", "101"],
        &["supervised", "no"],
        &["enable-debug-command", "yes"],
        &["hz", "1", "hz", "2"],
        &["Hz", "5", "hz", "6"],
        &["hz", "7", "maxmemory", "1xb"],
        &["hz", "7", "daemonize", "no"],
    ];
    for case in cases {
        let mut words = vec!["CONFIG", "SET"];
        words.extend_from_slice(case);
        let reply = p.same(&words).await;
        assert!(reply.starts_with("-ERR"), "{words:?}: {reply}");
    }
    // Nothing of a refused CONFIG SET was applied.
    assert_eq!(config_get(&mut p.orbit, &["hz"]).await["hz"], "10");
    assert_eq!(config_get(&mut p.orbit, &["maxmemory"]).await["maxmemory"], "0");
    for words in [&["CONFIG", "SET", "hz"][..], &["CONFIG", "SET"], &["CONFIG", "GET"], &["CONFIG", "NOPE"]] {
        p.same(words).await;
    }
    p.same(&["CONFIG", "HELP"]).await;
    p.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn values_are_reported_as_redis_normalises_them() {
    let Some(mut p) = peers(true).await else { return };
    let cases: &[(&str, &str)] = &[
        ("maxmemory", "100MB"),
        ("maxmemory", "1k"),
        ("maxmemory", "01"),
        ("hz", "600"),
        ("hz", "0"),
        ("client-output-buffer-limit", "replica 1mb 2 3"),
        ("client-output-buffer-limit", "normal 1 2 3 normal 4 5 6"),
        ("notify-keyspace-events", "KEA"),
        ("notify-keyspace-events", "Kx"),
        ("save", "3600 1 300 100"),
        ("maxmemory-clients", "5%"),
        ("maxmemory-clients", "1kb"),
        ("latency-tracking-info-percentiles", "50 99.5"),
        ("appendfsync", "Always"),
        ("activerehashing", "NO"),
        ("oom-score-adj-values", "0 100 1000"),
        ("hash-max-ziplist-entries", "7"),
        ("lua-time-limit", "250"),
    ];
    for &(name, value) in cases {
        assert_eq!(p.same(&["CONFIG", "SET", name, value]).await, "+OK", "{name} {value}");
        assert_eq!(
            config_get(&mut p.orbit, &[name]).await,
            config_get(&mut p.redis, &[name]).await,
            "{name}"
        );
    }
    // An alias and its parameter are one value.
    let shared = config_get(&mut p.orbit, &["hash-max-*-entries", "busy-reply-threshold"]).await;
    assert_eq!(shared["hash-max-listpack-entries"], "7");
    assert_eq!(shared["hash-max-ziplist-entries"], "7");
    assert_eq!(shared["busy-reply-threshold"], "250");
    // Exact names come back as spelled, patterns by name, each once.
    assert_eq!(
        config_get(&mut p.orbit, &["MAXMEMORY", "maxmemory-p*", "maxmemory"]).await,
        config_get(&mut p.redis, &["MAXMEMORY", "maxmemory-p*", "maxmemory"]).await
    );
    p.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn applied_parameters_change_what_orbit_does() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut c = resp3(addr).await;
    assert_eq!(run(&mut c, "CONFIG SET maxmemory 1mb maxmemory-policy allkeys-lru").await, "+OK");
    let memory = fields(&text(&call(&mut c, &["INFO", "memory"]).await));
    assert_eq!(memory["maxmemory"], "1048576");
    assert_eq!(memory["maxmemory_human"], "1.00M");
    assert_eq!(memory["maxmemory_policy"], "allkeys-lru");
    assert_eq!(run(&mut c, "CONFIG SET slowlog-max-len 3").await, "+OK");
    assert_eq!(run(&mut c, "SLOWLOG RESET").await, "+OK");
    assert_eq!(run(&mut c, "CONFIG SET slowlog-log-slower-than 0").await, "+OK");
    for _ in 0..5 {
        run(&mut c, "PING").await;
    }
    assert_eq!(run(&mut c, "SLOWLOG LEN").await, "3");
    assert_eq!(run(&mut c, "CONFIG SET requirepass s3cret").await, "+OK");
    let mut other = Raw::connect(addr).await;
    other.send(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").await;
    other.expect(b"-NOAUTH Authentication required.\r\n").await;
    assert_eq!(
        run(&mut c, "CONFIG SET requirepass").await,
        "-ERR wrong number of arguments for 'config|set' command"
    );
    assert_eq!(show(&call(&mut c, &["CONFIG", "SET", "requirepass", ""]).await), "+OK");
    let mut other = Raw::connect(addr).await;
    other.send(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").await;
    other.expect(b"$-1\r\n").await;
    assert!(run(&mut c, "CONFIG REWRITE").await.starts_with("-ERR CONFIG REWRITE is not supported"));
    let port = addr.port().to_string();
    assert_eq!(show(&call(&mut c, &["CONFIG", "SET", "port", &port]).await), "+OK");
    let moved = show(&call(&mut c, &["CONFIG", "SET", "port", "1"]).await);
    assert!(moved.contains("possibly related to argument 'port'") && moved.contains("Orbit"), "{moved}");
    node.shutdown().await.unwrap();
}

/// OBJECT ENCODING of `key` on both servers, which must agree.
async fn encoding(p: &mut Pair, key: &str) -> String {
    p.same(&["OBJECT", "ENCODING", key]).await
}

#[tokio::test]
async fn object_encoding_follows_the_thresholds_as_redis() {
    let Some(mut p) = peers(false).await else { return };
    let limits = [
        "hash-max-listpack-entries",
        "4",
        "hash-max-listpack-value",
        "8",
        "zset-max-listpack-entries",
        "4",
        "zset-max-listpack-value",
        "8",
        "set-max-intset-entries",
        "4",
    ];
    let mut set = vec!["CONFIG", "SET"];
    set.extend_from_slice(&limits);
    p.same(&set).await;
    // Redis 7.0 has no listpack sets: Orbit is set to skip them.
    assert_eq!(run(&mut p.orbit, "CONFIG SET set-max-listpack-entries 0").await, "+OK");

    for value in ["123", "-5", "abc", "007", "12345678901234567890", &"x".repeat(44), &"x".repeat(45)] {
        p.same(&["SET", "s", value]).await;
        encoding(&mut p, "s").await;
    }
    for i in 0..6 {
        let field = format!("f{i}");
        p.same(&["HSET", "h", &field, "v"]).await;
        let expected = if i < 4 { "\"listpack\"" } else { "\"hashtable\"" };
        assert_eq!(encoding(&mut p, "h").await, expected, "{i} fields");
    }
    p.same(&["HSET", "h2", "f", "123456789"]).await;
    assert_eq!(encoding(&mut p, "h2").await, "\"hashtable\"", "a value over 8 bytes");
    for i in 0..6 {
        p.same(&["ZADD", "z", &i.to_string(), &format!("m{i}")]).await;
        encoding(&mut p, "z").await;
    }
    p.same(&["ZADD", "z2", "1", "long-member"]).await;
    assert_eq!(encoding(&mut p, "z2").await, "\"skiplist\"");
    for i in 0..6 {
        p.same(&["SADD", "si", &i.to_string()]).await;
        encoding(&mut p, "si").await;
    }
    p.same(&["SADD", "sa", "1", "a"]).await;
    assert_eq!(encoding(&mut p, "sa").await, "\"hashtable\"");
    p.same(&["OBJECT", "ENCODING", "missing"]).await;
    p.same(&["OBJECT", "FREQ", "s"]).await;
    p.same(&["OBJECT", "REFCOUNT", "s"]).await;
    p.same(&["OBJECT", "NOPE", "s"]).await;
    p.same(&["OBJECT", "ENCODING"]).await;
    p.same(&["OBJECT", "HELP"]).await;
    p.same(&["SET", "n", "42"]).await;
    p.same(&["OBJECT", "REFCOUNT", "n"]).await;

    // Redis 7.2's listpack sets, and lists by list-max-listpack-size
    // (7.0 always says quicklist): Orbit alone.
    let o = &mut p.orbit;
    assert_eq!(run(o, "CONFIG SET set-max-listpack-entries 3 list-max-listpack-size 2").await, "+OK");
    assert_eq!(run(o, "SADD sl a b").await, "2");
    assert_eq!(run(o, "OBJECT ENCODING sl").await, "\"listpack\"");
    assert_eq!(run(o, "SADD sl c d").await, "2");
    assert_eq!(run(o, "OBJECT ENCODING sl").await, "\"hashtable\"");
    assert_eq!(run(o, "RPUSH l a b").await, "2");
    assert_eq!(run(o, "OBJECT ENCODING l").await, "\"listpack\"");
    assert_eq!(run(o, "RPUSH l c").await, "3");
    assert_eq!(run(o, "OBJECT ENCODING l").await, "\"quicklist\"");
    assert_eq!(run(o, "CONFIG SET list-max-listpack-size -2").await, "+OK");
    assert_eq!(run(o, "OBJECT ENCODING l").await, "\"listpack\"", "8 kB fit three short elements");
    let idle = run(o, "OBJECT IDLETIME l").await;
    assert!(idle == "0" || idle == "1", "{idle}");
    p.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn memory_usage_matches_redis_for_compact_values() {
    let Some(mut p) = peers(false).await else { return };
    let long_key = "k".repeat(40);
    let long_value = "a".repeat(83);
    let writes: Vec<Vec<&str>> = vec![
        vec!["SET", "foo", "bar"],
        vec!["SET", "n", "12345"],
        vec!["SET", "s", long_value.as_str()],
        vec!["SET", long_key.as_str(), "bar"],
        vec!["HSET", "h", "f", "v"],
        vec!["SADD", "si", "1", "2", "3"],
        vec!["ZADD", "z", "1", "a"],
    ];
    for write in &writes {
        p.same(write).await;
        let usage = p.same(&["MEMORY", "USAGE", write[1]]).await;
        assert!(usage.parse::<u64>().unwrap() > 0, "{usage}");
    }
    for words in [
        &["MEMORY", "USAGE", "missing"][..],
        &["MEMORY", "USAGE", "foo", "SAMPLES", "0"],
        &["MEMORY", "USAGE", "foo", "SAMPLES", "-1"],
        &["MEMORY", "USAGE", "foo", "SAMPLES", "x"],
        &["MEMORY", "USAGE", "foo", "bad"],
        &["MEMORY", "USAGE"],
        &["MEMORY", "NOPE"],
        &["MEMORY", "HELP"],
    ] {
        p.same(words).await;
    }
    // Sampled estimates grow with the value.
    let o = &mut p.orbit;
    for i in 0..1000 {
        call(o, &["SADD", "big", &format!("member-{i}")]).await;
    }
    let big: u64 = run(o, "MEMORY USAGE big SAMPLES 0").await.parse().unwrap();
    assert!(big > 1000 * 40, "{big}");
    let stats = call(o, &["MEMORY", "STATS"]).await;
    let Value::Array(flat) = &stats else { panic!("MEMORY STATS: {}", show(&stats)) };
    let stats: BTreeMap<String, String> = flat.chunks(2).map(|p| (text(&p[0]), show(&p[1]))).collect();
    assert_eq!(stats["keys.count"], (writes.len() + 1).to_string());
    assert!(stats["total.allocated"].parse::<u64>().unwrap() > 1 << 20);
    assert_eq!(run(o, "MEMORY PURGE").await, "+OK");
    assert!(run(o, "MEMORY DOCTOR").await.contains("resident"));
    p.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn info_answers_several_sections_with_the_fields_clients_parse() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut c = resp2(addr).await;
    call(&mut c, &["SET", "k", "v"]).await;
    call(&mut c, &["GET", "k"]).await;
    let two = text(&call(&mut c, &["INFO", "server", "CLIENTS"]).await);
    assert!(two.starts_with("# Server\r\n") && two.contains("# Clients\r\n"), "{two}");
    assert!(!two.contains("# Memory") && !two.contains("# Keyspace"), "{two}");
    let f = fields(&two);
    assert!(f["redis_version"].starts_with("7.2."));
    assert_eq!(f["tcp_port"], addr.port().to_string());
    assert!(f["uptime_in_seconds"].parse::<u64>().is_ok() && f["uptime_in_days"] == "0");
    assert_eq!(f["connected_clients"], "1");
    assert_eq!(f["blocked_clients"], "0");
    let default = text(&call(&mut c, &["INFO"]).await);
    assert_eq!(
        default.matches("# ").count(),
        text(&call(&mut c, &["INFO", "default"]).await).matches("# ").count()
    );
    assert!(!default.contains("# Commandstats") && !default.contains("# Latencystats"));
    let all = text(&call(&mut c, &["INFO", "all"]).await);
    let f = fields(&all);
    for field in ["used_memory", "used_memory_rss", "used_memory_peak", "maxmemory"] {
        assert!(f[field].parse::<u64>().is_ok(), "{field}: {}", f[field]);
    }
    assert!(f.contains_key("used_memory_human"));
    assert_eq!(f["role"], "master");
    assert_eq!(f["db0"], "keys=1,expires=0,avg_ttl=0");
    assert!(f["cmdstat_get"].starts_with("calls=1,"), "{}", f["cmdstat_get"]);
    let get = &f["latency_percentiles_usec_get"];
    assert!(get.starts_with("p50=") && get.contains(",p99=") && get.contains(",p99.9="), "{get}");
    let every = text(&call(&mut c, &["INFO", "everything"]).await);
    assert!(every.contains("# Latencystats") && every.contains("# Commandstats"));
    call(&mut c, &["CONFIG", "SET", "latency-tracking-info-percentiles", "50 90"]).await;
    let latency = fields(&text(&call(&mut c, &["INFO", "latencystats"]).await));
    assert!(latency["latency_percentiles_usec_get"].contains(",p90="), "{latency:?}");
    call(&mut c, &["CONFIG", "SET", "latency-tracking", "no"]).await;
    assert_eq!(text(&call(&mut c, &["INFO", "latencystats"]).await), "# Latencystats\r\n");
    assert_eq!(text(&call(&mut c, &["INFO", "nope"]).await), "");
    let mut c3 = resp3(addr).await;
    let reply = call(&mut c3, &["INFO", "keyspace", "replication"]).await;
    let Value::VerbatimString { text: body, .. } = &reply else { panic!("{}", show(&reply)) };
    assert!(
        body.starts_with("# Replication\r\nrole:master\r\n") && body.contains("# Keyspace\r\ndb0:"),
        "{body}"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn debug_is_refused_unless_enabled_as_in_redis() {
    let Some(mut p) = peers(false).await else { return };
    let refused = p.same(&["DEBUG", "SLEEP", "0"]).await;
    assert!(refused.starts_with("-ERR DEBUG command not allowed."), "{refused}");
    p.same(&["DEBUG"]).await;
    p.same(&["CONFIG", "GET", "enable-debug-command"]).await;
    p.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn debug_sleeps_and_describes_objects_for_local_clients() {
    let mut config = Config::ephemeral();
    config.resp.enable_debug_command = orbit_protocols::resp::DebugCommand::Local;
    let (node, addr) = start_with(config).await;
    for mut c in [resp2(addr).await, resp3(addr).await] {
        assert!(run(&mut c, "CONFIG GET enable-debug-command").await.contains("local"));
        let started = std::time::Instant::now();
        assert_eq!(run(&mut c, "DEBUG SLEEP 0.2").await, "+OK");
        assert!(started.elapsed() >= std::time::Duration::from_millis(200));
        assert_eq!(run(&mut c, "DEBUG SLEEP 0").await, "+OK");
        call(&mut c, &["SET", "k", "bar"]).await;
        let line = run(&mut c, "DEBUG OBJECT k").await;
        assert!(
            line.starts_with("+Value at:0x0 refcount:1 encoding:embstr serializedlength:4 lru:"),
            "{line}"
        );
        assert!(line.ends_with("lru_seconds_idle:0"), "{line}");
        assert_eq!(run(&mut c, "DEBUG OBJECT missing").await, "-ERR no such key");
        assert_eq!(run(&mut c, "DEBUG JMAP").await, "-ERR DEBUG JMAP is not supported by Orbit");
        assert_eq!(
            run(&mut c, "DEBUG NOPE").await,
            "-ERR unknown subcommand or wrong number of arguments for 'NOPE'. Try DEBUG HELP."
        );
        assert!(run(&mut c, "CONFIG SET enable-debug-command yes").await.contains("immutable"));
    }
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_runs_the_nodes_ordered_shutdown() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SHUTDOWN ABORT").await, "-ERR No shutdown in progress.");
    assert_eq!(run(&mut c, "SHUTDOWN SAVE NOSAVE").await, "-ERR syntax error");
    assert_eq!(run(&mut c, "SHUTDOWN NOW ABORT").await, "-ERR syntax error");
    assert_eq!(run(&mut c, "SHUTDOWN LATER").await, "-ERR syntax error");
    call(&mut c, &["SET", "k", "v"]).await;
    let requested = node.stop_requested();
    assert!(!requested.is_cancelled());
    assert!(
        try_call(&mut c, &["SHUTDOWN", "NOSAVE", "NOW"]).await.is_err(),
        "no reply: the connection closes"
    );
    tokio::time::timeout(PATIENCE, requested.cancelled()).await.expect("the node is asked to stop");
    node.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn shutdown_and_debug_need_admin_rights() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "ACL SETUSER app on nopass +@all -@admin ~*").await, "+OK");
    assert_eq!(run(&mut c, "AUTH app x").await, "+OK");
    for line in ["SHUTDOWN", "DEBUG SLEEP 0", "CONFIG SET hz 5"] {
        assert!(run(&mut c, line).await.starts_with("-NOPERM"), "{line}");
    }
    assert_eq!(run(&mut c, "OBJECT ENCODING nothing").await, "nil");
    assert!(!node.stop_requested().is_cancelled());
    node.shutdown().await.unwrap();
}
