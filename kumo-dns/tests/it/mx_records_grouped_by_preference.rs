//! MX records: hosts grouped by preference, each with its addresses.
#![cfg(feature = "server")]
use crate::support;

use kumo_dns::{HostStatus, MailExchanger, MxSource};
use std::net::IpAddr;

#[tokio::test]
async fn mx_records_are_grouped_by_preference_with_addresses() {
    let server = support::server().await;
    let r = support::resolver(&server);
    let mx = MailExchanger::resolve(&r, "Example.TEST.").await.unwrap();
    assert_eq!(mx.domain(), "example.test");
    assert_eq!(mx.source(), MxSource::Mx);
    let levels: Vec<(u16, Vec<&str>)> = mx
        .levels()
        .map(|(p, hosts)| (p, hosts.iter().map(|h| h.name()).collect()))
        .collect();
    assert_eq!(
        levels,
        [
            (10, vec!["mx1.example.test", "mx2.example.test"]),
            (20, vec!["backup.example.test"])
        ]
    );
    let mx2 = &mx.hosts()[1];
    let want: Vec<IpAddr> = vec!["192.0.2.2".parse().unwrap(), "2001:db8::2".parse().unwrap()];
    assert_eq!(mx2.addresses(), want.as_slice());
    assert!(
        mx.hosts()
            .iter()
            .all(|h| matches!(h.status(), HostStatus::Resolved))
    );
    let ttl = mx.ttl().expect("dns answers carry a ttl");
    // mx1 and backup have no AAAA: that NODATA answer (SOA minimum 30 s) caps the result.
    assert!(ttl.as_secs() <= 30 && ttl.as_secs() > 20, "{ttl:?}");
    assert_eq!(mx.address_count(), 4);
    server.shutdown().await;
}
