//! Invalid destinations give a typed, permanent error and cause no query.
use kumo_dns::{MailExchanger, MxError, NameError};

#[tokio::test]
async fn invalid_names_are_typed_errors_without_queries() {
    let z = kumo_dns::ZoneResolver::new();
    for bad in [
        "",
        "a..b.test",
        "-a.test",
        "a b.test",
        "[300.1.1.1]",
        "[2001:db8::1]",
        "x.test:0",
        "x.test:port",
        "xn--zz.test",
    ] {
        let err = MailExchanger::resolve(&z, bad).await.unwrap_err();
        match err {
            MxError::InvalidDomain(
                NameError::Empty
                | NameError::InvalidName { .. }
                | NameError::InvalidLiteral { .. }
                | NameError::InvalidPort { .. },
            ) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
        assert!(
            MailExchanger::resolve(&z, bad)
                .await
                .unwrap_err()
                .is_permanent()
        );
    }
    let long = format!("{}.test", "a".repeat(64));
    assert!(matches!(
        MailExchanger::resolve(&z, &long).await,
        Err(MxError::InvalidDomain(_))
    ));
    assert_eq!(z.queries(), 0);
}
