//! How the credential services are reached: STS and the IAM Identity Center portal with the
//! client's own trust (the built-in and system roots, the user's CA bundle, or no verification
//! under `--no-verify-ssl`) and aws-cli's proxy variables; the metadata endpoints directly,
//! with their own patience. Short timeouts, and a few attempts on network failures and 5xx
//! replies. I/O at the edge.

use std::time::Duration;

use ureq::Agent;
use ureq::http::{self, Response};
use ureq::tls::{RootCerts, TlsConfig};
use url::Url;

use super::credentials::unavailable;
use super::proxy::ProxyVariables;
use super::tls;
use crate::error::Result;

/// Largest reply read from a credential service.
const MAX_REPLY: u64 = 256 * 1024;
/// Attempts per request to STS and the portal: the first and two retries.
const ATTEMPTS: u32 = 3;
/// The pause before a retry to STS and the portal, times the attempt's number.
const PAUSE: Duration = Duration::from_millis(100);

/// How s3mt names itself to credential services.
const USER_AGENT: &str = concat!("s3mt/", env!("CARGO_PKG_VERSION"));

/// What a credential service is reached with: the settings of the client it serves.
#[derive(Debug, Clone)]
pub(crate) struct ServiceAccess {
    /// CA certificates (DER) trusted beside the built-in and system roots.
    pub ca_certificates: Vec<Vec<u8>>,
    /// Whether servers' certificates are verified.
    pub verify_tls: bool,
    pub proxies: ProxyVariables,
}

impl Default for ServiceAccess {
    fn default() -> Self {
        Self {
            ca_certificates: Vec::new(),
            verify_tls: true,
            proxies: ProxyVariables::default(),
        }
    }
}

/// A small client for one credential service.
#[derive(Debug)]
pub(crate) struct ServiceHttp {
    agent: Agent,
    attempts: u32,
    pause: Duration,
}

impl ServiceHttp {
    /// A client for the service at `endpoint` (the proxy is chosen for its host).
    pub fn new(access: &ServiceAccess, endpoint: &Url) -> Self {
        let roots = tls::trust_roots(&access.ca_certificates, true);
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::Specific(roots))
            .disable_verification(!access.verify_tls)
            .build();
        let proxy = access
            .proxies
            .proxy_for(endpoint)
            .and_then(|url| ureq::Proxy::new(&url).ok());
        let agent = Agent::config_builder()
            .tls_config(tls)
            .proxy(proxy)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(30)))
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .build()
            .new_agent();
        Self {
            agent,
            attempts: ATTEMPTS,
            pause: PAUSE,
        }
    }

    /// A client for a metadata endpoint: plain HTTP to a local or link-local address, so no
    /// proxy; `timeout` for a whole exchange, `attempts` in all, no pause between them.
    pub fn direct(timeout: Duration, attempts: u32) -> Self {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .proxy(None)
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .build()
            .new_agent();
        Self {
            agent,
            attempts: attempts.max(1),
            pause: Duration::ZERO,
        }
    }

    /// Status and body of `method url` with `body`, retrying network failures and 5xx
    /// replies; `what` names the service in errors.
    pub fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        what: &str,
    ) -> Result<(u16, String)> {
        let mut attempt = 1;
        loop {
            let outcome = self.send_once(method.clone(), url, headers, body);
            let retry = match &outcome {
                Ok((status, _)) => *status >= 500,
                Err(_) => true,
            };
            if !retry || attempt >= self.attempts {
                return outcome.map_err(|err| {
                    unavailable(format!("{what} did not answer: {}", describe(&err)))
                });
            }
            std::thread::sleep(self.pause * attempt);
            attempt += 1;
        }
    }

    fn send_once(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> std::result::Result<(u16, String), ureq::Error> {
        let mut builder = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder.body(body).map_err(ureq::Error::from)?;
        let mut response: Response<ureq::Body> = self.agent.run(request)?;
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_REPLY)
            .read_to_string()?;
        Ok((response.status().as_u16(), body))
    }
}

/// A transport error in words, without the URL ureq may put in it.
fn describe(err: &ureq::Error) -> String {
    match err {
        ureq::Error::Io(io) => io.to_string(),
        ureq::Error::Timeout(_) => "timed out".to_owned(),
        ureq::Error::ConnectionFailed => "the connection failed".to_owned(),
        ureq::Error::HostNotFound => "the host was not found".to_owned(),
        other => {
            let text = other.to_string();
            match text.split_once("://") {
                Some((before, _)) => format!("{before}(a URL)"),
                None => text,
            }
        }
    }
}
