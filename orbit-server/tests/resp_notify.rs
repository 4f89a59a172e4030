//! Keyspace notifications, MONITOR and client-side caching (CLIENT
//! TRACKING), over real sockets: the `redis` crate (a RESP2 subscriber and
//! RESP3 pushes), exact bytes on a plain TCP connection, the `redis-cli`
//! binary, and the same scenarios against a real `redis-server` where it
//! is installed (skipped with a message otherwise, unless CI is set).

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{PATIENCE, call, resp2, start_redis, start_with};
use futures::StreamExt;
use orbit_server::{Config, Node};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushKind, Value};
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const PATTERN: &str = "__key*__:*";
/// Published after a scenario, so a reader knows it has seen every event.
const END: [&str; 3] = ["PUBLISH", "__keyspace@0__:end", "end"];

async fn orbit() -> (Node, SocketAddr) {
    start_with(Config::ephemeral()).await
}

async fn enable(addr: SocketAddr, flags: &str) {
    let mut con = resp2(addr).await;
    let reply = call(&mut con, &["CONFIG", "SET", "notify-keyspace-events", flags]).await;
    assert_eq!(reply, Value::Okay, "CONFIG SET notify-keyspace-events {flags}");
}

/// A RESP2 subscriber to every keyspace event (the `redis` crate's PubSub).
async fn subscriber(addr: SocketAddr) -> redis::aio::PubSub {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.psubscribe(PATTERN).await.unwrap();
    pubsub
}

/// The (channel, message) pairs a subscriber receives up to [`END`].
async fn events_until_end(pubsub: &mut redis::aio::PubSub) -> Vec<(String, String)> {
    let mut stream = pubsub.on_message();
    let mut seen = Vec::new();
    loop {
        let message = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no END; events so far: {seen:?}"))
            .expect("the subscription stays open");
        let channel = message.get_channel_name().to_string();
        let payload: String = message.get_payload().unwrap();
        if channel == END[1] {
            return seen;
        }
        seen.push((channel, payload));
    }
}

async fn run_all(con: &mut MultiplexedConnection, commands: &[&[&str]]) {
    for words in commands {
        if let Value::ServerError(e) = call(con, words).await {
            panic!("{words:?}: {e:?}");
        }
    }
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(c, m)| (c.to_string(), m.to_string())).collect()
}

#[tokio::test]
async fn a_write_reaches_a_resp2_subscriber_and_a_resp3_push() {
    let (_node, addr) = orbit().await;
    enable(addr, "KEA").await;
    let mut pubsub = subscriber(addr).await;
    let (tx, mut pushes) = tokio::sync::mpsc::unbounded_channel::<redis::PushInfo>();
    let client = redis::Client::open(format!("redis://{addr}/?protocol=resp3")).unwrap();
    let config = AsyncConnectionConfig::new().set_push_sender(tx).set_response_timeout(Some(PATIENCE));
    let mut listener = client.get_multiplexed_async_connection_with_config(&config).await.unwrap();
    listener.psubscribe(PATTERN).await.unwrap();

    let mut con = resp2(addr).await;
    run_all(&mut con, &[&["SET", "k", "v"], &["SADD", "s", "m"], &END]).await;

    let expected = [
        ("__keyspace@0__:k", "set"),
        ("__keyevent@0__:set", "k"),
        ("__keyspace@0__:s", "sadd"),
        ("__keyevent@0__:sadd", "s"),
    ];
    assert_eq!(events_until_end(&mut pubsub).await, pairs(&expected));
    let mut pushed = Vec::new();
    while pushed.len() < expected.len() {
        let push = tokio::time::timeout(PATIENCE, pushes.recv()).await.unwrap().unwrap();
        if push.kind != PushKind::PMessage {
            continue;
        }
        let text = |v: &Value| match v {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text(&push.data[0]), PATTERN);
        pushed.push((text(&push.data[1]), text(&push.data[2])));
    }
    assert_eq!(pushed, pairs(&expected));
}

#[tokio::test]
async fn nothing_is_published_when_off_or_when_nothing_changed() {
    let (_node, addr) = orbit().await;
    let mut pubsub = subscriber(addr).await;
    let mut con = resp2(addr).await;
    run_all(&mut con, &[&["SET", "k", "v"]]).await;
    enable(addr, "Kg").await;
    // Only the generic class: SET is a string event, a DEL of a missing
    // key and SADD of a present member change nothing.
    run_all(&mut con, &[&["SET", "k", "w"], &["DEL", "missing"], &["SADD", "s", "m"], &["SADD", "s", "m"]])
        .await;
    run_all(&mut con, &[&["DEL", "k"], &END]).await;
    assert_eq!(events_until_end(&mut pubsub).await, pairs(&[("__keyspace@0__:k", "del")]));
}

#[tokio::test]
async fn new_and_keymiss_are_raised_when_asked_for() {
    let (_node, addr) = orbit().await;
    enable(addr, "KEnm").await;
    let mut pubsub = subscriber(addr).await;
    let mut con = resp2(addr).await;
    run_all(&mut con, &[&["GET", "nothing"], &["RPUSH", "l", "a"], &["RPUSH", "l", "b"], &END]).await;
    let expected = [
        ("__keyspace@0__:nothing", "keymiss"),
        ("__keyevent@0__:keymiss", "nothing"),
        ("__keyspace@0__:l", "new"),
        ("__keyevent@0__:new", "l"),
    ];
    assert_eq!(events_until_end(&mut pubsub).await, pairs(&expected));
}

#[tokio::test]
async fn notify_flags_are_validated_and_printed_as_redis() {
    let (_node, addr) = orbit().await;
    let mut con = resp2(addr).await;
    let bad = call(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KEy"]).await;
    assert!(matches!(bad, Value::ServerError(_)), "{bad:?}");
    enable(addr, "Elg$").await;
    let got = call(&mut con, &["CONFIG", "GET", "notify-keyspace-events"]).await;
    assert_eq!(common::resp::show(&got), r#"["notify-keyspace-events", "g$lE"]"#);
    enable(addr, "EKA").await;
    let got = call(&mut con, &["CONFIG", "GET", "notify-keyspace-events"]).await;
    assert_eq!(common::resp::show(&got), r#"["notify-keyspace-events", "AKE"]"#);
}

/// Commands of every family, each changing its keys, run alike on both
/// servers (replies are not compared here: resp_diff does).
const CORPUS: &[&[&str]] = &[
    &["SET", "s", "v"],
    &["SET", "s", "v2", "EX", "100"],
    &["APPEND", "s", "x"],
    &["SETRANGE", "s", "0", "ab"],
    &["INCR", "n"],
    &["INCRBY", "n", "5"],
    &["INCRBYFLOAT", "f", "1.5"],
    &["GETDEL", "s"],
    &["EXPIRE", "n", "100"],
    &["PERSIST", "n"],
    &["EXPIRE", "n", "0"],
    &["MSET", "a", "1", "b", "2"],
    &["DEL", "a", "b", "missing"],
    &["SET", "r", "1"],
    &["RENAME", "r", "r2"],
    &["COPY", "r2", "r3"],
    &["LPUSH", "l", "a", "b", "c"],
    &["RPUSH", "l", "d"],
    &["LPOP", "l"],
    &["RPOP", "l"],
    &["LSET", "l", "0", "z"],
    &["LINSERT", "l", "BEFORE", "z", "y"],
    &["LREM", "l", "1", "y"],
    &["LTRIM", "l", "0", "0"],
    &["RPOP", "l"],
    &["LPUSH", "src", "x"],
    &["LMOVE", "src", "dst", "LEFT", "RIGHT"],
    &["HSET", "h", "f", "1"],
    &["HINCRBY", "h", "f", "2"],
    &["HINCRBYFLOAT", "h", "f", "0.5"],
    &["HDEL", "h", "f"],
    &["SADD", "s1", "a", "b"],
    &["SADD", "s2", "b", "c"],
    &["SREM", "s1", "a"],
    &["SINTERSTORE", "s3", "s1", "s2"],
    &["SUNIONSTORE", "s4", "s1", "s2"],
    &["SDIFFSTORE", "s5", "s1", "s2"],
    &["SADD", "one", "m"],
    &["SMOVE", "one", "s2", "m"],
    &["ZADD", "z", "1", "a", "2", "b"],
    &["ZINCRBY", "z", "1", "a"],
    &["ZREM", "z", "a"],
    &["ZADD", "z", "3", "c"],
    &["ZREMRANGEBYSCORE", "z", "0", "2"],
    &["ZPOPMIN", "z"],
    &["ZADD", "z1", "1", "a"],
    &["ZUNIONSTORE", "z2", "1", "z1"],
    &["ZINTERSTORE", "s3", "2", "z1", "z2"],
];

/// What Redis 7 publishes for [`CORPUS`] with `KEA`, keyspace then keyevent
/// for each event.
const CORPUS_EVENTS: &[(&str, &str)] = &[
    ("s", "set"),
    ("s", "set"),
    ("s", "expire"),
    ("s", "append"),
    ("s", "setrange"),
    ("n", "incrby"),
    ("n", "incrby"),
    ("f", "incrbyfloat"),
    ("s", "del"),
    ("n", "expire"),
    ("n", "persist"),
    ("n", "del"),
    ("a", "set"),
    ("b", "set"),
    ("a", "del"),
    ("b", "del"),
    ("r", "set"),
    ("r", "rename_from"),
    ("r2", "rename_to"),
    ("r3", "copy_to"),
    ("l", "lpush"),
    ("l", "rpush"),
    ("l", "lpop"),
    ("l", "rpop"),
    ("l", "lset"),
    ("l", "linsert"),
    ("l", "lrem"),
    ("l", "ltrim"),
    ("l", "rpop"),
    ("l", "del"),
    ("src", "lpush"),
    ("dst", "rpush"),
    ("src", "lpop"),
    ("src", "del"),
    ("h", "hset"),
    ("h", "hincrby"),
    ("h", "hincrbyfloat"),
    ("h", "hdel"),
    ("h", "del"),
    ("s1", "sadd"),
    ("s2", "sadd"),
    ("s1", "srem"),
    ("s3", "sinterstore"),
    ("s4", "sunionstore"),
    ("one", "sadd"),
    ("one", "srem"),
    ("one", "del"),
    ("s2", "sadd"),
    ("z", "zadd"),
    ("z", "zincr"),
    ("z", "zrem"),
    ("z", "zadd"),
    ("z", "zremrangebyscore"),
    ("z", "zpopmin"),
    ("z", "del"),
    ("z1", "zadd"),
    ("z2", "zunionstore"),
    ("s3", "zinterstore"),
];

/// Runs [`CORPUS`], then lets a key expire by the active sweep; the events
/// a subscriber saw, in order.
async fn corpus_events(addr: SocketAddr) -> Vec<(String, String)> {
    enable(addr, "KEA").await;
    let mut pubsub = subscriber(addr).await;
    let mut con = resp2(addr).await;
    run_all(&mut con, CORPUS).await;
    run_all(&mut con, &[&["SET", "e", "v", "PX", "30"]]).await;
    let mut events = Vec::new();
    {
        let mut stream = pubsub.on_message();
        while !events.iter().any(|(c, _): &(String, String)| c == "__keyevent@0__:expired") {
            let message =
                tokio::time::timeout(PATIENCE, stream.next()).await.expect("the sweep expires e").unwrap();
            events.push((message.get_channel_name().to_string(), message.get_payload::<String>().unwrap()));
        }
    }
    run_all(&mut con, &[&END]).await;
    events.extend(events_until_end(&mut pubsub).await);
    events
}

fn corpus_expected() -> Vec<(String, String)> {
    let mut expected = Vec::new();
    let mut all: Vec<(&str, &str)> = CORPUS_EVENTS.to_vec();
    all.extend([("e", "set"), ("e", "expire"), ("e", "expired")]);
    for (key, event) in all {
        expected.push((format!("__keyspace@0__:{key}"), event.to_string()));
        expected.push((format!("__keyevent@0__:{event}"), key.to_string()));
    }
    expected
}

#[tokio::test]
async fn each_family_raises_redis_events_in_order() {
    let (_node, addr) = orbit().await;
    assert_eq!(corpus_events(addr).await, corpus_expected());
}

#[tokio::test]
async fn keyspace_events_match_redis_server() {
    if !common::require_program("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_redis, redis_addr) = start_redis(dir.path()).await;
    let (_node, addr) = orbit().await;
    let theirs = corpus_events(redis_addr).await;
    assert_eq!(theirs, corpus_expected(), "redis-server itself publishes the expected events");
    assert_eq!(corpus_events(addr).await, theirs);
}

/// A `redis-cli` child and the lines it prints.
struct Cli {
    _child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Cli {
    fn start(addr: SocketAddr, args: &[&str]) -> Cli {
        let mut child = tokio::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-cli starts");
        let stdout = child.stdout.take().expect("piped stdout");
        Cli { _child: child, lines: BufReader::new(stdout).lines() }
    }

    async fn line(&mut self) -> String {
        tokio::time::timeout(PATIENCE, self.lines.next_line())
            .await
            .expect("redis-cli printed a line")
            .unwrap()
            .expect("redis-cli still runs")
    }

    /// The lines printed up to one equal to `last`, included.
    async fn until(&mut self, last: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self.line().await;
            let done = line == last;
            seen.push(line);
            if done {
                return seen;
            }
        }
    }
}

/// What `redis-cli psubscribe` prints for a few events.
async fn cli_psubscribe(addr: SocketAddr) -> Vec<String> {
    enable(addr, "KEA").await;
    let mut cli = Cli::start(addr, &["psubscribe", PATTERN]);
    let mut lines = cli.until("1").await;
    let mut con = resp2(addr).await;
    run_all(&mut con, &[&["SET", "k", "v"], &["LPUSH", "l", "a"], &["LPOP", "l"], &END]).await;
    lines.extend(cli.until("end").await);
    lines
}

#[tokio::test]
async fn redis_cli_psubscribe_prints_the_events_as_for_redis_server() {
    if !common::require_program("redis-cli") {
        return;
    }
    let (_node, addr) = orbit().await;
    let ours = cli_psubscribe(addr).await;
    let mut expected = vec!["psubscribe".to_string(), PATTERN.to_string(), "1".to_string()];
    for (key, event) in [("k", "set"), ("l", "lpush"), ("l", "lpop"), ("l", "del")] {
        for (channel, message) in
            [(format!("__keyspace@0__:{key}"), event), (format!("__keyevent@0__:{event}"), key)]
        {
            expected.extend(["pmessage".to_string(), PATTERN.to_string(), channel, message.to_string()]);
        }
    }
    expected.extend(["pmessage", PATTERN, END[1], "end"].map(String::from));
    assert_eq!(ours, expected);
    if common::require_program("redis-server") {
        let dir = tempfile::tempdir().unwrap();
        let (_redis, redis_addr) = start_redis(dir.path()).await;
        assert_eq!(cli_psubscribe(redis_addr).await, ours);
    }
}

/// What `redis-cli monitor` prints while another client runs commands, the
/// time and client address of each line cut (`[db] "words"`).
async fn cli_monitor(addr: SocketAddr) -> Vec<String> {
    let mut con = resp2(addr).await;
    let mut cli = Cli::start(addr, &["monitor"]);
    cli.until("OK").await;
    let commands: &[&[&str]] = &[
        &["SET", "k", "v"],
        &["get", "k"],
        &["CONFIG", "GET", "port"],
        &["CLIENT", "ID"],
        &["SET", "a b", "x\ny\"z\\"],
        &["SELECT", "2"],
        &["MULTI"],
        &["INCR", "n"],
        &["EXEC"],
        &["SELECT", "0"],
    ];
    for words in commands {
        call(&mut con, words).await;
    }
    let auth = call(&mut con, &["AUTH", "secret"]).await;
    assert!(matches!(auth, Value::ServerError(_)), "no password is set: {auth:?}");
    call(&mut con, &["ECHO", "end"]).await;
    monitor_lines(&mut cli).await
}

/// Reads monitor lines up to `"ECHO" "end"`, each cut to `[db] "words"`.
async fn monitor_lines(cli: &mut Cli) -> Vec<String> {
    let mut cut = Vec::new();
    loop {
        let line = cli.line().await;
        let (time, rest) = line.split_once(" [").unwrap_or_else(|| panic!("not a monitor line: {line}"));
        assert!(
            time.split_once('.').is_some_and(|(s, us)| s.parse::<u64>().is_ok() && us.len() == 6),
            "{line}"
        );
        let (client, words) = rest.split_once("] ").unwrap();
        let (db, peer) = client.split_once(' ').unwrap();
        assert!(peer.starts_with("127.0.0.1:"), "{line}");
        let shown = format!("[{db}] {words}");
        let done = words == r#""ECHO" "end""#;
        cut.push(shown);
        if done {
            return cut;
        }
    }
}

#[tokio::test]
async fn redis_cli_monitor_shows_commands_as_redis_server() {
    if !common::require_program("redis-cli") {
        return;
    }
    let (_node, addr) = orbit().await;
    let ours = cli_monitor(addr).await;
    let expected = [
        r#"[0] "SET" "k" "v""#,
        r#"[0] "get" "k""#,
        r#"[0] "CLIENT" "ID""#,
        r#"[0] "SET" "a b" "x\ny\"z\\""#,
        r#"[2] "SELECT" "2""#,
        r#"[2] "MULTI""#,
        r#"[2] "INCR" "n""#,
        r#"[2] "EXEC""#,
        r#"[0] "SELECT" "0""#,
        r#"[0] "AUTH" "(redacted)""#,
        r#"[0] "ECHO" "end""#,
    ];
    assert_eq!(ours, expected.map(String::from));
    if common::require_program("redis-server") {
        let dir = tempfile::tempdir().unwrap();
        let (_redis, redis_addr) = start_redis(dir.path()).await;
        assert_eq!(cli_monitor(redis_addr).await, ours);
    }
}

/// A plain connection speaking RESP by hand, for exact bytes.
struct Wire {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Wire {
    async fn connect(addr: SocketAddr) -> Wire {
        let (read, writer) = TcpStream::connect(addr).await.unwrap().into_split();
        Wire { reader: BufReader::new(read), writer }
    }

    async fn send(&mut self, words: &[&str]) {
        let mut out = format!("*{}\r\n", words.len());
        for w in words {
            out.push_str(&format!("${}\r\n{w}\r\n", w.len()));
        }
        self.writer.write_all(out.as_bytes()).await.unwrap();
    }

    /// Reads exactly `expected`'s length and compares.
    async fn expect(&mut self, expected: &str) {
        let mut got = vec![0u8; expected.len()];
        tokio::time::timeout(PATIENCE, self.reader.read_exact(&mut got))
            .await
            .unwrap_or_else(|_| panic!("waiting for {expected:?}"))
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&got), expected);
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(PATIENCE, self.reader.read_line(&mut line)).await.unwrap().unwrap();
        line
    }

    async fn ok(&mut self, words: &[&str]) {
        self.send(words).await;
        self.expect("+OK\r\n").await;
    }

    /// Switches to RESP3 and drops HELLO's reply (it varies).
    async fn hello3(&mut self) {
        self.send(&["HELLO", "3"]).await;
        self.send(&["PING"]).await;
        loop {
            if self.line().await == "+PONG\r\n" {
                return;
            }
        }
    }

    async fn id(&mut self) -> String {
        self.send(&["CLIENT", "ID"]).await;
        self.line().await.trim_start_matches(':').trim_end().to_string()
    }
}

fn invalidate(key: &str) -> String {
    format!(">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n", key.len())
}

/// Empties the server, so a scenario starts alike on a fresh node and on a
/// redis-server that ran the others.
async fn fresh(addr: SocketAddr) {
    Wire::connect(addr).await.ok(&["FLUSHALL"]).await;
}

/// Sets `key` from another connection and waits for the reply.
async fn write(addr: SocketAddr, key: &str) {
    let mut other = Wire::connect(addr).await;
    other.ok(&["SET", key, "x"]).await;
}

/// The default mode: a read key is invalidated once, on the next write by
/// anyone (its own writes too), and a flush sends a null invalidation.
async fn tracking_default(addr: SocketAddr) {
    fresh(addr).await;
    let mut me = Wire::connect(addr).await;
    me.hello3().await;
    me.ok(&["CLIENT", "TRACKING", "ON"]).await;
    me.send(&["GET", "k"]).await;
    me.expect("_\r\n").await;
    write(addr, "k").await;
    me.expect(&invalidate("k")).await;
    // Not read since: a second write sends nothing; the next read re-arms.
    write(addr, "k").await;
    me.send(&["GET", "k"]).await;
    me.expect("$1\r\nx\r\n").await;
    me.ok(&["SET", "k", "mine"]).await;
    me.expect(&invalidate("k")).await;
    me.send(&["CLIENT", "GETREDIR"]).await;
    me.expect(":0\r\n").await;
    me.ok(&["FLUSHALL"]).await;
    me.expect(">2\r\n$10\r\ninvalidate\r\n_\r\n").await;
    me.ok(&["CLIENT", "TRACKING", "OFF"]).await;
    me.send(&["CLIENT", "GETREDIR"]).await;
    me.expect(":-1\r\n").await;
}

/// NOLOOP: the client's own writes are not sent back; BCAST: every write
/// under a prefix, read or not.
async fn tracking_noloop_and_bcast(addr: SocketAddr) {
    fresh(addr).await;
    let mut me = Wire::connect(addr).await;
    me.hello3().await;
    me.ok(&["CLIENT", "TRACKING", "ON", "NOLOOP"]).await;
    me.send(&["GET", "k"]).await;
    me.expect("_\r\n").await;
    me.ok(&["SET", "k", "mine"]).await;
    me.send(&["GET", "other"]).await;
    me.expect("_\r\n").await;
    write(addr, "other").await;
    // Had its own SET been sent, it would come before this one.
    me.expect(&invalidate("other")).await;
    me.ok(&["CLIENT", "TRACKING", "OFF"]).await;

    let mut b = Wire::connect(addr).await;
    b.hello3().await;
    b.ok(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "NOLOOP"]).await;
    write(addr, "order:1").await;
    b.ok(&["SET", "user:me", "x"]).await;
    write(addr, "user:1").await;
    b.expect(&invalidate("user:1")).await;
    b.send(&["CLIENT", "TRACKINGINFO"]).await;
    b.expect(concat!(
        "%3\r\n$5\r\nflags\r\n~3\r\n$2\r\non\r\n$5\r\nbcast\r\n$6\r\nnoloop\r\n",
        "$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*1\r\n$5\r\nuser:\r\n"
    ))
    .await;
    b.send(&["CLIENT", "TRACKING", "ON", "PREFIX", "x"]).await;
    b.expect("-ERR PREFIX option requires BCAST mode to be enabled\r\n").await;
    b.send(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "us"]).await;
    b.expect(
        "-ERR Prefix 'us' overlaps with an existing prefix 'user:'. Prefixes for a single client must not overlap.\r\n",
    )
    .await;
}

/// OPTIN remembers only reads after CACHING YES; OPTOUT all but those
/// after CACHING NO.
async fn tracking_optin_optout(addr: SocketAddr) {
    fresh(addr).await;
    let mut me = Wire::connect(addr).await;
    me.hello3().await;
    me.ok(&["CLIENT", "TRACKING", "ON", "OPTIN"]).await;
    me.send(&["CLIENT", "CACHING", "NO"]).await;
    me.expect("-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.\r\n").await;
    me.send(&["GET", "a"]).await;
    me.expect("_\r\n").await;
    me.ok(&["CLIENT", "CACHING", "YES"]).await;
    me.send(&["GET", "b"]).await;
    me.expect("_\r\n").await;
    write(addr, "a").await;
    write(addr, "b").await;
    me.expect(&invalidate("b")).await;
    me.ok(&["CLIENT", "TRACKING", "OFF"]).await;

    let mut out = Wire::connect(addr).await;
    out.hello3().await;
    out.ok(&["CLIENT", "TRACKING", "ON", "OPTOUT"]).await;
    out.ok(&["CLIENT", "CACHING", "NO"]).await;
    out.send(&["GET", "c"]).await;
    out.expect("_\r\n").await;
    out.send(&["GET", "d"]).await;
    out.expect("_\r\n").await;
    write(addr, "c").await;
    write(addr, "d").await;
    out.expect(&invalidate("d")).await;
    out.send(&["CLIENT", "TRACKING", "ON", "OPTIN"]).await;
    out.expect(
        "-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.\r\n",
    )
    .await;
}

/// RESP2: invalidations go to a client subscribed to
/// `__redis__:invalidate`, as pub/sub messages; a redirect to a client
/// that does not exist is refused.
async fn tracking_redirect_resp2(addr: SocketAddr) {
    fresh(addr).await;
    let mut target = Wire::connect(addr).await;
    let id = target.id().await;
    target.send(&["SUBSCRIBE", "__redis__:invalidate"]).await;
    target.expect("*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n").await;
    let mut me = Wire::connect(addr).await;
    me.send(&["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"]).await;
    me.expect("-ERR The client ID you want redirect to does not exist\r\n").await;
    me.ok(&["CLIENT", "TRACKING", "ON", "REDIRECT", id.as_str()]).await;
    me.send(&["CLIENT", "GETREDIR"]).await;
    me.expect(&format!(":{id}\r\n")).await;
    me.send(&["GET", "k"]).await;
    me.expect("$-1\r\n").await;
    write(addr, "k").await;
    target.expect("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n").await;
    me.ok(&["FLUSHDB"]).await;
    target.expect("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n").await;
}

#[tokio::test]
async fn tracking_default_mode_invalidates_read_keys_once() {
    let (_node, addr) = orbit().await;
    tracking_default(addr).await;
}

#[tokio::test]
async fn tracking_noloop_and_bcast_follow_redis() {
    let (_node, addr) = orbit().await;
    tracking_noloop_and_bcast(addr).await;
}

#[tokio::test]
async fn tracking_optin_and_optout_follow_client_caching() {
    let (_node, addr) = orbit().await;
    tracking_optin_optout(addr).await;
}

#[tokio::test]
async fn tracking_redirects_to_a_resp2_subscriber() {
    let (_node, addr) = orbit().await;
    tracking_redirect_resp2(addr).await;
}

#[tokio::test]
async fn tracking_scenarios_hold_on_redis_server_too() {
    if !common::require_program("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_redis, addr) = start_redis(dir.path()).await;
    tracking_default(addr).await;
    tracking_noloop_and_bcast(addr).await;
    tracking_optin_optout(addr).await;
    tracking_redirect_resp2(addr).await;
}

#[tokio::test]
async fn monitor_ends_with_reset_and_sees_other_clients() {
    let (_node, addr) = orbit().await;
    // Connected first: its setup commands are not monitored.
    let mut con = resp2(addr).await;
    let mut watcher = Wire::connect(addr).await;
    watcher.ok(&["MONITOR"]).await;
    call(&mut con, &["SET", "k", "v"]).await;
    let line = watcher.line().await;
    assert!(line.starts_with('+') && line.ends_with("] \"SET\" \"k\" \"v\"\r\n"), "{line}");
    // RESET ends monitoring before it would be shown, as in Redis.
    watcher.send(&["RESET"]).await;
    watcher.expect("+RESET\r\n").await;
    call(&mut con, &["SET", "k", "w"]).await;
    watcher.send(&["PING"]).await;
    watcher.expect("+PONG\r\n").await;
}
