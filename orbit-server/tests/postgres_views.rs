//! The actor system seen from SQL: `orbit_redis`, `orbit_actors`,
//! `orbit_partitions`, `orbit_nodes`, `orbit_reminders`, `orbit_activations` and `orbit_call`, over
//! real sockets
//! (tokio-postgres, the `redis` crate, and `redis-cli` and `psql`
//! themselves), and the jsonb type they return.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::{connect, rows, sqlstate, start};

#[tokio::test(flavor = "multi_thread")]
async fn redis_keys_read_through_orbit_redis() {
    let (node, addr) = start().await;
    let mut redis = common::resp::resp2(node.resp_addr().unwrap()).await;
    for words in [
        vec!["SET", "greeting", "hello"],
        vec!["HSET", "user:1", "name", "ada", "lang", "rust"],
        vec!["RPUSH", "queue", "a", "b", "c"],
        vec!["ZADD", "board", "2", "bob", "1", "ada"],
        vec!["SADD", "tags", "x", "y"],
        vec!["SET", "session", "s", "PX", "600000"],
        vec!["SET", "gone", "soon", "PX", "1"],
        vec!["SELECT", "3"],
        vec!["SET", "other", "db3"],
    ] {
        common::resp::call(&mut redis, &words).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await; // let `gone` expire
    let client = connect(addr).await;
    assert_eq!(
        rows(&client, "SELECT db, key, type, value FROM orbit_redis ORDER BY db, key").await,
        [
            r#"0|board|zset|[{"score": 1.0, "member": "ada"}, {"score": 2.0, "member": "bob"}]"#,
            r#"0|greeting|string|"hello""#,
            r#"0|queue|list|["a", "b", "c"]"#,
            r#"0|session|string|"s""#,
            r#"0|tags|set|["x", "y"]"#,
            r#"0|user:1|hash|{"lang": "rust", "name": "ada"}"#,
            r#"3|other|string|"db3""#,
        ]
    );
    // Pinned db and key narrow the scan; jsonb operators read the values.
    assert_eq!(rows(&client, "SELECT value ->> 'name' FROM orbit_redis WHERE key = 'user:1'").await, ["ada"]);
    assert_eq!(rows(&client, "SELECT key FROM orbit_redis WHERE db = 3").await, ["other"]);
    assert_eq!(rows(&client, "SELECT key FROM orbit_redis WHERE db = 99").await, Vec::<String>::new());
    let ttl = rows(&client, "SELECT ttl_ms FROM orbit_redis WHERE key = 'session'").await;
    let ttl: i64 = ttl[0].parse().unwrap();
    assert!(ttl > 0 && ttl <= 600_000, "ttl {ttl}");
    assert_eq!(rows(&client, "SELECT ttl_ms FROM orbit_redis WHERE key = 'greeting'").await, ["NULL"]);
    // A value changed through Redis is what the next query reads.
    common::resp::call(&mut redis, &["SELECT", "0"]).await;
    common::resp::call(&mut redis, &["APPEND", "greeting", " world"]).await;
    assert_eq!(
        rows(&client, "SELECT value FROM orbit_redis WHERE key = 'greeting' AND db = 0").await,
        [r#""hello world""#]
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn orbit_call_invokes_actors_and_orbit_actors_shows_them() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    assert_eq!(
        rows(&client, r#"SELECT orbit_call('counter', 'visits', 'increment', '{"by": 5}')"#).await,
        ["5"]
    );
    assert_eq!(rows(&client, "SELECT orbit_call('counter', 'visits', 'get')").await, ["5"]);
    // The same actor from Redis.
    let mut redis = common::resp::resp2(node.resp_addr().unwrap()).await;
    let got = common::resp::call(&mut redis, &["ACTOR.CALL", "counter", "visits", "get"]).await;
    assert_eq!(common::resp::show(&got), "\"5\"");
    // orbit_call runs per row, and NULL arguments give NULL.
    client.batch_execute("CREATE TABLE hits (id INT PRIMARY KEY, page TEXT)").await.unwrap();
    client
        .batch_execute("INSERT INTO hits VALUES (1, 'home'), (2, 'home'), (3, 'about'), (4, NULL)")
        .await
        .unwrap();
    assert_eq!(
        rows(
            &client,
            "SELECT id, orbit_call('counter', page, 'increment', '{\"by\": 1}') FROM hits ORDER BY id"
        )
        .await,
        ["1|1", "2|2", "3|1", "4|NULL"]
    );

    // orbit_actors: the counters and the table's rows, with state as jsonb.
    assert_eq!(
        rows(&client, "SELECT key, state, active FROM orbit_actors WHERE kind = 'counter' AND key IN ('about', 'home', 'visits') ORDER BY key").await,
        [r#"about|{"value": 1}|t"#, r#"home|{"value": 2}|t"#, r#"visits|{"value": 5}|t"#]
    );
    assert_eq!(
        rows(&client, "SELECT key, state ->> 'page' FROM orbit_actors WHERE kind = 'row:hits' ORDER BY key")
            .await,
        ["1|home", "2|home", "3|about", "4|NULL"]
    );
    let kinds = rows(&client, "SELECT DISTINCT kind FROM orbit_actors ORDER BY kind").await;
    assert!(kinds.contains(&"counter".to_string()) && kinds.contains(&"row:hits".to_string()), "{kinds:?}");
    // Slot and partition agree with orbit_partitions.
    assert_eq!(
        rows(
            &client,
            "SELECT count(*) FROM orbit_actors a JOIN orbit_partitions p ON a.partition = p.partition \
             WHERE a.kind = 'counter' AND a.key IN ('about', 'home', 'visits') \
             AND a.slot BETWEEN p.first_slot AND p.last_slot"
        )
        .await,
        ["3"]
    );
    assert_eq!(
        rows(&client, "SELECT count(*), min(first_slot), max(last_slot), sum(last_slot - first_slot + 1) FROM orbit_partitions").await,
        ["64|0|16383|16384"]
    );
    // Without a cluster the node leads and alone holds every partition, and
    // is the one row of orbit_nodes.
    let grpc = node.grpc_addr().unwrap().to_string();
    assert_eq!(
        rows(&client, "SELECT DISTINCT leader, replicas, term, applied, lag FROM orbit_partitions").await,
        [format!("{grpc}|{grpc}|0|0|0")]
    );
    assert_eq!(
        rows(&client, "SELECT node_id, addr, partitions_led, self FROM orbit_nodes").await,
        [format!("0|{grpc}|64|t")]
    );
    // A deactivated actor is listed as not active.
    node.handle().deactivate(&orbit_shared::ActorId::new("counter", "visits")).await;
    assert_eq!(
        rows(&client, "SELECT active FROM orbit_actors WHERE kind = 'counter' AND key = 'visits'").await,
        ["f"]
    );

    // Bad calls are errors with their SQLSTATEs, and the connection goes on.
    assert_eq!(sqlstate(&client, "SELECT orbit_call('nosuchkind', 'k', 'get')").await, "38000");
    assert_eq!(sqlstate(&client, "SELECT orbit_call('counter', 'k', 'nosuchmethod')").await, "38000");
    assert_eq!(
        sqlstate(&client, "SELECT orbit_call('counter', 'k', 'increment', '{\"by\": \"x\"}')").await,
        "38000"
    );
    assert_eq!(sqlstate(&client, "SELECT orbit_call('counter', 'k', 'increment', '{oops')").await, "22P02");
    assert_eq!(sqlstate(&client, "SELECT orbit_call('counter')").await, "42883");
    assert_eq!(sqlstate(&client, "SELECT orbit_call('redis', 'greeting', 'read')").await, "38000");
    assert_eq!(rows(&client, "SELECT orbit_call('counter', 'visits', 'get')").await, ["5"]);
    node.shutdown().await.unwrap();
}

/// MCP's read-only SQL may call only methods declared read-only.
#[tokio::test(flavor = "multi_thread")]
async fn read_only_sql_calls_only_read_only_methods() {
    let (node, _) = start().await;
    let gateway = std::sync::Arc::new(node.handle().clone());
    let state = orbit_protocols::sql::SqlState::default();
    let run = |sql: &'static str| orbit_protocols::sql::run_sql(gateway.clone(), &state, sql, true);
    let refused = run("SELECT orbit_call('counter', 'c', 'increment', '{\"by\": 1}')").await.unwrap_err();
    assert_eq!(refused.code.as_str(), "25006", "{refused:?}");
    let read = run("SELECT orbit_call('counter', 'c', 'get')").await.unwrap();
    assert_eq!(read[0].rows, [[serde_json::json!("0")]]);
    let written = orbit_protocols::sql::run_sql(
        gateway.clone(),
        &state,
        "SELECT orbit_call('counter', 'c', 'increment', '{\"by\": 2}')",
        false,
    )
    .await
    .unwrap();
    assert_eq!(written[0].rows, [[serde_json::json!("2")]]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn jsonb_columns_store_canonical_documents() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client.batch_execute("CREATE TABLE docs (id INT PRIMARY KEY, doc JSONB)").await.unwrap();
    client
        .batch_execute(
            r#"INSERT INTO docs VALUES (1, '{"b": 1, "a": [1, 2, {"x": "y"}], "b": 2}'), (2, '[true, null]'), (3, NULL)"#,
        )
        .await
        .unwrap();
    assert_eq!(
        rows(&client, "SELECT id, doc FROM docs ORDER BY id").await,
        [r#"1|{"a": [1, 2, {"x": "y"}], "b": 2}"#, "2|[true, null]", "3|NULL"]
    );
    assert_eq!(rows(&client, "SELECT doc FROM docs WHERE id = 2").await, ["[true, null]"]);
    assert_eq!(
        rows(&client, "SELECT doc -> 'a' -> 2 ->> 'x', doc ->> 'b', jsonb_typeof(doc), jsonb_array_length(doc -> 'a') FROM docs WHERE id = 1").await,
        ["y|2|object|3"]
    );
    assert_eq!(rows(&client, r#"SELECT id FROM docs WHERE doc @> '{"a": [2]}' ORDER BY id"#).await, ["1"]);
    assert_eq!(rows(&client, "SELECT id FROM docs WHERE doc ? 'b'").await, ["1"]);
    assert_eq!(rows(&client, r#"SELECT '{"z": 1, "a": 2}'::jsonb"#).await, [r#"{"a": 2, "z": 1}"#]);
    assert_eq!(sqlstate(&client, "INSERT INTO docs VALUES (4, '{not json')").await, "22P02");
    assert_eq!(sqlstate(&client, "SELECT '[1'::jsonb").await, "22P02");
    assert_eq!(sqlstate(&client, "SELECT jsonb_array_length(doc) FROM docs WHERE id = 1").await, "22023");

    // Binary parameters and results through prepared statements.
    let insert = client.prepare("INSERT INTO docs (id, doc) VALUES ($1, $2)").await.unwrap();
    assert_eq!(insert.params()[1], tokio_postgres::types::Type::JSONB);
    let value = serde_json::json!({"k": [1, "two"], "n": null});
    client.execute(&insert, &[&5i32, &value]).await.unwrap();
    let row = client.query_one("SELECT doc FROM docs WHERE id = $1", &[&5i32]).await.unwrap();
    assert_eq!(row.columns()[0].type_(), &tokio_postgres::types::Type::JSONB);
    assert_eq!(row.get::<_, serde_json::Value>(0), value);
    let row =
        client.query_one("SELECT doc -> 'k' FROM docs WHERE id = $1 AND id > 0", &[&5i32]).await.unwrap();
    assert_eq!(row.get::<_, serde_json::Value>(0), serde_json::json!([1, "two"]));
    node.shutdown().await.unwrap();
}

/// Reminders registered through Redis are rows of `orbit_reminders`.
#[tokio::test(flavor = "multi_thread")]
async fn orbit_reminders_lists_every_reminder_and_job() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    use tokio_postgres::types::Type;
    let (node, addr) = start().await;
    let mut redis = common::resp::resp2(node.resp_addr().unwrap()).await;
    let words = ["ACTOR.REMIND", "counter", "visits", "hourly", "1h", "increment", r#"{"by": 1}"#];
    let hourly = common::resp::call(&mut redis, &words).await;
    let redis::Value::BulkString(hourly) = hourly else {
        panic!("ACTOR.REMIND: {}", common::resp::show(&hourly))
    };
    let hourly: serde_json::Value = serde_json::from_slice(&hourly).unwrap();
    for words in [
        ["ACTOR.JOB", "counter", "visits", "nightly", "1d", "reset"],
        ["ACTOR.REMIND", "counter", "home", "often", "5m", "increment"],
    ] {
        let reply = common::resp::call(&mut redis, &words).await;
        assert!(matches!(reply, redis::Value::BulkString(_)), "{words:?}: {}", common::resp::show(&reply));
    }
    let client = connect(addr).await;
    assert_eq!(
        rows(
            &client,
            "SELECT kind, key, name, period_ms, method, args FROM orbit_reminders ORDER BY key, name"
        )
        .await,
        [
            "counter|home|often|300000|increment|{}",
            r#"counter|visits|hourly|3600000|increment|{"by": 1}"#,
            "counter|visits|nightly|0|reset|{}",
        ]
    );
    // `key = '...'` reads that key's reminders only; args is jsonb.
    assert_eq!(
        rows(&client, "SELECT name, args ->> 'by' FROM orbit_reminders WHERE key = 'visits' ORDER BY name")
            .await,
        ["hourly|1", "nightly|NULL"]
    );
    assert_eq!(rows(&client, "SELECT count(*) FROM orbit_reminders WHERE key = 'nobody'").await, ["0"]);
    // period_ms is bigint, next_fire the reminder's next_fire_ms as timestamptz.
    let row = client
        .query_one(
            "SELECT period_ms, args, next_fire FROM orbit_reminders WHERE key = 'visits' AND name = 'hourly'",
            &[],
        )
        .await
        .unwrap();
    let types: Vec<&Type> = row.columns().iter().map(|c| c.type_()).collect();
    assert_eq!(types, [&Type::INT8, &Type::JSONB, &Type::TIMESTAMPTZ]);
    let next_fire_ms = hourly["next_fire_ms"].as_u64().unwrap();
    assert_eq!(row.get::<_, SystemTime>(2), UNIX_EPOCH + Duration::from_millis(next_fire_ms));

    // Removed reminders leave the view.
    for name in ["hourly", "nightly"] {
        let removed = common::resp::call(&mut redis, &["ACTOR.UNREMIND", "counter", "visits", name]).await;
        assert_eq!(removed, redis::Value::Int(1), "{name}");
    }
    assert_eq!(rows(&client, "SELECT key, name FROM orbit_reminders").await, ["home|often"]);
    node.shutdown().await.unwrap();
}

/// Actors called are resident, and rows of `orbit_activations` until they
/// are deactivated.
#[tokio::test(flavor = "multi_thread")]
async fn orbit_activations_lists_the_resident_actors() {
    use tokio_postgres::types::Type;
    let (node, addr) = start().await;
    let client = connect(addr).await;
    for key in ["a", "b", "c"] {
        let call = format!("SELECT orbit_call('counter', '{key}', 'increment', '{{\"by\": 1}}')");
        assert_eq!(rows(&client, &call).await, ["1"]);
    }
    assert_eq!(
        rows(
            &client,
            "SELECT kind, key, waiting, timers FROM orbit_activations WHERE kind = 'counter' ORDER BY key"
        )
        .await,
        ["counter|a|0|", "counter|b|0|", "counter|c|0|"]
    );
    let row = client
        .query_one(
            "SELECT age_ms, idle_ms, waiting FROM orbit_activations WHERE kind = 'counter' AND key = 'a'",
            &[],
        )
        .await
        .unwrap();
    let types: Vec<&Type> = row.columns().iter().map(|c| c.type_()).collect();
    assert_eq!(types, [&Type::INT8, &Type::INT8, &Type::INT8]);
    let (age, idle): (i64, i64) = (row.get(0), row.get(1));
    assert!(0 <= idle && idle <= age, "age {age} idle {idle}");
    // Without a kind every resident actor is listed; a kind the node does
    // not host has none.
    let kinds = rows(&client, "SELECT DISTINCT kind FROM orbit_activations").await;
    assert!(kinds.contains(&"counter".to_string()), "{kinds:?}");
    assert_eq!(
        rows(&client, "SELECT count(*) FROM orbit_activations WHERE kind = 'nosuchkind'").await,
        ["0"]
    );
    // A deactivated actor leaves the view.
    node.handle().deactivate(&orbit_shared::ActorId::new("counter", "b")).await;
    assert_eq!(
        rows(&client, "SELECT key FROM orbit_activations WHERE kind = 'counter' ORDER BY key").await,
        ["a", "c"]
    );
    node.shutdown().await.unwrap();
}

/// What `redis-cli` writes, `psql` reads.
#[tokio::test(flavor = "multi_thread")]
async fn psql_reads_what_redis_cli_wrote() {
    if !common::require_program("redis-cli") || !common::require_program("psql") {
        return;
    }
    let (node, pg) = start().await;
    let resp = node.resp_addr().unwrap();
    let out = std::process::Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &resp.port().to_string(),
            "HSET",
            "car:7",
            "make",
            "saab",
            "year",
            "1999",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "redis-cli: {}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &pg.port().to_string(), "-U", "app", "-d", "orbit", "-X", "-A", "-t"])
        .args(["-c", "SELECT key, value ->> 'make', value ->> 'year' FROM orbit_redis WHERE key = 'car:7'"])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap();
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "car:7|saab|1999");
    node.shutdown().await.unwrap();
}

/// A SQL view over an actor view reads the keyspace as it is at each
/// query; views take no writes and no table-only DDL.
#[tokio::test(flavor = "multi_thread")]
async fn sql_views_over_the_actor_views() {
    let (node, addr) = start().await;
    let mut redis = common::resp::resp2(node.resp_addr().unwrap()).await;
    common::resp::call(&mut redis, &["SET", "a", "1"]).await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "CREATE VIEW strings AS SELECT key, value ->> 0 AS v FROM orbit_redis WHERE type = 'string'",
        )
        .await
        .unwrap();
    common::resp::call(&mut redis, &["SET", "b", "2"]).await;
    common::resp::call(&mut redis, &["HSET", "h", "f", "v"]).await;
    assert_eq!(rows(&client, "SELECT key FROM strings ORDER BY key").await, ["a", "b"]);
    assert_eq!(
        rows(&client, "SELECT count(*) FROM pg_catalog.pg_views WHERE viewname = 'strings'").await,
        ["1"]
    );
    assert_eq!(sqlstate(&client, "INSERT INTO strings VALUES ('c', '3')").await, "0A000");
    assert_eq!(sqlstate(&client, "DELETE FROM strings").await, "0A000");
    assert_eq!(sqlstate(&client, "TRUNCATE strings").await, "42809");
    assert_eq!(sqlstate(&client, "ALTER TABLE strings ADD COLUMN x INT").await, "42809");
    assert_eq!(sqlstate(&client, "CREATE INDEX ON strings (key)").await, "42809");
    // A view's name called as a table function is an error, not a view.
    let called = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        client.simple_query("SELECT * FROM strings()"),
    );
    assert!(called.await.expect("SELECT * FROM strings() answers").is_err());
    client.batch_execute("DROP VIEW strings").await.unwrap();
    assert_eq!(sqlstate(&client, "SELECT * FROM strings").await, "42P01");
    node.shutdown().await.unwrap();
}
