//! Blocking pops, pub/sub and WATCH with many concurrent clients: every
//! element, message and increment accounted for exactly.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{call, resp2, show, start_with};
use futures::StreamExt;
use orbit_server::Config;
use redis::Value;
use std::collections::BTreeSet;

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn bulk(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_subscribers_each_receive_every_message_in_order() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let mut subscribers = Vec::new();
    for _ in 0..20 {
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub.subscribe("news").await.unwrap();
        subscribers.push(pubsub);
    }
    let mut publisher = resp2(addr).await;
    for i in 0..50 {
        let receivers = call(&mut publisher, &["PUBLISH", "news", &i.to_string()]).await;
        assert_eq!(int(&receivers), 20, "message {i} reached every subscriber");
    }
    for mut pubsub in subscribers {
        let got: Vec<String> =
            pubsub.on_message().take(50).map(|m| m.get_payload::<String>().unwrap()).collect().await;
        assert_eq!(got, (0..50).map(|i| i.to_string()).collect::<Vec<_>>());
    }
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimistic_increments_with_watch_from_ten_clients_are_exact() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        tasks.push(tokio::spawn(async move {
            let mut con = resp2(addr).await;
            let mut retries = 0;
            for _ in 0..20 {
                loop {
                    call(&mut con, &["WATCH", "balance"]).await;
                    let current = match call(&mut con, &["GET", "balance"]).await {
                        Value::Nil => 0,
                        v => bulk(&v).parse::<i64>().unwrap(),
                    };
                    call(&mut con, &["MULTI"]).await;
                    call(&mut con, &["SET", "balance", &(current + 1).to_string()]).await;
                    match call(&mut con, &["EXEC"]).await {
                        Value::Nil => retries += 1,
                        Value::Array(replies) if replies.len() == 1 => break,
                        other => panic!("unexpected EXEC reply {other:?}"),
                    }
                }
            }
            retries
        }));
    }
    let mut retries = 0;
    for task in tasks {
        retries += task.await.unwrap();
    }
    let mut con = resp2(addr).await;
    // Lost updates would show as a total below 200; conflicts as retries.
    assert_eq!(bulk(&call(&mut con, &["GET", "balance"]).await), "200", "after {retries} retries");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_blocked_consumers_take_every_pushed_element_exactly_once() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut consumers = Vec::new();
    for _ in 0..10 {
        consumers.push(tokio::spawn(async move {
            let mut con = resp2(addr).await;
            let mut got = Vec::new();
            for _ in 0..20 {
                match call(&mut con, &["BLPOP", "jobs", "other", "0"]).await {
                    Value::Array(pair) if pair.len() == 2 => got.push(bulk(&pair[1])),
                    other => panic!("unexpected BLPOP reply {other:?}"),
                }
            }
            got
        }));
    }
    let mut producers = Vec::new();
    for p in 0..5 {
        producers.push(tokio::spawn(async move {
            let mut con = resp2(addr).await;
            for i in 0..40 {
                call(&mut con, &["RPUSH", "jobs", &format!("{p}-{i}")]).await;
            }
        }));
    }
    for producer in producers {
        producer.await.unwrap();
    }
    let mut received = BTreeSet::new();
    for consumer in consumers {
        for element in consumer.await.unwrap() {
            assert!(received.insert(element.clone()), "{element} was delivered twice");
        }
    }
    let expected: BTreeSet<String> = (0..5).flat_map(|p| (0..40).map(move |i| format!("{p}-{i}"))).collect();
    assert_eq!(received, expected);
    let mut con = resp2(addr).await;
    assert_eq!(int(&call(&mut con, &["LLEN", "jobs"]).await), 0);
    node.shutdown().await.unwrap();
}

/// Waits until `n` clients are blocked (INFO `blocked_clients`).
async fn until_blocked(con: &mut redis::aio::MultiplexedConnection, n: usize) {
    let want = format!("blocked_clients:{n}");
    for _ in 0..500 {
        if bulk(&call(con, &["INFO", "clients"]).await).lines().any(|l| l == want) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{n} clients never blocked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_move_onto_a_key_of_another_type_is_answered_wrongtype_and_moves_nothing() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut con = resp2(addr).await;
    call(&mut con, &["SET", "target", "nolist"]).await;
    let mut waiters = Vec::new();
    for words in [
        ["BRPOPLPUSH", "blist", "target", "0"].as_slice(),
        &["BLMOVE", "blist", "target", "LEFT", "RIGHT", "0"],
    ] {
        let mut blocked = resp2(addr).await;
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        waiters.push(tokio::spawn(async move { show(&call(&mut blocked, &words).await) }));
    }
    until_blocked(&mut con, 2).await;
    call(&mut con, &["RPUSH", "blist", "foo"]).await;
    for waiter in waiters {
        let reply = tokio::time::timeout(common::resp::PATIENCE, waiter).await.expect("answered").unwrap();
        assert!(reply.starts_with("-WRONGTYPE"), "{reply}");
    }
    assert_eq!(show(&call(&mut con, &["LRANGE", "blist", "0", "-1"]).await), "[\"foo\"]");
    assert_eq!(show(&call(&mut con, &["GET", "target"]).await), "\"nolist\"");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_blocked_on_a_key_that_becomes_a_string_waits_for_a_list_again() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut con = resp2(addr).await;
    let mut blocked = resp2(addr).await;
    let waiter = tokio::spawn(async move { show(&call(&mut blocked, &["BLPOP", "q", "0"]).await) });
    until_blocked(&mut con, 1).await;
    call(&mut con, &["SET", "q", "text"]).await;
    call(&mut con, &["DEL", "q"]).await;
    until_blocked(&mut con, 1).await;
    assert!(!waiter.is_finished(), "answered while q held a string");
    call(&mut con, &["RPUSH", "q", "job"]).await;
    let reply = tokio::time::timeout(common::resp::PATIENCE, waiter).await.expect("answered").unwrap();
    assert_eq!(reply, "[\"q\", \"job\"]");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_pipeline_on_one_key_replies_as_if_run_one_by_one() {
    // Consecutive commands on one key share one actor turn; the replies,
    // errors and effects must be those of running them in order.
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut con = resp2(addr).await;
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    pipe.cmd("SET").arg("k").arg("1");
    pipe.cmd("INCR").arg("k");
    pipe.cmd("LPUSH").arg("k").arg("x");
    pipe.cmd("GET").arg("k");
    pipe.cmd("DEL").arg("k");
    pipe.cmd("RPUSH").arg("k").arg("a").arg("b");
    pipe.cmd("LRANGE").arg("k").arg("0").arg("-1");
    pipe.cmd("SET").arg("other").arg("o");
    pipe.cmd("GET").arg("k");
    let replies: Vec<Value> =
        pipe.query_async::<Vec<Value>>(&mut con).await.unwrap_or_else(|e| panic!("{e}"));
    let shown: Vec<String> = replies.iter().map(common::resp::show).collect();
    assert_eq!(
        shown,
        [
            "+OK",
            "2",
            "-WRONGTYPE Operation against a key holding the wrong kind of value",
            "\"2\"",
            "1",
            "2",
            "[\"a\", \"b\"]",
            "+OK",
            "-WRONGTYPE Operation against a key holding the wrong kind of value",
        ]
    );
    assert_eq!(int(&call(&mut con, &["LLEN", "k"]).await), 2);
    node.shutdown().await.unwrap();
}
