//! PostgreSQL's CancelRequest over real sockets: a cancelled statement
//! fails with 57014 in the simple and the extended protocol, the connection
//! goes on, a transaction block fails and its writes and row locks go with
//! its ROLLBACK, a cancelled lock wait leaves no false deadlock behind, and
//! a cancel with a wrong key or while nothing runs does nothing.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::{connect, rows, sqlstate, start};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::{Client, NoTls};

/// A generous bound that turns a cancel that is not seen (the statement
/// would sleep 30 s or wait 30 s for its lock) into a failure.
const LIMIT: Duration = Duration::from_secs(20);

async fn within_limit<F: std::future::Future>(work: F) -> F::Output {
    tokio::time::timeout(LIMIT, work).await.expect("the cancelled statement ended within 20 s")
}

/// The SQLSTATE of a statement that must have failed.
fn code<T>(result: Result<T, tokio_postgres::Error>) -> String {
    match result {
        Ok(_) => panic!("the statement succeeded; it should have been cancelled"),
        Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_else(|| panic!("no SQLSTATE in {e}")),
    }
}

/// A query string that counts `probe` (a counter actor, outside any
/// transaction), then sleeps: once the count shows, the query string is
/// running, so a CancelRequest sent then must stop it.
fn probe_then_sleep(probe: &str) -> String {
    format!("SELECT orbit_call('counter', '{probe}', 'increment', '{{\"by\": 1}}'); SELECT pg_sleep(30)")
}

/// Waits (polling from another connection) until `probe` was counted.
async fn wait_for_probe(observer: &Client, probe: &str) {
    let sql = format!("SELECT orbit_call('counter', '{probe}', 'get')");
    while rows(observer, &sql).await != ["1"] {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The CancelRequest `client`'s cancel token sends: length, code, pid and
/// secret key (tokio-postgres writes it to any stream).
async fn cancel_packet(client: &Client) -> Vec<u8> {
    let (mut ours, theirs) = tokio::io::duplex(64);
    client.cancel_token().cancel_query_raw(theirs, NoTls).await.unwrap();
    let mut packet = Vec::new();
    ours.read_to_end(&mut packet).await.unwrap();
    assert_eq!(packet.len(), 16);
    packet
}

/// Sends a CancelRequest on a new connection and waits until the server
/// closes it, which it does once it has handled the request.
async fn send_cancel(addr: SocketAddr, packet: &[u8]) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(packet).await.unwrap();
    let mut rest = Vec::new();
    // EOF (or a reset) comes only after the request was handled.
    let _ = stream.read_to_end(&mut rest).await;
}

/// Runs `statement` while sending `packet` until it ends: a cancel that
/// arrives before the statement starts finds nothing to cancel. Each
/// cancel is handled before the next is sent, so none is left in flight to
/// reach a later statement.
async fn cancel_until_done<F: std::future::Future>(
    addr: SocketAddr,
    packet: &[u8],
    statement: F,
) -> F::Output {
    tokio::pin!(statement);
    loop {
        send_cancel(addr, packet).await;
        tokio::select! {
            done = &mut statement => return done,
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_request_stops_a_running_statement() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    let observer = connect(addr).await;

    // The simple protocol, cancelled as tokio-postgres cancels.
    let token = client.cancel_token();
    let sql = probe_then_sleep("simple");
    let (slept, ()) = within_limit(async {
        tokio::join!(client.simple_query(&sql), async {
            wait_for_probe(&observer, "simple").await;
            token.cancel_query(NoTls).await.unwrap();
        })
    })
    .await;
    assert_eq!(code(slept), "57014");
    assert_eq!(rows(&client, "SELECT 1").await, ["1"], "the connection goes on after a cancel");

    // The extended protocol's Execute.
    let packet = cancel_packet(&client).await;
    let sleep = client.query("SELECT pg_sleep(30)", &[]);
    let slept = within_limit(cancel_until_done(addr, &packet, sleep)).await;
    assert_eq!(code(slept), "57014");
    let one: i64 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_statement_takes_its_transaction_down_and_frees_its_locks() {
    let (node, addr) = start().await;
    let a = connect(addr).await;
    let b = connect(addr).await;
    a.batch_execute("CREATE TABLE items (id INT PRIMARY KEY, name TEXT)").await.unwrap();

    // In a block: the block fails (25P02 until ROLLBACK), and ROLLBACK
    // drops the row it inserted and frees the row's lock.
    a.batch_execute("BEGIN; INSERT INTO items VALUES (1, 'mine')").await.unwrap();
    let token = a.cancel_token();
    let sql = probe_then_sleep("block");
    let (slept, ()) = within_limit(async {
        tokio::join!(a.simple_query(&sql), async {
            wait_for_probe(&b, "block").await;
            token.cancel_query(NoTls).await.unwrap();
        })
    })
    .await;
    assert_eq!(code(slept), "57014");
    assert_eq!(sqlstate(&a, "SELECT 1").await, "25P02");
    assert_eq!(sqlstate(&a, "INSERT INTO items VALUES (3, 'more')").await, "25P02");
    a.batch_execute("ROLLBACK").await.unwrap();
    assert!(rows(&b, "SELECT * FROM items").await.is_empty());
    within_limit(b.batch_execute("INSERT INTO items VALUES (1, 'theirs')")).await.unwrap();

    // Outside a block, a query string is one implicit transaction: the
    // INSERT before the cancelled statement is rolled back and its lock freed.
    let sql = format!("INSERT INTO items VALUES (2, 'mine'); {}", probe_then_sleep("implicit"));
    let (slept, ()) = within_limit(async {
        tokio::join!(a.simple_query(&sql), async {
            wait_for_probe(&b, "implicit").await;
            token.cancel_query(NoTls).await.unwrap();
        })
    })
    .await;
    assert_eq!(code(slept), "57014");
    assert_eq!(rows(&a, "SELECT 1").await, ["1"], "no block was left open");
    within_limit(b.batch_execute("INSERT INTO items VALUES (2, 'theirs')")).await.unwrap();
    assert_eq!(rows(&a, "SELECT id, name FROM items ORDER BY id").await, ["1|theirs", "2|theirs"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_lock_wait_leaves_no_false_deadlock_behind() {
    let (node, addr) = start().await;
    let a = connect(addr).await;
    let b = connect(addr).await;
    a.batch_execute("CREATE TABLE r (id INT PRIMARY KEY, v INT); INSERT INTO r VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    a.batch_execute("BEGIN; UPDATE r SET v = 1 WHERE id = 1").await.unwrap();
    b.batch_execute("BEGIN; UPDATE r SET v = 2 WHERE id = 2").await.unwrap();

    // b waits for a's row until cancelled; its failed block keeps row 2.
    let b_cancel = cancel_packet(&b).await;
    let update = b.simple_query("UPDATE r SET v = 2 WHERE id = 1");
    let waited = within_limit(cancel_until_done(addr, &b_cancel, update)).await;
    assert_eq!(code(waited), "57014");
    // a waiting for row 2 closes no cycle now that b waits for nothing:
    // it waits (until cancelled too) instead of failing with 40P01.
    let a_cancel = cancel_packet(&a).await;
    let update = a.simple_query("UPDATE r SET v = 1 WHERE id = 2");
    let waited = within_limit(cancel_until_done(addr, &a_cancel, update)).await;
    assert_eq!(code(waited), "57014");

    b.batch_execute("ROLLBACK").await.unwrap();
    a.batch_execute("ROLLBACK").await.unwrap();
    let c = connect(addr).await;
    within_limit(c.batch_execute("UPDATE r SET v = 3")).await.unwrap();
    assert_eq!(rows(&c, "SELECT v FROM r ORDER BY id").await, ["3", "3"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_with_a_wrong_key_or_while_idle_does_nothing() {
    let (node, addr) = start().await;
    let a = connect(addr).await;
    let b = connect(addr).await;
    a.batch_execute("CREATE TABLE t (id INT PRIMARY KEY)").await.unwrap();
    let packet = cancel_packet(&a).await;

    // A wrong secret key: the statement runs to its end.
    let mut wrong = packet.clone();
    for byte in &mut wrong[12..] {
        *byte ^= 0xff;
    }
    let sleep = a.simple_query("SELECT pg_sleep(0.5)");
    let slept = within_limit(cancel_until_done(addr, &wrong, sleep)).await;
    assert!(slept.is_ok(), "a cancel with a wrong key stopped the statement: {:?}", slept.err());

    // The right key while nothing runs: nothing is cancelled, not even
    // the open block, and no later statement.
    a.batch_execute("BEGIN; INSERT INTO t VALUES (1)").await.unwrap();
    send_cancel(addr, &packet).await;
    a.batch_execute("INSERT INTO t VALUES (2); COMMIT").await.unwrap();
    assert_eq!(rows(&b, "SELECT id FROM t ORDER BY id").await, ["1", "2"]);
    assert_eq!(rows(&a, "SELECT pg_sleep(0.1)").await, ["NULL"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn pg_sleep_returns_null_and_checks_its_argument() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    assert_eq!(rows(&client, "SELECT pg_sleep(0.01)").await, ["NULL"]);
    assert_eq!(rows(&client, "SELECT pg_sleep(0)").await, ["NULL"]);
    assert_eq!(rows(&client, "SELECT pg_sleep(-1)").await, ["NULL"]);
    assert_eq!(rows(&client, "SELECT pg_sleep(NULL)").await, ["NULL"]);
    assert_eq!(sqlstate(&client, "SELECT pg_sleep('soon')").await, "22P02");
    assert_eq!(sqlstate(&client, "SELECT pg_sleep(1, 2)").await, "42883");
    node.shutdown().await.unwrap();
}
