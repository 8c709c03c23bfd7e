//! A validating hickory resolver against the loopback server, which serves the `.test` zone
//! unsigned below a trust anchor: every answer is DNSSEC-bogus, a temporary failure, never an
//! implicit MX, and no address is looked up.
#![cfg(all(feature = "server", feature = "dnssec"))]
use crate::support;

use kumo_dns::server::LoopbackDnsServer;
use kumo_dns::{
    HickoryOptions, HickoryResolver, LookupError, MailExchanger, MxError, MxSource, RecordType,
    TrustAnchors,
};
use std::time::Duration;

/// A DNSKEY for `test.` (Ed25519). The loopback server has no key and signs nothing, so the
/// chain of trust from this anchor cannot reach any answer.
const TEST_ANCHOR: &str =
    "test. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=";

fn validating(server: &LoopbackDnsServer, anchors: TrustAnchors) -> HickoryResolver {
    server
        .resolver(
            HickoryOptions::default()
                .timeout(Duration::from_millis(500))
                .attempts(1)
                .tcp(false)
                .cache_size(0)
                .validate(anchors),
        )
        .expect("resolver builds")
}

fn no_address_queries(server: &LoopbackDnsServer, names: &[&str]) {
    for name in names {
        assert_eq!(server.queries_for_type(name, RecordType::A), 0, "{name}");
        assert_eq!(server.queries_for_type(name, RecordType::Aaaa), 0, "{name}");
    }
}

async fn bogus(anchors: TrustAnchors, domain: &str) -> LoopbackDnsServer {
    let server = support::server().await;
    let r = validating(&server, anchors);
    let err = MailExchanger::resolve(&r, domain).await.unwrap_err();
    assert!(!err.is_permanent());
    assert_eq!(err.smtp_status().0 / 100, 4);
    match err {
        MxError::Temporary {
            domain: d,
            source: LookupError::Bogus,
        } => assert_eq!(d, domain),
        other => panic!("expected a DNSSEC-bogus temporary failure, got {other:?}"),
    }
    // The MX query reached the real server: hickory judged its answer, not a fault.
    assert!(server.queries_for_type(domain, RecordType::Mx) >= 1);
    server
}

#[tokio::test]
async fn bogus_mx_answer_is_temporary() {
    let anchors = TrustAnchors::from_dnskey_text(TEST_ANCHOR).unwrap();
    let server = bogus(anchors, "example.test").await;
    // Neither the domain (implicit MX) nor its MX hosts were looked up.
    no_address_queries(
        &server,
        &[
            "example.test",
            "mx1.example.test",
            "mx2.example.test",
            "backup.example.test",
        ],
    );
}

#[tokio::test]
async fn bogus_nodata_is_temporary_not_an_implicit_mx() {
    // `nodata.test` has A and AAAA but no MX: unvalidated, that is an implicit MX.
    let anchors = TrustAnchors::from_dnskey_text(TEST_ANCHOR).unwrap();
    let server = bogus(anchors, "nodata.test").await;
    no_address_queries(&server, &["nodata.test"]);
}

#[tokio::test]
async fn unsigned_zone_under_the_root_anchors_is_bogus() {
    // The public root keys: nothing proves `test.` is an unsigned delegation, so it is bogus.
    let server = bogus(TrustAnchors::root(), "example.test").await;
    no_address_queries(&server, &["example.test", "mx1.example.test"]);
}

#[tokio::test]
async fn the_same_server_without_validation_answers() {
    // Control: the bogus results above come from validation, not from the server.
    let server = support::server().await;
    let r = support::resolver(&server);
    let mx = MailExchanger::resolve(&r, "example.test").await.unwrap();
    assert_eq!(mx.hosts()[0].name(), "mx1.example.test");
    let mx = MailExchanger::resolve(&r, "nodata.test").await.unwrap();
    assert_eq!(mx.source(), MxSource::ImplicitMx);
}
