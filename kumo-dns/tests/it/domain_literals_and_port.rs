//! Domain literals and the `:port` suffix.
#![cfg(feature = "server")]
use crate::support;

use kumo_dns::{MailExchanger, MxSource, PlanPolicy, plan_seeded};
use std::net::SocketAddr;

#[tokio::test]
async fn literals_need_no_dns_and_keep_their_port() {
    let server = support::server().await;
    let r = support::resolver(&server);
    let v4 = MailExchanger::resolve(&r, "[192.0.2.1]").await.unwrap();
    assert_eq!(v4.source(), MxSource::Literal);
    assert_eq!(v4.hosts()[0].name(), "[192.0.2.1]");
    let p = plan_seeded(&v4, &PlanPolicy::default(), 1);
    assert_eq!(
        p.addrs().collect::<Vec<_>>(),
        ["192.0.2.1:25".parse::<SocketAddr>().unwrap()]
    );

    let v6 = MailExchanger::resolve(&r, "[IPv6:2001:DB8::1]:2525")
        .await
        .unwrap();
    assert_eq!(v6.domain(), "[IPv6:2001:db8::1]");
    assert_eq!(v6.port(), Some(2525));
    let p = plan_seeded(&v6, &PlanPolicy::default(), 1);
    assert_eq!(
        p.addrs().collect::<Vec<_>>(),
        ["[2001:db8::1]:2525".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(server.queries(), 0, "literals are not looked up");
}

#[tokio::test]
async fn port_suffix_applies_to_every_mx_host() {
    let server = support::server().await;
    let r = support::resolver(&server);
    let mx = MailExchanger::resolve(&r, "example.test:2525")
        .await
        .unwrap();
    assert_eq!(mx.domain(), "example.test");
    let p = plan_seeded(&mx, &PlanPolicy::default(), 3);
    assert_eq!(p.len(), 4);
    assert!(p.addrs().all(|a| a.port() == 2525));
}
