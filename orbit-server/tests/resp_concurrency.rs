//! Blocking pops, pub/sub and WATCH with many concurrent clients: every
//! element, message and increment accounted for exactly.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{call, resp2, start_with};
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
