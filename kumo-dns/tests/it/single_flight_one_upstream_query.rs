//! 100 concurrent lookups of one uncached domain cause exactly one MX query at the server.
#![cfg(feature = "server")]
use crate::support;

use kumo_dns::{
    CacheConfig, HickoryResolver, LookupFuture, MxCache, RecordType, Resolver,
    server::LoopbackDnsServer,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Spreads lookups over independent hickory resolvers, so hickory's own in-flight
/// deduplication (per resolver) cannot hide a missing single-flight in kumo's cache.
struct RoundRobin {
    resolvers: Vec<HickoryResolver>,
    next: AtomicUsize,
}

impl RoundRobin {
    fn new(server: &LoopbackDnsServer) -> RoundRobin {
        RoundRobin {
            resolvers: (0..16).map(|_| support::resolver(server)).collect(),
            next: AtomicUsize::new(0),
        }
    }
}

impl Resolver for RoundRobin {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.resolvers.len();
        self.resolvers[i].lookup(name, rtype)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_misses_cause_one_query_at_the_server() {
    let server = support::server().await;
    let cache = Arc::new(MxCache::new(
        RoundRobin::new(&server),
        CacheConfig::default(),
    ));
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cache = cache.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                cache.resolve("flight.test").await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    assert!(
        results.iter().all(|r| Arc::ptr_eq(r, &results[0])),
        "everyone shares one result"
    );
    assert_eq!(server.queries_for_type("flight.test", RecordType::Mx), 1);
    assert_eq!(server.queries_for_type("mx.flight.test", RecordType::A), 1);
    assert_eq!(
        server.queries_for_type("mx.flight.test", RecordType::Aaaa),
        1
    );
    let s = cache.stats();
    assert_eq!(s.misses, 1);
    assert_eq!(s.hits + s.coalesced, 99);
    assert_eq!(s.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_cache_every_lookup_reaches_the_server() {
    // The control: the same workload straight through MailExchanger::resolve.
    let server = support::server().await;
    let r = Arc::new(RoundRobin::new(&server));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let r = r.clone();
            tokio::spawn(async move { kumo_dns::MailExchanger::resolve(&*r, "flight.test").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(server.queries_for_type("flight.test", RecordType::Mx) > 1);
}
