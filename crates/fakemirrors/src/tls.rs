//! Certificates for fake mirrors: a CA ([`Ca`]) issuing leaf certificates per [`TlsMode`]
//! (valid, expired, self-signed, another host's) as rustls server configurations. Tests
//! share one CA per process ([`TestCa`]) and trust only it ([`client_config`]); each
//! simulation makes its own and writes it out for `probe.ca_files`. The ring provider is
//! named explicitly, as the prober does: no process-wide default is assumed.

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Which certificate a server presents, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP.
    #[default]
    None,
    /// Signed by the CA, for the server's names.
    Valid,
    /// Signed by the CA with the right names, but valid only in 2000.
    Expired,
    /// The right names, but self-signed (not issued by the CA).
    SelfSigned,
    /// Signed by the CA, but only for [`WRONG_HOST`].
    WrongHost,
}

/// The only name of a [`TlsMode::WrongHost`] certificate.
pub const WRONG_HOST: &str = "wrong-host.kit.invalid";

#[derive(Debug, thiserror::Error)]
#[error("cannot build certificates: {0}")]
pub struct TlsError(String);

fn err(e: impl std::fmt::Display) -> TlsError {
    TlsError(e.to_string())
}

/// A certificate authority and the leaf certificates it issues.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

impl Ca {
    /// A new CA whose certificate is named `common_name`.
    pub fn new(common_name: &str) -> Result<Ca, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.self_signed(&key).map_err(err)?;
        Ok(Ca {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> CertificateDer<'static> {
        self.der.clone()
    }

    /// A leaf certificate chain and key for `names` (DNS names or IP addresses) per
    /// `mode`; [`TlsMode::None`] has none.
    pub fn issue(
        &self,
        mode: TlsMode,
        names: Vec<String>,
        common_name: &str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let names = match mode {
            TlsMode::WrongHost => vec![WRONG_HOST.to_string()],
            _ => names,
        };
        let mut params = CertificateParams::new(names).map_err(err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if mode == TlsMode::Expired {
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().map_err(err)?;
        let cert = match mode {
            TlsMode::None => return Err(TlsError("TlsMode::None has no certificate".into())),
            TlsMode::SelfSigned => params.self_signed(&key),
            TlsMode::Valid | TlsMode::Expired | TlsMode::WrongHost => {
                params.use_authority_key_identifier_extension = true;
                params.signed_by(&key, &self.issuer)
            }
        }
        .map_err(err)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone()], key))
    }

    /// A server configuration (HTTP/1.1 by ALPN) presenting a certificate for `names` per
    /// `mode`.
    pub fn server_config(
        &self,
        mode: TlsMode,
        names: Vec<String>,
        common_name: &str,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let (chain, key) = self.issue(mode, names, common_name)?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(err)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(err)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The process-wide test CA; every method panics on what a test cannot go on without.
pub struct TestCa(Ca);

impl TestCa {
    /// The CA, generated on first use and shared by the whole process.
    pub fn get() -> &'static TestCa {
        static CA: OnceLock<TestCa> = OnceLock::new();
        CA.get_or_init(|| match Ca::new("mirrorwatch test kit CA") {
            Ok(ca) => TestCa(ca),
            Err(e) => panic!("{e}"),
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        self.0.pem()
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.0.der()
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn write_pem(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.0.pem().as_bytes())
    }

    /// The CA certificate (PEM) in a fresh temporary file, removed on drop.
    pub fn pem_tempfile(&self) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new()
            .prefix("kit-ca-")
            .suffix(".pem")
            .tempfile();
        let file = file.unwrap_or_else(|e| panic!("a temporary file for the CA: {e}"));
        if let Err(e) = self.write_pem(file.path()) {
            panic!("writing the CA: {e}");
        }
        file
    }

    /// A root store holding only this CA.
    pub fn root_store(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        if let Err(e) = roots.add(self.ca_der()) {
            panic!("the test CA is not a valid root: {e}");
        }
        roots
    }

    /// A server configuration for a server at `ip` (and `host`), per `mode`.
    /// Panics for `TlsMode::None`.
    pub fn server_config(
        &self,
        mode: TlsMode,
        ip: IpAddr,
        host: Option<&str>,
    ) -> Arc<ServerConfig> {
        let mut names = vec![ip.to_string()];
        names.extend(host.map(str::to_string));
        let common_name = host.unwrap_or("fake mirror");
        match self.0.server_config(mode, names, common_name) {
            Ok(config) => config,
            Err(e) => panic!("{e}"),
        }
    }
}

/// The test CA certificate, PEM (shorthand for `TestCa::get().ca_pem()`).
pub fn ca_pem() -> &'static str {
    TestCa::get().ca_pem()
}

/// The crypto provider of every configuration here (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration presenting the test CA's certificate for `mode` at `ip` / `host`.
pub fn server_config(mode: TlsMode, ip: IpAddr, host: Option<&str>) -> Arc<ServerConfig> {
    TestCa::get().server_config(mode, ip, host)
}

/// A client configuration trusting only the test CA (no system roots).
pub fn client_config() -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("TLS versions: {e}"));
    Arc::new(
        builder
            .with_root_certificates(TestCa::get().root_store())
            .with_no_client_auth(),
    )
}
