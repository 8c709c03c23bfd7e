//! NODATA for MX: an implicit MX on the domain itself (RFC 5321 section 5.1).
#![cfg(feature = "server")]
use crate::support;

use kumo_dns::{MailExchanger, MxSource};

#[tokio::test]
async fn nodata_for_mx_gives_an_implicit_mx_on_the_domain() {
    let server = support::server().await;
    let r = support::resolver(&server);
    let mx = MailExchanger::resolve(&r, "nodata.test").await.unwrap();
    assert_eq!(mx.source(), MxSource::ImplicitMx);
    assert_eq!(mx.hosts().len(), 1);
    let h = &mx.hosts()[0];
    assert_eq!(h.name(), "nodata.test");
    assert_eq!(h.addresses().len(), 2);
}
