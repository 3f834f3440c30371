//! TLS for the fake mirrors: one test CA per process (rcgen), leaf
//! certificates for each `TlsMode` (valid, expired, self-signed, wrong host),
//! rustls server configs for the mirrors and a client config that trusts only
//! the kit CA. Uses the `ring` provider explicitly, never a process default.

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

/// Which certificate a fake mirror presents, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP.
    #[default]
    None,
    /// Signed by the kit CA, SANs for the mirror's IP and its host name (if any).
    Valid,
    /// Signed by the kit CA with the right SANs, but valid only in 2000.
    Expired,
    /// Right SANs, but self-signed (not issued by the kit CA).
    SelfSigned,
    /// Signed by the kit CA, but only for `WRONG_HOST` (not the IP, not the host name).
    WrongHost,
}

/// The only SAN of a `TlsMode::WrongHost` certificate.
pub const WRONG_HOST: &str = "wrong-host.kit.invalid";

/// The process-wide test certificate authority.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

impl TestCa {
    /// The CA, generated on first use and shared by the whole process.
    pub fn get() -> &'static TestCa {
        static CA: OnceLock<TestCa> = OnceLock::new();
        CA.get_or_init(|| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(DnType::CommonName, "mirrorwatch test kit CA");
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            TestCa {
                der: cert.der().clone(),
                pem: cert.pem(),
                issuer: Issuer::new(params, key),
            }
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.der.clone()
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn write_pem(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.pem.as_bytes())
    }

    /// The CA certificate (PEM) in a fresh temporary file, removed on drop.
    pub fn pem_tempfile(&self) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new()
            .prefix("kit-ca-")
            .suffix(".pem")
            .tempfile()
            .unwrap();
        self.write_pem(file.path()).unwrap();
        file
    }

    /// A root store holding only this CA.
    pub fn root_store(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der()).unwrap();
        roots
    }

    /// A leaf certificate chain and key for a server at `ip` (and `host`), per `mode`.
    /// Panics for `TlsMode::None`.
    pub fn issue(
        &self,
        mode: TlsMode,
        ip: IpAddr,
        host: Option<&str>,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut names = vec![ip.to_string()];
        names.extend(host.map(str::to_string));
        if mode == TlsMode::WrongHost {
            names = vec![WRONG_HOST.to_string()];
        }
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, host.unwrap_or("fake mirror"));
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().unwrap();
        let cert = match mode {
            TlsMode::None => panic!("TlsMode::None has no certificate"),
            TlsMode::Valid | TlsMode::WrongHost => params.signed_by(&key, &self.issuer).unwrap(),
            TlsMode::Expired => {
                params.not_before = date_time_ymd(2000, 1, 1);
                params.not_after = date_time_ymd(2001, 1, 1);
                params.signed_by(&key, &self.issuer).unwrap()
            }
            TlsMode::SelfSigned => {
                params.use_authority_key_identifier_extension = false;
                params.self_signed(&key).unwrap()
            }
        };
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key_der)
    }
}

/// The kit CA certificate, PEM (shorthand for `TestCa::get().ca_pem()`).
pub fn ca_pem() -> &'static str {
    TestCa::get().ca_pem()
}

/// The crypto provider used by every kit config (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server config presenting a certificate for `mode` at `ip` / `host`.
pub fn server_config(mode: TlsMode, ip: IpAddr, host: Option<&str>) -> Arc<ServerConfig> {
    let (chain, key) = TestCa::get().issue(mode, ip, host);
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A client config trusting only the kit CA (no system roots).
pub fn client_config() -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(TestCa::get().root_store())
        .with_no_client_auth();
    Arc::new(config)
}
