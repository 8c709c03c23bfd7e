//! Building the rustls client configurations of a [`Client`](crate::Client), on the `ring`
//! provider.

use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::TlsConnector;

use crate::config::{TlsPolicy, Verify};
use crate::error::ConfigError;
use crate::target::Target;

/// The connector a policy needs (`None` when TLS is disabled).
pub(crate) fn connector(policy: &TlsPolicy) -> Result<Option<TlsConnector>, ConfigError> {
    let verify = match policy {
        TlsPolicy::Disabled => return Ok(None),
        TlsPolicy::Opportunistic { verify } | TlsPolicy::Required { verify } => verify,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(ConfigError::Tls)?;
    let config = match verify {
        Verify::None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateCheck {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        Verify::WebPki => {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Verify::Roots(roots) => builder
            .with_root_certificates(roots.clone())
            .with_no_client_auth(),
    };
    Ok(Some(TlsConnector::from(Arc::new(config))))
}

/// The name the handshake presents (SNI) and checks the certificate against: the target's
/// host name, or its address when the host name is not a valid DNS name.
pub(crate) fn server_name(target: &Target) -> ServerName<'static> {
    let host = target.host.trim_end_matches('.');
    match ServerName::try_from(host.to_owned()) {
        Ok(name) => name,
        Err(_) => ServerName::IpAddress(target.addr.ip().into()),
    }
}

/// [`Verify::None`]: any certificate is accepted, the handshake's signatures are still checked
/// (so the session key is bound to the certificate the server sent).
#[derive(Debug)]
struct NoCertificateCheck {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_builds() {
        assert!(connector(&TlsPolicy::Disabled).unwrap().is_none());
        for verify in [
            Verify::None,
            Verify::WebPki,
            Verify::Roots(Arc::new(rustls::RootCertStore::empty())),
        ] {
            assert!(
                connector(&TlsPolicy::Required { verify })
                    .unwrap()
                    .is_some()
            );
        }
    }

    #[test]
    fn names() {
        let addr = "192.0.2.1:25".parse().unwrap();
        assert!(matches!(
            server_name(&Target::new("mx.example.net.", addr)),
            ServerName::DnsName(_)
        ));
        assert!(matches!(
            server_name(&Target::new("[192.0.2.1]", addr)),
            ServerName::IpAddress(_)
        ));
    }
}
