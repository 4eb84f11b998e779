//! The proxy an endpoint is reached through, chosen as aws-cli chooses it: `HTTPS_PROXY` (or
//! `https_proxy`) for an `https` endpoint, `HTTP_PROXY` (or `http_proxy`) for an `http` one,
//! and none when `NO_PROXY` (or `no_proxy`) names the endpoint's host. Pure: the variables are
//! passed in.

use std::net::IpAddr;

use url::{Host, Url};

/// The proxy variables of an environment.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct ProxyVariables {
    https: Option<String>,
    http: Option<String>,
    no_proxy: Option<String>,
}

impl std::fmt::Debug for ProxyVariables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |url: &Option<String>| url.as_deref().map(super::config::redact_userinfo);
        f.debug_struct("ProxyVariables")
            .field("https", &shown(&self.https))
            .field("http", &shown(&self.http))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxyVariables {
    /// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (or their lowercase forms) from `variables`.
    pub fn read(variables: &dyn Fn(&str) -> Option<String>) -> Self {
        let either = |upper: &str, lower: &str| variables(upper).or_else(|| variables(lower));
        Self {
            https: either("HTTPS_PROXY", "https_proxy"),
            http: either("HTTP_PROXY", "http_proxy"),
            no_proxy: either("NO_PROXY", "no_proxy"),
        }
    }

    /// The proxy for `endpoint`, if any.
    pub fn proxy_for(&self, endpoint: &Url) -> Option<String> {
        let proxy = match endpoint.scheme() {
            "https" => self.https.clone(),
            _ => self.http.clone(),
        }?;
        let bypassed = self.no_proxy.as_deref().is_some_and(|list| {
            endpoint
                .host()
                .is_some_and(|host| no_proxy_matches(list, &host))
        });
        (!bypassed).then_some(proxy)
    }
}

/// Whether a `NO_PROXY` list (comma-separated) names `host`: `*` names every host; a domain
/// names itself and its subdomains (`example.com` and `.example.com` both name
/// `s3.example.com`); an IP address names itself, and an IP network (`10.0.0.0/8`) every
/// address in it.
fn no_proxy_matches(list: &str, host: &Host<&str>) -> bool {
    let name = match host {
        Host::Domain(domain) => Some(domain.trim_end_matches('.').to_ascii_lowercase()),
        Host::Ipv4(_) | Host::Ipv6(_) => None,
    };
    let address: Option<IpAddr> = match host {
        Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        Host::Domain(domain) => domain.parse().ok(),
    };
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some(address) = address {
                return in_network(entry, address);
            }
            let entry = entry
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .to_ascii_lowercase();
            name.as_deref().is_some_and(|name| {
                name == entry
                    || name
                        .strip_suffix(&entry)
                        .is_some_and(|rest| rest.ends_with('.'))
            })
        })
}

/// Whether `address` is the entry's address, or in its network (`ADDRESS/BITS`).
fn in_network(entry: &str, address: IpAddr) -> bool {
    let entry = entry.trim_start_matches('[').trim_end_matches(']');
    let (network, bits) = match entry.split_once('/') {
        Some((network, bits)) => match bits.parse::<u32>() {
            Ok(bits) => (network, Some(bits)),
            Err(_) => return false,
        },
        None => (entry, None),
    };
    let Ok(network) = network.parse::<IpAddr>() else {
        return false;
    };
    match (network, address) {
        (IpAddr::V4(network), IpAddr::V4(address)) => prefix_matches(
            u32::from(network).into(),
            u32::from(address).into(),
            32,
            bits,
        ),
        (IpAddr::V6(network), IpAddr::V6(address)) => {
            prefix_matches(u128::from(network), u128::from(address), 128, bits)
        }
        _ => false,
    }
}

/// Whether the first `bits` (all of `width` when `None`) of two addresses are the same.
fn prefix_matches(network: u128, address: u128, width: u32, bits: Option<u32>) -> bool {
    let bits = bits.unwrap_or(width);
    if bits > width {
        return false;
    }
    let shift = width - bits;
    let top = |value: u128| value.checked_shr(shift).unwrap_or(0);
    top(network) == top(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    fn proxy(endpoint: &str, pairs: &'static [(&'static str, &'static str)]) -> Option<String> {
        ProxyVariables::read(&vars(pairs)).proxy_for(&Url::parse(endpoint).unwrap())
    }

    const BOTH: [(&str, &str); 2] = [
        ("HTTPS_PROXY", "http://secure:3128"),
        ("http_proxy", "http://plain:3128"),
    ];

    #[test]
    fn the_scheme_picks_the_variable() {
        assert_eq!(
            proxy("https://s3.example", &BOTH).as_deref(),
            Some("http://secure:3128")
        );
        assert_eq!(
            proxy("http://127.0.0.1:8333", &BOTH).as_deref(),
            Some("http://plain:3128")
        );
        assert_eq!(proxy("https://s3.example", &[]), None);
        assert_eq!(
            proxy("http://h", &[("HTTPS_PROXY", "http://x:1")]),
            None,
            "an https proxy is not used for http"
        );
    }

    #[test]
    fn no_proxy_names_hosts_domains_addresses_networks_or_everything() {
        let bypass = |endpoint: &str, list: &'static str| {
            let pairs: &'static [(&str, &str)] = Box::leak(Box::new([
                ("HTTPS_PROXY", "http://p:1"),
                ("HTTP_PROXY", "http://p:1"),
                ("NO_PROXY", list),
            ]));
            proxy(endpoint, pairs).is_none()
        };
        assert!(bypass("https://s3.internal.example", "internal.example"));
        assert!(bypass("https://s3.internal.example", ".internal.example"));
        assert!(bypass("https://s3.internal.example", "*.internal.example"));
        assert!(bypass("https://internal.example", "internal.example"));
        assert!(!bypass("https://notinternal.example", "internal.example"));
        assert!(bypass("http://127.0.0.1:9000", "localhost, 127.0.0.1"));
        assert!(bypass("http://10.1.2.3:9000", "10.0.0.0/8"));
        assert!(!bypass("http://11.1.2.3:9000", "10.0.0.0/8"));
        assert!(bypass("http://[::1]:9000", "::1"));
        assert!(bypass("http://[fd00::5]:9000", "fd00::/8"));
        assert!(bypass("https://anything.example", "*"));
        assert!(!bypass("https://anything.example", ""));
        assert!(!bypass("http://10.1.2.3", "10.0.0.0/99"));
    }
}
