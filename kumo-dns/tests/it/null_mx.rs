//! Null MX (RFC 7505): alone it is permanent 556 5.1.10; mixed with other records it follows NullMxPolicy.
#![cfg(feature = "server")]
use crate::support;

use kumo_dns::{MailExchanger, MxError, NullMxPolicy, ResolveOptions};

#[tokio::test]
async fn lone_null_mx_is_permanent_556() {
    let server = support::server().await;
    let r = support::resolver(&server);
    let err = MailExchanger::resolve(&r, "nullmx.test").await.unwrap_err();
    assert!(matches!(&err, MxError::NullMx { domain } if domain == "nullmx.test"));
    assert!(err.is_permanent());
    assert_eq!(err.smtp_status(), (556, "5.1.10"));
}

#[tokio::test]
async fn mixed_null_mx_is_dropped_by_default() {
    let server = support::server().await;
    let r = support::resolver(&server);
    let mx = MailExchanger::resolve(&r, "mixednull.test").await.unwrap();
    assert!(mx.ignored_null_mx());
    let names: Vec<&str> = mx.hosts().iter().map(|h| h.name()).collect();
    assert_eq!(names, ["mx1.example.test"]);
}

#[tokio::test]
async fn mixed_null_mx_can_be_treated_as_null_mx() {
    let server = support::server().await;
    let r = support::resolver(&server);
    let opts = ResolveOptions::default().null_mx(NullMxPolicy::TreatAsNullMx);
    let err = MailExchanger::resolve_with(&r, "mixednull.test", &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, MxError::NullMx { .. }));
}
