//! The simulator's certificates: its own CA (written out for `probe.ca_files`, so the daemon
//! trusts it and nothing else has to), one valid wildcard certificate per country domain,
//! and the three kinds of bad certificate a `bad_tls` mirror presents. All built once at
//! start; a connection only picks one of four ready server configurations.

use std::sync::Arc;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

use super::faults::BadCert;

/// The host name a `wrong_host` certificate is for.
const WRONG_HOST: &str = "wrong-host.sim.invalid";

#[derive(Debug, thiserror::Error)]
#[error("cannot build the simulator's certificates: {0}")]
pub struct TlsError(String);

fn err(e: impl std::fmt::Display) -> TlsError {
    TlsError(e.to_string())
}

/// The server configurations every simulated mirror chooses from.
pub struct Certs {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    valid: Arc<ServerConfig>,
    expired: Arc<ServerConfig>,
    self_signed: Arc<ServerConfig>,
    wrong_host: Arc<ServerConfig>,
}

impl Certs {
    /// A CA and certificates for `names` (e.g. `*.de.sim.test`).
    pub fn new(names: &[String]) -> Result<Certs, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "mirrorwatch simulator CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.self_signed(&key).map_err(err)?;
        let ca_pem = cert.pem();
        let issuer = Issuer::new(params, key);
        let leaf = |names: Vec<String>, expired: bool, self_signed: bool| {
            let mut params = CertificateParams::new(names).map_err(err)?;
            params
                .distinguished_name
                .push(DnType::CommonName, "simulated mirror");
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            if expired {
                params.not_before = date_time_ymd(2000, 1, 1);
                params.not_after = date_time_ymd(2001, 1, 1);
            }
            let key = KeyPair::generate().map_err(err)?;
            let cert = match self_signed {
                true => params.self_signed(&key),
                false => {
                    params.use_authority_key_identifier_extension = true;
                    params.signed_by(&key, &issuer)
                }
            }
            .map_err(err)?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
            server_config(vec![cert.der().clone()], key)
        };
        Ok(Certs {
            valid: leaf(names.to_vec(), false, false)?,
            expired: leaf(names.to_vec(), true, false)?,
            self_signed: leaf(names.to_vec(), false, true)?,
            wrong_host: leaf(vec![WRONG_HOST.to_string()], false, false)?,
            ca_pem,
        })
    }

    /// The configuration for a mirror with `bad` (or a valid certificate).
    pub fn config(&self, bad: Option<BadCert>) -> Arc<ServerConfig> {
        match bad {
            None => self.valid.clone(),
            Some(BadCert::Expired) => self.expired.clone(),
            Some(BadCert::SelfSigned) => self.self_signed.clone(),
            Some(BadCert::WrongHost) => self.wrong_host.clone(),
        }
    }
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    // The ring provider explicitly, as the prober does: no process-wide default is assumed.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
