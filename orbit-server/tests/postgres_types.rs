//! The uuid, bytea, numeric and array types through the PostgreSQL front door with
//! `tokio-postgres`: literals in the simple query protocol, typed
//! parameters and binary results in the extended one, keys, order and the
//! SQLSTATEs of bad input.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::{connect, count, rows, sqlstate, start};
use std::error::Error;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};

/// The message of a statement that must fail.
async fn message(client: &tokio_postgres::Client, sql: &str) -> String {
    let error = client.simple_query(sql).await.expect_err(sql);
    error.as_db_error().unwrap_or_else(|| panic!("{sql}: {error}")).message().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn uuid_columns_read_postgresql_forms_and_sort_bytewise() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client.batch_execute("CREATE TABLE things (id UUID PRIMARY KEY, name TEXT, other UUID)").await.unwrap();
    client
        .batch_execute(
            "INSERT INTO things VALUES ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'upper', NULL), \
             ('{00000000-0000-0000-0000-0000000000ff}', 'braces', NULL), \
             ('ffffffff000000000000000000000001', 'bare', 'a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11')",
        )
        .await
        .unwrap();
    assert_eq!(
        rows(&client, "SELECT id, name FROM things ORDER BY id").await,
        [
            "00000000-0000-0000-0000-0000000000ff|braces",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|upper",
            "ffffffff-0000-0000-0000-000000000001|bare",
        ]
    );
    // The key in any input form: a point read, an update and a duplicate.
    let key = "'{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'";
    assert_eq!(rows(&client, &format!("SELECT name FROM things WHERE id = {key}")).await, ["upper"]);
    assert_eq!(count(&client, &format!("UPDATE things SET name = 'up' WHERE id = {key}")).await, 1);
    let again = format!("INSERT INTO things VALUES ({key}, 'again', NULL)");
    assert_eq!(sqlstate(&client, &again).await, "23505");
    // Literals compared with a uuid column (through DataFusion) read as uuids.
    assert_eq!(
        rows(&client, "SELECT name FROM things WHERE other = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'").await,
        ["bare"]
    );
    assert_eq!(
        rows(
            &client,
            "SELECT name FROM things WHERE id IN ('{FFFFFFFF000000000000000000000001}', \
             'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11') ORDER BY name"
        )
        .await,
        ["bare", "up"]
    );
    assert_eq!(
        rows(&client, "SELECT count(*) FROM things WHERE id > 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'").await,
        ["1"]
    );
    assert_eq!(
        rows(&client, "SELECT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid").await,
        ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]
    );
    for bad in [
        "INSERT INTO things VALUES ('a0eebc99', 'short', NULL)",
        "SELECT name FROM things WHERE id = 'nope'",
        "SELECT name FROM things WHERE other = 'nope'",
        "SELECT ' a0eebc999c0b4ef8bb6d6bb9bd380a11'::uuid",
    ] {
        assert_eq!(sqlstate(&client, bad).await, "22P02", "{bad}");
    }
    assert_eq!(
        message(&client, "SELECT name FROM things WHERE other = 'nope'").await,
        "invalid input syntax for type uuid: \"nope\""
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn uuid_parameters_and_results_are_sixteen_bytes_in_binary() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "CREATE TABLE events (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), n INT, parent UUID)",
        )
        .await
        .unwrap();
    let insert = client.prepare("INSERT INTO events (id, n, parent) VALUES ($1, $2, $3)").await.unwrap();
    assert_eq!(insert.params(), [Type::UUID, Type::INT4, Type::UUID]);
    let root = uuid::Uuid::from_u128(0xa0ee_bc99_9c0b_4ef8_bb6d_6bb9_bd38_0a11);
    let child = uuid::Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);
    client.execute(&insert, &[&root, &1i32, &None::<uuid::Uuid>]).await.unwrap();
    client.execute(&insert, &[&child, &2i32, &root]).await.unwrap();

    // A point read by a uuid parameter; results in binary.
    let row = client.query_one("SELECT id, parent FROM events WHERE id = $1", &[&child]).await.unwrap();
    assert_eq!(row.columns()[0].type_(), &Type::UUID);
    assert_eq!(row.get::<_, uuid::Uuid>(0), child);
    assert_eq!(row.get::<_, Option<uuid::Uuid>>(1), Some(root));
    // DataFusion types a parameter compared with a uuid column as uuid.
    let found = client.query("SELECT n FROM events WHERE parent = $1 ORDER BY n", &[&root]).await.unwrap();
    assert_eq!(found.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>(), [2]);
    // Ordered as PostgreSQL orders uuids: bytewise.
    let ordered = client.query("SELECT id FROM events ORDER BY id DESC", &[]).await.unwrap();
    assert_eq!(ordered.iter().map(|r| r.get::<_, uuid::Uuid>(0)).collect::<Vec<_>>(), [root, child]);

    // DEFAULT gen_random_uuid(): a new version 4 uuid per row.
    let added = client.query("INSERT INTO events (n) VALUES (3), (4) RETURNING id", &[]).await.unwrap();
    let ids: Vec<uuid::Uuid> = added.iter().map(|r| r.get(0)).collect();
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|id| id.get_version_num() == 4), "{ids:?}");
    let fresh = client.query_one("SELECT gen_random_uuid()", &[]).await.unwrap();
    assert_eq!(fresh.columns()[0].type_(), &Type::UUID);
    assert_eq!(fresh.get::<_, uuid::Uuid>(0).get_version_num(), 4);
    assert_eq!(rows(&client, "SELECT count(*) FROM events").await, ["4"]);
    assert_eq!(
        rows(
            &client,
            "SELECT data_type, udt_name FROM information_schema.columns \
             WHERE table_name = 'events' AND column_name = 'parent'"
        )
        .await,
        ["uuid|uuid"]
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bytea_reads_hex_and_escape_input_and_prints_hex() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client.batch_execute("CREATE TABLE blobs (k BYTEA PRIMARY KEY, v BYTEA)").await.unwrap();
    client
        .batch_execute(
            "INSERT INTO blobs VALUES ('\\x0102', '\\xDE AD be ef'), ('abc', 'a\\\\b\\001'), ('\\x', NULL)",
        )
        .await
        .unwrap();
    assert_eq!(
        rows(&client, "SELECT k, v FROM blobs ORDER BY k").await,
        ["\\x|NULL", "\\x0102|\\xdeadbeef", "\\x616263|\\x615c6201"]
    );
    // The key in either input format: a point read and a duplicate.
    assert_eq!(rows(&client, "SELECT v FROM blobs WHERE k = 'abc'").await, ["\\x615c6201"]);
    assert_eq!(sqlstate(&client, "INSERT INTO blobs VALUES ('\\x616263', NULL)").await, "23505");
    // Literals compared with a bytea column (through DataFusion) read as bytea.
    assert_eq!(rows(&client, "SELECT k FROM blobs WHERE v = '\\xDEADBEEF'").await, ["\\x0102"]);
    assert_eq!(rows(&client, "SELECT count(*) FROM blobs WHERE k >= '\\x01'").await, ["2"]);
    assert_eq!(rows(&client, "SELECT 'a\\\\b'::bytea, '\\x0A'::bytea").await, ["\\x615c62|\\x0a"]);
    assert_eq!(count(&client, "UPDATE blobs SET v = v || '\\x00' WHERE k = 'abc'").await, 1);
    assert_eq!(rows(&client, "SELECT v FROM blobs WHERE k = 'abc'").await, ["\\x615c620100"]);
    assert_eq!(sqlstate(&client, "INSERT INTO blobs VALUES ('\\x012', NULL)").await, "22023");
    assert_eq!(sqlstate(&client, "SELECT k FROM blobs WHERE v = '\\x0g'").await, "22023");
    assert_eq!(sqlstate(&client, "INSERT INTO blobs VALUES ('a\\q', NULL)").await, "22P02");
    assert_eq!(
        message(&client, "SELECT k FROM blobs WHERE v = '\\x0g'").await,
        "invalid hexadecimal digit: \"g\""
    );

    // Binary parameters and results: the bytes as they are.
    let insert = client.prepare("INSERT INTO blobs (k, v) VALUES ($1, $2)").await.unwrap();
    assert_eq!(insert.params(), [Type::BYTEA, Type::BYTEA]);
    let key: &[u8] = &[0, 0x5c, 0xff];
    let value: Vec<u8> = (0..=255).collect();
    client.execute(&insert, &[&key, &value]).await.unwrap();
    let row = client.query_one("SELECT k, v FROM blobs WHERE k = $1", &[&key]).await.unwrap();
    assert_eq!(row.columns()[1].type_(), &Type::BYTEA);
    assert_eq!(row.get::<_, Vec<u8>>(0), key);
    assert_eq!(row.get::<_, Vec<u8>>(1), value);
    let found = client.query("SELECT k FROM blobs WHERE v = $1", &[&value]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].get::<_, &[u8]>(0), key);
    assert_eq!(rows(&client, "SELECT k FROM blobs WHERE k = '\\x005cff'").await, ["\\x005cff"]);
    // COPY's text format escapes the backslash of bytea's text, as PostgreSQL does.
    let sql = "COPY (SELECT k, v FROM blobs WHERE k = '\\x0102') TO STDOUT";
    let stream = client.copy_out(sql).await.unwrap();
    let chunks: Vec<bytes::Bytes> = futures::TryStreamExt::try_collect(stream).await.unwrap();
    assert_eq!(chunks.concat(), b"\\\\x0102\t\\\\xdeadbeef\n");
    node.shutdown().await.unwrap();
}

/// A numeric in PostgreSQL's binary format, its bytes written out by hand
/// (digit count, weight, sign, display scale, base-10000 digits), as
/// tokio-postgres has no numeric type.
#[derive(Debug, Clone, PartialEq)]
struct NumericBytes(Vec<u8>);

impl ToSql for NumericBytes {
    fn to_sql(&self, _: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    tokio_postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for NumericBytes {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(NumericBytes(raw.to_vec()))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn numeric_rounds_to_its_scale_and_refuses_overflow() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "CREATE TABLE accounts (id NUMERIC(6, 2) PRIMARY KEY, balance NUMERIC(10, 2), rate NUMERIC);
             INSERT INTO accounts VALUES
                 (1, 1.005, 0.50), (2.5, '-2.5', '1e3'), (-3, NULL, 0.12345678901234);",
        )
        .await
        .unwrap();
    // numeric(p, s) prints its scale; numeric without one, no trailing zeros.
    assert_eq!(
        rows(&client, "SELECT id, balance, rate FROM accounts ORDER BY id").await,
        ["-3.00|NULL|0.123456789", "1.00|1.01|0.5", "2.50|-2.50|1000"]
    );
    // The key in any form that rounds to it: a point read and a duplicate.
    assert_eq!(rows(&client, "SELECT balance FROM accounts WHERE id = '2.500'").await, ["-2.50"]);
    assert_eq!(sqlstate(&client, "INSERT INTO accounts VALUES (0.999, 0, 0)").await, "23505");
    // Through DataFusion: a quoted literal keeps every digit (1.01 > 1.005).
    assert_eq!(rows(&client, "SELECT id FROM accounts WHERE balance <= '1.005'").await, ["2.50"]);
    assert_eq!(
        rows(&client, "SELECT sum(balance), sum(rate), max(rate), count(*) FROM accounts").await,
        ["-1.49|1000.623456789|1000|3"]
    );
    assert_eq!(
        rows(&client, "SELECT balance * 2, rate + 1, -balance FROM accounts WHERE id BETWEEN 0.5 AND 1.5")
            .await,
        ["2.02|1.5|-1.01"]
    );
    assert_eq!(
        rows(&client, "SELECT '2.555'::numeric(10, 2), '1.50'::numeric, CAST(7 AS DECIMAL(4, 1))").await,
        ["2.56|1.5|7.0"]
    );
    assert_eq!(count(&client, "UPDATE accounts SET balance = balance * 3 WHERE balance < 0").await, 1);
    assert_eq!(rows(&client, "SELECT balance FROM accounts WHERE id = 2.5").await, ["-7.50"]);
    for (sql, code) in [
        ("INSERT INTO accounts VALUES (4, 123456789, 0)", "22003"),
        ("INSERT INTO accounts VALUES (4, 'abc', 0)", "22P02"),
        ("UPDATE accounts SET balance = 99999999.995 WHERE id = 1", "22003"),
        ("SELECT '99999.999'::numeric(7, 2)", "22003"),
        ("SELECT '1e'::numeric", "22P02"),
        ("SELECT 'NaN'::numeric", "0A000"),
        ("CREATE TABLE wide (n NUMERIC(39, 2))", "0A000"),
        ("CREATE TABLE narrow (n NUMERIC(0))", "22023"),
    ] {
        assert_eq!(sqlstate(&client, sql).await, code, "{sql}");
    }
    let overflow = message(&client, "INSERT INTO accounts VALUES (4, 123456789, 0)").await;
    assert_eq!(overflow, "numeric field overflow");

    // Binary parameters and results: PostgreSQL's base-10000 format.
    let insert = client.prepare("INSERT INTO accounts VALUES ($1, $2, $3)").await.unwrap();
    assert_eq!(insert.params(), [Type::NUMERIC, Type::NUMERIC, Type::NUMERIC]);
    let seven = NumericBytes(vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 7]);
    let one_fifty = NumericBytes(vec![0, 2, 0, 0, 0, 0, 0, 2, 0, 1, 0x13, 0x88]);
    let negative = NumericBytes(vec![0, 3, 0, 1, 0x40, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]);
    client.execute(&insert, &[&seven, &one_fifty, &negative]).await.unwrap();
    assert_eq!(
        rows(&client, "SELECT id, balance, rate FROM accounts WHERE id = 7").await,
        ["7.00|1.50|-12345.678"]
    );
    // 7.00 is one digit of weight 0 with display scale 2.
    let seven_scaled = NumericBytes(vec![0, 1, 0, 0, 0, 0, 0, 2, 0, 7]);
    let point = "SELECT id, balance, rate FROM accounts WHERE id = $1";
    let row = client.query_one(point, &[&seven]).await.unwrap();
    assert_eq!(row.columns()[1].type_(), &Type::NUMERIC);
    assert_eq!(row.get::<_, NumericBytes>(0), seven_scaled);
    assert_eq!(row.get::<_, NumericBytes>(1), one_fifty);
    assert_eq!(row.get::<_, NumericBytes>(2), negative);
    // A parameter DataFusion types from the numeric column it meets.
    let found = client.query("SELECT id FROM accounts WHERE balance = $1", &[&one_fifty]).await.unwrap();
    assert_eq!(found.iter().map(|r| r.get::<_, NumericBytes>(0)).collect::<Vec<_>>(), [seven_scaled]);
    assert_eq!(
        rows(
            &client,
            "SELECT data_type, numeric_precision, numeric_scale FROM information_schema.columns \
             WHERE table_name = 'accounts' ORDER BY ordinal_position"
        )
        .await,
        ["numeric|6|2", "numeric|10|2", "numeric|NULL|NULL"]
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn arrays_bind_and_return_in_binary_and_text() {
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "CREATE TABLE tagged (id INT PRIMARY KEY, tags TEXT[], nums INT[], big BIGINT[], ws FLOAT8[])",
        )
        .await
        .unwrap();
    // Binary array parameters of every element kind, NULL elements and a
    // NULL array included; text elements that need quoting in text form.
    let tags: Vec<Option<String>> =
        vec![Some("a b".into()), None, Some("q\"x,{}".into()), Some(String::new())];
    let nums: Vec<i32> = vec![3, -1, 2];
    let big: Option<Vec<Option<i64>>> = None;
    let ws: Vec<f64> = vec![1.5, -2.25];
    let inserted = client
        .execute("INSERT INTO tagged VALUES ($1, $2, $3, $4, $5)", &[&1i32, &tags, &nums, &big, &ws])
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    // Binary results decode to the same values.
    let row =
        client.query_one("SELECT tags, nums, big, ws FROM tagged WHERE id = $1", &[&1i32]).await.unwrap();
    assert_eq!(row.get::<_, Vec<Option<String>>>(0), tags);
    assert_eq!(row.get::<_, Vec<i32>>(1), nums);
    assert_eq!(row.get::<_, Option<Vec<Option<i64>>>>(2), None);
    assert_eq!(row.get::<_, Vec<f64>>(3), ws);
    // Through DataFusion too, with array functions.
    let row = client
        .query_one("SELECT nums, array_length(nums, 1) FROM tagged WHERE 2 = ANY(nums)", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<i32>>(0), nums);
    // The text form quotes what needs quoting.
    assert_eq!(
        rows(&client, "SELECT tags, nums, ws FROM tagged WHERE id = 1").await,
        [r#"{"a b",NULL,"q\"x,{}",""}|{3,-1,2}|{1.5,-2.25}"#]
    );
    // An array parameter compared in a query.
    let found = client.query("SELECT id FROM tagged WHERE nums = $1", &[&nums]).await.unwrap();
    assert_eq!(found.len(), 1);
    for (sql, code) in [
        ("INSERT INTO tagged (id, nums) VALUES (2, '{{1,2},{3,4}}')", "0A000"),
        ("INSERT INTO tagged (id, nums) VALUES (2, ARRAY[ARRAY[1], ARRAY[2]])", "0A000"),
        ("INSERT INTO tagged (id, nums) VALUES (2, '[1:2]={1,2}')", "0A000"),
        ("INSERT INTO tagged (id, nums) VALUES (2, '{1,two}')", "22P02"),
        ("INSERT INTO tagged (id, nums) VALUES (2, 7)", "22P02"),
        ("CREATE TABLE badarr (a INT[] PRIMARY KEY)", "0A000"),
        ("CREATE TABLE badarr (a TIME[])", "0A000"),
        ("CREATE TABLE badarr (a UUID[] PRIMARY KEY)", "0A000"),
        ("CREATE TABLE badarr (a INT[][])", "0A000"),
    ] {
        assert_eq!(sqlstate(&client, sql).await, code, "{sql}");
    }
    assert_eq!(count(&client, "SELECT 1").await, 1);
    node.shutdown().await.unwrap();
}

/// Arrays of the scalar types beyond numbers, booleans and text: the text
/// form in and out (elements quoted when they hold blanks or backslashes),
/// each element checked as a value of the column's element type, typmod
/// included, and binary parameters and results that tokio-postgres'
/// `Vec<T>` of each element type reads and writes.
#[tokio::test(flavor = "multi_thread")]
async fn arrays_of_every_scalar_type_bind_and_return_in_binary_and_text() {
    use chrono::{DateTime, NaiveDate, Utc};
    let (node, addr) = start().await;
    let client = connect(addr).await;
    client
        .batch_execute(
            "CREATE TABLE typed (id INT PRIMARY KEY, d DATE[], ts TIMESTAMP[], tz TIMESTAMPTZ[], u UUID[], \
             j JSONB[], b BYTEA[], n NUMERIC(6, 2)[], v VARCHAR(3)[], c CHAR(2)[])",
        )
        .await
        .unwrap();
    client
        .batch_execute(
            r#"INSERT INTO typed VALUES (1, '{2024-02-29,NULL}', '{"2024-02-29 13:45:01.5"}',
               '{"2024-02-29 13:45:01+02"}', '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}',
               '{"{\"b\":1,\"a\":[2]}",null}', '{"\\x0aff",abc}', '{1.005,-2}', '{ab,"x y"}', '{a,NULL}')"#,
        )
        .await
        .unwrap();
    assert_eq!(
        rows(&client, "SELECT d, ts, tz, u, j, b, n, v, c FROM typed WHERE id = 1").await,
        [[
            "{2024-02-29,NULL}",
            r#"{"2024-02-29 13:45:01.5"}"#,
            r#"{"2024-02-29 11:45:01+00"}"#,
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            r#"{"{\"a\": [2], \"b\": 1}",NULL}"#,
            r#"{"\\x0aff","\\x616263"}"#,
            "{1.01,-2.00}",
            r#"{ab,"x y"}"#,
            r#"{"a ",NULL}"#,
        ]
        .join("|")]
    );
    for (sql, code) in [
        ("INSERT INTO typed (id, v) VALUES (2, '{abcd}')", "22001"),
        ("INSERT INTO typed (id, c) VALUES (2, '{abc}')", "22001"),
        ("INSERT INTO typed (id, n) VALUES (2, '{12345.6}')", "22003"),
        ("INSERT INTO typed (id, d) VALUES (2, '{2024-13-01}')", "22008"),
        ("INSERT INTO typed (id, ts) VALUES (2, '{soon}')", "22007"),
        ("INSERT INTO typed (id, u) VALUES (2, '{xyz}')", "22P02"),
        ("INSERT INTO typed (id, j) VALUES (2, '{\"{bad\"}')", "22P02"),
        ("INSERT INTO typed (id, b) VALUES (2, '{\"\\\\q\"}')", "22P02"),
        ("INSERT INTO typed (id, d) VALUES (2, '{{2024-01-01}}')", "0A000"),
    ] {
        assert_eq!(sqlstate(&client, sql).await, code, "{sql}");
    }

    // Binary parameters of each element type (NULL elements, an empty
    // array), read back in binary through the point read and DataFusion.
    let dates = vec![NaiveDate::from_ymd_opt(1999, 12, 31), None, NaiveDate::from_ymd_opt(2000, 1, 1)];
    let stamps =
        vec![NaiveDate::from_ymd_opt(2026, 12, 3).unwrap().and_hms_micro_opt(10, 23, 32, 5).unwrap()];
    let zoned: Vec<DateTime<Utc>> = vec![DateTime::from_timestamp(-1, 0).unwrap()];
    let uuids = vec![Some(uuid::Uuid::from_u128(0xa0ee_bc99_9c0b_4ef8_bb6d_6bb9_bd38_0a11)), None];
    let docs = vec![serde_json::json!({"k": [1, "two"], "n": null})];
    let blobs: Vec<Vec<u8>> = vec![vec![0, 255, 10], Vec::new()];
    let money = vec![NumericBytes(vec![0, 2, 0, 0, 0, 0, 0, 2, 0, 1, 0x13, 0x88])];
    let short: Vec<String> = Vec::new();
    let padded = vec![Some("z".to_string()), None];
    let insert =
        client.prepare("INSERT INTO typed VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)").await.unwrap();
    assert_eq!(insert.params()[1..4], [Type::DATE_ARRAY, Type::TIMESTAMP_ARRAY, Type::TIMESTAMPTZ_ARRAY]);
    client
        .execute(&insert, &[&2i32, &dates, &stamps, &zoned, &uuids, &docs, &blobs, &money, &short, &padded])
        .await
        .unwrap();
    let point = "SELECT d, ts, tz, u, j, b, n, v, c FROM typed WHERE id = $1";
    let through_datafusion = "SELECT d, ts, tz, u, j, b, n, v, c FROM typed WHERE cardinality(d) = 3";
    for sql in [point, through_datafusion] {
        let params: &[&(dyn ToSql + Sync)] = if sql.contains('$') { &[&2i32] } else { &[] };
        let row = client.query_one(sql, params).await.unwrap();
        assert_eq!(row.get::<_, Vec<Option<NaiveDate>>>(0), dates, "{sql}");
        assert_eq!(row.get::<_, Vec<chrono::NaiveDateTime>>(1), stamps, "{sql}");
        assert_eq!(row.get::<_, Vec<DateTime<Utc>>>(2), zoned, "{sql}");
        assert_eq!(row.get::<_, Vec<Option<uuid::Uuid>>>(3), uuids, "{sql}");
        assert_eq!(row.get::<_, Vec<serde_json::Value>>(4), docs, "{sql}");
        assert_eq!(row.get::<_, Vec<Vec<u8>>>(5), blobs, "{sql}");
        assert_eq!(row.get::<_, Vec<NumericBytes>>(6), money, "{sql}");
        assert_eq!(row.get::<_, Vec<String>>(7), short, "{sql}");
        assert_eq!(row.get::<_, Vec<Option<String>>>(8), [Some("z ".to_string()), None], "{sql}");
    }
    // An array parameter of the element type compared in a query.
    let found = client.query("SELECT id FROM typed WHERE u = $1", &[&uuids]).await.unwrap();
    assert_eq!(found.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>(), [2]);
    // A binary array too long for the column's typmod is refused like text.
    let long = vec!["long".to_string()];
    let refused = client.execute("UPDATE typed SET v = $1 WHERE id = 2", &[&long]).await.unwrap_err();
    assert_eq!(refused.code().unwrap().code(), "22001");
    node.shutdown().await.unwrap();
}
