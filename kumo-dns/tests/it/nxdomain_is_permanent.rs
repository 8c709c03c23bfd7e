//! NXDOMAIN: a permanent failure.
#![cfg(feature = "server")]
use crate::support;

use kumo_dns::{MailExchanger, MxError};

#[tokio::test]
async fn nxdomain_is_a_permanent_no_such_domain() {
    let server = support::server().await;
    let r = support::resolver(&server);
    let err = MailExchanger::resolve(&r, "missing.test")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MxError::NoSuchDomain { domain } if domain == "missing.test"),
        "{err:?}"
    );
    assert!(err.is_permanent());
    assert_eq!(err.smtp_status(), (550, "5.1.2"));
}
