//! Settings found the way aws-cli finds them: explicit values first, then environment
//! variables, then the profile in the shared config and credentials files, then (for
//! credentials) the container endpoint and EC2 instance metadata.
//!
//! This module holds the resolution order; `chain` the credential chain, `profile` the
//! credentials a profile names (roles, web identity, SSO, `credential_process`, keys),
//! `machine` the container endpoint and instance metadata; `shared_files` the reading of
//! `~/.aws/config` and `~/.aws/credentials` (parsed by [`super::profile_file`]). Reading the
//! files and variables is I/O; nothing here makes a network call: credential services are
//! asked on first use, by the [`CredentialSource`](super::CredentialSource).

mod chain;
mod machine;
mod profile;
mod shared_files;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use super::config::{Addressing, Config, ConfigBuilder};
use super::proxy::ProxyVariables;
use super::service_http::ServiceAccess;
use super::tls;
use crate::error::{Error, Result};
use crate::size::{parse_rate, parse_size};
use shared_files::{ProfileView, SharedFiles};

/// Values given explicitly, e.g. by command-line flags: each wins over the environment and the
/// profile. Unset ones are looked up the way aws-cli does.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The profile (`--profile`). Given here, it also makes the profile's credentials win over
    /// `AWS_ACCESS_KEY_ID`, as in aws-cli; `AWS_PROFILE` does not.
    pub profile: Option<String>,
    /// The region (`--region`).
    pub region: Option<String>,
    /// The endpoint URL (`--endpoint-url`).
    pub endpoint_url: Option<String>,
    /// Bucket addressing (`--addressing-style`).
    pub addressing: Option<Addressing>,
    /// A PEM bundle of CA certificates to trust beside the built-in roots (`--ca-bundle`);
    /// else `$AWS_CA_BUNDLE`, else the profile's `ca_bundle`.
    pub ca_bundle: Option<PathBuf>,
    /// Servers' certificates are not verified (`--no-verify-ssl`).
    pub no_verify_ssl: bool,
}

impl Config {
    /// A builder with credentials, region, endpoint and addressing found the way aws-cli
    /// finds them (the README lists the order). Reads environment variables and the shared
    /// files; metadata endpoints are only asked when a request first needs credentials.
    ///
    /// # Errors
    /// A named profile that does not exist, an unreadable or malformed file, a profile whose
    /// kind of credentials s3mt cannot use (assume-role, SSO, `credential_process`), or no
    /// credentials anywhere.
    pub fn from_environment(overrides: &Overrides) -> Result<ConfigBuilder> {
        let variables = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        resolve(overrides, &variables, std::env::home_dir())
    }
}

/// The environment as a lookup function, for tests.
type Variables<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What the credential chain reads besides the profile.
struct Sources<'a> {
    files: &'a SharedFiles,
    variables: Variables<'a>,
    /// The home directory, where `aws sso login` caches its tokens.
    home: Option<&'a Path>,
    /// How credential services are reached: the client's trust and proxies.
    access: &'a ServiceAccess,
    /// The client's region: STS is asked there.
    region: Option<&'a str>,
}

fn resolve(
    overrides: &Overrides,
    variables: Variables<'_>,
    home: Option<PathBuf>,
) -> Result<ConfigBuilder> {
    let files = SharedFiles::load(variables, home.clone())?;
    let (name, explicit) = match (&overrides.profile, variables("AWS_PROFILE")) {
        (Some(name), _) => (name.clone(), true),
        (None, Some(name)) => (name, false),
        (None, None) => (
            variables("AWS_DEFAULT_PROFILE").unwrap_or_else(|| "default".to_owned()),
            false,
        ),
    };
    let profile = files.profile(&name)?;
    let region = overrides
        .region
        .clone()
        .or_else(|| variables("AWS_REGION"))
        .or_else(|| variables("AWS_DEFAULT_REGION"))
        .or_else(|| profile.get("region").map(str::to_owned));
    let ca_bundle = ca_bundle(overrides, variables, &profile)?;
    let proxies = ProxyVariables::read(variables);
    let access = ServiceAccess {
        ca_certificates: match &ca_bundle {
            Some((origin, pem)) => tls::certificates(origin, pem)?,
            None => Vec::new(),
        },
        verify_tls: !overrides.no_verify_ssl,
        proxies: proxies.clone(),
    };
    let sources = Sources {
        files: &files,
        variables,
        home: home.as_deref(),
        access: &access,
        region: region.as_deref(),
    };
    let credentials = chain::credential_source(&sources, &profile, explicit)?;
    let mut builder = Config::builder(credentials);
    if let Some(region) = region {
        builder = builder.region(region);
    }
    let ignore_configured = variables("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let configured_endpoint = || {
        variables("AWS_ENDPOINT_URL_S3")
            .or_else(|| variables("AWS_ENDPOINT_URL"))
            .or_else(|| profile.get_nested("s3", "endpoint_url").map(str::to_owned))
            .or_else(|| profile.get("endpoint_url").map(str::to_owned))
    };
    let endpoint = overrides
        .endpoint_url
        .clone()
        .or_else(|| (!ignore_configured).then(configured_endpoint).flatten());
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint(endpoint);
    }
    let addressing = match overrides.addressing {
        Some(addressing) => Some(addressing),
        None => profile
            .get_nested("s3", "addressing_style")
            .map(|style| parse_addressing(style, &profile.name))
            .transpose()?,
    };
    if let Some(addressing) = addressing {
        builder = builder.addressing(addressing);
    }
    if let Some((origin, pem)) = ca_bundle {
        builder = builder.ca_bundle(origin, pem);
    }
    if overrides.no_verify_ssl {
        builder = builder.verify_tls(false);
    }
    builder = builder.proxy_from(proxies);
    transfer_settings(builder, &profile)
}

/// The CA bundle to trust (`--ca-bundle`, else `AWS_CA_BUNDLE`, else the profile's
/// `ca_bundle`): its path, as messages name it, and its contents.
fn ca_bundle(
    overrides: &Overrides,
    variables: Variables<'_>,
    profile: &ProfileView<'_>,
) -> Result<Option<(String, Vec<u8>)>> {
    let path = overrides
        .ca_bundle
        .clone()
        .or_else(|| variables("AWS_CA_BUNDLE").map(PathBuf::from))
        .or_else(|| profile.get("ca_bundle").map(PathBuf::from));
    let Some(path) = path else { return Ok(None) };
    let pem = std::fs::read(&path).map_err(|err| {
        Error::invalid(format!(
            "cannot read the CA bundle {}: {err}",
            path.display()
        ))
    })?;
    Ok(Some((path.display().to_string(), pem)))
}

/// aws-cli's transfer settings in the profile's `s3` section: `max_concurrent_requests`,
/// `multipart_chunksize`, `multipart_threshold` (sizes with aws-cli's binary units, as
/// everywhere in s3mt; validated later, by `build`) and `max_bandwidth` (a rate).
fn transfer_settings(
    mut builder: ConfigBuilder,
    profile: &ProfileView<'_>,
) -> Result<ConfigBuilder> {
    let setting = |key: &str| profile.get_nested("s3", key);
    let invalid = |key: &str, text: &str| {
        Error::invalid(format!("{}: s3 {key} {text:?} is not valid", profile.name))
    };
    if let Some(text) = setting("max_concurrent_requests") {
        let concurrency = text
            .trim()
            .parse()
            .map_err(|_| invalid("max_concurrent_requests", text))?;
        builder = builder.concurrency(concurrency);
    }
    if let Some(text) = setting("multipart_chunksize") {
        builder =
            builder.part_size(parse_size(text).map_err(|_| invalid("multipart_chunksize", text))?);
    }
    if let Some(text) = setting("multipart_threshold") {
        builder = builder.multipart_threshold(
            parse_size(text).map_err(|_| invalid("multipart_threshold", text))?,
        );
    }
    if let Some(text) = setting("max_bandwidth") {
        builder =
            builder.max_bandwidth(parse_rate(text).map_err(|_| invalid("max_bandwidth", text))?);
    }
    Ok(builder)
}
/// `auto`, `path` or `virtual`, as aws-cli spells them.
pub fn parse_addressing(style: &str, origin: &str) -> Result<Addressing> {
    match style {
        "auto" => Ok(Addressing::Auto),
        "path" => Ok(Addressing::Path),
        "virtual" => Ok(Addressing::VirtualHost),
        other => Err(Error::invalid(format!(
            "{origin}: addressing style {other:?} is not auto, path or virtual"
        ))),
    }
}
