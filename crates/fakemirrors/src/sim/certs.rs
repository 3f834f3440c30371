//! The simulator's certificates: its own CA (written out for `probe.ca_files`, so the daemon
//! trusts it and nothing else has to), one valid certificate for every country domain, and
//! the three kinds of bad certificate a `bad_tls` mirror presents. All built once at start;
//! a connection only picks one of four ready server configurations.

use std::sync::Arc;

use rustls::ServerConfig;

use super::faults::BadCert;
use crate::tls::{Ca, TlsError, TlsMode};

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
        let ca = Ca::new("mirrorwatch simulator CA")?;
        let config = |mode| ca.server_config(mode, names.to_vec(), "simulated mirror");
        Ok(Certs {
            valid: config(TlsMode::Valid)?,
            expired: config(TlsMode::Expired)?,
            self_signed: config(TlsMode::SelfSigned)?,
            wrong_host: config(TlsMode::WrongHost)?,
            ca_pem: ca.pem().to_string(),
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
