//! TLS for probes: a rustls client config with the ring provider, trusting the
//! system's roots plus any extra CA certificates (PEM), and the leaf certificate's
//! expiry read from a finished handshake.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// Which certificate authorities a [`crate::probe::Fetcher`] trusts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustConfig {
    /// Load the system's root certificates (`rustls-native-certs`).
    pub system_roots: bool,
    /// Extra CA certificates, each a PEM text of one or more certificates.
    pub extra_ca_pem: Vec<String>,
}

impl TrustConfig {
    /// The system's roots and nothing else.
    pub fn system() -> Self {
        TrustConfig {
            system_roots: true,
            extra_ca_pem: Vec::new(),
        }
    }
}

/// The trust configuration cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlsSetupError {
    #[error("extra CA certificate #{index}: {message}")]
    BadPem { index: usize, message: String },
    #[error("no trusted CA certificate (system roots: {system_errors})")]
    NoRoots { system_errors: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A client config for HTTP/1.1 over TLS (ALPN `http/1.1`), verifying with webpki.
pub fn client_config(trust: &TrustConfig) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    let mut system_errors = String::from("not used");
    if trust.system_roots {
        let loaded = rustls_native_certs::load_native_certs();
        system_errors = if loaded.errors.is_empty() {
            String::from("none usable")
        } else {
            loaded
                .errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        };
        // Distributions ship a few certificates webpki cannot parse; skipping them
        // is what every rustls client does.
        let _ = roots.add_parsable_certificates(loaded.certs);
    }
    for (index, pem) in trust.extra_ca_pem.iter().enumerate() {
        let bad = |message: String| TlsSetupError::BadPem { index, message };
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
            found += 1;
        }
        if found == 0 {
            return Err(bad("no CERTIFICATE block".to_string()));
        }
    }
    if roots.is_empty() {
        return Err(TlsSetupError::NoRoots { system_errors });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `notAfter` of a DER certificate, seconds since the Unix epoch.
pub fn not_after_unix(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}
