//! LISTEN / NOTIFY over real connections with `tokio-postgres`: NOTIFY and
//! `pg_notify` reach every session LISTENing on the channel when their
//! transaction commits (in order, a repeated one once), never after a
//! ROLLBACK, and not inside a listener's own open block; UNLISTEN and a
//! rolled-back LISTEN stop them. Bridged to Redis: a NOTIFY reaches Redis
//! SUBSCRIBErs of the channel, and a Redis PUBLISH reaches LISTENers.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::{connect, listener, sqlstate, start};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::Notification;

/// The next notification as (channel, payload), within 5 s.
async fn next(received: &mut mpsc::UnboundedReceiver<Notification>) -> (String, String) {
    let n = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("a notification within 5 s")
        .expect("the connection is open");
    (n.channel().to_string(), n.payload().to_string())
}

/// Asserts nothing arrives for a while.
async fn nothing(received: &mut mpsc::UnboundedReceiver<Notification>, why: &str) {
    if let Ok(Some(n)) = tokio::time::timeout(Duration::from_millis(300), received.recv()).await {
        panic!("{why}: got {:?} {:?}", n.channel(), n.payload());
    }
}

fn pair(channel: &str, payload: &str) -> (String, String) {
    (channel.to_string(), payload.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_arrive_at_commit_in_order_and_never_after_rollback() {
    let (node, addr) = start().await;
    let (l1, mut r1) = listener(addr).await;
    let (l2, mut r2) = listener(addr).await;
    l1.batch_execute("LISTEN jobs").await.unwrap();
    l2.batch_execute("LISTEN jobs; LISTEN \"Other\"").await.unwrap();
    let n = connect(addr).await;

    n.batch_execute("NOTIFY jobs, 'a'").await.unwrap();
    assert_eq!(next(&mut r1).await, pair("jobs", "a"));
    assert_eq!(next(&mut r2).await, pair("jobs", "a"));
    n.batch_execute("NOTIFY \"Other\"").await.unwrap();
    assert_eq!(next(&mut r2).await, pair("Other", ""));
    nothing(&mut r1, "l1 does not listen on Other").await;

    // At commit, in order, a repeated one once.
    n.batch_execute("BEGIN; NOTIFY jobs, 'b'; SELECT pg_notify('jobs', 'c'); NOTIFY jobs, 'b'")
        .await
        .unwrap();
    nothing(&mut r1, "delivered before the commit").await;
    n.batch_execute("COMMIT").await.unwrap();
    assert_eq!(next(&mut r1).await, pair("jobs", "b"));
    assert_eq!(next(&mut r1).await, pair("jobs", "c"));
    nothing(&mut r1, "a repeated NOTIFY was delivered twice").await;
    n.batch_execute("BEGIN; NOTIFY jobs, 'lost'; ROLLBACK").await.unwrap();
    nothing(&mut r1, "delivered after a ROLLBACK").await;
    // pg_notify in the extended protocol, its arguments bound.
    n.execute("SELECT pg_notify($1, $2)", &[&"jobs", &"bound"]).await.unwrap();
    assert_eq!(next(&mut r1).await, pair("jobs", "bound"));

    // A listener inside its own block gets them when the block ends.
    l1.batch_execute("BEGIN").await.unwrap();
    n.batch_execute("NOTIFY jobs, 'held'").await.unwrap();
    nothing(&mut r1, "delivered inside the listener's block").await;
    l1.batch_execute("COMMIT").await.unwrap();
    assert_eq!(next(&mut r1).await, pair("jobs", "held"));

    // UNLISTEN stops them; a LISTEN rolled back never starts.
    while r2.try_recv().is_ok() {}
    l2.batch_execute("UNLISTEN jobs").await.unwrap();
    let (l3, mut r3) = listener(addr).await;
    l3.batch_execute("BEGIN; LISTEN jobs; ROLLBACK").await.unwrap();
    n.batch_execute("NOTIFY jobs, 'x'").await.unwrap();
    assert_eq!(next(&mut r1).await, pair("jobs", "x"));
    nothing(&mut r2, "delivered after UNLISTEN").await;
    nothing(&mut r3, "delivered after a rolled-back LISTEN").await;
    l1.batch_execute("UNLISTEN *").await.unwrap();
    n.batch_execute("NOTIFY jobs, 'y'").await.unwrap();
    nothing(&mut r1, "delivered after UNLISTEN *").await;

    // Bad input.
    assert_eq!(sqlstate(&n, &format!("NOTIFY jobs, '{}'", "p".repeat(8000))).await, "22023");
    assert_eq!(sqlstate(&n, "SELECT pg_notify('', 'x')").await, "22023");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_reaches_redis_subscribers_and_publish_reaches_listeners() {
    let (node, addr) = start().await;
    let resp = node.resp_addr().expect("the node serves RESP");
    let redis = redis::Client::open(format!("redis://{resp}/")).unwrap();
    let mut subscriber = redis.get_async_pubsub().await.unwrap();
    subscriber.subscribe("jobs").await.unwrap();
    let mut messages = subscriber.on_message();
    let (pg, mut received) = listener(addr).await;
    pg.batch_execute("LISTEN jobs").await.unwrap();

    let n = connect(addr).await;
    n.batch_execute("BEGIN; NOTIFY jobs, 'from sql'; COMMIT").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), messages.next()).await.expect("a Redis message");
    let got: String = got.expect("a message").get_payload().unwrap();
    assert_eq!(got, "from sql");
    assert_eq!(next(&mut received).await, pair("jobs", "from sql"));

    let mut publisher = redis.get_multiplexed_async_connection().await.unwrap();
    let receivers: i64 =
        redis::cmd("PUBLISH").arg("jobs").arg("from redis").query_async(&mut publisher).await.unwrap();
    assert_eq!(receivers, 1, "PUBLISH counts the Redis subscribers");
    let n = tokio::time::timeout(Duration::from_secs(5), received.recv()).await.unwrap().unwrap();
    assert_eq!((n.channel(), n.payload(), n.process_id()), ("jobs", "from redis", 0));
    let got = tokio::time::timeout(Duration::from_secs(5), messages.next()).await.unwrap().unwrap();
    assert_eq!(got.get_payload::<String>().unwrap(), "from redis");
    // SPUBLISH stays on shard channels.
    let _: i64 = redis::cmd("SPUBLISH").arg("jobs").arg("sharded").query_async(&mut publisher).await.unwrap();
    nothing(&mut received, "SPUBLISH reached LISTEN").await;
    node.shutdown().await.unwrap();
}
