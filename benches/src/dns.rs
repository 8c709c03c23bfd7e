//! `dns` area: kumo-dns planning and caching, beside hickory-resolver's own cache.
//!
//! Timings are the fastest of [`BATCHES`] batches (the machine is shared with other work).
//!
//! * `plan_ns`: one [`kumo_dns::plan`] call (host-level shuffle, `SmallRng`) for 16 addresses
//!   over 3 preference levels ([`sixteen_over_three`]); no peer crate plans connections, so it
//!   is reported alone (goal: at most 100 ns). `plan_ns_address_weighted` is the same with
//!   KumoMTA's address-level shuffle.
//! * `cache_hit_ns`: a repeated `MxCache::resolve("example.test")` that hits the cache, beside a
//!   repeated `mx_lookup` of the same name through hickory-resolver's own response cache (peer
//!   `hickory-resolver`), both pointed at the in-process loopback DNS server and warmed first.
//!   Note kumo's hit returns the whole `MailExchanger` (MX and addresses); hickory's returns
//!   only the MX answer.
//! * `single_flight_upstream_queries`: 100 concurrent `MxCache::resolve` calls for one uncached
//!   domain; the value is the number of MX queries the loopback server received. kumo's cache
//!   sits on 16 independent hickory resolvers used round-robin, so hickory's per-resolver
//!   in-flight deduplication cannot produce the 1; the peer value is 100 concurrent lookups
//!   through one hickory resolver (which deduplicates identical in-flight queries itself).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kumo_dns::hickory_resolver::proto::rr::RecordType as HRecordType;
use kumo_dns::server::LoopbackDnsServer;
use kumo_dns::{
    CacheConfig, HickoryOptions, HickoryResolver, LookupFuture, MailExchanger, MxCache, MxHost,
    PlanPolicy, RecordType, Resolver, ShuffleMode, plan,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::{Better, CountingAlloc, Options, Reporter};

/// The zone the loopback server serves for the cache and single-flight workloads.
pub const ZONE: &str = "$ORIGIN test.\n\
@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 3600\n\
example MX 10 mx1.example\n\
example MX 20 mx2.example\n\
mx1.example A 192.0.2.1\n\
mx1.example AAAA 2001:db8::1\n\
mx2.example A 192.0.2.2\n\
mx2.example AAAA 2001:db8::2\n\
flight MX 10 mx.flight\n\
mx.flight A 192.0.2.8\n\
mx.flight AAAA 2001:db8::8\n";

/// 16 addresses over 3 preference levels: 3 dual-stack hosts at 10, 2 dual-stack hosts and one
/// IPv4 host at 20, 5 IPv4 hosts at 30.
pub fn sixteen_over_three() -> MailExchanger {
    let v4 = |a: u8, b: u8| IpAddr::V4(Ipv4Addr::new(192, 0, a, b));
    let v6 = |a: u16, b: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, a, b, 0, 0, 0, 1));
    let mut hosts = Vec::new();
    let mut add = |name: String, pref: u16, addrs: Vec<IpAddr>| {
        hosts.push(MxHost::new(&name, pref, addrs).expect("valid host"));
    };
    for i in 0..3u8 {
        add(
            format!("a{i}.bench.test"),
            10,
            vec![v4(1, i), v6(1, u16::from(i))],
        );
    }
    for i in 0..2u8 {
        add(
            format!("b{i}.bench.test"),
            20,
            vec![v4(2, i), v6(2, u16::from(i))],
        );
    }
    add("b2.bench.test".into(), 20, vec![v4(2, 2)]);
    for i in 0..5u8 {
        add(format!("c{i}.bench.test"), 30, vec![v4(3, i)]);
    }
    let mx = MailExchanger::from_hosts("bench.test", hosts).expect("valid domain");
    assert_eq!(mx.address_count(), 16);
    mx
}

/// Batches each timed workload is split into; the fastest batch is reported, which leaves out
/// the batches in which the shared machine preempted the benchmark.
pub const BATCHES: u64 = 50;

/// Nanoseconds per plan: `n` plans in [`BATCHES`] batches, fastest batch.
pub fn plan_ns(mx: &MailExchanger, policy: &PlanPolicy, n: u64) -> f64 {
    let mut rng = SmallRng::seed_from_u64(1);
    let per = (n / BATCHES).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..BATCHES {
        let t = Instant::now();
        for _ in 0..per {
            black_box(plan(black_box(mx), policy, &mut rng));
        }
        best = best.min(t.elapsed().as_nanos() as f64 / per as f64);
    }
    best
}

/// Lookups spread round-robin over independent hickory resolvers.
#[derive(Debug)]
pub struct RoundRobin {
    resolvers: Vec<HickoryResolver>,
    next: AtomicUsize,
}

impl RoundRobin {
    /// `n` independent resolvers on `server`.
    pub fn new(server: &LoopbackDnsServer, n: usize) -> RoundRobin {
        RoundRobin {
            resolvers: (0..n).map(|_| resolver(server)).collect(),
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

/// A hickory resolver on `server` with hickory's default cache.
pub fn resolver(server: &LoopbackDnsServer) -> HickoryResolver {
    server
        .resolver(HickoryOptions::default().timeout(Duration::from_secs(2)))
        .expect("resolver builds")
}

/// Starts the loopback server with [`ZONE`].
pub async fn start_server() -> LoopbackDnsServer {
    LoopbackDnsServer::start(ZONE)
        .await
        .expect("loopback dns server starts")
}

/// ns per cache hit (kumo) and per cached `mx_lookup` (hickory): `n` calls each in
/// [`BATCHES`] interleaved batches, fastest batch of each.
pub async fn cache_hit_ns(server: &LoopbackDnsServer, n: u64) -> (f64, f64) {
    let cache = MxCache::new(resolver(server), CacheConfig::default());
    cache.resolve("example.test").await.expect("resolves");
    let hickory = resolver(server);
    hickory
        .inner()
        .lookup("example.test.", HRecordType::MX)
        .await
        .expect("resolves");
    let mut kumo = f64::INFINITY;
    let mut peer = f64::INFINITY;
    let per = (n / BATCHES).max(1);
    for _ in 0..BATCHES {
        let t = Instant::now();
        for _ in 0..per {
            black_box(cache.resolve(black_box("example.test")).await.ok());
        }
        kumo = kumo.min(t.elapsed().as_nanos() as f64 / per as f64);
        let t = Instant::now();
        for _ in 0..per {
            black_box(
                hickory
                    .inner()
                    .lookup(black_box("example.test."), HRecordType::MX)
                    .await
                    .ok(),
            );
        }
        peer = peer.min(t.elapsed().as_nanos() as f64 / per as f64);
    }
    let s = cache.stats();
    assert_eq!(s.misses, 1, "every timed kumo call was a hit");
    (kumo, peer)
}

/// MX queries the server saw for 100 concurrent misses: (kumo via MxCache, hickory alone).
pub async fn single_flight(server: &LoopbackDnsServer) -> (u64, u64) {
    let cache = Arc::new(MxCache::new(
        RoundRobin::new(server, 16),
        CacheConfig::default(),
    ));
    let before = server.queries_for_type("flight.test", RecordType::Mx);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = cache.clone();
            tokio::spawn(async move { c.resolve("flight.test").await.is_ok() })
        })
        .collect();
    for t in tasks {
        assert!(t.await.expect("task"), "resolves");
    }
    let kumo = server.queries_for_type("flight.test", RecordType::Mx) - before;

    let hickory = Arc::new(resolver(server));
    hickory.inner().clear_cache();
    let before = server.queries_for_type("flight.test", RecordType::Mx);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let h = hickory.clone();
            tokio::spawn(async move {
                h.inner()
                    .lookup("flight.test.", HRecordType::MX)
                    .await
                    .is_ok()
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await.expect("task"), "resolves");
    }
    let peer = server.queries_for_type("flight.test", RecordType::Mx) - before;
    (kumo, peer)
}

/// Runs the `dns` area.
pub fn run(opts: &Options, _alloc: &CountingAlloc, r: &mut Reporter) {
    let mx = sixteen_over_three();
    let n = opts.n.unwrap_or(2_000_000).max(1);
    let host = PlanPolicy::default();
    let weighted = PlanPolicy::default().shuffle(ShuffleMode::AddressWeighted);
    plan_ns(&mx, &host, n / 10 + 1);
    let best = |p: &PlanPolicy| {
        (0..3)
            .map(|_| plan_ns(&mx, p, n))
            .fold(f64::INFINITY, f64::min)
    };
    r.solo("plan_ns", n, best(&host), Better::Lower);
    r.solo(
        "plan_ns_address_weighted",
        n,
        best(&weighted),
        Better::Lower,
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let server = start_server().await;
        let hits = opts.n.unwrap_or(1_000_000).max(1);
        let (kumo, peer) = cache_hit_ns(&server, hits).await;
        r.peer(
            "cache_hit_ns",
            hits,
            kumo,
            "hickory-resolver",
            peer,
            Better::Lower,
        );
        let (kumo, peer) = single_flight(&server).await;
        r.peer(
            "single_flight_upstream_queries",
            100,
            kumo as f64,
            "hickory-resolver",
            peer as f64,
            Better::Lower,
        );
        server.shutdown().await;
    });
}
