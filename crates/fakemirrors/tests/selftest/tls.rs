//! Kit self-tests, TLS part: certificates per `TlsMode` as judged by a rustls
//! client trusting the kit CA, `[::1]` servers, and the CA itself. Included by
//! `selftest.rs`.

use std::time::{Duration, Instant};

use rustls::CertificateError;

use super::REPOMD;
use fakemirrors::client::{fetch, tls_error, Conn};
use fakemirrors::{FakeMirror, MirrorOptions, TestCa, TlsMode};

#[tokio::test]
async fn tls_valid_certificate_is_accepted() {
    let opts = MirrorOptions::default()
        .with_tls(TlsMode::Valid)
        .with_host_name("mirror.kit.test");
    let m = FakeMirror::start(opts).await;
    m.put(REPOMD, b"<repomd/>".to_vec());
    assert!(m.base_url().starts_with("https://127."));
    assert_eq!(
        m.host_base_url(),
        Some(format!("https://mirror.kit.test:{}/", m.port()))
    );
    let r = fetch(&m.url(REPOMD)).await.unwrap();
    assert_eq!(r.body, b"<repomd/>");
    let mut c = Conn::connect_tls(m.addr(), "mirror.kit.test")
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            c.request("GET", &format!("/{REPOMD}"), &[])
                .await
                .unwrap()
                .status,
            200
        );
    }
    assert_eq!((m.connections(), m.tls_handshake_failures()), (2, 0));
}

#[tokio::test]
async fn tls_bad_certificates_are_rejected() {
    type Check = fn(&CertificateError) -> bool;
    let cases: [(TlsMode, Check); 3] = [
        (TlsMode::Expired, |e| {
            matches!(
                e,
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            )
        }),
        (TlsMode::SelfSigned, |e| {
            matches!(e, CertificateError::UnknownIssuer)
        }),
        (TlsMode::WrongHost, |e| {
            matches!(
                e,
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        }),
    ];
    for (mode, expected) in cases {
        let opts = MirrorOptions::default()
            .with_tls(mode)
            .with_host_name("mirror.kit.test");
        let m = FakeMirror::start(opts).await;
        for name in [m.ip().to_string(), "mirror.kit.test".to_string()] {
            let err = Conn::connect_tls(m.addr(), &name).await.err().unwrap();
            let tls = tls_error(&err).unwrap_or_else(|| panic!("{mode:?}: {err}"));
            let rustls::Error::InvalidCertificate(cert_err) = tls else {
                panic!("{mode:?}: {tls}");
            };
            assert!(expected(cert_err), "{mode:?} via {name}: {cert_err:?}");
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while m.tls_handshake_failures() < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(m.tls_handshake_failures(), 2, "{mode:?}");
        assert!(m.requests().is_empty());
    }
}

#[tokio::test]
async fn ipv6_loopback_mirror_works() {
    if !fakemirrors::ipv6_loopback_available() {
        eprintln!("skipped: [::1] cannot be bound here");
        return;
    }
    let m = FakeMirror::start(MirrorOptions::default().ipv6()).await;
    m.put(REPOMD, b"<repomd/>".to_vec());
    assert!(m.base_url().starts_with("http://[::1]:"));
    assert_eq!(fetch(&m.url(REPOMD)).await.unwrap().body, b"<repomd/>");
    assert!(m.requests()[0].peer.is_ipv6());

    let opts = MirrorOptions::default().ipv6().with_tls(TlsMode::Valid);
    let tls = FakeMirror::start(opts).await;
    tls.put("x", "y");
    assert!(tls.base_url().starts_with("https://[::1]:"));
    assert_eq!(fetch(&tls.url("x")).await.unwrap().body, b"y");
}

#[test]
fn test_ca_is_shared_and_written_as_pem() {
    let ca = TestCa::get();
    assert!(std::ptr::eq(ca, TestCa::get()));
    assert!(fakemirrors::tls::ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let file = ca.pem_tempfile();
    assert_eq!(std::fs::read_to_string(file.path()).unwrap(), ca.ca_pem());
    assert!(!ca.ca_der().is_empty());
}
