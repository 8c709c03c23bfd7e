//! SERVFAIL, REFUSED, timeouts and DNSSEC-bogus answers are temporary and never an implicit MX.
#![cfg(feature = "server")]
use crate::support;

use kumo_dns::{LookupError, MailExchanger, MxError, RecordType};

async fn temporary(domain: &str) -> LookupError {
    let server = support::server().await;
    let r = support::resolver(&server);
    let err = MailExchanger::resolve(&r, domain).await.unwrap_err();
    assert!(!err.is_permanent());
    assert_eq!(err.smtp_status().0 / 100, 4);
    match err {
        MxError::Temporary { domain: d, source } => {
            assert_eq!(d, domain);
            // Only MX queries were made (hickory may retry): no implicit-MX address lookups.
            assert!(server.queries_for_type(domain, RecordType::Mx) >= 1);
            assert_eq!(server.queries_for_type(domain, RecordType::A), 0);
            assert_eq!(server.queries_for_type(domain, RecordType::Aaaa), 0);
            source
        }
        other => panic!("expected a temporary failure, got {other:?}"),
    }
}

#[tokio::test]
async fn servfail_is_temporary() {
    assert!(matches!(
        temporary("servfail.test").await,
        LookupError::ServFail
    ));
}

#[tokio::test]
async fn refused_is_temporary() {
    assert!(matches!(
        temporary("refused.test").await,
        LookupError::Refused
    ));
}

#[tokio::test]
async fn timeout_is_temporary() {
    let e = temporary("slow.test").await;
    assert!(matches!(e, LookupError::Timeout), "{e:?}");
}

#[tokio::test]
async fn dnssec_bogus_is_temporary() {
    // The zone-text resolver models a bogus answer; tests/dnssec_bogus_is_temporary.rs gets a
    // real one from a validating hickory resolver on the loopback server (feature `dnssec`).
    let z = support::zone_resolver().with_fault("nodata.test", kumo_dns::Fault::Bogus);
    let err = MailExchanger::resolve(&z, "nodata.test").await.unwrap_err();
    assert!(
        matches!(
            err,
            MxError::Temporary {
                source: LookupError::Bogus,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(z.queries(), 1);
}
