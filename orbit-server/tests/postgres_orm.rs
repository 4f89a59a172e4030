//! SQLAlchemy 2's ORM over psycopg 3, unmodified, against Orbit's
//! PostgreSQL front door: `create_all` of models with relationships and
//! foreign keys (ON DELETE CASCADE), sessions with CRUD, joins, eager
//! loading (selectinload, joinedload), rollback, a savepoint rolled back,
//! and IntegrityErrors for a missing referenced row (23503) and a duplicate
//! (23505). The check itself is `clients/sqlalchemy/check_orm.py`, which
//! passes against PostgreSQL too; `scripts/install-deps.sh --clients`
//! installs its packages into `clients/sqlalchemy/.venv`.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::start;
use std::path::PathBuf;
use std::time::Duration;

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/sqlalchemy")
}

/// The virtualenv's Python, or `None` (a skip, or a failure under CI) when
/// the packages are not installed.
fn python() -> Option<PathBuf> {
    let python = client_dir().join(".venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "SQLAlchemy is required under CI: run scripts/install-deps.sh --clients"
    );
    eprintln!("skipped: SQLAlchemy is not installed (scripts/install-deps.sh --clients)");
    None
}

/// Runs `script` of the client folder against `addr`; its output, after
/// asserting it succeeded.
async fn run(python: &PathBuf, script: &str, addr: std::net::SocketAddr) -> String {
    let url = format!("postgresql+psycopg://postgres@{}:{}/postgres", addr.ip(), addr.port());
    let run = tokio::process::Command::new(python)
        .arg(script)
        .arg(url)
        .current_dir(client_dir())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run).await.expect("the check ends").unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_orm_models_sessions_and_foreign_keys_work() {
    let Some(python) = python() else { return };
    let (node, addr) = start().await;
    let stdout = run(&python, "check_orm.py", addr).await;
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    assert!(stdout.contains("ok: IntegrityError on FK violation (23503)"), "{stdout}");
    node.shutdown().await.unwrap();
}
