//! The recipient rate limit of kumo-inject, measured for `compare inject`:
//!
//! - `ratelimit_check_ns`: one uncontended local `admit` of one recipient (global key, reject
//!   mode, a rate high enough that every check admits), against governor's `check_n` on a direct
//!   limiter with the same quota.
//! - `ratelimit_keyed_check_ns`: the same per peer, cycling over 1,000 peers, against governor's
//!   keyed limiter (`check_key_n`).
//! - `redis_ratelimit_check_us`: one `admit` through the Redis backend (the Lua GCRA script) over
//!   loopback, sequential. The server is `KUMO_TEST_REDIS_URL` if set, else a redis-server this
//!   module starts on a free loopback port (and stops) if the binary is found, else the line is
//!   skipped with a note on stderr.
#![allow(clippy::print_stderr, reason = "notes for the person running compare")]

use std::hint::black_box;
use std::net::{IpAddr, TcpListener, TcpStream};
use std::num::NonZeroU32;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use governor::{Quota, RateLimiter};
use kumo_inject::ratelimit::{RedisOptions, UnavailablePolicy};
use kumo_inject::{KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RecipientRateLimit};

use crate::{Better, CountingAlloc, Options, Reporter};

/// A rate no benchmark loop reaches, so every check admits.
const RATE: u32 = 1_000_000_000;

/// Runs the rate-limit workloads (part of the `inject` area).
pub fn run(opts: &Options, _alloc: &CountingAlloc, r: &mut Reporter) {
    let n = opts.n.unwrap_or(1_000_000).max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let config = RateLimitConfig::new(u64::from(RATE), Duration::from_secs(1), u64::from(RATE));
    let quota = Quota::per_second(NonZeroU32::new(RATE).expect("non-zero"));
    let one = NonZeroU32::new(1).expect("non-zero");

    // Global key.
    let global =
        RecipientRateLimit::local(config, LimitMode::Reject, KeyBy::Global).expect("valid config");
    let ctx = RateKeyContext::default();
    let kumo_ns = best_of(3, || {
        rt.block_on(async {
            let started = Instant::now();
            for _ in 0..n {
                let _ = black_box(global.admit(black_box(&ctx), 1).await);
            }
            ns_per(started.elapsed(), n)
        })
    });
    let direct = RateLimiter::direct(quota);
    let gov_ns = best_of(3, || {
        let started = Instant::now();
        for _ in 0..n {
            let _ = black_box(direct.check_n(black_box(one)));
        }
        ns_per(started.elapsed(), n)
    });
    r.peer(
        "ratelimit_check_ns",
        n,
        kumo_ns,
        "governor",
        gov_ns,
        Better::Lower,
    );

    // Per peer, 1,000 peers.
    let peers: Vec<IpAddr> = (0..1000u32)
        .map(|i| IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
        .collect();
    let by_peer =
        RecipientRateLimit::local(config, LimitMode::Reject, KeyBy::Peer).expect("valid config");
    let kumo_keyed = best_of(3, || {
        rt.block_on(async {
            let started = Instant::now();
            for i in 0..n {
                let ctx = RateKeyContext {
                    tenant: None,
                    peer: Some(peers[i as usize % peers.len()]),
                };
                let _ = black_box(by_peer.admit(&ctx, 1).await);
            }
            ns_per(started.elapsed(), n)
        })
    });
    let keyed = RateLimiter::keyed(quota);
    let gov_keyed = best_of(3, || {
        let started = Instant::now();
        for i in 0..n {
            let _ = black_box(keyed.check_key_n(&peers[i as usize % peers.len()], one));
        }
        ns_per(started.elapsed(), n)
    });
    r.peer(
        "ratelimit_keyed_check_ns",
        n,
        kumo_keyed,
        "governor",
        gov_keyed,
        Better::Lower,
    );

    // Redis over loopback.
    let Some(server) = RedisServer::find_or_start() else {
        return;
    };
    let checks = (n / 100).clamp(1_000, 20_000);
    let redis_us =
        rt.block_on(async {
            let mut options = RedisOptions::new(server.url.clone());
            options.key_prefix = format!("kumo-bench:{}", std::process::id());
            options.on_unavailable = UnavailablePolicy::FailClosed;
            options.timeout = Duration::from_secs(1);
            let limit =
                match RecipientRateLimit::redis(config, LimitMode::Reject, KeyBy::Global, options)
                    .await
                {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!(
                            "note: redis at {} unusable ({e}); skipping redis_ratelimit_check_us",
                            server.url
                        );
                        return None;
                    }
                };
            // Warm up (script cache, connection).
            for _ in 0..100 {
                let _ = limit.admit(&ctx, 1).await;
            }
            let started = Instant::now();
            for _ in 0..checks {
                if let Err(e) = limit.admit(&ctx, 1).await {
                    eprintln!("note: redis check failed ({e}); skipping redis_ratelimit_check_us");
                    return None;
                }
            }
            Some(started.elapsed().as_secs_f64() * 1e6 / checks as f64)
        });
    drop(server);
    if let Some(us) = redis_us {
        r.solo("redis_ratelimit_check_us", checks, us, Better::Lower);
    }
}

fn ns_per(d: Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1e9 / n as f64
}

/// The lowest of `runs` measurements (the least disturbed by the other work on the machine).
fn best_of(runs: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| f()).fold(f64::INFINITY, f64::min)
}

/// The Redis to measure against: the test server, or one started here (stopped on drop).
struct RedisServer {
    url: String,
    child: Option<Child>,
}

impl RedisServer {
    fn find_or_start() -> Option<Self> {
        if let Ok(url) = std::env::var("KUMO_TEST_REDIS_URL")
            && !url.is_empty()
        {
            return Some(Self { url, child: None });
        }
        let bin = std::env::var("KUMO_TEST_REDIS_SERVER")
            .ok()
            .filter(|b| !b.is_empty())
            .or_else(|| {
                std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .map(|p| p.join("redis-server"))
                        .find(|p| p.is_file())
                        .map(|p| p.display().to_string())
                })
            });
        let Some(bin) = bin else {
            eprintln!(
                "note: no KUMO_TEST_REDIS_URL and no redis-server binary; skipping redis_ratelimit_check_us"
            );
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let child = Command::new(&bin)
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                eprintln!("note: cannot start {bin} ({e}); skipping redis_ratelimit_check_us");
                return None;
            }
        };
        let server = Self {
            url: format!("redis://127.0.0.1:{port}/"),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                eprintln!("note: {bin} did not start; skipping redis_ratelimit_check_us");
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
