//! Cache behaviour on a manual clock: TTL expiry, negative TTL, counters, capacity, takeover.
use crate::support;

use kumo_dns::{CacheConfig, ManualClock, MxCache, MxError, RecordType, ZoneResolver};
use std::sync::Arc;
use std::time::Duration;

fn cache(
    config: CacheConfig,
) -> (
    MxCache<Arc<ZoneResolver>, ManualClock>,
    Arc<ZoneResolver>,
    ManualClock,
) {
    let zone = Arc::new(support::zone_resolver());
    let clock = ManualClock::new();
    (
        MxCache::with_clock(zone.clone(), config, clock.clone()),
        zone,
        clock,
    )
}

#[tokio::test]
async fn positive_entries_expire_with_the_records_ttl() {
    let (c, zone, clock) = cache(CacheConfig::default());
    let a = c.resolve("flight.test").await.unwrap();
    assert_eq!(
        a.ttl(),
        Some(Duration::from_secs(30)),
        "AAAA NODATA: SOA minimum 30 s"
    );
    clock.advance(Duration::from_secs(29));
    let b = c.resolve("FLIGHT.test.").await.unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(zone.queries_for("flight.test", RecordType::Mx), 1);
    clock.advance(Duration::from_secs(1));
    let d = c.resolve("flight.test").await.unwrap();
    assert!(!Arc::ptr_eq(&a, &d), "expired: looked up again");
    assert_eq!(zone.queries_for("flight.test", RecordType::Mx), 2);
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.errors, s.coalesced), (1, 2, 0, 0));
}

#[tokio::test]
async fn failures_are_cached_for_the_negative_ttl() {
    let (c, zone, clock) = cache(CacheConfig::default().negative_ttl(Duration::from_secs(60)));
    for _ in 0..3 {
        let e = c.resolve("servfail.test").await.unwrap_err();
        assert!(matches!(e, MxError::Temporary { .. }));
        let e = c.resolve("missing.test").await.unwrap_err();
        assert!(matches!(e, MxError::NoSuchDomain { .. }));
    }
    assert_eq!(zone.queries_for("servfail.test", RecordType::Mx), 1);
    clock.advance(Duration::from_secs(60));
    let _ = c.resolve("servfail.test").await;
    assert_eq!(zone.queries_for("servfail.test", RecordType::Mx), 2);
    let s = c.stats();
    assert_eq!((s.misses, s.errors, s.hits), (3, 3, 4));
}

#[tokio::test]
async fn capacity_is_bounded() {
    let mut text = String::from("$ORIGIN cap.test.\n");
    for i in 0..200 {
        text.push_str(&format!("d{i} A 192.0.2.1\n"));
    }
    let zone = ZoneResolver::from_zone_text(&text).unwrap();
    let c = MxCache::with_clock(
        zone,
        CacheConfig::default().capacity(64),
        ManualClock::new(),
    );
    for i in 0..200 {
        c.resolve(&format!("d{i}.cap.test")).await.unwrap();
        assert!(c.stats().entries <= 64);
    }
    assert!(c.stats().evictions >= 136);
}

#[tokio::test]
async fn a_cancelled_leader_is_replaced_by_a_waiter() {
    let zone = Arc::new(support::zone_resolver().with_delay(Duration::from_millis(50)));
    let c = Arc::new(MxCache::new(zone.clone(), CacheConfig::default()));
    let leader = {
        let c = c.clone();
        tokio::spawn(async move { c.resolve("flight.test").await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let waiter = {
        let c = c.clone();
        tokio::spawn(async move { c.resolve("flight.test").await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    leader.abort();
    let r = waiter.await.unwrap().unwrap();
    assert_eq!(r.domain(), "flight.test");
    assert_eq!(c.stats().coalesced, 1);
    assert_eq!(zone.queries_for("flight.test", RecordType::Mx), 2);
}

#[tokio::test]
async fn invalid_destinations_bypass_the_cache() {
    let (c, zone, _) = cache(CacheConfig::default());
    assert!(matches!(
        c.resolve("a..b").await,
        Err(MxError::InvalidDomain(_))
    ));
    assert_eq!(c.stats().entries, 0);
    assert_eq!(zone.queries(), 0);
    assert!(!c.invalidate("nothing.test"));
    c.resolve("nodata.test").await.unwrap();
    assert!(c.invalidate("NODATA.test"));
}

#[tokio::test]
async fn a_result_with_a_failed_host_lives_only_for_the_negative_ttl() {
    let (c, zone, clock) = cache(CacheConfig::default().negative_ttl(Duration::from_secs(5)));
    let mx = c.resolve("badhosts.test").await.unwrap();
    assert!(mx.has_temporary_failures());
    clock.advance(Duration::from_secs(4));
    c.resolve("badhosts.test").await.unwrap();
    assert_eq!(zone.queries_for("badhosts.test", RecordType::Mx), 1);
    clock.advance(Duration::from_secs(1));
    c.resolve("badhosts.test").await.unwrap();
    assert_eq!(
        zone.queries_for("badhosts.test", RecordType::Mx),
        2,
        "re-resolved after 5 s"
    );
}
