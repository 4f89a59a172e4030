//! Secondary indexes and UNIQUE constraints through the PostgreSQL front
//! door with `tokio-postgres` over real sockets: the planner reads an
//! index instead of scanning (EXPLAIN says which), uniqueness holds between
//! concurrent transactions, and entries survive a restart. The SQL
//! behaviour itself is compared with PostgreSQL in `postgres_diff.rs`.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::{connect, count, rows, sqlstate, start};
use orbit_server::{Config, Node};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn explain_shows_the_index_a_query_reads() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "CREATE TABLE users (id INT PRIMARY KEY, email TEXT UNIQUE, org INT, name TEXT);
             CREATE INDEX users_org_name ON users (org, name);
             INSERT INTO users VALUES (1, 'a@x', 1, 'ann'), (2, 'b@x', 1, 'bob'), (3, 'c@x', 2, 'ann');",
        )
        .await
        .unwrap();
    let plan = |sql: &'static str| {
        let client = &client;
        async move { rows(client, &format!("EXPLAIN {sql}")).await.join("\n") }
    };
    let by_email = plan("SELECT id FROM users WHERE email = 'b@x'").await;
    assert!(by_email.contains("Orbit: users by index users_email_key (key [\"b@x\"])"), "{by_email}");
    // Both columns of a two-column index must be pinned.
    let both = plan("SELECT id FROM users WHERE org = 1 AND name = 'bob'").await;
    assert!(both.contains("by index users_org_name (key [1,\"bob\"])"), "{both}");
    let one = plan("SELECT id FROM users WHERE org = 1").await;
    assert!(one.contains("Orbit: users by a full scan"), "{one}");
    let range = plan("SELECT id FROM users WHERE email > 'a'").await;
    assert!(range.contains("by a full scan"), "{range}");
    let join = plan("SELECT u.id FROM users u JOIN users v ON u.org = v.org WHERE v.email = 'a@x'").await;
    assert!(join.contains("by index users_email_key") && join.contains("by a full scan"), "{join}");

    // A primary key of several columns is found through its index.
    client
        .batch_execute(
            "CREATE TABLE stock (wh INT, sku TEXT, qty INT, PRIMARY KEY (wh, sku));
             INSERT INTO stock VALUES (1, 'a', 5), (1, 'b', 6);",
        )
        .await
        .unwrap();
    let keyed = plan("SELECT qty FROM stock WHERE sku = 'b' AND wh = 1").await;
    assert!(keyed.contains("Orbit: stock by index stock_pkey (key [1,\"b\"])"), "{keyed}");
    assert_eq!(rows(&client, "SELECT qty FROM stock WHERE sku = 'b' AND wh = 1").await, ["6"]);

    // What the index finds is what a scan finds, the transaction's own
    // writes included.
    assert_eq!(rows(&client, "SELECT id FROM users WHERE org = 1 AND name = 'bob'").await, ["2"]);
    client.batch_execute("BEGIN; UPDATE users SET email = 'z@x' WHERE id = 2").await.unwrap();
    assert!(rows(&client, "SELECT id FROM users WHERE email = 'b@x'").await.is_empty());
    assert_eq!(rows(&client, "SELECT id FROM users WHERE email = 'z@x'").await, ["2"]);
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(rows(&client, "SELECT id FROM users WHERE email = 'b@x'").await, ["2"]);
    assert!(rows(&client, "SELECT id FROM users WHERE email = 'z@x'").await.is_empty());
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unique_key_being_inserted_waits_for_the_other_transaction() {
    let (node, addr) = start().await;
    let first = connect(addr).await;
    let second = connect(addr).await;
    first.batch_execute("CREATE TABLE acct (id INT PRIMARY KEY, email TEXT UNIQUE)").await.unwrap();

    // The first transaction rolls back: the second's insert goes ahead.
    first.batch_execute("BEGIN; INSERT INTO acct VALUES (1, 'a@x')").await.unwrap();
    let waiting = tokio::spawn(async move {
        let outcome = second.simple_query("INSERT INTO acct VALUES (2, 'a@x')").await.map(|_| ());
        (second, outcome)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the second insert must wait for the first transaction");
    first.batch_execute("ROLLBACK").await.unwrap();
    let (second, outcome) = waiting.await.unwrap();
    outcome.unwrap();

    // The first transaction commits: the second's insert is a violation.
    first.batch_execute("BEGIN; INSERT INTO acct VALUES (3, 'b@x')").await.unwrap();
    let waiting = tokio::spawn(async move {
        let code = sqlstate(&second, "INSERT INTO acct VALUES (4, 'b@x')").await;
        (second, code)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the second insert must wait for the first transaction");
    first.batch_execute("COMMIT").await.unwrap();
    let (second, code) = waiting.await.unwrap();
    assert_eq!(code, "23505");
    assert_eq!(rows(&second, "SELECT id, email FROM acct ORDER BY id").await, ["2|a@x", "3|b@x"]);

    // Racing inserts of one key from many connections: exactly one wins.
    let mut racers = Vec::new();
    for id in 10..18 {
        let client = connect(addr).await;
        racers.push(tokio::spawn(async move {
            client.simple_query(&format!("INSERT INTO acct VALUES ({id}, 'race@x')")).await.is_ok()
        }));
    }
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.unwrap());
    }
    assert_eq!(won, 1);
    assert_eq!(rows(&first, "SELECT count(*) FROM acct WHERE email = 'race@x'").await, ["1"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn index_entries_survive_a_restart_and_follow_ddl() {
    let dir = tempfile::tempdir().unwrap();
    let config: Config = common::lsm_config(dir.path());
    let start = |config: Config| async move {
        let node = Node::builder(config).with_builtin_kinds().start().await.unwrap();
        let addr = node.pg_addr().unwrap();
        (node, addr)
    };
    let (node, addr) = start(config.clone()).await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "CREATE TABLE item (sku TEXT, bin INT, qty INT);
             INSERT INTO item VALUES ('a', 1, 5), ('b', 1, 6), ('c', 2, 7);
             CREATE UNIQUE INDEX item_sku ON item (sku);
             CREATE INDEX item_bin ON item (bin);",
        )
        .await
        .unwrap();
    drop(client);
    node.shutdown().await.unwrap();

    let (node, addr) = start(config).await;
    let client = connect(addr).await;
    let by_bin = rows(&client, "EXPLAIN SELECT sku FROM item WHERE bin = 1").await.join("\n");
    assert!(by_bin.contains("by index item_bin"), "{by_bin}");
    assert_eq!(rows(&client, "SELECT sku FROM item WHERE bin = 1 ORDER BY sku").await, ["a", "b"]);
    assert_eq!(sqlstate(&client, "INSERT INTO item VALUES ('a', 3, 1)").await, "23505");
    // A row without a primary key moves between entries when updated.
    assert_eq!(count(&client, "UPDATE item SET bin = 2 WHERE sku = 'a'").await, 1);
    assert_eq!(rows(&client, "SELECT sku FROM item WHERE bin = 2 ORDER BY sku").await, ["a", "c"]);
    assert_eq!(rows(&client, "SELECT sku FROM item WHERE bin = 1").await, ["b"]);
    // ADD PRIMARY KEY moves every row: the entries follow.
    client.batch_execute("ALTER TABLE item ADD PRIMARY KEY (sku)").await.unwrap();
    assert_eq!(rows(&client, "SELECT sku FROM item WHERE bin = 2 ORDER BY sku").await, ["a", "c"]);
    assert_eq!(sqlstate(&client, "UPDATE item SET sku = 'b' WHERE sku = 'c'").await, "23505");
    // Dropping the indexed column drops the index; the name is free again.
    client.batch_execute("ALTER TABLE item DROP COLUMN bin").await.unwrap();
    let plan = rows(&client, "EXPLAIN SELECT sku FROM item WHERE qty = 1").await.join("\n");
    assert!(plan.contains("by a full scan"), "{plan}");
    client.batch_execute("CREATE INDEX item_bin ON item (qty)").await.unwrap();
    assert_eq!(rows(&client, "SELECT sku FROM item WHERE qty = 6").await, ["b"]);
    client.batch_execute("DROP TABLE item").await.unwrap();
    assert_eq!(sqlstate(&client, "DROP INDEX item_bin").await, "42704");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn what_orbit_does_not_index_says_so() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client.batch_execute("CREATE TABLE t (a INT, b TEXT)").await.unwrap();
    for sql in [
        "CREATE INDEX ON t (lower(b))",
        "CREATE INDEX ON t (a) WHERE a > 0",
        "CREATE INDEX ON t USING hash (a)",
        "CREATE INDEX ON t (a DESC)",
        "CREATE INDEX ON t (a) INCLUDE (b)",
        "CREATE UNIQUE INDEX ON t (a) NULLS NOT DISTINCT",
        "ALTER TABLE t ADD COLUMN c INT UNIQUE",
    ] {
        assert_eq!(sqlstate(&client, sql).await, "0A000", "{sql}");
    }
    assert_eq!(sqlstate(&client, "CREATE INDEX ON t (a, a)").await, "42P17");
    // A key longer than PostgreSQL's btree limit is refused, in a write and
    // in a build, and the table is left as it was.
    let long = "x".repeat(3000);
    client.batch_execute("CREATE INDEX t_b ON t (b)").await.unwrap();
    assert_eq!(sqlstate(&client, &format!("INSERT INTO t VALUES (1, '{long}')")).await, "54000");
    client.batch_execute("DROP INDEX t_b").await.unwrap();
    client.batch_execute(&format!("INSERT INTO t VALUES (1, '{long}')")).await.unwrap();
    assert_eq!(sqlstate(&client, "CREATE INDEX t_b ON t (b)").await, "54000");
    assert_eq!(rows(&client, "SELECT count(*) FROM t").await, ["1"]);
    assert_eq!(sqlstate(&client, "CREATE INDEX t ON t (a)").await, "42P07");
    node.shutdown().await.unwrap();
}
