//! Settings found the way aws-cli finds them: explicit values first, then environment
//! variables, then the profile in the shared config and credentials files, then (for
//! credentials) the container endpoint and EC2 instance metadata.
//!
//! This module holds the resolution order; `chain` the credential chain; `shared_files` the
//! reading of `~/.aws/config` and `~/.aws/credentials` (parsed by [`super::profile_file`]).
//! Reading the files and variables is I/O; nothing here makes a network call: metadata
//! endpoints are asked on first use, by the [`CredentialSource`](super::CredentialSource).

mod chain;
mod shared_files;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use super::config::{Addressing, Config, ConfigBuilder};
use super::proxy;
use crate::error::{Error, Result};
use crate::size::parse_size;
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

fn resolve(
    overrides: &Overrides,
    variables: Variables<'_>,
    home: Option<PathBuf>,
) -> Result<ConfigBuilder> {
    let files = SharedFiles::load(variables, home)?;
    let (name, explicit) = match (&overrides.profile, variables("AWS_PROFILE")) {
        (Some(name), _) => (name.clone(), true),
        (None, Some(name)) => (name, false),
        (None, None) => (
            variables("AWS_DEFAULT_PROFILE").unwrap_or_else(|| "default".to_owned()),
            false,
        ),
    };
    let profile = files.profile(&name)?;
    let credentials = chain::credential_source(&profile, explicit, variables)?;
    let mut builder = Config::builder(credentials);
    let region = overrides
        .region
        .clone()
        .or_else(|| variables("AWS_REGION"))
        .or_else(|| variables("AWS_DEFAULT_REGION"))
        .or_else(|| profile.get("region").map(str::to_owned));
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
    let ca_bundle = overrides
        .ca_bundle
        .clone()
        .or_else(|| variables("AWS_CA_BUNDLE").map(PathBuf::from))
        .or_else(|| profile.get("ca_bundle").map(PathBuf::from));
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(&path).map_err(|err| {
            Error::invalid(format!(
                "cannot read the CA bundle {}: {err}",
                path.display()
            ))
        })?;
        builder = builder.ca_bundle(path.display().to_string(), pem);
    }
    if overrides.no_verify_ssl {
        builder = builder.verify_tls(false);
    }
    builder = builder.proxy_from(proxy::ProxyVariables::read(variables));
    transfer_settings(builder, &profile)
}

/// aws-cli's transfer settings in the profile's `s3` section: `max_concurrent_requests`,
/// `multipart_chunksize` and `multipart_threshold` (sizes with aws-cli's binary units, as
/// everywhere in s3mt; validated later, by `build`).
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
