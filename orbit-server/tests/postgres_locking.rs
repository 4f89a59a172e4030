//! SELECT ... FOR UPDATE over real connections: a job queue of eight
//! workers taking jobs with `FOR UPDATE SKIP LOCKED` processes every job
//! exactly once; NOWAIT fails at once on a row another transaction holds,
//! SKIP LOCKED passes it by, and plain FOR UPDATE waits for its holder and
//! then sees the holder's committed row.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::{connect, rows, sqlstate, start};
use std::time::Duration;

const JOBS: i32 = 200;
const WORKERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_workers_taking_jobs_with_skip_locked_process_every_job_exactly_once() {
    let (node, addr) = start().await;
    let admin = connect(addr).await;
    admin
        .batch_execute(
            "CREATE TABLE jobs (id INT PRIMARY KEY, state TEXT NOT NULL, worker INT);
             CREATE TABLE done (job INT PRIMARY KEY, worker INT NOT NULL);",
        )
        .await
        .unwrap();
    admin
        .execute(&format!("INSERT INTO jobs SELECT g, 'queued', NULL FROM generate_series(1, {JOBS}) g"), &[])
        .await
        .unwrap();

    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let client = connect(addr).await;
        workers.push(tokio::spawn(async move {
            let mut taken = 0;
            loop {
                client.batch_execute("BEGIN").await.unwrap();
                // The extended protocol, as drivers send it.
                let job = client
                    .query_opt(
                        "SELECT id FROM jobs WHERE state = $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
                        &[&"queued"],
                    )
                    .await
                    .unwrap();
                let Some(job) = job else {
                    client.batch_execute("COMMIT").await.unwrap();
                    return taken;
                };
                let id: i32 = job.get(0);
                let w = w as i32;
                let updated = client
                    .execute(
                        "UPDATE jobs SET state = 'done', worker = $1 WHERE id = $2 AND state = 'queued'",
                        &[&w, &id],
                    )
                    .await
                    .unwrap();
                assert_eq!(updated, 1, "job {id} was taken by worker {w} after another took it");
                // A job recorded twice would be a duplicate key here.
                client.execute("INSERT INTO done VALUES ($1, $2)", &[&id, &w]).await.unwrap();
                client.batch_execute("COMMIT").await.unwrap();
                taken += 1;
            }
        }));
    }
    let mut per_worker = Vec::new();
    for worker in workers {
        let taken =
            tokio::time::timeout(Duration::from_secs(120), worker).await.expect("workers finish").unwrap();
        per_worker.push(taken);
    }
    assert_eq!(per_worker.iter().sum::<i32>(), JOBS, "jobs taken per worker: {per_worker:?}");
    assert!(per_worker.iter().filter(|&&n| n > 0).count() > 1, "one worker took every job: {per_worker:?}");
    assert_eq!(rows(&admin, "SELECT count(*) FROM done").await, [JOBS.to_string()]);
    assert_eq!(rows(&admin, "SELECT count(*) FROM jobs WHERE state = 'queued'").await, ["0"]);
    assert_eq!(
        rows(&admin, "SELECT count(*) FROM jobs j JOIN done d ON d.job = j.id AND d.worker = j.worker").await,
        [JOBS.to_string()]
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nowait_fails_skip_locked_passes_by_and_for_update_waits_for_the_holder() {
    let (node, addr) = start().await;
    let holder = connect(addr).await;
    holder
        .batch_execute(
            "CREATE TABLE acct (id INT PRIMARY KEY, balance INT NOT NULL);
             INSERT INTO acct VALUES (1, 100), (2, 200), (3, 300);",
        )
        .await
        .unwrap();
    holder.batch_execute("BEGIN").await.unwrap();
    assert_eq!(rows(&holder, "SELECT balance FROM acct WHERE id = 1 FOR UPDATE").await, ["100"]);

    let other = connect(addr).await;
    assert_eq!(sqlstate(&other, "SELECT * FROM acct WHERE id = 1 FOR UPDATE NOWAIT").await, "55P03");
    assert_eq!(sqlstate(&other, "SELECT * FROM acct ORDER BY id FOR SHARE NOWAIT").await, "55P03");
    assert_eq!(rows(&other, "SELECT id FROM acct ORDER BY id FOR UPDATE SKIP LOCKED").await, ["2", "3"]);
    assert_eq!(rows(&other, "SELECT id FROM acct ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED").await, ["2"]);
    // A locking clause below the top would be dropped by the planner: refused.
    assert_eq!(sqlstate(&other, "SELECT * FROM (SELECT id FROM acct FOR UPDATE) s").await, "0A000");
    // A plain read never waits.
    assert_eq!(rows(&other, "SELECT balance FROM acct WHERE id = 1").await, ["100"]);

    // FOR UPDATE waits for the holder, then reads the row it committed.
    let waiter = tokio::spawn(async move {
        let rows = rows(&other, "SELECT balance FROM acct WHERE id = 1 FOR UPDATE").await;
        (other, rows)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "FOR UPDATE did not wait for the row's holder");
    holder.batch_execute("UPDATE acct SET balance = 150 WHERE id = 1; COMMIT").await.unwrap();
    let (other, seen) =
        tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("the waiter is served").unwrap();
    assert_eq!(seen, ["150"]);

    // A row changed while the waiter waited so that it no longer matches
    // is left out, and the next candidate is taken in its place.
    holder.batch_execute("BEGIN").await.unwrap();
    assert_eq!(rows(&holder, "SELECT id FROM acct WHERE id = 2 FOR UPDATE").await, ["2"]);
    let waiter = tokio::spawn(async move {
        rows(&other, "SELECT id FROM acct WHERE balance >= 150 ORDER BY id DESC LIMIT 2 FOR UPDATE").await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "FOR UPDATE did not wait for row 2's holder");
    holder.batch_execute("UPDATE acct SET balance = 0 WHERE id = 2; COMMIT").await.unwrap();
    let seen =
        tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("the waiter is served").unwrap();
    assert_eq!(seen, ["3", "1"]);
    node.shutdown().await.unwrap();
}
