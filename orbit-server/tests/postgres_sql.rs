//! SQL through the PostgreSQL front door with `tokio-postgres`: general
//! queries (DataFusion), UPDATE and DELETE, transactions and row locks,
//! session parameters, and transactions across a `kill -9`.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::{connect, count, rows, sqlstate, start};

use tokio_postgres::SimpleQueryMessage;

async fn fixture(client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "CREATE TABLE dept (id INT PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE emp (id INT PRIMARY KEY, name TEXT NOT NULL, dept INT, salary BIGINT, rate DOUBLE PRECISION);
             INSERT INTO dept VALUES (1, 'eng'), (2, 'ops'), (3, 'empty');
             INSERT INTO emp VALUES (1, 'ada', 1, 300, 1.5), (2, 'bob', 1, 200, 2.5), (3, 'cy', 2, 100, NULL),
                                    (4, 'di', NULL, 50, 0.5), (5, 'ed', 2, 100, 1.0);",
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_run_through_the_engine() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    fixture(&client).await;

    assert_eq!(rows(&client, "SELECT 1, 'a' || 'b', 7 / 2, upper('x')").await, ["1|ab|3|X"]);
    assert_eq!(
        rows(&client, "SELECT name FROM emp WHERE salary >= 100 ORDER BY salary DESC, name LIMIT 3").await,
        ["ada", "bob", "cy"]
    );
    assert_eq!(rows(&client, "SELECT name FROM emp ORDER BY id LIMIT 2 OFFSET 3").await, ["di", "ed"]);
    assert_eq!(
        rows(&client, "SELECT DISTINCT salary FROM emp ORDER BY 1").await,
        ["50", "100", "200", "300"]
    );
    assert_eq!(
        rows(
            &client,
            "SELECT dept, count(*), sum(salary) FROM emp GROUP BY dept HAVING count(*) > 1 ORDER BY dept"
        )
        .await,
        ["1|2|500", "2|2|200"]
    );
    assert_eq!(rows(&client, "SELECT count(*), min(name), max(rate) FROM emp").await, ["5|ada|2.5"]);
    assert_eq!(
        rows(&client, "SELECT e.name, d.name FROM emp e JOIN dept d ON e.dept = d.id ORDER BY e.id").await,
        ["ada|eng", "bob|eng", "cy|ops", "ed|ops"]
    );
    assert_eq!(
        rows(&client, "SELECT d.name, count(e.id) FROM dept d LEFT JOIN emp e ON e.dept = d.id GROUP BY d.name ORDER BY d.name")
            .await,
        ["empty|0", "eng|2", "ops|2"]
    );
    assert_eq!(
        rows(
            &client,
            "SELECT name FROM emp WHERE dept IN (SELECT id FROM dept WHERE name = 'ops') ORDER BY name"
        )
        .await,
        ["cy", "ed"]
    );
    assert_eq!(
        rows(&client, "WITH rich AS (SELECT * FROM emp WHERE salary > 150) SELECT count(*) FROM rich").await,
        ["2"]
    );
    assert_eq!(
        rows(
            &client,
            "SELECT name, coalesce(rate, 0), length(name) FROM emp WHERE rate IS NULL OR id = 4 ORDER BY id"
        )
        .await,
        ["cy|0|2", "di|0.5|2"]
    );
    assert_eq!(
        rows(&client, "SELECT id FROM emp WHERE name LIKE '%d%' AND dept IS NOT NULL ORDER BY id").await,
        ["1", "5"]
    );

    // Prepared with parameters on non-key columns, typed by the engine.
    let stmt = client
        .prepare("SELECT name, salary FROM emp WHERE salary > $1 AND dept = $2 ORDER BY name")
        .await
        .unwrap();
    assert_eq!(stmt.params().iter().map(|t| t.name()).collect::<Vec<_>>(), ["int8", "int4"]);
    let found = client.query(&stmt, &[&150i64, &1i32]).await.unwrap();
    let names: Vec<String> = found.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, ["ada", "bob"]);
    assert_eq!(found[0].get::<_, i64>(1), 300);
    let total: i64 = client.query_one("SELECT sum(salary) FROM emp", &[]).await.unwrap().get(0);
    assert_eq!(total, 750);

    // PostgreSQL's errors.
    assert_eq!(sqlstate(&client, "SELECT nope FROM emp").await, "42703");
    assert_eq!(sqlstate(&client, "SELECT * FROM nothing").await, "42P01");
    assert_eq!(sqlstate(&client, "SELECT salary / 0 FROM emp").await, "22012");
    assert_eq!(sqlstate(&client, "SELECT * FROM emp WHERE").await, "42601");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn update_and_delete_with_returning() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    fixture(&client).await;

    // By primary key (the fast path) and by any predicate (the engine).
    assert_eq!(count(&client, "UPDATE emp SET salary = salary + 10 WHERE id = 1").await, 1);
    assert_eq!(count(&client, "UPDATE emp SET salary = salary * 2, rate = 9 WHERE dept = 2").await, 2);
    assert_eq!(count(&client, "UPDATE emp SET salary = 0 WHERE id = 99").await, 0);
    assert_eq!(
        rows(&client, "SELECT id, salary, rate FROM emp ORDER BY id").await,
        ["1|310|1.5", "2|200|2.5", "3|200|9", "4|50|0.5", "5|200|9"]
    );
    assert_eq!(
        rows(&client, "UPDATE emp SET name = upper(name) WHERE salary = 200 AND id < 3 RETURNING id, name")
            .await,
        ["2|BOB"]
    );
    // Moving a row to another key.
    assert_eq!(rows(&client, "UPDATE emp SET id = 40 WHERE id = 4 RETURNING *").await, ["40|di|NULL|50|0.5"]);
    assert!(rows(&client, "SELECT * FROM emp WHERE id = 4").await.is_empty());
    assert_eq!(sqlstate(&client, "UPDATE emp SET id = 1 WHERE id = 2").await, "23505");
    assert_eq!(sqlstate(&client, "UPDATE emp SET name = NULL WHERE id = 2").await, "23502");
    assert_eq!(sqlstate(&client, "UPDATE emp SET nope = 1").await, "42703");
    assert_eq!(sqlstate(&client, "UPDATE emp SET salary = 'x' WHERE id = 2").await, "22P02");

    assert_eq!(rows(&client, "DELETE FROM emp WHERE id = 40 RETURNING name").await, ["di"]);
    assert_eq!(count(&client, "DELETE FROM emp WHERE rate > 5").await, 2);
    assert_eq!(rows(&client, "SELECT id FROM emp ORDER BY id").await, ["1", "2"]);
    assert_eq!(count(&client, "DELETE FROM emp").await, 2);
    assert_eq!(rows(&client, "SELECT count(*) FROM emp").await, ["0"]);

    // INSERT ... RETURNING and ON CONFLICT DO NOTHING.
    assert_eq!(rows(&client, "INSERT INTO emp (id, name) VALUES (7, 'g') RETURNING id, name").await, ["7|g"]);
    assert_eq!(
        count(&client, "INSERT INTO emp (id, name) VALUES (7, 'dup'), (8, 'h') ON CONFLICT DO NOTHING").await,
        1
    );
    assert_eq!(rows(&client, "SELECT name FROM emp ORDER BY id").await, ["g", "h"]);

    // Prepared UPDATE: parameters typed from the expressions they meet.
    let stmt =
        client.prepare("UPDATE emp SET salary = coalesce(salary, 0) + $1 WHERE id = $2").await.unwrap();
    assert_eq!(stmt.params().iter().map(|t| t.name()).collect::<Vec<_>>(), ["int8", "int4"]);
    assert_eq!(client.execute(&stmt, &[&5i64, &7i32]).await.unwrap(), 1);
    let fast = client.prepare("UPDATE emp SET salary = salary + $1 WHERE id = $2").await.unwrap();
    assert_eq!(client.execute(&fast, &[&5i64, &7i32]).await.unwrap(), 1);
    assert_eq!(rows(&client, "SELECT salary FROM emp WHERE id = 7").await, ["10"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_commit_roll_back_and_fail() {
    let (node, addr) = start().await;
    let mut a = connect(addr).await;
    let b = connect(addr).await;
    fixture(&a).await;

    // Uncommitted writes are seen by their own transaction only.
    a.batch_execute("BEGIN; INSERT INTO dept VALUES (9, 'new'); UPDATE emp SET salary = 1 WHERE id = 1; DELETE FROM emp WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(rows(&a, "SELECT name FROM dept WHERE id = 9").await, ["new"]);
    assert_eq!(rows(&a, "SELECT count(*), sum(salary) FROM emp").await, ["4|251"]);
    assert!(rows(&b, "SELECT name FROM dept WHERE id = 9").await.is_empty());
    assert_eq!(rows(&b, "SELECT count(*), sum(salary) FROM emp").await, ["5|750"]);
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(rows(&b, "SELECT name FROM dept WHERE id = 9").await, ["new"]);
    assert_eq!(rows(&b, "SELECT count(*), sum(salary) FROM emp").await, ["4|251"]);

    // ROLLBACK discards everything, in every table.
    a.batch_execute("BEGIN; INSERT INTO dept VALUES (10, 'gone'); DELETE FROM emp; ROLLBACK").await.unwrap();
    assert!(rows(&b, "SELECT * FROM dept WHERE id = 10").await.is_empty());
    assert_eq!(rows(&b, "SELECT count(*) FROM emp").await, ["4"]);

    // An error fails the block: later statements get 25P02, COMMIT rolls back.
    a.batch_execute("BEGIN; INSERT INTO dept VALUES (11, 'x')").await.unwrap();
    assert_eq!(sqlstate(&a, "INSERT INTO dept VALUES (1, 'dup')").await, "23505");
    assert_eq!(sqlstate(&a, "SELECT 1").await, "25P02");
    let messages = a.simple_query("COMMIT").await.unwrap();
    assert!(matches!(messages.last(), Some(SimpleQueryMessage::CommandComplete(_))));
    assert!(rows(&b, "SELECT * FROM dept WHERE id = 11").await.is_empty());
    assert_eq!(rows(&a, "SELECT 1").await, ["1"], "the connection is usable after the block");

    // tokio-postgres' own transaction API, with prepared statements.
    let tx = a.transaction().await.unwrap();
    tx.execute("INSERT INTO dept VALUES ($1, $2)", &[&12i32, &"tx"]).await.unwrap();
    let seen: String = tx.query_one("SELECT name FROM dept WHERE id = $1", &[&12i32]).await.unwrap().get(0);
    assert_eq!(seen, "tx");
    tx.rollback().await.unwrap();
    assert!(rows(&b, "SELECT * FROM dept WHERE id = 12").await.is_empty());
    let tx = a.transaction().await.unwrap();
    tx.execute("INSERT INTO dept VALUES ($1, $2)", &[&12i32, &"tx"]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows(&b, "SELECT name FROM dept WHERE id = 12").await, ["tx"]);

    // A connection that closes mid-transaction rolls back and frees its
    // locks: b's update waits for the lock until the server sees the close.
    let c = connect(addr).await;
    c.batch_execute("BEGIN; UPDATE dept SET name = 'locked' WHERE id = 1").await.unwrap();
    drop(c);
    assert_eq!(count(&b, "UPDATE dept SET name = 'free' WHERE id = 1").await, 1);
    assert_eq!(rows(&b, "SELECT name FROM dept WHERE id = 1").await, ["free"]);
    node.shutdown().await.unwrap();
}

/// The values of a one-column result.
fn texts(rows: &[tokio_postgres::Row]) -> Vec<Option<String>> {
    rows.iter().map(|row| row.get(0)).collect()
}

/// A prepared `SELECT ... WHERE pk = $1` runs without its statement being
/// analysed again: it must still see its transaction, fail a block, refuse
/// a bad key and follow DDL made on another connection.
#[tokio::test(flavor = "multi_thread")]
async fn prepared_point_queries_follow_transactions_and_ddl() {
    let (node, addr) = start().await;
    let a = connect(addr).await;
    let b = connect(addr).await;
    a.batch_execute("CREATE TABLE kv (id INT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES (1, 'one')")
        .await
        .unwrap();
    let get = a.prepare("SELECT v FROM kv WHERE id = $1").await.unwrap();
    let get_b = b.prepare("SELECT v FROM kv WHERE id = $1").await.unwrap();
    assert_eq!(texts(&a.query(&get, &[&1i32]).await.unwrap()), [Some("one".into())]);
    assert!(a.query(&get, &[&2i32]).await.unwrap().is_empty());

    // A block sees its own writes; other connections see them after COMMIT.
    a.batch_execute("BEGIN; INSERT INTO kv VALUES (2, 'two'); UPDATE kv SET v = 'uno' WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(texts(&a.query(&get, &[&2i32]).await.unwrap()), [Some("two".into())]);
    assert_eq!(texts(&a.query(&get, &[&1i32]).await.unwrap()), [Some("uno".into())]);
    assert!(b.query(&get_b, &[&2i32]).await.unwrap().is_empty());
    assert_eq!(texts(&b.query(&get_b, &[&1i32]).await.unwrap()), [Some("one".into())]);
    a.batch_execute("ROLLBACK").await.unwrap();
    assert!(a.query(&get, &[&2i32]).await.unwrap().is_empty());
    assert_eq!(texts(&a.query(&get, &[&1i32]).await.unwrap()), [Some("one".into())]);
    a.batch_execute("BEGIN; INSERT INTO kv VALUES (3, 'three'); COMMIT").await.unwrap();
    assert_eq!(texts(&b.query(&get_b, &[&3i32]).await.unwrap()), [Some("three".into())]);

    // A failed block refuses it until ROLLBACK.
    a.batch_execute("BEGIN").await.unwrap();
    assert_eq!(sqlstate(&a, "SELECT 1 / 0").await, "22012");
    let e = a.query(&get, &[&1i32]).await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("25P02"), "{e}");
    a.batch_execute("ROLLBACK").await.unwrap();

    // A key that is not of the key's type: 22P02, and it fails a block.
    let by_text = a
        .prepare_typed("SELECT v FROM kv WHERE id = $1", &[tokio_postgres::types::Type::TEXT])
        .await
        .unwrap();
    assert_eq!(texts(&a.query(&by_text, &[&"1"]).await.unwrap()), [Some("one".into())]);
    let e = a.query(&by_text, &[&"one"]).await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("22P02"), "{e}");
    a.batch_execute("BEGIN").await.unwrap();
    assert!(a.query(&by_text, &[&"x"]).await.is_err());
    assert_eq!(sqlstate(&a, "SELECT 1").await, "25P02");
    a.batch_execute("ROLLBACK").await.unwrap();

    // DDL on another connection is seen by the next execution.
    b.batch_execute("ALTER TABLE kv ADD COLUMN w INT").await.unwrap();
    assert_eq!(texts(&a.query(&get, &[&1i32]).await.unwrap()), [Some("one".into())]);
    let star = a.prepare("SELECT * FROM kv WHERE id = $1").await.unwrap();
    assert_eq!(star.columns().len(), 3);
    b.batch_execute("DROP TABLE kv").await.unwrap();
    let e = a.query(&get, &[&1i32]).await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("42P01"), "{e}");
    b.batch_execute("CREATE TABLE kv (id INT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES (1, 'again')")
        .await
        .unwrap();
    assert_eq!(texts(&a.query(&get, &[&1i32]).await.unwrap()), [Some("again".into())]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_transactions_lose_no_update() {
    let (node, addr) = start().await;
    let setup = connect(addr).await;
    setup
        .batch_execute(
            "CREATE TABLE acct (id INT PRIMARY KEY, balance BIGINT NOT NULL);
             INSERT INTO acct VALUES (1, 1000), (2, 1000), (3, 1000);
             CREATE TABLE hits (id INT PRIMARY KEY, n BIGINT NOT NULL);
             INSERT INTO hits VALUES (1, 0);",
        )
        .await
        .unwrap();
    const CLIENTS: usize = 8;
    const ROUNDS: i64 = 25;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        tasks.push(tokio::spawn(async move {
            let client = connect(addr).await;
            let transfer =
                client.prepare("UPDATE acct SET balance = balance + $1 WHERE id = $2").await.unwrap();
            for round in 0..ROUNDS {
                // Transfers between accounts in a fixed order (no deadlock) and a hot counter.
                let (from, to) = if (c as i64 + round) % 2 == 0 { (1i32, 2i32) } else { (2, 3) };
                client.batch_execute("BEGIN").await.unwrap();
                client.execute(&transfer, &[&-7i64, &from]).await.unwrap();
                client.execute(&transfer, &[&7i64, &to]).await.unwrap();
                client.execute("UPDATE hits SET n = n + 1 WHERE id = 1", &[]).await.unwrap();
                client.batch_execute("COMMIT").await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(rows(&setup, "SELECT sum(balance) FROM acct").await, ["3000"]);
    assert_eq!(
        rows(&setup, "SELECT n FROM hits WHERE id = 1").await,
        [(CLIENTS as i64 * ROUNDS).to_string()]
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_cycle_is_a_deadlock_error() {
    let (node, addr) = start().await;
    let a = connect(addr).await;
    let b = connect(addr).await;
    a.batch_execute("CREATE TABLE r (id INT PRIMARY KEY, v INT); INSERT INTO r VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    a.batch_execute("BEGIN; UPDATE r SET v = 1 WHERE id = 1").await.unwrap();
    b.batch_execute("BEGIN; UPDATE r SET v = 2 WHERE id = 2").await.unwrap();
    // Each now wants the other's row: whichever waits second closes the
    // cycle and gets 40P01; it rolls back, and the other then goes on.
    async fn cross(client: &tokio_postgres::Client, sql: &str) -> Result<(), Option<String>> {
        client.batch_execute(sql).await.map_err(|e| e.code().map(|c| c.code().to_string()))
    }
    let (from_a, from_b) = tokio::join!(
        async {
            let result = cross(&a, "UPDATE r SET v = 1 WHERE id = 2").await;
            if result.is_err() {
                a.batch_execute("ROLLBACK").await.unwrap();
            }
            result
        },
        async {
            let result = cross(&b, "UPDATE r SET v = 2 WHERE id = 1").await;
            if result.is_err() {
                b.batch_execute("ROLLBACK").await.unwrap();
            }
            result
        }
    );
    let deadlocks = [&from_a, &from_b].iter().filter(|r| ***r == Err(Some("40P01".to_string()))).count();
    assert_eq!(deadlocks, 1, "a: {from_a:?}, b: {from_b:?}");
    let (winner, expected) = if from_a.is_ok() { (&a, ["1", "1"]) } else { (&b, ["2", "2"]) };
    winner.batch_execute("COMMIT").await.unwrap();
    assert_eq!(rows(&a, "SELECT v FROM r ORDER BY id").await, expected);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn session_parameters_set_show_reset() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    assert_eq!(rows(&client, "SHOW server_version").await, ["16.6"]);
    assert_eq!(rows(&client, "SHOW search_path").await, ["\"$user\", public"]);
    client.batch_execute("SET application_name = 'orbit-test'; SET TIME ZONE 'Europe/Paris'").await.unwrap();
    assert_eq!(rows(&client, "SHOW application_name").await, ["orbit-test"]);
    assert_eq!(rows(&client, "SHOW TimeZone").await, ["Europe/Paris"]);
    client.batch_execute("RESET application_name").await.unwrap();
    assert_eq!(rows(&client, "SHOW application_name").await, [""]);
    client.batch_execute("SET statement_timeout TO 5000; RESET ALL").await.unwrap();
    assert_eq!(rows(&client, "SHOW statement_timeout").await, ["0"]);
    assert!(rows(&client, "SHOW ALL").await.iter().any(|r| r == "client_encoding|UTF8"));
    assert_eq!(sqlstate(&client, "SET no_such_thing = 1").await, "42704");
    assert_eq!(sqlstate(&client, "SHOW no_such_thing").await, "42704");
    assert_eq!(sqlstate(&client, "SET server_version = '1'").await, "55P02");
    client.batch_execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED").await.unwrap();
    assert_eq!(sqlstate(&client, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").await, "0A000");
    node.shutdown().await.unwrap();
}

/// Committed rows survive `kill -9`; an open transaction's rows do not.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_keeps_committed_rows_and_drops_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = common::spawn_node(dir.path()).await;
    let client = connect(node.pg).await;
    client.batch_execute("CREATE TABLE k (id INT PRIMARY KEY, v TEXT)").await.unwrap();
    client.batch_execute("INSERT INTO k VALUES (1, 'auto')").await.unwrap();
    client
        .batch_execute(
            "BEGIN; INSERT INTO k VALUES (2, 'tx'), (3, 'tx'); UPDATE k SET v = 'tx' WHERE id = 1; COMMIT",
        )
        .await
        .unwrap();
    let open = connect(node.pg).await;
    open.batch_execute("BEGIN; INSERT INTO k VALUES (4, 'open'); UPDATE k SET v = 'open' WHERE id = 2; DELETE FROM k WHERE id = 3")
        .await
        .unwrap();
    node.child.start_kill().unwrap();
    node.child.wait().await.unwrap();

    let node = common::spawn_node(dir.path()).await;
    let client = connect(node.pg).await;
    assert_eq!(rows(&client, "SELECT id, v FROM k ORDER BY id").await, ["1|tx", "2|tx", "3|tx"]);
}

/// The whole output of a COPY ... TO STDOUT.
async fn copy_out(client: &tokio_postgres::Client, sql: &str) -> String {
    use futures::TryStreamExt;
    let stream = client.copy_out(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    chunks.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect()
}

/// Sends `data` with COPY ... FROM STDIN; returns the row count.
async fn copy_in(
    client: &tokio_postgres::Client,
    sql: &str,
    data: &str,
) -> Result<u64, tokio_postgres::Error> {
    use futures::SinkExt;
    let sink = client.copy_in::<_, bytes::Bytes>(sql).await?;
    futures::pin_mut!(sink);
    // In two pieces, split inside a row: the server must not care.
    let (a, b) = data.split_at(data.len() / 2);
    sink.send(bytes::Bytes::copy_from_slice(a.as_bytes())).await?;
    sink.send(bytes::Bytes::copy_from_slice(b.as_bytes())).await?;
    sink.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_from_stdin_and_to_stdout_in_text_and_csv() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute("CREATE TABLE c (id INT PRIMARY KEY, name TEXT, score DOUBLE PRECISION, ok BOOLEAN)")
        .await
        .unwrap();

    let text = "1\tada\t1.5\tt\n2\t\\N\t\\N\tf\n3\ttab\\there\t-2\tt\n";
    assert_eq!(copy_in(&client, "COPY c FROM STDIN", text).await.unwrap(), 3);
    let csv = "id,name\n4,\"a, b\"\n5,\"say \"\"hi\"\"\"\n";
    assert_eq!(
        copy_in(&client, "COPY c (id, name) FROM STDIN WITH (FORMAT csv, HEADER true)", csv).await.unwrap(),
        2
    );
    assert_eq!(rows(&client, "SELECT count(*), sum(score) FROM c").await, ["5|-0.5"]);

    assert_eq!(copy_out(&client, "COPY c TO STDOUT").await.lines().count(), 5);
    assert_eq!(
        copy_out(&client, "COPY (SELECT id, name, ok FROM c WHERE id <= 3 ORDER BY id) TO STDOUT").await,
        "1\tada\tt\n2\t\\N\tf\n3\ttab\\there\tt\n"
    );
    assert_eq!(
        copy_out(
            &client,
            "COPY (SELECT id, name FROM c WHERE id >= 4 ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)"
        )
        .await,
        "id,name\n4,\"a, b\"\n5,\"say \"\"hi\"\"\"\n"
    );

    // Bad data fails the whole COPY with PostgreSQL's codes; nothing is stored.
    let code =
        |e: tokio_postgres::Error| e.code().map(|c| c.code().to_string()).unwrap_or_else(|| panic!("{e}"));
    assert_eq!(
        code(
            copy_in(&client, "COPY c FROM STDIN", "6\tok\t1\tt\n7\tx\tnot-a-number\tt\n").await.unwrap_err()
        ),
        "22P02"
    );
    assert_eq!(code(copy_in(&client, "COPY c FROM STDIN", "8\tshort\n").await.unwrap_err()), "22P04");
    assert_eq!(code(copy_in(&client, "COPY c FROM STDIN", "1\tdup\t1\tt\n").await.unwrap_err()), "23505");
    assert_eq!(rows(&client, "SELECT count(*) FROM c").await, ["5"]);
    assert_eq!(sqlstate(&client, "COPY c FROM '/etc/passwd'").await, "0A000");
    assert_eq!(sqlstate(&client, "COPY nothing FROM STDIN").await, "42P01");

    // Inside a transaction, COPY's rows commit or roll back with it.
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(copy_in(&client, "COPY c (id) FROM STDIN", "10\n11\n").await.unwrap(), 2);
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(rows(&client, "SELECT count(*) FROM c").await, ["5"]);
    node.shutdown().await.unwrap();
}

/// COPY and a table's computed columns and checks, as PostgreSQL: without
/// a column list COPY leaves generated columns out (both ways), which are
/// computed for each row copied in; naming one is `42P10`; a row failing a
/// CHECK fails the whole COPY (`23514`), leaving nothing.
#[tokio::test(flavor = "multi_thread")]
async fn copy_computes_generated_columns_and_checks_rows() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "CREATE TABLE g (id INT PRIMARY KEY, qty INT CHECK (qty >= 0), price INT, \
             total INT GENERATED ALWAYS AS (qty * price) STORED, code TEXT GENERATED ALWAYS AS (upper('c' || id::text)) STORED)",
        )
        .await
        .unwrap();
    assert_eq!(copy_in(&client, "COPY g FROM STDIN", "1\t2\t3\n2\t\\N\t3\n").await.unwrap(), 2);
    assert_eq!(copy_in(&client, "COPY g (id, qty) FROM STDIN WITH (FORMAT csv)", "3,4\n").await.unwrap(), 1);
    assert_eq!(
        rows(&client, "SELECT id, total, code FROM g ORDER BY id").await,
        ["1|6|C1", "2|NULL|C2", "3|NULL|C3"]
    );
    assert_eq!(copy_out(&client, "COPY g TO STDOUT").await, "1\t2\t3\n2\t\\N\t3\n3\t4\t\\N\n");
    assert_eq!(copy_out(&client, "COPY g (id, total) TO STDOUT").await, "1\t6\n2\t\\N\n3\t\\N\n");

    let code =
        |e: tokio_postgres::Error| e.code().map(|c| c.code().to_string()).unwrap_or_else(|| panic!("{e}"));
    assert_eq!(sqlstate(&client, "COPY g (id, total) FROM STDIN").await, "42P10");
    assert_eq!(
        code(copy_in(&client, "COPY g FROM STDIN", "5\t1\t1\n6\t-1\t1\n").await.unwrap_err()),
        "23514"
    );
    assert_eq!(rows(&client, "SELECT count(*) FROM g").await, ["3"]);
    node.shutdown().await.unwrap();
}
