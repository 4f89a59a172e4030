//! The PostgreSQL front door with `tokio-postgres` and `psql` over real
//! sockets: startup and authentication, and the statements that run today
//! (docs/postgres.md), with PostgreSQL's SQLSTATEs for bad input.

#![allow(clippy::unwrap_used)]

mod common;

use orbit_server::config::{PgAuth, PostgresUser};
use orbit_server::{Config, Node};
use tokio_postgres::{NoTls, SimpleQueryMessage};

async fn start(config: Config) -> (Node, std::net::SocketAddr) {
    let node = Node::builder(config).with_builtin_kinds().start().await.expect("node starts");
    let addr = node.pg_addr().expect("the node serves PostgreSQL");
    (node, addr)
}

async fn connect(
    addr: std::net::SocketAddr,
    user: &str,
    password: Option<&str>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config.host(addr.ip().to_string()).port(addr.port()).user(user).dbname("orbit");
    if let Some(password) = password {
        config.password(password);
    }
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The rows of a simple query, as text (None for NULL).
async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => {
                Some((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

/// The SQLSTATE of a failing statement.
async fn sqlstate(client: &tokio_postgres::Client, sql: &str) -> String {
    let error = client.simple_query(sql).await.expect_err(sql);
    error.code().unwrap_or_else(|| panic!("{sql}: no SQLSTATE in {error}")).code().to_string()
}

fn some(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some(v.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_statements_say_so() {
    let (node, addr) = start(Config::ephemeral()).await;
    let client = connect(addr, "anyone", None).await.unwrap();
    client.simple_query("CREATE TABLE t (id INT PRIMARY KEY, a INT)").await.unwrap();
    client.simple_query("CREATE SEQUENCE s2_id_seq").await.unwrap();
    for sql in [
        "CREATE TABLE s2 (id SERIAL PRIMARY KEY)",
        "CREATE INDEX t_a ON t USING gin (a)",
        "CREATE TEMPORARY SEQUENCE ts",
        "COMMENT ON INDEX t_a IS 'x'",
        "MERGE INTO t USING t AS s ON t.id = s.id WHEN MATCHED THEN DELETE",
        "CREATE MATERIALIZED VIEW v AS SELECT 1",
        "VACUUM t, ok",
        "CREATE TABLE w (id INT) WITH (autovacuum_enabled = false)",
        "CREATE TEMPORARY TABLE tmp (id INT)",
    ] {
        let error = client.simple_query(sql).await.expect_err(sql);
        let db = error.as_db_error().unwrap_or_else(|| panic!("{sql}: {error}"));
        assert_eq!(db.code().code(), "0A000", "{sql}");
        assert!(db.message().contains("not supported by Orbit yet"), "{sql}: {}", db.message());
    }
    // VACUUM and ANALYZE check their table; VACUUM refuses a transaction block.
    client.simple_query("VACUUM ANALYZE t").await.unwrap();
    client.simple_query("ANALYZE t").await.unwrap();
    assert_eq!(sqlstate(&client, "VACUUM missing").await, "42P01");
    client.simple_query("BEGIN").await.unwrap();
    assert_eq!(sqlstate(&client, "VACUUM t").await, "25001");
    client.simple_query("ROLLBACK").await.unwrap();
    assert_eq!(sqlstate(&client, "CREATE TABLE f (id INT) WITH (fillfactor = 5)").await, "22023");
    // The connection still works after refusals.
    client.simple_query("CREATE TABLE ok (id INT PRIMARY KEY)").await.unwrap();
    drop(client);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn create_insert_and_read_by_primary_key() {
    let (node, addr) = start(Config::ephemeral()).await;
    let client = connect(addr, "app", None).await.unwrap();
    client
        .simple_query(
            "CREATE TABLE accounts (id INT PRIMARY KEY, owner TEXT NOT NULL, balance BIGINT DEFAULT 0, active BOOLEAN, rate DOUBLE PRECISION)",
        )
        .await
        .unwrap();
    let inserted = client
        .simple_query("INSERT INTO accounts VALUES (1, 'ada', 100, true, 0.5), (2, 'bob', -7, false, 1e3)")
        .await
        .unwrap();
    assert!(matches!(inserted.last(), Some(SimpleQueryMessage::CommandComplete(2))), "{inserted:?}");
    client.simple_query("INSERT INTO accounts (owner, id) VALUES ('cy', 3)").await.unwrap();

    assert_eq!(
        rows(&client, "SELECT * FROM accounts WHERE id = 1").await,
        vec![some(&["1", "ada", "100", "t", "0.5"])]
    );
    assert_eq!(
        rows(&client, "SELECT owner, balance FROM accounts WHERE id = 2").await,
        vec![some(&["bob", "-7"])]
    );
    assert_eq!(
        rows(&client, "select OWNER as who, rate from ACCOUNTS where 3 = id").await,
        vec![vec![Some("cy".into()), None]],
        "defaults fill omitted columns; unquoted names fold to lower case"
    );
    assert_eq!(rows(&client, "SELECT balance FROM accounts WHERE id = 3").await, vec![some(&["0"])]);
    assert!(rows(&client, "SELECT * FROM accounts WHERE id = 99").await.is_empty());

    // PostgreSQL's errors.
    assert_eq!(sqlstate(&client, "INSERT INTO accounts VALUES (1, 'again')").await, "23505");
    assert_eq!(sqlstate(&client, "INSERT INTO accounts (id, owner) VALUES (7)").await, "42601");
    assert_eq!(sqlstate(&client, "INSERT INTO accounts VALUES (7, 'a', 1, true, 1, 'extra')").await, "42601");
    assert_eq!(sqlstate(&client, "INSERT INTO accounts (id) VALUES (4)").await, "23502");
    assert_eq!(sqlstate(&client, "INSERT INTO accounts VALUES ('x', 'y')").await, "22P02");
    assert_eq!(
        sqlstate(&client, "INSERT INTO accounts (id, owner, balance) VALUES (5, 'e', 99999999999999999999)")
            .await,
        "22003"
    );
    assert_eq!(sqlstate(&client, "SELECT * FROM nope WHERE id = 1").await, "42P01");
    assert_eq!(sqlstate(&client, "SELECT missing FROM accounts WHERE id = 1").await, "42703");
    assert_eq!(sqlstate(&client, "INSERT INTO accounts (nope) VALUES (1)").await, "42703");
    assert_eq!(sqlstate(&client, "SELEC 1").await, "42601");
    assert_eq!(sqlstate(&client, "CREATE TABLE accounts (id INT PRIMARY KEY)").await, "42P07");
    // Every row, through the query engine.
    assert_eq!(
        rows(&client, "SELECT id, owner FROM accounts ORDER BY id").await,
        vec![some(&["1", "ada"]), some(&["2", "bob"]), some(&["3", "cy"])]
    );
    // A failed row leaves the statement's other rows unwritten.
    assert_eq!(sqlstate(&client, "INSERT INTO accounts VALUES (10, 'ok'), (11, NULL)").await, "23502");
    assert!(rows(&client, "SELECT * FROM accounts WHERE id = 10").await.is_empty());
    // So does a duplicate key, in the statement or in the table.
    assert_eq!(sqlstate(&client, "INSERT INTO accounts VALUES (20, 'a'), (20, 'b')").await, "23505");
    assert_eq!(sqlstate(&client, "INSERT INTO accounts VALUES (21, 'a'), (1, 'b')").await, "23505");
    assert!(rows(&client, "SELECT * FROM accounts WHERE id = 20").await.is_empty());
    assert!(rows(&client, "SELECT * FROM accounts WHERE id = 21").await.is_empty());
    // An explicit NULL is not a default.
    client.simple_query("INSERT INTO accounts VALUES (22, 'n', NULL)").await.unwrap();
    assert_eq!(rows(&client, "SELECT balance FROM accounts WHERE id = 22").await, vec![vec![None]]);
    // A query stops at its first error and, being one implicit transaction,
    // keeps nothing of the statements before it, as PostgreSQL's does.
    assert_eq!(sqlstate(&client, "INSERT INTO accounts VALUES (12, 'a'); SELECT * FROM nope WHERE id = 1; INSERT INTO accounts VALUES (13, 'b')").await, "42P01");
    assert!(rows(&client, "SELECT owner FROM accounts WHERE id = 12").await.is_empty());
    assert!(rows(&client, "SELECT owner FROM accounts WHERE id = 13").await.is_empty());

    client.simple_query("CREATE TABLE IF NOT EXISTS accounts (id INT PRIMARY KEY)").await.unwrap();
    client.simple_query("DROP TABLE accounts").await.unwrap();
    assert_eq!(sqlstate(&client, "SELECT * FROM accounts WHERE id = 1").await, "42P01");
    assert_eq!(sqlstate(&client, "DROP TABLE accounts").await, "42P01");
    client.simple_query("DROP TABLE IF EXISTS accounts").await.unwrap();
    // Recreated, it is empty: the rows went with the table.
    client.simple_query("CREATE TABLE accounts (id INT PRIMARY KEY)").await.unwrap();
    assert!(rows(&client, "SELECT * FROM accounts WHERE id = 1").await.is_empty());
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn extended_protocol_with_typed_parameters_and_binary_results() {
    let (node, addr) = start(Config::ephemeral()).await;
    let client = connect(addr, "app", None).await.unwrap();
    client
        .batch_execute("CREATE TABLE accounts (id INT PRIMARY KEY, owner TEXT NOT NULL, balance BIGINT, active BOOLEAN, rate DOUBLE PRECISION, small SMALLINT, ratio REAL)")
        .await
        .unwrap();
    let insert = client.prepare("INSERT INTO accounts VALUES ($1, $2, $3, $4, $5, $6, $7)").await.unwrap();
    let types: Vec<_> = insert.params().iter().map(|t| t.name().to_string()).collect();
    assert_eq!(types, ["int4", "text", "int8", "bool", "float8", "int2", "float4"]);
    assert!(insert.columns().is_empty());
    let n = client
        .execute(&insert, &[&1i32, &"ada", &-9_000_000_000i64, &true, &0.1f64, &7i16, &1.5f32])
        .await
        .unwrap();
    assert_eq!(n, 1);
    client
        .execute(
            &insert,
            &[&2i32, &"bob", &None::<i64>, &None::<bool>, &None::<f64>, &None::<i16>, &None::<f32>],
        )
        .await
        .unwrap();

    let select = client
        .prepare("SELECT owner, balance, active, rate, small, ratio FROM accounts WHERE id = $1")
        .await
        .unwrap();
    assert_eq!(select.params().iter().map(|t| t.name()).collect::<Vec<_>>(), ["int4"]);
    let columns: Vec<_> =
        select.columns().iter().map(|c| (c.name().to_string(), c.type_().name().to_string())).collect();
    assert_eq!(columns[0], ("owner".to_string(), "text".to_string()));
    assert_eq!(columns[1], ("balance".to_string(), "int8".to_string()));
    let row = client.query_one(&select, &[&1i32]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "ada");
    assert_eq!(row.get::<_, i64>(1), -9_000_000_000);
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, f64>(3), 0.1);
    assert_eq!(row.get::<_, i16>(4), 7);
    assert_eq!(row.get::<_, f32>(5), 1.5);
    let row = client.query_one(&select, &[&2i32]).await.unwrap();
    assert_eq!(row.get::<_, Option<i64>>(1), None);
    assert!(client.query(&select, &[&3i32]).await.unwrap().is_empty());
    // A parameter on the left of the key comparison.
    let rows = client.query("SELECT owner FROM accounts WHERE $1 = id", &[&1i32]).await.unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "ada");

    // Errors at Parse and at Execute, with SQLSTATEs; the connection goes on.
    let code =
        |e: tokio_postgres::Error| e.code().map(|c| c.code().to_string()).unwrap_or_else(|| panic!("{e}"));
    assert_eq!(code(client.prepare("SELECT * FROM missing WHERE id = $1").await.unwrap_err()), "42P01");
    assert_eq!(code(client.prepare("SELECT * FROM accounts WHERE nosuch = $1").await.unwrap_err()), "42703");
    assert_eq!(code(client.prepare("SELECT 1; SELECT 2").await.unwrap_err()), "42601");
    assert_eq!(
        code(
            client.execute(&insert, &[&1i32, &"dup", &0i64, &false, &0f64, &0i16, &0f32]).await.unwrap_err()
        ),
        "23505"
    );
    assert_eq!(
        code(
            client
                .execute(&insert, &[&3i32, &None::<String>, &0i64, &false, &0f64, &0i16, &0f32])
                .await
                .unwrap_err()
        ),
        "23502"
    );
    assert_eq!(client.query_one(&select, &[&1i32]).await.unwrap().get::<_, String>(0), "ada");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_columns_number_rows() {
    let (node, addr) = start(Config::ephemeral()).await;
    let client = connect(addr, "app", None).await.unwrap();
    client.simple_query("CREATE TABLE events (id SERIAL PRIMARY KEY, name TEXT)").await.unwrap();
    client.simple_query("INSERT INTO events (name) VALUES ('a'), ('b')").await.unwrap();
    client.simple_query("INSERT INTO events VALUES (DEFAULT, 'c')").await.unwrap();
    for (id, name) in [("1", "a"), ("2", "b"), ("3", "c")] {
        assert_eq!(
            rows(&client, &format!("SELECT name FROM events WHERE id = {id}")).await,
            vec![some(&[name])]
        );
    }
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_and_cleartext_authentication() {
    for auth in [PgAuth::ScramSha256, PgAuth::Password] {
        let mut config = Config::ephemeral();
        config.postgres.auth = auth;
        config.postgres.users = vec![PostgresUser { name: "app".into(), password: "s3cret".into() }];
        let (node, addr) = start(config).await;
        let client = connect(addr, "app", Some("s3cret")).await.unwrap();
        client.simple_query("CREATE TABLE t (k TEXT PRIMARY KEY)").await.unwrap();
        let wrong = connect(addr, "app", Some("nope")).await.expect_err("wrong password");
        assert_eq!(wrong.code().map(|c| c.code()), Some("28P01"), "{auth:?}: {wrong}");
        let unknown = connect(addr, "eve", Some("s3cret")).await.expect_err("unknown user");
        assert_eq!(unknown.code().map(|c| c.code()), Some("28P01"), "{auth:?}: {unknown}");
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::lsm_config(dir.path());
    let (node, addr) = start(config.clone()).await;
    let client = connect(addr, "app", None).await.unwrap();
    client.simple_query("CREATE TABLE kv (k TEXT PRIMARY KEY, v INT)").await.unwrap();
    client.simple_query("INSERT INTO kv VALUES ('a', 1), ('b', 2)").await.unwrap();
    drop(client);
    node.shutdown().await.unwrap();
    let (node, addr) = start(config).await;
    let client = connect(addr, "app", None).await.unwrap();
    assert_eq!(rows(&client, "SELECT v FROM kv WHERE k = 'b'").await, vec![some(&["2"])]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_runs_statements() {
    if !common::require_program("psql") {
        return;
    }
    let (node, addr) = start(Config::ephemeral()).await;
    let psql = |sql: &str| {
        let sql = sql.to_string();
        async move {
            tokio::process::Command::new("psql")
                .args([
                    "-h",
                    &addr.ip().to_string(),
                    "-p",
                    &addr.port().to_string(),
                    "-U",
                    "app",
                    "-d",
                    "orbit",
                ])
                .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", &sql])
                .env("PGCONNECT_TIMEOUT", "10")
                .output()
                .await
                .unwrap()
        }
    };
    let created = psql("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)").await;
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert_eq!(String::from_utf8_lossy(&created.stdout).trim(), "CREATE TABLE");
    let inserted = psql("INSERT INTO notes VALUES (1, 'hello from psql')").await;
    assert_eq!(String::from_utf8_lossy(&inserted.stdout).trim(), "INSERT 0 1");
    let selected = psql("SELECT body FROM notes WHERE id = 1").await;
    assert_eq!(String::from_utf8_lossy(&selected.stdout).trim(), "hello from psql");
    // COPY in the simple query protocol, as psql sends it, data on stdin.
    let mut copy = tokio::process::Command::new("psql")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string(), "-U", "app", "-d", "orbit"])
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-c", "COPY notes FROM STDIN WITH (FORMAT csv)"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    let mut stdin = copy.stdin.take().unwrap();
    stdin.write_all(b"2,\"from, csv\"\n3,\n").await.unwrap();
    drop(stdin);
    let copied = copy.wait_with_output().await.unwrap();
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
    assert_eq!(String::from_utf8_lossy(&copied.stdout).trim(), "COPY 2");
    let out = psql("COPY (SELECT id, body FROM notes ORDER BY id) TO STDOUT").await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\thello from psql\n2\tfrom, csv\n3\t\\N\n");
    let failed = psql("SELECT * FROM missing WHERE id = 1").await;
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("relation \"missing\" does not exist"));
    node.shutdown().await.unwrap();
}

/// pgbench, unmodified: `-i -s 1` creates and loads its tables (no primary
/// keys during the COPY, `ALTER TABLE ... ADD PRIMARY KEY` after), then
/// select-only with prepared statements and the TPC-B-like script run with
/// no failed transaction, and every balance adds up to the history's deltas.
#[tokio::test(flavor = "multi_thread")]
async fn pgbench_initializes_and_runs_with_balances_that_add_up() {
    if !common::require_program("pgbench") {
        return;
    }
    let (node, addr) = start(Config::ephemeral()).await;
    let pgbench = |args: &'static [&'static str]| async move {
        let out = tokio::process::Command::new("pgbench")
            .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string(), "-U", "app"])
            .args(args)
            .arg("orbit")
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "pgbench {args:?}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    pgbench(&["-i", "-s", "1", "-q"]).await;
    let client = connect(addr, "app", None).await.unwrap();
    assert_eq!(rows(&client, "SELECT count(*) FROM pgbench_accounts").await, vec![some(&["100000"])]);
    for run in [
        &["-S", "-M", "prepared", "-c", "4", "-j", "2", "-T", "10"][..],
        &["-c", "4", "-j", "2", "-T", "10"][..],
    ] {
        let report = pgbench(run).await;
        let processed = report
            .lines()
            .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no transaction count in: {report}"));
        assert!(processed > 0, "{report}");
        assert!(report.contains("number of failed transactions: 0 "), "{report}");
    }
    let sums = rows(
        &client,
        "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers), \
         (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(delta) FROM pgbench_history), \
         (SELECT count(*) FROM pgbench_history)",
    )
    .await;
    let [accounts, tellers, branches, deltas, history] = sums[0].clone().try_into().unwrap();
    assert!(history.as_deref().is_some_and(|n| n != "0"), "TPC-B wrote no history");
    assert_eq!(accounts, deltas);
    assert_eq!(tellers, deltas);
    assert_eq!(branches, deltas);
    node.shutdown().await.unwrap();
}
