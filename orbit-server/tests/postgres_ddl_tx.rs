//! DDL and transaction blocks through the PostgreSQL front door, with
//! `tokio-postgres` over real sockets. DDL acts at once, outside any
//! transaction, so a block refuses it (`0A000`, naming the statement) and
//! fails as after any other error (`25P02` until ROLLBACK), after which the
//! schema and the rows are as they were. Outside a block DDL applies at
//! once, in a query string of several statements and through the extended
//! protocol too, and what it did survives a restart.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::{connect, rows, sqlstate, start};
use orbit_server::{Config, Node};
use std::net::SocketAddr;
use tokio_postgres::Client;

/// A node on `config` with its built-in kinds, and its PostgreSQL address.
async fn start_with(config: Config) -> (Node, SocketAddr) {
    let node = Node::builder(config).with_builtin_kinds().start().await.unwrap();
    let addr = node.pg_addr().unwrap();
    (node, addr)
}

/// The SQLSTATE and message of a simple query that must fail.
async fn refusal(client: &Client, sql: &str) -> (String, String) {
    let error = client.simple_query(sql).await.expect_err(sql);
    let db = error.as_db_error().unwrap_or_else(|| panic!("{sql}: {error}"));
    (db.code().code().to_string(), db.message().to_string())
}

/// The rows `pg_class` lists (tables and indexes) named `name`, counted.
async fn relations(client: &Client, name: &str) -> Vec<String> {
    rows(client, &format!("SELECT count(*) FROM pg_catalog.pg_class WHERE relname = '{name}'")).await
}

/// Runs `ddl` inside a block: it is refused with `0A000` naming `name`,
/// the block then answers `25P02` (DDL included) until ROLLBACK, and the
/// connection is idle after it.
async fn refused_in_a_block(client: &Client, ddl: &str, name: &str) {
    client.batch_execute("BEGIN").await.unwrap();
    let (code, message) = refusal(client, ddl).await;
    assert_eq!(code, "0A000", "{ddl}: {message}");
    assert!(message.starts_with(&format!("{name} inside a transaction block")), "{ddl}: {message}");
    assert_eq!(sqlstate(client, "SELECT 1").await, "25P02", "{ddl}");
    assert_eq!(sqlstate(client, ddl).await, "25P02", "{ddl} in the failed block");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(rows(client, "SELECT 1").await, ["1"], "{ddl}: the connection is idle again");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_table_in_a_block_is_refused_and_leaves_no_table() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    refused_in_a_block(&client, "CREATE TABLE tx1 (a int)", "CREATE TABLE").await;
    assert_eq!(sqlstate(&client, "SELECT * FROM tx1").await, "42P01");
    assert_eq!(relations(&client, "tx1").await, ["0"]);

    // All in one query string: the refusal stops it before its ROLLBACK,
    // as PostgreSQL stops at an error, and leaves the block failed.
    let (code, _) = refusal(&client, "BEGIN; CREATE TABLE tx1 (a int); ROLLBACK;").await;
    assert_eq!(code, "0A000");
    assert_eq!(sqlstate(&client, "SELECT 1").await, "25P02");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(sqlstate(&client, "SELECT * FROM tx1").await, "42P01");
    assert_eq!(relations(&client, "tx1").await, ["0"]);

    // The block's earlier writes go with it; its COMMIT rolls back.
    client.batch_execute("CREATE TABLE kept (id INT PRIMARY KEY)").await.unwrap();
    client.batch_execute("BEGIN; INSERT INTO kept VALUES (1)").await.unwrap();
    assert_eq!(refusal(&client, "CREATE TABLE tx1 (a int)").await.0, "0A000");
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(rows(&client, "SELECT count(*) FROM kept").await, ["0"]);
    assert_eq!(relations(&client, "tx1").await, ["0"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_ddl_statement_in_a_block_is_refused_and_changes_nothing() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "CREATE TABLE keep (id INT PRIMARY KEY, v TEXT);
             INSERT INTO keep VALUES (1, 'a'), (2, 'b');
             CREATE INDEX keep_v_idx ON keep (v);",
        )
        .await
        .unwrap();
    let cases = [
        ("DROP TABLE keep", "DROP TABLE"),
        ("DROP TABLE IF EXISTS keep, missing", "DROP TABLE"),
        ("CREATE INDEX keep_new ON keep (v)", "CREATE INDEX"),
        ("CREATE UNIQUE INDEX keep_new ON keep (id, v)", "CREATE INDEX"),
        ("DROP INDEX keep_v_idx", "DROP INDEX"),
        ("ALTER TABLE keep ADD COLUMN extra INT DEFAULT 5", "ALTER TABLE"),
        ("ALTER TABLE keep DROP COLUMN v", "ALTER TABLE"),
        ("ALTER TABLE keep RENAME COLUMN v TO w", "ALTER TABLE"),
        ("CREATE TABLE keep2 (id INT)", "CREATE TABLE"),
    ];
    for (ddl, name) in cases {
        refused_in_a_block(&client, ddl, name).await;
        // The same columns and rows, the same relations.
        assert_eq!(rows(&client, "SELECT * FROM keep ORDER BY id").await, ["1|a", "2|b"], "{ddl}");
        assert_eq!(relations(&client, "keep").await, ["1"], "{ddl}");
        assert_eq!(relations(&client, "keep_v_idx").await, ["1"], "{ddl}");
        assert_eq!(relations(&client, "keep_new").await, ["0"], "{ddl}");
        assert_eq!(relations(&client, "keep2").await, ["0"], "{ddl}");
    }
    assert_eq!(sqlstate(&client, "SELECT extra FROM keep").await, "42703");

    // TRUNCATE is no DDL here: it deletes inside the transaction.
    client.batch_execute("BEGIN; TRUNCATE keep").await.unwrap();
    assert_eq!(rows(&client, "SELECT count(*) FROM keep").await, ["0"]);
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(rows(&client, "SELECT count(*) FROM keep").await, ["2"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn ddl_through_the_extended_protocol_is_refused_in_a_block_only() {
    let (node, addr) = start().await;
    let mut client = connect(addr).await;
    let tx = client.transaction().await.unwrap();
    let error = tx.execute("CREATE TABLE tx2 (a INT)", &[]).await.unwrap_err();
    let db = error.as_db_error().unwrap_or_else(|| panic!("{error}"));
    assert_eq!(db.code().code(), "0A000", "{}", db.message());
    assert!(db.message().starts_with("CREATE TABLE inside a transaction block"), "{}", db.message());
    let aborted = tx.execute("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(aborted.code().map(|c| c.code()), Some("25P02"), "{aborted}");
    tx.rollback().await.unwrap();
    assert_eq!(relations(&client, "tx2").await, ["0"]);

    // Outside a block, the same statement applies at once.
    client.execute("CREATE TABLE tx2 (a INT)", &[]).await.unwrap();
    assert_eq!(client.execute("INSERT INTO tx2 VALUES ($1)", &[&7i32]).await.unwrap(), 1);
    assert_eq!(rows(&client, "SELECT a FROM tx2").await, ["7"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn ddl_outside_a_block_applies_at_once() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    let other = connect(addr).await;
    client.batch_execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)").await.unwrap();
    client.batch_execute("INSERT INTO t VALUES (1, 'a')").await.unwrap();
    client.batch_execute("ALTER TABLE t ADD COLUMN n INT DEFAULT 5").await.unwrap();
    client.batch_execute("CREATE INDEX t_v ON t (v)").await.unwrap();
    // Another connection sees each at once.
    assert_eq!(rows(&other, "SELECT id, v, n FROM t").await, ["1|a|5"]);
    assert_eq!(relations(&other, "t_v").await, ["1"]);
    client.batch_execute("DROP INDEX t_v").await.unwrap();
    assert_eq!(relations(&other, "t_v").await, ["0"]);
    client.batch_execute("DROP TABLE t").await.unwrap();
    assert_eq!(sqlstate(&other, "SELECT * FROM t").await, "42P01");

    // A query string holding DDL runs statement by statement, each DDL
    // applied before the statements after it run.
    client.batch_execute("CREATE TABLE multi_a (x INT); CREATE TABLE multi_b (x INT)").await.unwrap();
    let both = "SELECT count(*) FROM pg_catalog.pg_class WHERE relname IN ('multi_a', 'multi_b')";
    assert_eq!(rows(&other, both).await, ["2"]);
    let filled = "CREATE TABLE multi_c (x INT); INSERT INTO multi_c VALUES (1), (2); \
                  SELECT count(*) FROM multi_c";
    assert_eq!(rows(&client, filled).await, ["2"]);
    assert_eq!(rows(&other, "SELECT count(*) FROM multi_c").await, ["2"]);

    // In one string, DDL before BEGIN applies and DDL after it is refused.
    let split = "CREATE TABLE before_begin (x INT); BEGIN; CREATE TABLE after_begin (x INT)";
    let (code, _) = refusal(&client, split).await;
    assert_eq!(code, "0A000");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(relations(&other, "before_begin").await, ["1"]);
    assert_eq!(relations(&other, "after_begin").await, ["0"]);

    // Once the block ends, DDL applies again.
    let after = "BEGIN; INSERT INTO multi_c VALUES (3); COMMIT; CREATE TABLE after_commit (x INT)";
    client.batch_execute(after).await.unwrap();
    assert_eq!(relations(&other, "after_commit").await, ["1"]);
    assert_eq!(rows(&other, "SELECT count(*) FROM multi_c").await, ["3"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_ddl_and_its_rows_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (node, addr) = start_with(common::lsm_config(dir.path())).await;
    let client = connect(addr).await;
    client.batch_execute("CREATE TABLE kept (id INT PRIMARY KEY, v TEXT)").await.unwrap();
    client.batch_execute("BEGIN; INSERT INTO kept VALUES (1, 'a'), (2, 'b'); COMMIT").await.unwrap();
    client.batch_execute("ALTER TABLE kept ADD COLUMN n INT DEFAULT 7").await.unwrap();
    client.batch_execute("CREATE UNIQUE INDEX kept_v ON kept (v)").await.unwrap();
    // Refused in a block: nothing of it reaches storage.
    refused_in_a_block(&client, "CREATE TABLE gone (x INT)", "CREATE TABLE").await;
    refused_in_a_block(&client, "DROP TABLE kept", "DROP TABLE").await;
    drop(client);
    node.shutdown().await.unwrap();

    let (node, addr) = start_with(common::lsm_config(dir.path())).await;
    let client = connect(addr).await;
    assert_eq!(rows(&client, "SELECT id, v, n FROM kept ORDER BY id").await, ["1|a|7", "2|b|7"]);
    assert_eq!(relations(&client, "kept_v").await, ["1"]);
    assert_eq!(sqlstate(&client, "INSERT INTO kept VALUES (3, 'a')").await, "23505");
    assert_eq!(relations(&client, "gone").await, ["0"]);
    assert_eq!(sqlstate(&client, "SELECT * FROM gone").await, "42P01");
    node.shutdown().await.unwrap();
}
