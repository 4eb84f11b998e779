//! Which servers a client trusts: the Mozilla roots built into the binary (a minimal server
//! with no CA files still reaches AWS), the system's CA bundle when it has one (where a company
//! CA is usually installed), and the PEM bundles a user names (`--ca-bundle`, `AWS_CA_BUNDLE`,
//! a profile's `ca_bundle`). Parsing is pure; finding the system's bundle reads the
//! environment and files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ureq::tls::Certificate;

use crate::error::{Error, Result};

/// The CA certificates a client trusts: the built-in roots, the system's and the user's.
pub(crate) type Roots = Arc<Vec<Certificate<'static>>>;

/// The roots a client trusts: Mozilla's, built into the binary; the system's bundle when
/// `system` (read here, once per client); and `extra` (DER, from the bundles a user names).
pub(crate) fn trust_roots(extra: &[Vec<u8>], system: bool) -> Roots {
    let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| Certificate::from_der(der).to_owned())
        .collect();
    if system {
        let variables = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        for der in system_certificates(&variables) {
            roots.push(Certificate::from_der(&der).to_owned());
        }
    }
    for der in extra {
        roots.push(Certificate::from_der(der).to_owned());
    }
    Arc::new(roots)
}

/// Where the common Linux distributions keep the system's CA bundle (Debian, Ubuntu and Alpine;
/// Fedora and RHEL; openSUSE; RHEL's extracted form; Alpine's and the BSDs' `cert.pem`).
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The certificates (DER) of a PEM bundle; an error naming `origin` when it holds none.
pub(crate) fn certificates(origin: &str, pem: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(certificate)) => {
                certificates.push(certificate.der().to_vec());
            }
            Ok(_) => {}
            Err(err) => {
                return Err(Error::invalid(format!(
                    "{origin}: not a PEM bundle of CA certificates ({err})"
                )));
            }
        }
    }
    if certificates.is_empty() {
        return Err(Error::invalid(format!(
            "{origin} holds no certificate (expected PEM, -----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(certificates)
}

/// The certificates of the system's bundle: `$SSL_CERT_FILE`, the files of `$SSL_CERT_DIR`,
/// else the first of the usual bundles that exists. Unreadable or malformed files are left
/// out: the system's store only adds to the built-in roots.
pub(crate) fn system_certificates(variables: &dyn Fn(&str) -> Option<String>) -> Vec<Vec<u8>> {
    let files: Vec<PathBuf> = match (variables("SSL_CERT_FILE"), variables("SSL_CERT_DIR")) {
        (Some(file), _) => vec![PathBuf::from(file)],
        (None, Some(dir)) => std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default(),
        (None, None) => SYSTEM_BUNDLES
            .iter()
            .map(Path::new)
            .find(|path| path.is_file())
            .map(Path::to_path_buf)
            .into_iter()
            .collect(),
    };
    files
        .iter()
        .filter_map(|path| std::fs::read(path).ok())
        .filter_map(|pem| certificates("", &pem).ok())
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate in PEM, made for the test.
    fn pem() -> String {
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .unwrap()
            .cert
            .pem()
    }

    #[test]
    fn a_bundle_without_certificates_is_refused_naming_it() {
        let err = certificates("/etc/company-ca.pem", b"not pem at all").unwrap_err();
        assert!(err.to_string().contains("/etc/company-ca.pem"), "{err}");
        let err = certificates(
            "b.pem",
            b"-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("holds no certificate"), "{err}");
        let found = certificates("c.pem", pem().as_bytes()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0][0], 0x30, "DER starts with a SEQUENCE");
    }

    #[test]
    fn the_system_bundle_comes_from_the_variables_first() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bundle.pem");
        std::fs::write(&file, format!("{}{}", pem(), pem())).unwrap();
        let path = file.to_str().unwrap().to_owned();
        let from_file =
            system_certificates(&|name| (name == "SSL_CERT_FILE").then(|| path.clone()));
        assert_eq!(from_file.len(), 2);
        let dir_path = dir.path().to_str().unwrap().to_owned();
        let from_dir =
            system_certificates(&|name| (name == "SSL_CERT_DIR").then(|| dir_path.clone()));
        assert_eq!(from_dir.len(), 2);
        let missing = system_certificates(&|name| {
            (name == "SSL_CERT_FILE").then(|| "/nonexistent/bundle.pem".to_owned())
        });
        assert!(missing.is_empty());
    }
}
