//! A host whose addresses fail to resolve is reported, not dropped.
#![cfg(feature = "server")]
use crate::support;

use kumo_dns::{HostStatus, LookupError, MailExchanger, PlanPolicy, plan_seeded};

#[tokio::test]
async fn hosts_without_addresses_are_reported_not_dropped() {
    let server = support::server().await;
    let r = support::resolver(&server);
    let mx = MailExchanger::resolve(&r, "badhosts.test").await.unwrap();
    let by_name = |n: &str| mx.hosts().iter().find(|h| h.name() == n).unwrap();
    assert!(matches!(
        by_name("mx1.example.test").status(),
        HostStatus::Resolved
    ));
    assert!(matches!(
        by_name("nowhere.test").status(),
        HostStatus::NoAddresses
    ));
    assert!(matches!(
        by_name("broken-host.test").status(),
        HostStatus::Failed(LookupError::ServFail)
    ));
    assert_eq!(mx.unusable_hosts().count(), 2);
    assert!(mx.has_temporary_failures());
    let p = plan_seeded(&mx, &PlanPolicy::default(), 9);
    assert_eq!(p.len(), 1, "only the resolvable host is planned");
}
