//! The differential test: the statements of `tests/sql/diff.sql` run, in
//! order, against a real PostgreSQL (started by the test) and against
//! Orbit, each over one `tokio-postgres` connection in the simple query
//! protocol. Each statement's rows (as PostgreSQL's text), row count and
//! SQLSTATE must match. Skips with a message when PostgreSQL is absent;
//! under CI its absence is a failure.

#![allow(clippy::unwrap_used)]

mod common;

use orbit_server::{Config, Node};
use tokio_postgres::SimpleQueryMessage;

/// What a statement did, comparably.
#[derive(Debug, PartialEq)]
enum Outcome {
    Rows { rows: Vec<Vec<Option<String>>>, count: Option<u64> },
    Error(String),
}

async fn run(client: &tokio_postgres::Client, sql: &str) -> Outcome {
    match client.simple_query(sql).await {
        Ok(messages) => {
            let mut rows = Vec::new();
            let mut count = None;
            for message in messages {
                match message {
                    SimpleQueryMessage::Row(row) => {
                        rows.push((0..row.len()).map(|i| row.get(i).map(normalize)).collect());
                    }
                    SimpleQueryMessage::CommandComplete(n) => count = Some(n),
                    _ => {}
                }
            }
            Outcome::Rows { rows, count }
        }
        Err(e) => {
            Outcome::Error(e.code().map_or_else(|| format!("no SQLSTATE: {e}"), |c| c.code().to_string()))
        }
    }
}

/// Numbers that are equal print alike (`2.50` and `2.5`).
fn normalize(text: &str) -> String {
    match text.parse::<f64>() {
        Ok(f) if text.contains('.') && f.is_finite() => format!("{f}"),
        _ => text.to_string(),
    }
}

/// The corpus' statements: each ends with `;` at the end of a line.
fn statements() -> Vec<String> {
    let corpus = include_str!("sql/diff.sql");
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in corpus.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push(' ');
        if line.ends_with(';') {
            statements.push(current.trim().trim_end_matches(';').to_string());
            current.clear();
        }
    }
    assert!(current.trim().is_empty(), "unterminated statement at the end of the corpus");
    statements
}

#[tokio::test(flavor = "multi_thread")]
async fn orbit_answers_the_corpus_as_postgresql_does() {
    let Some(postgres) = common::pg::start() else { return };
    let reference = postgres.connect().await;
    let node = Node::builder(Config::ephemeral()).with_builtin_kinds().start().await.unwrap();
    let addr = node.pg_addr().unwrap();
    let mut config = tokio_postgres::Config::new();
    config.host(addr.ip().to_string()).port(addr.port()).user("postgres").dbname("postgres");
    let (orbit, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);

    let statements = statements();
    assert!(statements.len() >= 100, "the corpus has {} statements", statements.len());
    let mut differences = Vec::new();
    for sql in &statements {
        let mut expected = run(&reference, sql).await;
        let mut actual = run(&orbit, sql).await;
        // PostgreSQL tags SHOW without a count; pgwire appends the row count
        // to every row-returning command's tag (docs/postgres.md).
        if sql.to_uppercase().starts_with("SHOW ") {
            for outcome in [&mut expected, &mut actual] {
                if let Outcome::Rows { count, .. } = outcome {
                    *count = None;
                }
            }
        }
        if expected != actual {
            differences.push(format!("{sql}\n  postgres: {expected:?}\n  orbit:    {actual:?}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} statements differ:\n{}",
        differences.len(),
        statements.len(),
        differences.join("\n")
    );
    node.shutdown().await.unwrap();
}

/// psql's output for `command` against the server on `port`.
async fn psql(port: u16, command: &str) -> String {
    let out = tokio::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-d", "postgres"])
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-c", command])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "psql {command}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// psql's `\dt`, `\d`, `\d table` (indexes and UNIQUE constraints
/// included), `\di` and `\dn` print the same on Orbit as on
/// PostgreSQL for the same tables: the catalog queries psql sends run over
/// Orbit's pg_catalog and answer what PostgreSQL's would.
#[tokio::test(flavor = "multi_thread")]
async fn psql_describes_tables_as_postgresql_does() {
    if !common::require_program("psql") {
        return;
    }
    let Some(postgres) = common::pg::start() else { return };
    let node = Node::builder(Config::ephemeral()).with_builtin_kinds().start().await.unwrap();
    let orbit = node.pg_addr().unwrap().port();
    let schema = [
        "CREATE TABLE items (id SERIAL PRIMARY KEY, name VARCHAR(20) NOT NULL, qty INT DEFAULT 0, \
         price DOUBLE PRECISION, added TIMESTAMP DEFAULT now(), code CHAR(3), flag BOOLEAN DEFAULT true)",
        "CREATE TABLE log (at TIMESTAMPTZ, day DATE, msg TEXT) WITH (fillfactor = 90)",
        "CREATE TABLE tags (tag TEXT NOT NULL, n BIGINT)",
        "ALTER TABLE tags ADD PRIMARY KEY (tag)",
        "CREATE TABLE users (id INT PRIMARY KEY, email TEXT UNIQUE, org INT, name TEXT, \
         CONSTRAINT users_org_name UNIQUE (org, name))",
        "CREATE INDEX ON users (name)",
        "CREATE UNIQUE INDEX users_org_id ON users (org, id)",
        "CREATE INDEX tags_n_idx ON tags (n)",
        "CREATE TABLE stock (wh INT, sku TEXT, qty INT DEFAULT 0, PRIMARY KEY (wh, sku))",
        "CREATE TABLE arrs (id INT PRIMARY KEY, tags TEXT[], n INTEGER[] NOT NULL, f FLOAT8[], b BOOLEAN[], \
         d DATE[], at TIMESTAMPTZ[], u UUID[], j JSONB[], bin BYTEA[], m NUMERIC(8,3)[], v VARCHAR(5)[], \
         c CHAR(2)[])",
        "CREATE TABLE orders (id INT PRIMARY KEY, qty INT CHECK (qty >= 0), price INT, \
         total INT GENERATED ALWAYS AS (qty * price) STORED, CONSTRAINT orders_price CHECK (price > 0))",
        "CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 10",
        "CREATE SEQUENCE counter_seq START 5 INCREMENT 2 MAXVALUE 99 CYCLE",
        "CREATE SEQUENCE owned_seq AS integer OWNED BY items.qty",
        "COMMENT ON TABLE items IS 'what is in stock'",
        "COMMENT ON COLUMN items.qty IS 'how many'",
    ];
    for port in [postgres.port, orbit] {
        for statement in schema {
            psql(port, statement).await;
        }
    }
    for command in [
        "\\dt",
        "\\d",
        "\\d items",
        "\\d log",
        "\\d tags",
        "\\d users",
        "\\d stock",
        "\\d arrs",
        "\\d orders",
        "\\d cheap",
        "\\dv",
        "\\ds",
        "\\d counter_seq",
        "\\d owned_seq",
        "\\d items_id_seq",
        "\\di",
        "\\dn",
        "\\df",
        "\\dT",
    ] {
        let expected = psql(postgres.port, command).await;
        let actual = psql(orbit, command).await;
        assert_eq!(actual, expected, "psql {command}");
    }
    node.shutdown().await.unwrap();
}
