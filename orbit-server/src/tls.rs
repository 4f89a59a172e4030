//! TLS server settings from PEM files: a certificate chain and its private
//! key, read once at start. The crypto is ring's, as everywhere in Orbit
//! (aws-lc-rs needs cmake to build).

use crate::config::ConfigError;
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// A server presenting the chain in `cert` (PEM, leaf first) with the key in
/// `key` (PEM: PKCS#8, PKCS#1 or SEC1). A file that cannot be read, holds no
/// certificate or key, or a key that is not the certificate's is an error
/// naming the file.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, ConfigError> {
    let chain = certificates(cert)?;
    let private_key = private_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Invalid(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| ConfigError::Tls {
            what: "private key",
            path: key.to_path_buf(),
            reason: format!("cannot be used with the certificate {}: {e}", cert.display()),
        })?;
    Ok(Arc::new(config))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let error = |reason| ConfigError::Tls { what: "certificate", path: path.to_path_buf(), reason };
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| error(unreadable(e)))?;
    if chain.is_empty() {
        return Err(error("no certificate in it (expected a PEM block BEGIN CERTIFICATE)".into()));
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    const NO_KEY: &str = "no private key in it (expected a PEM block BEGIN PRIVATE KEY, \
                          BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)";
    PrivateKeyDer::from_pem_file(path).map_err(|e| ConfigError::Tls {
        what: "private key",
        path: path.to_path_buf(),
        reason: match e {
            pem::Error::NoItemsFound => NO_KEY.to_string(),
            e => unreadable(e),
        },
    })
}

fn unreadable(error: pem::Error) -> String {
    match error {
        pem::Error::Io(e) => format!("cannot read it: {e}"),
        e => format!("not valid PEM: {e}"),
    }
}
