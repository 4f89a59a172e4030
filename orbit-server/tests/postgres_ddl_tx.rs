//! Transactional DDL through the PostgreSQL front door, with
//! `tokio-postgres` over real sockets: CREATE / ALTER / DROP TABLE and
//! CREATE / DROP INDEX inside a block commit or roll back with it, the
//! block's later statements see what its DDL did while other sessions see
//! nothing of it until COMMIT, a write of another session to a table whose
//! DDL is in progress waits for it (or fails with 40001 when it wrote under
//! the old definition), and what committed survives a restart while what
//! rolled back leaves no trace (also across `kill -9` of the binary).

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::{connect, rows, sqlstate, start};
use orbit_server::{Config, Node};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_postgres::Client;

/// A node on `config` with its built-in kinds, and its PostgreSQL address.
async fn start_with(config: Config) -> (Node, SocketAddr) {
    let node = Node::builder(config).with_builtin_kinds().start().await.unwrap();
    let addr = node.pg_addr().unwrap();
    (node, addr)
}

/// The rows `pg_class` lists (tables and indexes) named `name`, counted.
async fn relations(client: &Client, name: &str) -> Vec<String> {
    rows(client, &format!("SELECT count(*) FROM pg_catalog.pg_class WHERE relname = '{name}'")).await
}

/// The table `keep` (two rows, an index on `v`) as every case starts it.
const KEEP: &str = "DROP TABLE IF EXISTS keep, keep2;
     CREATE TABLE keep (id INT PRIMARY KEY, v TEXT);
     INSERT INTO keep VALUES (1, 'a'), (2, 'b');
     CREATE INDEX keep_v_idx ON keep (v);";

/// Asserts `keep` is as [`KEEP`] left it, seen from `client`.
async fn keep_unchanged(client: &Client, case: &str) {
    assert_eq!(rows(client, "SELECT * FROM keep ORDER BY id").await, ["1|a", "2|b"], "{case}");
    assert_eq!(relations(client, "keep").await, ["1"], "{case}");
    assert_eq!(relations(client, "keep_v_idx").await, ["1"], "{case}");
    assert_eq!(relations(client, "keep_new").await, ["0"], "{case}");
    assert_eq!(relations(client, "keep2").await, ["0"], "{case}");
    assert_eq!(sqlstate(client, "SELECT extra FROM keep").await, "42703", "{case}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolled_back_create_table_leaves_no_table() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client.batch_execute("BEGIN; CREATE TABLE tx1 (a int); ROLLBACK;").await.unwrap();
    assert_eq!(sqlstate(&client, "SELECT * FROM tx1").await, "42P01");
    assert_eq!(relations(&client, "tx1").await, ["0"]);

    // Statement by statement, with rows and a query inside the block.
    client.batch_execute("BEGIN").await.unwrap();
    client.batch_execute("CREATE TABLE tx1 (a int PRIMARY KEY, b text)").await.unwrap();
    client.batch_execute("INSERT INTO tx1 VALUES (1, 'x'), (2, 'y')").await.unwrap();
    assert_eq!(rows(&client, "SELECT b FROM tx1 WHERE a = 2").await, ["y"]);
    assert_eq!(rows(&client, "SELECT count(*) FROM tx1").await, ["2"]);
    assert_eq!(relations(&client, "tx1").await, ["1"], "the block's catalog shows its table");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(sqlstate(&client, "SELECT * FROM tx1").await, "42P01");
    assert_eq!(relations(&client, "tx1").await, ["0"]);

    // The name is free again, and a table of it starts empty.
    client.batch_execute("CREATE TABLE tx1 (a int)").await.unwrap();
    assert_eq!(rows(&client, "SELECT count(*) FROM tx1").await, ["0"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_ddl_statement_rolls_back_and_commits_with_its_block() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    let other = connect(addr).await;
    // Each case: the DDL, then a query the block sees its effect in, and
    // that query's rows there.
    let cases: [(&str, &str, &[&str]); 9] = [
        ("DROP TABLE keep", "SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'keep'", &["0"]),
        (
            "DROP TABLE IF EXISTS keep, missing",
            "SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'keep'",
            &["0"],
        ),
        (
            "CREATE INDEX keep_new ON keep (v)",
            "SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'keep_new'",
            &["1"],
        ),
        (
            "CREATE UNIQUE INDEX keep_new ON keep (id, v)",
            "SELECT id FROM keep WHERE id = 2 AND v = 'b'",
            &["2"],
        ),
        (
            "DROP INDEX keep_v_idx",
            "SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'keep_v_idx'",
            &["0"],
        ),
        (
            "ALTER TABLE keep ADD COLUMN extra INT DEFAULT 5",
            "SELECT id, extra FROM keep ORDER BY id",
            &["1|5", "2|5"],
        ),
        ("ALTER TABLE keep DROP COLUMN v", "SELECT * FROM keep ORDER BY id", &["1", "2"]),
        ("ALTER TABLE keep RENAME COLUMN v TO w", "SELECT w FROM keep ORDER BY id", &["a", "b"]),
        ("CREATE TABLE keep2 (id INT)", "SELECT count(*) FROM keep2", &["0"]),
    ];
    for (ddl, seen, expected) in cases {
        client.batch_execute(KEEP).await.unwrap();
        client.batch_execute("BEGIN").await.unwrap();
        client.batch_execute(ddl).await.unwrap_or_else(|e| panic!("{ddl}: {e}"));
        assert_eq!(rows(&client, seen).await, expected, "{ddl}: inside the block");
        keep_unchanged(&other, &format!("{ddl}: another session, before COMMIT")).await;
        client.batch_execute("ROLLBACK").await.unwrap();
        keep_unchanged(&client, &format!("{ddl}: after ROLLBACK")).await;

        client.batch_execute("BEGIN").await.unwrap();
        client.batch_execute(ddl).await.unwrap();
        client.batch_execute("COMMIT").await.unwrap();
        assert_eq!(rows(&other, seen).await, expected, "{ddl}: another session, after COMMIT");
    }

    // A failed block's DDL goes with it, and so does its COMMIT.
    client.batch_execute(KEEP).await.unwrap();
    client.batch_execute("BEGIN; ALTER TABLE keep ADD COLUMN extra INT").await.unwrap();
    assert_eq!(sqlstate(&client, "INSERT INTO keep VALUES (1, 'dup')").await, "23505");
    assert_eq!(sqlstate(&client, "CREATE TABLE keep2 (a INT)").await, "25P02");
    client.batch_execute("COMMIT").await.unwrap();
    keep_unchanged(&client, "a failed block's COMMIT").await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_in_one_block_builds_on_its_own_ddl() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    let other = connect(addr).await;
    let migration = "BEGIN;
         CREATE TABLE version (num TEXT PRIMARY KEY);
         INSERT INTO version VALUES ('one');
         CREATE TABLE item (id INT PRIMARY KEY, name TEXT);
         INSERT INTO item VALUES (1, 'a'), (2, 'b'), (3, 'c');
         ALTER TABLE item ADD COLUMN qty INT NOT NULL DEFAULT 1;
         CREATE UNIQUE INDEX item_name ON item (name);
         UPDATE item SET qty = 7 WHERE name = 'b';
         UPDATE version SET num = 'two' WHERE num = 'one';";
    // The unique index built inside the block holds for the block's
    // writes; the error fails the block, and ROLLBACK leaves nothing.
    client.batch_execute(migration).await.unwrap();
    assert_eq!(sqlstate(&client, "INSERT INTO item VALUES (4, 'a')").await, "23505");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(relations(&other, "item").await, ["0"]);
    assert_eq!(relations(&other, "version").await, ["0"]);
    client.batch_execute(migration).await.unwrap();
    assert_eq!(
        rows(&client, "SELECT id, name, qty FROM item ORDER BY id").await,
        ["1|a|1", "2|b|7", "3|c|1"]
    );
    assert_eq!(relations(&other, "item").await, ["0"], "nothing shows before COMMIT");
    assert_eq!(sqlstate(&other, "SELECT * FROM version").await, "42P01");
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(rows(&other, "SELECT num FROM version").await, ["two"]);
    assert_eq!(rows(&other, "SELECT id, qty FROM item WHERE name = 'b'").await, ["2|7"]);
    let plan = rows(&other, "EXPLAIN SELECT id FROM item WHERE name = 'c'").await.join("\n");
    assert!(plan.contains("by index item_name"), "{plan}");
    assert_eq!(rows(&other, "SELECT id FROM item WHERE name = 'c'").await, ["3"]);
    assert_eq!(sqlstate(&other, "INSERT INTO item VALUES (4, 'a')").await, "23505");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn ddl_through_the_extended_protocol_is_transactional() {
    let (node, addr) = start().await;
    let mut client = connect(addr).await;
    let tx = client.transaction().await.unwrap();
    tx.execute("CREATE TABLE tx2 (a INT PRIMARY KEY, b TEXT)", &[]).await.unwrap();
    assert_eq!(tx.execute("INSERT INTO tx2 VALUES ($1, $2)", &[&7i32, &"x"]).await.unwrap(), 1);
    let statement = tx.prepare("SELECT b FROM tx2 WHERE a = $1").await.unwrap();
    let row = tx.query_one(&statement, &[&7i32]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "x");
    tx.rollback().await.unwrap();
    assert_eq!(relations(&client, "tx2").await, ["0"]);

    let tx = client.transaction().await.unwrap();
    tx.execute("CREATE TABLE tx2 (a INT PRIMARY KEY, b TEXT)", &[]).await.unwrap();
    tx.execute("INSERT INTO tx2 VALUES ($1, $2)", &[&8i32, &"y"]).await.unwrap();
    tx.execute("ALTER TABLE tx2 ADD COLUMN c INT DEFAULT 3", &[]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows(&client, "SELECT a, b, c FROM tx2").await, ["8|y|3"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn another_sessions_write_waits_for_ddl_in_progress() {
    let (node, addr) = start().await;
    let ddl = connect(addr).await;
    let writer = connect(addr).await;
    ddl.batch_execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a')")
        .await
        .unwrap();

    // An INSERT while ALTER TABLE's block is open waits for it, then
    // writes under the new definition (the new column's default).
    ddl.batch_execute("BEGIN; ALTER TABLE t ADD COLUMN n INT DEFAULT 5").await.unwrap();
    let insert = tokio::spawn(async move {
        writer.batch_execute("INSERT INTO t (id, v) VALUES (2, 'b')").await.map(|()| writer)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!insert.is_finished(), "the INSERT waits for the DDL's transaction");
    ddl.batch_execute("COMMIT").await.unwrap();
    let writer = insert.await.unwrap().unwrap();
    assert_eq!(rows(&ddl, "SELECT id, v, n FROM t ORDER BY id").await, ["1|a|5", "2|b|5"]);

    // An index built while another session's INSERT waits holds that row
    // once both commit.
    ddl.batch_execute("BEGIN; CREATE INDEX t_v ON t (v)").await.unwrap();
    let insert = tokio::spawn(async move {
        writer.batch_execute("INSERT INTO t (id, v) VALUES (3, 'c')").await.map(|()| writer)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!insert.is_finished(), "the INSERT waits for CREATE INDEX's transaction");
    ddl.batch_execute("COMMIT").await.unwrap();
    let writer = insert.await.unwrap().unwrap();
    let plan = rows(&ddl, "EXPLAIN SELECT id FROM t WHERE v = 'c'").await.join("\n");
    assert!(plan.contains("by index t_v"), "{plan}");
    assert_eq!(rows(&ddl, "SELECT id FROM t WHERE v = 'c'").await, ["3"]);

    // A view being made holds the table it reads: a DROP of that table
    // waits for it, then finds the view (2BP01).
    ddl.batch_execute("BEGIN; CREATE VIEW t_view AS SELECT id FROM t").await.unwrap();
    let drop = tokio::spawn(async move {
        let state = sqlstate(&writer, "DROP TABLE t").await;
        (writer, state)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!drop.is_finished(), "the DROP waits for CREATE VIEW's transaction");
    ddl.batch_execute("COMMIT").await.unwrap();
    let (writer, state) = drop.await.unwrap();
    assert_eq!(state, "2BP01");
    ddl.batch_execute("DROP VIEW t_view").await.unwrap();

    // A transaction that wrote under the old definition cannot commit
    // beside the new one.
    writer.batch_execute("BEGIN; INSERT INTO t (id, v) VALUES (4, 'd')").await.unwrap();
    ddl.batch_execute("ALTER TABLE t DROP COLUMN v").await.unwrap();
    assert_eq!(sqlstate(&writer, "COMMIT").await, "40001");
    assert_eq!(rows(&ddl, "SELECT id FROM t ORDER BY id").await, ["1", "2", "3"]);
    // ... and a DROP TABLE leaves no rows of a late writer behind.
    writer.batch_execute("BEGIN; INSERT INTO t (id) VALUES (5)").await.unwrap();
    ddl.batch_execute("DROP TABLE t").await.unwrap();
    assert_eq!(sqlstate(&writer, "COMMIT").await, "40001");
    ddl.batch_execute("CREATE TABLE t (id INT PRIMARY KEY)").await.unwrap();
    assert_eq!(rows(&ddl, "SELECT count(*) FROM t").await, ["0"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_ddl_survives_a_restart_and_rolled_back_ddl_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (node, addr) = start_with(common::lsm_config(dir.path())).await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "BEGIN;
             CREATE TABLE kept (id INT PRIMARY KEY, v TEXT);
             INSERT INTO kept VALUES (1, 'a'), (2, 'b');
             ALTER TABLE kept ADD COLUMN n INT DEFAULT 7;
             CREATE UNIQUE INDEX kept_v ON kept (v);
             COMMIT;",
        )
        .await
        .unwrap();
    client
        .batch_execute(
            "BEGIN;
             CREATE TABLE gone (x INT);
             INSERT INTO gone VALUES (1);
             DROP TABLE kept;
             ROLLBACK;",
        )
        .await
        .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_ddl_survives_kill_9_and_an_open_block_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = common::spawn_node(dir.path()).await;
    let client = connect(server.pg).await;
    client
        .batch_execute(
            "BEGIN;
             CREATE TABLE kept (id INT PRIMARY KEY, v TEXT);
             INSERT INTO kept VALUES (1, 'a'), (2, 'b');
             CREATE UNIQUE INDEX kept_v ON kept (v);
             CREATE TABLE kid (id INT PRIMARY KEY, k INT REFERENCES kept (id));
             INSERT INTO kid VALUES (10, 1);
             ALTER TABLE kid ADD CONSTRAINT kid_k_small CHECK (k < 100);
             ALTER TABLE kid ADD COLUMN k2 INT GENERATED ALWAYS AS (k * 2) STORED;
             CREATE VIEW kid_view AS SELECT id, k2 FROM kid;
             CREATE SEQUENCE kept_seq START 100 INCREMENT 10;
             CREATE TABLE moving (id SERIAL PRIMARY KEY, v TEXT UNIQUE);
             INSERT INTO moving (v) VALUES ('x');
             ALTER TABLE moving RENAME TO moved;
             COMMENT ON COLUMN moved.v IS 'the value';
             COMMIT;",
        )
        .await
        .unwrap();
    // Values drawn outside any block, each acknowledged before the kill.
    assert_eq!(rows(&client, "SELECT nextval('kept_seq'), nextval('kept_seq')").await, ["100|110"]);
    // A block still open when the process dies: its DDL never committed.
    client
        .batch_execute(
            "BEGIN;
             CREATE TABLE gone (x INT);
             INSERT INTO gone VALUES (1);
             ALTER TABLE kept ADD COLUMN extra INT DEFAULT 1;
             CREATE VIEW gone_view AS SELECT x FROM gone;
             CREATE SEQUENCE gone_seq;
             ALTER SEQUENCE kept_seq INCREMENT 1;
             ALTER TABLE moved RENAME TO moved_gone;
             DROP TABLE kid CASCADE;",
        )
        .await
        .unwrap();
    server.child.kill().await.unwrap(); // SIGKILL: no shutdown code runs.

    let server = common::spawn_node(dir.path()).await;
    let client = connect(server.pg).await;
    assert_eq!(rows(&client, "SELECT id, v FROM kept ORDER BY id").await, ["1|a", "2|b"]);
    assert_eq!(sqlstate(&client, "SELECT extra FROM kept").await, "42703");
    assert_eq!(sqlstate(&client, "INSERT INTO kept VALUES (3, 'a')").await, "23505");
    assert_eq!(rows(&client, "SELECT k FROM kid").await, ["1"]);
    assert_eq!(rows(&client, "SELECT id, k2 FROM kid_view").await, ["10|2"]);
    assert_eq!(sqlstate(&client, "INSERT INTO kid VALUES (11, 100)").await, "23514");
    assert_eq!(relations(&client, "gone_view").await, ["0"]);
    assert_eq!(sqlstate(&client, "DELETE FROM kept WHERE id = 1").await, "23503");
    assert_eq!(relations(&client, "gone").await, ["0"]);
    assert_eq!(relations(&client, "gone_seq").await, ["0"]);
    assert_eq!(relations(&client, "moved_gone").await, ["0"]);
    assert_eq!(relations(&client, "moving").await, ["0"]);
    assert_eq!(rows(&client, "SELECT id, v FROM moved").await, ["1|x"]);
    assert_eq!(rows(&client, "SELECT col_description('moved'::regclass, 2)").await, ["the value"]);
    assert_eq!(rows(&client, "INSERT INTO moved (v) VALUES ('y') RETURNING id").await, ["2"]);
    assert_eq!(sqlstate(&client, "INSERT INTO moved (v) VALUES ('x')").await, "23505");
    // The sequence keeps its rules and its last value: nothing drawn is
    // handed out again.
    assert_eq!(rows(&client, "SELECT nextval('kept_seq')").await, ["120"]);
}
