//! TLS of the HTTP listener (`--tls-cert`/`--tls-key`, or `--tls-self-signed`): a rustls server
//! configuration on the ring provider, as kumo-smtp's, offering HTTP/1.1 only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kumo_smtp::rustls;
use kumo_smtp::rustls::pki_types::pem::PemObject;
use kumo_smtp::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::cli::HttpTls;

/// The name in the certificate that `--tls-self-signed` makes at start.
pub(crate) const SELF_SIGNED_NAME: &str = "localhost";

/// The HTTP listener's TLS cannot be set up. Permanent: fix the files or the options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file does not read as PEM certificates.
    #[error("cannot read the TLS certificate chain {0}")]
    Certificate(PathBuf, #[source] rustls::pki_types::pem::Error),
    /// The key file does not read as a PEM private key.
    #[error("cannot read the TLS private key {0}")]
    Key(PathBuf, #[source] rustls::pki_types::pem::Error),
    /// rustls refuses the certificate and key (for example they do not match).
    #[error("the TLS certificate and key are not usable")]
    Config(#[source] rustls::Error),
    /// The self-signed certificate could not be made.
    #[error("cannot make a self-signed TLS certificate")]
    SelfSigned(#[source] std::io::Error),
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate(path.to_owned(), e))?;
    if chain.is_empty() {
        return Err(TlsError::Certificate(
            path.to_owned(),
            rustls::pki_types::pem::Error::NoItemsFound,
        ));
    }
    Ok(chain)
}

/// The server configuration `tls` asks for, offering `http/1.1` by ALPN.
///
/// # Errors
/// [`TlsError`] naming the file or step that failed.
pub(crate) fn server_config(tls: &HttpTls) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = match tls {
        HttpTls::Files { cert, key } => {
            let chain = read_chain(cert)?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key(key.to_owned(), e))?;
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(TlsError::Config)?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(TlsError::Config)?
        }
        // The ESMTP listener's maker of "snakeoil" certificates, for the name `localhost`.
        HttpTls::SelfSigned => Arc::unwrap_or_clone(
            super::listener::self_signed_tls(SELF_SIGNED_NAME).map_err(TlsError::SelfSigned)?,
        ),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `N` random bytes from the ring provider's generator (rustls's own source).
pub(crate) fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut out = [0u8; N];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut out)
        .ok()?;
    Some(out)
}
