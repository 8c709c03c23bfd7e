//! A and AAAA lookups for all hosts are in flight at the same time.
use kumo_dns::{LookupFuture, MailExchanger, RecordType, Resolver, ZoneResolver};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

struct PeakInFlight {
    inner: ZoneResolver,
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Resolver for PeakInFlight {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        Box::pin(async move {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
            let r = self.inner.lookup(name, rtype).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            r
        })
    }
}

#[tokio::test]
async fn every_host_lookup_is_in_flight_together() {
    let zone = "$ORIGIN c.test.\n@ MX 10 a\n@ MX 10 b\n@ MX 20 c\n@ MX 30 d\na A 192.0.2.1\nb A 192.0.2.2\nc AAAA 2001:db8::3\nd A 192.0.2.4\n";
    let r = PeakInFlight {
        inner: ZoneResolver::from_zone_text(zone)
            .unwrap()
            .with_delay(Duration::from_millis(20)),
        now: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    };
    let mx = MailExchanger::resolve(&r, "c.test").await.unwrap();
    assert_eq!(mx.address_count(), 4);
    assert_eq!(
        r.peak.load(Ordering::SeqCst),
        8,
        "4 hosts x (A + AAAA) at once"
    );
}
