//! The credentials a machine provides: the container endpoint (ECS, EKS Pod Identity) and EC2
//! instance metadata, where they are, and how patiently they are asked (aws-cli's settings).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use url::Url;

use super::Variables;
use super::shared_files::ProfileView;
use crate::error::{Error, Result};
use crate::settings::metadata::{
    Authorization, ContainerCredentials, InstanceMetadata, Patience, Secret,
};

/// The address of the ECS credentials endpoint `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is on.
const ECS_ENDPOINT: &str = "http://169.254.170.2";
/// The EC2 instance metadata service.
const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// The EC2 instance metadata service over IPv6.
const IMDS_ENDPOINT_IPV6: &str = "http://[fd00:ec2::254]";

/// EC2 instance metadata at the configured endpoint (or the default, IPv4 or IPv6).
pub(super) fn instance_metadata(
    profile: &ProfileView<'_>,
    variables: Variables<'_>,
    patience: Patience,
) -> InstanceMetadata {
    let endpoint = variables("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .or_else(|| {
            profile
                .get("ec2_metadata_service_endpoint")
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            let mode = variables("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE").or_else(|| {
                profile
                    .get("ec2_metadata_service_endpoint_mode")
                    .map(str::to_owned)
            });
            match mode {
                Some(mode) if mode.eq_ignore_ascii_case("ipv6") => IMDS_ENDPOINT_IPV6.to_owned(),
                _ => IMDS_ENDPOINT.to_owned(),
            }
        });
    let v1_disabled = variables("AWS_EC2_METADATA_V1_DISABLED")
        .or_else(|| profile.get("ec2_metadata_v1_disabled").map(str::to_owned))
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    InstanceMetadata::new(&endpoint, !v1_disabled, patience)
}

/// The container endpoint, when `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI` is
/// set. Plain HTTP is allowed only to loopback and the ECS and EKS link-local addresses, as in
/// the AWS SDKs, so a token is never sent in clear across a network.
pub(super) fn container_credentials(
    variables: Variables<'_>,
    patience: Patience,
) -> Result<Option<ContainerCredentials>> {
    let uri = if let Some(relative) = variables("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        format!("{ECS_ENDPOINT}{relative}")
    } else if let Some(full) = variables("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        check_container_uri(&full)?;
        full
    } else {
        return Ok(None);
    };
    let authorization = match (
        variables("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        variables("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
    ) {
        (Some(file), _) => Authorization::File(file.into()),
        (None, Some(token)) => Authorization::Token(Secret(token)),
        (None, None) => Authorization::None,
    };
    Ok(Some(ContainerCredentials::new(
        uri,
        authorization,
        patience,
    )))
}

pub(super) fn check_container_uri(uri: &str) -> Result<()> {
    let url = Url::parse(uri).map_err(|err| {
        Error::invalid(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL: {err}"
        ))
    })?;
    let allowed = match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(host))) => host == "localhost",
        ("http", Some(url::Host::Ipv4(ip))) => {
            ip.is_loopback()
                || ip == Ipv4Addr::new(169, 254, 170, 2)
                || ip == Ipv4Addr::new(169, 254, 170, 23)
        }
        ("http", Some(url::Host::Ipv6(ip))) => {
            ip.is_loopback() || ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)
        }
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI {uri}: plain http is allowed only to loopback \
             and the ECS/EKS credential addresses; use https"
        )))
    }
}

/// The metadata endpoints' timeout and attempts, from the environment or the profile.
pub(super) fn patience(profile: &ProfileView<'_>, variables: Variables<'_>) -> Result<Patience> {
    let setting = |variable: &str, key: &str| {
        variables(variable).or_else(|| profile.get(key).map(str::to_owned))
    };
    let mut patience = Patience::default();
    if let Some(text) = setting("AWS_METADATA_SERVICE_TIMEOUT", "metadata_service_timeout") {
        let seconds: f64 = text
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| *s > 0.0 && s.is_finite())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "metadata service timeout {text:?} is not a number of seconds"
                ))
            })?;
        patience.timeout = Duration::from_secs_f64(seconds);
    }
    if let Some(text) = setting(
        "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
        "metadata_service_num_attempts",
    ) {
        patience.attempts = text
            .trim()
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "metadata service attempts {text:?} is not a whole number >= 1"
                ))
            })?;
    }
    Ok(patience)
}
