//! TLS for the tests, made at run time and never committed: a CA of this test process, a
//! server certificate it signs for `127.0.0.1` and `localhost`, and what either side of a
//! connection needs (rustls configs, PEM files). With `S3MT_TEST_TLS=1` the harness starts its
//! server on HTTPS with them, and clients trust the CA.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

/// The variable that turns TLS on for the test server (`1`).
pub const TLS_ENV: &str = "S3MT_TEST_TLS";

/// Whether the tests run over TLS (`S3MT_TEST_TLS=1`).
pub fn enabled() -> bool {
    std::env::var(TLS_ENV).is_ok_and(|value| value == "1")
}

/// A CA, and a server certificate it signed.
pub struct TestTls {
    /// The CA's certificate, PEM.
    pub ca_pem: String,
    /// The CA's certificate in a file, for `--ca-bundle` and `AWS_CA_BUNDLE`.
    pub ca_file: PathBuf,
    /// The server's certificate and key, in files (for SeaweedFS's `-s3.cert.file`).
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The server's certificate chain and key, for a rustls server.
    pub server: Arc<rustls::ServerConfig>,
    /// A rustls client trusting the CA only.
    pub client: Arc<rustls::ClientConfig>,
    issuer: Issuer<'static, KeyPair>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestTls")
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// The test process's TLS material, made on first use.
pub fn shared() -> &'static TestTls {
    static TLS: OnceLock<TestTls> = OnceLock::new();
    TLS.get_or_init(|| TestTls::new().expect("make the test CA and certificates"))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TestTls {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::Builder::new().prefix("s3mt-tls-").tempdir()?;
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name
            .push(DnType::CommonName, "s3mt test CA (made at run time)");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);
        let (server_pem, server_key) = leaf(&issuer, &["127.0.0.1", "localhost"], false)?;
        let write = |name: &str, text: &str| -> std::io::Result<PathBuf> {
            let path = dir.path().join(name);
            std::fs::write(&path, text)?;
            Ok(path)
        };
        let ca_file = write("ca.pem", &ca_cert.pem())?;
        let cert_file = write("server.pem", &server_pem)?;
        let key_file = write("server.key", &server_key)?;
        let server = server_config(&server_pem, &server_key)?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone())?;
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            ca_pem: ca_cert.pem(),
            ca_file,
            cert_file,
            key_file,
            server,
            client: Arc::new(client),
            issuer,
            _dir: dir,
        })
    }

    /// A server config whose certificate, signed by the test CA, names `names` only (to test a
    /// name that does not match).
    pub fn server_for(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let (pem, key) = leaf(&self.issuer, names, false).expect("sign a certificate");
        server_config(&pem, &key).expect("a server config")
    }

    /// A server config whose certificate, signed by the test CA for `127.0.0.1`, expired in
    /// 2001.
    pub fn expired_server(&self) -> Arc<rustls::ServerConfig> {
        let (pem, key) = leaf(&self.issuer, &["127.0.0.1"], true).expect("sign a certificate");
        server_config(&pem, &key).expect("a server config")
    }

    /// The CA's certificate file, as a string for environment variables.
    pub fn ca_path(&self) -> &Path {
        &self.ca_file
    }
}

/// A server certificate (PEM) for `names` (IP addresses or host names) and its key (PEM);
/// valid in 2000 only when `expired`.
fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    names: &[&str],
    expired: bool,
) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    params
        .distinguished_name
        .push(DnType::CommonName, "s3mt test server");
    for name in names {
        params.subject_alt_names.push(match name.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*name).try_into()?),
        });
    }
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn server_config(
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<rustls::ServerConfig>, Box<dyn std::error::Error>> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain =
        CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}
