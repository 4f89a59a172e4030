//! In-process calls on resident actors: the cost of the actor runtime alone
//! (memory backend, so no I/O).
//!
//! `cargo bench -p orbit-benchmarks --bench actor_calls`

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orbit_server::actors::counter::CounterActor;
use orbit_server::{Config, Node};
use orbit_shared::actors::counter::{Get, Increment};
use orbit_shared::{ActorGateway, ActorId, Invocation};
use std::time::{Duration, Instant};

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap()
}

fn calls(c: &mut Criterion) {
    let rt = runtime(1);
    let node = rt.block_on(Node::builder(Config::ephemeral()).with_builtin_kinds().build()).unwrap();
    let counter = node.actor::<CounterActor>("bench");
    rt.block_on(counter.call(Increment { by: 1 })).unwrap();
    let gateway = node.handle().clone();

    let mut group = c.benchmark_group("in_process");
    group.throughput(Throughput::Elements(1));
    group.bench_function("typed_get_resident", |b| {
        b.to_async(&rt).iter(|| async { counter.call(Get {}).await.unwrap() })
    });
    group.bench_function("typed_increment_memory", |b| {
        b.to_async(&rt).iter(|| async { counter.call(Increment { by: 1 }).await.unwrap() })
    });
    group.bench_function("dynamic_json_get", |b| {
        b.to_async(&rt).iter(|| async {
            let id = ActorId::new("counter", "bench");
            gateway.invoke(id, Invocation::new("get", &b"{}"[..])).await.unwrap()
        })
    });
    group.finish();
    rt.block_on(node.shutdown()).unwrap();
}

/// Two workers calling two different actors: what the node does with both
/// cores. Reported as time per call across both.
fn parallel_calls(c: &mut Criterion) {
    let rt = runtime(2);
    let node = rt.block_on(Node::builder(Config::ephemeral()).with_builtin_kinds().build()).unwrap();
    let handle = node.handle().clone();
    let mut group = c.benchmark_group("in_process_2_workers");
    group.throughput(Throughput::Elements(1));
    group.bench_function("typed_get_resident", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            rt.block_on(async {
                let tasks: Vec<_> = (0..2)
                    .map(|w| {
                        let counter = handle.actor::<CounterActor>(format!("bench-{w}"));
                        tokio::spawn(async move {
                            for _ in 0..iters / 2 {
                                counter.call(Get {}).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            });
            started.elapsed()
        })
    });
    group.finish();
    rt.block_on(node.shutdown()).unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = calls, parallel_calls
}
criterion_main!(benches);
