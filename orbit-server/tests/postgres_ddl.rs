//! DDL and the newer statements through the PostgreSQL front door with
//! `tokio-postgres` over real sockets: EXPLAIN, INSERT ... ON CONFLICT DO
//! UPDATE, identity columns, ALTER TABLE ADD/DROP/RENAME COLUMN, and a
//! query string of several statements as one implicit transaction.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::{connect, count, rows, sqlstate, start};

use tokio_postgres::SimpleQueryMessage;

/// The result column names of a simple query that returns rows.
async fn columns(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let row = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    row.unwrap_or_else(|| panic!("{sql}: no rows")).columns().iter().map(|c| c.name().to_string()).collect()
}

/// The error message of a statement that fails.
async fn message(client: &tokio_postgres::Client, sql: &str) -> String {
    let error = client.simple_query(sql).await.expect_err(sql);
    error.as_db_error().unwrap_or_else(|| panic!("{sql}: {error}")).message().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_shows_a_point_read_or_the_logical_plan() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "CREATE TABLE dept (id INT PRIMARY KEY, name TEXT);
             CREATE TABLE emp (id INT PRIMARY KEY, name TEXT, dept INT);
             INSERT INTO dept VALUES (1, 'eng');
             INSERT INTO emp VALUES (1, 'ada', 1);",
        )
        .await
        .unwrap();

    let point = "EXPLAIN SELECT name FROM emp WHERE id = 1";
    assert_eq!(columns(&client, point).await, ["QUERY PLAN"]);
    assert_eq!(rows(&client, point).await, ["Point Read on row:emp (id = 1)"]);

    let join = rows(&client, "EXPLAIN SELECT e.name, d.name FROM emp e JOIN dept d ON e.dept = d.id").await;
    assert!(join.iter().any(|line| line.contains("Join")), "{join:#?}");
    for table in ["emp", "dept"] {
        assert!(join.iter().any(|line| line.contains("TableScan") && line.contains(table)), "{join:#?}");
    }
    // Nested steps are indented under the step that reads them.
    assert!(!join[0].starts_with(' ') && join[1..].iter().all(|line| line.starts_with(' ')), "{join:#?}");
    let verbose = rows(&client, "EXPLAIN VERBOSE SELECT e.name FROM emp e WHERE e.dept = 1").await;
    assert!(verbose.iter().any(|line| line.contains("TableScan")), "{verbose:#?}");

    assert_eq!(sqlstate(&client, "EXPLAIN ANALYZE SELECT * FROM emp").await, "0A000");
    let insert = message(&client, "EXPLAIN INSERT INTO emp VALUES (2, 'bob', 1)").await;
    assert_eq!(insert, "EXPLAIN INSERT is not supported by Orbit yet");
    assert_eq!(sqlstate(&client, "EXPLAIN SELECT * FROM nothing").await, "42P01");
    // EXPLAIN does not run the query: nothing changed.
    assert_eq!(rows(&client, "SELECT count(*) FROM emp").await, ["1"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn on_conflict_do_update_updates_the_existing_row() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v INT NOT NULL, n INT DEFAULT 0)")
        .await
        .unwrap();
    assert_eq!(count(&client, "INSERT INTO kv VALUES ('a', 1)").await, 1);

    // One row updated (existing values and excluded), one inserted; both
    // returned and counted.
    let upsert = "INSERT INTO kv VALUES ('a', 10), ('b', 2) ON CONFLICT (k) \
                  DO UPDATE SET v = kv.v + excluded.v, n = kv.n + 1 RETURNING k, v, n";
    assert_eq!(rows(&client, upsert).await, ["a|11|1", "b|2|0"]);
    assert_eq!(
        count(&client, "INSERT INTO kv VALUES ('a', 0), ('c', 3) ON CONFLICT (k) DO UPDATE SET n = 7").await,
        2
    );
    assert_eq!(rows(&client, "SELECT k, v, n FROM kv ORDER BY k").await, ["a|11|7", "b|2|0", "c|3|0"]);

    // The WHERE decides: a row it rejects is neither updated nor counted.
    let larger =
        "INSERT INTO kv VALUES ('a', 5) ON CONFLICT (k) DO UPDATE SET v = excluded.v WHERE kv.v < excluded.v";
    assert_eq!(count(&client, larger).await, 0);
    assert_eq!(count(&client, &larger.replace("5)", "50)")).await, 1);
    let never = "INSERT INTO kv VALUES ('b', 9) ON CONFLICT (k) DO UPDATE SET v = 9 WHERE false";
    assert_eq!(count(&client, never).await, 0);
    assert_eq!(rows(&client, "SELECT k, v FROM kv WHERE k IN ('a', 'b') ORDER BY k").await, ["a|50", "b|2"]);

    // The target table by its alias; ON CONSTRAINT names the key.
    let aliased =
        "INSERT INTO kv AS t VALUES ('a', 0) ON CONFLICT ON CONSTRAINT kv_pkey DO UPDATE SET v = t.v + 1";
    assert_eq!(count(&client, aliased).await, 1);
    assert_eq!(rows(&client, "SELECT v FROM kv WHERE k = 'a'").await, ["51"]);

    // A row proposed twice fails the statement, which then wrote nothing.
    let twice = "INSERT INTO kv VALUES ('d', 1), ('d', 2) ON CONFLICT (k) DO UPDATE SET v = excluded.v";
    assert_eq!(sqlstate(&client, twice).await, "21000");
    let second = message(&client, twice).await;
    assert_eq!(second, "ON CONFLICT DO UPDATE command cannot affect row a second time");
    assert!(rows(&client, "SELECT * FROM kv WHERE k = 'd'").await.is_empty());

    // Only the primary key is a conflict target; SET must be something
    // Orbit evaluates, over columns that exist.
    let not_key = "INSERT INTO kv VALUES ('a', 1) ON CONFLICT (v) DO UPDATE SET v = 1";
    assert_eq!(sqlstate(&client, not_key).await, "42P10");
    let no_target = "INSERT INTO kv VALUES ('a', 1) ON CONFLICT DO UPDATE SET v = 1";
    assert_eq!(sqlstate(&client, no_target).await, "42601");
    let missing = "INSERT INTO kv VALUES ('a', 1) ON CONFLICT (k) DO UPDATE SET v = excluded.nope";
    assert_eq!(sqlstate(&client, missing).await, "42703");
    let function = "INSERT INTO kv VALUES ('a', 1) ON CONFLICT (k) DO UPDATE SET v = abs(excluded.v)";
    assert_eq!(sqlstate(&client, function).await, "0A000");
    let null = "INSERT INTO kv VALUES ('a', 1) ON CONFLICT (k) DO UPDATE SET v = NULL";
    assert_eq!(sqlstate(&client, null).await, "23502");

    // Inside a block, the update rolls back with it.
    client.batch_execute("BEGIN").await.unwrap();
    let update = "INSERT INTO kv VALUES ('a', 999) ON CONFLICT (k) DO UPDATE SET v = excluded.v";
    assert_eq!(count(&client, update).await, 1);
    assert_eq!(rows(&client, "SELECT v FROM kv WHERE k = 'a'").await, ["999"]);
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(rows(&client, "SELECT v FROM kv WHERE k = 'a'").await, ["51"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_columns_number_rows_and_always_refuses_values() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "CREATE TABLE a (id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT);
             CREATE TABLE b (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name TEXT);",
        )
        .await
        .unwrap();

    assert_eq!(rows(&client, "INSERT INTO a (name) VALUES ('x'), ('y') RETURNING id").await, ["1", "2"]);
    assert_eq!(rows(&client, "INSERT INTO a VALUES (DEFAULT, 'z') RETURNING id").await, ["3"]);
    let explicit = "INSERT INTO a (id, name) VALUES (10, 'w')";
    assert_eq!(sqlstate(&client, explicit).await, "428C9");
    assert_eq!(message(&client, explicit).await, "cannot insert a non-DEFAULT value into column \"id\"");
    assert_eq!(sqlstate(&client, "INSERT INTO a VALUES (NULL, 'n')").await, "428C9");
    assert_eq!(sqlstate(&client, "UPDATE a SET id = 5 WHERE id = 1").await, "428C9");
    assert_eq!(rows(&client, "SELECT id, name FROM a ORDER BY id").await, ["1|x", "2|y", "3|z"]);

    assert_eq!(rows(&client, "INSERT INTO b (name) VALUES ('x') RETURNING id").await, ["1"]);
    assert_eq!(count(&client, "INSERT INTO b VALUES (7, 'y')").await, 1);
    assert_eq!(rows(&client, "INSERT INTO b (name) VALUES ('z') RETURNING id").await, ["2"]);
    assert_eq!(sqlstate(&client, "INSERT INTO b VALUES (NULL, 'n')").await, "23502");
    assert_eq!(rows(&client, "SELECT id FROM b ORDER BY id").await, ["1", "2", "7"]);

    assert_eq!(sqlstate(&client, "CREATE TABLE c (id TEXT GENERATED ALWAYS AS IDENTITY)").await, "22023");
    assert_eq!(
        sqlstate(&client, "CREATE TABLE c (id INT DEFAULT 1 GENERATED BY DEFAULT AS IDENTITY)").await,
        "42601"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn alter_table_adds_drops_and_renames_columns_in_every_row() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute("CREATE TABLE t (id INT PRIMARY KEY, a TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y')")
        .await
        .unwrap();

    // ADD COLUMN: a default fills the existing rows; NOT NULL needs one.
    client.batch_execute("ALTER TABLE t ADD COLUMN n INT NOT NULL DEFAULT 5").await.unwrap();
    assert_eq!(rows(&client, "SELECT id, a, n FROM t ORDER BY id").await, ["1|x|5", "2|y|5"]);
    let not_null = "ALTER TABLE t ADD COLUMN m INT NOT NULL";
    assert_eq!(sqlstate(&client, not_null).await, "23502");
    assert_eq!(message(&client, not_null).await, "column \"m\" of relation \"t\" contains null values");
    client.batch_execute("ALTER TABLE t ADD m INT").await.unwrap();
    assert_eq!(rows(&client, "SELECT id, m FROM t ORDER BY id").await, ["1|NULL", "2|NULL"]);
    assert_eq!(sqlstate(&client, "ALTER TABLE t ADD COLUMN a INT").await, "42701");
    client.batch_execute("ALTER TABLE t ADD COLUMN IF NOT EXISTS a INT").await.unwrap();

    // DROP COLUMN, then ADD COLUMN of the same name: the old values are gone.
    client.batch_execute("ALTER TABLE t DROP COLUMN a").await.unwrap();
    assert_eq!(columns(&client, "SELECT * FROM t").await, ["id", "n", "m"]);
    assert_eq!(sqlstate(&client, "SELECT a FROM t").await, "42703");
    client.batch_execute("ALTER TABLE t ADD COLUMN a TEXT").await.unwrap();
    assert_eq!(rows(&client, "SELECT id, a FROM t ORDER BY id").await, ["1|NULL", "2|NULL"]);
    assert_eq!(rows(&client, "SELECT a FROM t WHERE id = 1").await, ["NULL"]);
    assert_eq!(sqlstate(&client, "ALTER TABLE t DROP COLUMN id").await, "0A000");
    assert_eq!(sqlstate(&client, "ALTER TABLE t DROP COLUMN nope").await, "42703");
    client.batch_execute("ALTER TABLE t DROP COLUMN IF EXISTS nope").await.unwrap();

    // RENAME COLUMN: the values follow the name, and so does the default.
    client.batch_execute("ALTER TABLE t RENAME COLUMN n TO qty").await.unwrap();
    assert_eq!(rows(&client, "SELECT id, qty FROM t ORDER BY id").await, ["1|5", "2|5"]);
    assert_eq!(sqlstate(&client, "SELECT n FROM t").await, "42703");
    assert_eq!(count(&client, "INSERT INTO t (id) VALUES (3)").await, 1);
    assert_eq!(rows(&client, "SELECT qty FROM t WHERE id = 3").await, ["5"]);
    assert_eq!(sqlstate(&client, "ALTER TABLE t RENAME COLUMN nope TO x").await, "42703");
    assert_eq!(sqlstate(&client, "ALTER TABLE t RENAME COLUMN qty TO id").await, "42701");

    // Several actions in one statement, each seeing the ones before it.
    let several = "ALTER TABLE t ADD COLUMN b INT DEFAULT 1, DROP COLUMN m, ADD COLUMN c TEXT";
    client.batch_execute(several).await.unwrap();
    assert_eq!(columns(&client, "SELECT * FROM t").await, ["id", "qty", "a", "b", "c"]);
    let filled = rows(&client, "SELECT id, b, c FROM t ORDER BY id").await;
    assert_eq!(filled, ["1|1|NULL", "2|1|NULL", "3|1|NULL"]);
    // An error in a later action leaves the earlier ones undone.
    assert_eq!(sqlstate(&client, "ALTER TABLE t ADD COLUMN d INT, DROP COLUMN nope").await, "42703");
    assert_eq!(sqlstate(&client, "SELECT d FROM t").await, "42703");

    // A serial column's sequence is named after it: renaming is refused.
    client.batch_execute("CREATE TABLE s (id SERIAL PRIMARY KEY, v INT)").await.unwrap();
    assert_eq!(sqlstate(&client, "ALTER TABLE s RENAME COLUMN id TO k").await, "0A000");
    // Rows without a primary key keep their hidden keys.
    client.batch_execute("CREATE TABLE nk (a INT); INSERT INTO nk VALUES (1), (2)").await.unwrap();
    client.batch_execute("ALTER TABLE nk ADD COLUMN b INT DEFAULT 2").await.unwrap();
    assert_eq!(rows(&client, "SELECT a, b FROM nk ORDER BY a").await, ["1|2", "2|2"]);
    assert_eq!(count(&client, "UPDATE nk SET b = 3 WHERE a = 1").await, 1);
    // In a block, ALTER TABLE rewrites the block's own rows too, and goes
    // with its ROLLBACK (more in postgres_ddl_tx.rs).
    client.batch_execute("BEGIN; INSERT INTO t (id) VALUES (4)").await.unwrap();
    client.batch_execute("ALTER TABLE t ADD COLUMN e INT DEFAULT 6").await.unwrap();
    assert_eq!(rows(&client, "SELECT id, e FROM t WHERE id >= 3 ORDER BY id").await, ["3|6", "4|6"]);
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(sqlstate(&client, "SELECT e FROM t").await, "42703");
    assert_eq!(rows(&client, "SELECT count(*) FROM t WHERE id = 4").await, ["0"]);
    assert_eq!(sqlstate(&client, "ALTER TABLE missing ADD COLUMN e INT").await, "42P01");
    client.batch_execute("ALTER TABLE IF EXISTS missing ADD COLUMN e INT").await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_string_runs_as_one_implicit_transaction() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    let other = connect(addr).await;
    client.batch_execute("CREATE TABLE t (id INT PRIMARY KEY)").await.unwrap();

    // The second INSERT fails: the first one's row goes too.
    assert_eq!(sqlstate(&client, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)").await, "23505");
    assert_eq!(rows(&client, "SELECT count(*) FROM t").await, ["0"]);
    assert_eq!(
        sqlstate(&client, "INSERT INTO t VALUES (2); UPDATE t SET id = id / 0; SELECT 1").await,
        "22012"
    );
    assert_eq!(rows(&other, "SELECT count(*) FROM t").await, ["0"]);

    // A later statement sees an earlier one's writes, and all commit.
    assert_eq!(rows(&client, "INSERT INTO t VALUES (3); SELECT count(*) FROM t").await, ["1"]);
    assert_eq!(rows(&other, "SELECT id FROM t").await, ["3"]);
    assert_eq!(rows(&client, "SELECT 1").await, ["1"], "the connection is idle again");
    node.shutdown().await.unwrap();
}
