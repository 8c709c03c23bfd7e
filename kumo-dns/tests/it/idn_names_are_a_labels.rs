//! IDN input and IDN MX targets are stored and returned as lowercase A-labels.
#![cfg(feature = "server")]
use crate::support;

use kumo_dns::{MailExchanger, PlanPolicy, plan_seeded};

#[tokio::test]
async fn unicode_domain_and_idn_mx_target_come_back_as_lowercase_a_labels() {
    let server = support::server().await;
    let r = support::resolver(&server);
    let mx = MailExchanger::resolve(&r, "MÜNCHEN.test").await.unwrap();
    assert_eq!(mx.domain(), "xn--mnchen-3ya.test");
    assert_eq!(mx.hosts()[0].name(), "mx.xn--bb-eka.test");
    let p = plan_seeded(&mx, &PlanPolicy::default(), 0);
    assert_eq!(p.get(0).unwrap().host_name(&mx), Some("mx.xn--bb-eka.test"));
    assert_eq!(p.get(0).unwrap().addr(), "192.0.2.77:25".parse().unwrap());
    // The same through the A-label spelling.
    let again = MailExchanger::resolve(&r, "xn--mnchen-3ya.test")
        .await
        .unwrap();
    assert_eq!(again.hosts()[0].name(), "mx.xn--bb-eka.test");
}
