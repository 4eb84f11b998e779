//! The credentials a profile names, resolved as aws-cli resolves them, in its order (a role,
//! web identity, IAM Identity Center, the credentials file's keys, `credential_process`, the
//! config file's keys). The temporary ones: a role
//! assumed with STS from a source profile (chains of them, a cycle refused) or a credential
//! source (`Environment`, `Ec2InstanceMetadata`, `EcsContainer`); web identity, from the
//! variables or the profile; IAM Identity Center (`sso_session` sections and legacy
//! `sso_start_url` profiles). The service endpoints: `AWS_ENDPOINT_URL_STS` / `_SSO`, then
//! `AWS_ENDPOINT_URL`, then the profile's `services` section, then the profile's
//! `endpoint_url`, else AWS's regional endpoint.

use std::path::PathBuf;

use jiff::Timestamp;
use url::Url;

use super::Sources;
use super::machine::{container_credentials, instance_metadata, patience};
use super::shared_files::ProfileView;
use crate::error::{Error, Result};
use crate::settings::config::DEFAULT_REGION;
use crate::settings::credentials::{self, CredentialSource, unavailable};
use crate::settings::process::CredentialProcess;
use crate::settings::profile_file::FileKind;
use crate::settings::sso::SsoCredentials;
use crate::settings::sts::{AssumeRole, Sts, WebIdentity};

/// The credentials `profile` names by itself, in aws-cli's order: a role (assumed from a
/// source profile or credential source), web identity, IAM Identity Center, the credentials
/// file's keys, `credential_process`, the config file's keys. `visited` holds the profiles a
/// chain of roles went through, to refuse a cycle.
pub(super) fn from_profile(
    sources: &Sources<'_>,
    profile: &ProfileView<'_>,
    visited: &mut Vec<String>,
) -> Result<Option<CredentialSource>> {
    if assumes_role(profile) {
        return assume_role(sources, profile, visited).map(Some);
    }
    if let Some(found) = web_identity_from_profile(sources, profile)? {
        return Ok(Some(found));
    }
    if let Some(found) = sso(sources, profile)? {
        return Ok(Some(found));
    }
    if let Some(found) = profile.keys(FileKind::Credentials) {
        return Ok(Some(found.into()));
    }
    if let Some(command) = profile.get("credential_process") {
        let process = CredentialProcess::new(command, &profile.name)?;
        return Ok(Some(CredentialSource::refreshing(process)));
    }
    Ok(profile.keys(FileKind::Config).map(CredentialSource::from))
}

/// Whether `profile` assumes a role from a source (a `role_arn` with `source_profile` or
/// `credential_source`; with a web identity token instead, it is web identity).
pub(super) fn assumes_role(profile: &ProfileView<'_>) -> bool {
    profile.get("role_arn").is_some()
        && (profile.get("source_profile").is_some() || profile.get("credential_source").is_some())
}

/// The role `profile` assumes, with the credentials of its source.
pub(super) fn assume_role(
    sources: &Sources<'_>,
    profile: &ProfileView<'_>,
    visited: &mut Vec<String>,
) -> Result<CredentialSource> {
    let role_arn = profile.get("role_arn").unwrap_or_default().to_owned();
    if profile.get("mfa_serial").is_some() {
        return Err(unavailable(format!(
            "{} sets mfa_serial: s3mt does not prompt for MFA codes in the middle of a \
             transfer; export temporary credentials first, e.g. eval \"$(aws configure \
             export-credentials --profile {} --format env)\"",
            profile.name, profile.profile_name
        )));
    }
    let source = match (
        profile.get("source_profile"),
        profile.get("credential_source"),
    ) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(format!(
                "{} sets both source_profile and credential_source; keep one",
                profile.name
            )));
        }
        (Some(name), None) => source_profile(sources, profile, name, visited)?,
        (None, Some(kind)) => credential_source(sources, profile, kind)?,
        (None, None) => unreachable!("assumes_role checked for a source"),
    };
    let duration_seconds = duration(profile)?;
    let assume = AssumeRole {
        sts: sts(sources, profile)?,
        source,
        role_arn,
        session_name: session_name(profile.get("role_session_name").map(str::to_owned)),
        external_id: profile.get("external_id").map(str::to_owned),
        duration_seconds,
    };
    Ok(CredentialSource::refreshing(assume))
}

/// The credentials of `name`, the source profile of `profile`: its static keys when it names
/// itself (aws-cli's special case), else whatever it names, chains of roles included.
fn source_profile(
    sources: &Sources<'_>,
    profile: &ProfileView<'_>,
    name: &str,
    visited: &mut Vec<String>,
) -> Result<CredentialSource> {
    visited.push(profile.profile_name.clone());
    if name == profile.profile_name {
        return profile
            .keys(FileKind::Credentials)
            .or_else(|| profile.keys(FileKind::Config))
            .map(CredentialSource::from)
            .ok_or_else(|| {
                unavailable(format!(
                    "{} is its own source_profile but has no keys",
                    profile.name
                ))
            });
    }
    if visited.iter().any(|seen| seen == name) {
        visited.push(name.to_owned());
        return Err(Error::invalid(format!(
            "the source_profile settings go round in a circle: {}",
            visited.join(" -> ")
        )));
    }
    let source = sources.files.profile(name)?;
    from_profile(sources, &source, visited)?.ok_or_else(|| {
        unavailable(format!(
            "{}, the source_profile of {}, has no credentials",
            source.name, profile.profile_name
        ))
    })
}

/// The credentials a `credential_source` names.
fn credential_source(
    sources: &Sources<'_>,
    profile: &ProfileView<'_>,
    kind: &str,
) -> Result<CredentialSource> {
    let variables = sources.variables;
    match kind {
        "Environment" => credentials::from_variables(variables)
            .map(CredentialSource::from)
            .ok_or_else(|| {
                unavailable(format!(
                    "{} takes its credential_source from the environment, but \
                     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
                    profile.name
                ))
            }),
        "Ec2InstanceMetadata" => {
            let patience = patience(profile, variables)?;
            Ok(CredentialSource::refreshing(instance_metadata(
                profile, variables, patience,
            )))
        }
        "EcsContainer" => {
            let patience = patience(profile, variables)?;
            container_credentials(variables, patience)?
                .map(CredentialSource::refreshing)
                .ok_or_else(|| {
                    unavailable(format!(
                        "{} takes its credential_source from the container, but \
                         AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set",
                        profile.name
                    ))
                })
        }
        other => Err(Error::invalid(format!(
            "{}: credential_source {other:?} is not Environment, Ec2InstanceMetadata or \
             EcsContainer",
            profile.name
        ))),
    }
}

/// Web identity from `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN` (EKS's variables).
pub(super) fn web_identity_from_variables(
    sources: &Sources<'_>,
) -> Result<Option<CredentialSource>> {
    let variables = sources.variables;
    let (Some(file), Some(role_arn)) = (
        variables("AWS_WEB_IDENTITY_TOKEN_FILE"),
        variables("AWS_ROLE_ARN"),
    ) else {
        return Ok(None);
    };
    let sts = sts_at(sources, None)?;
    let provider = WebIdentity {
        sts,
        token_file: PathBuf::from(file),
        role_arn,
        session_name: session_name(variables("AWS_ROLE_SESSION_NAME")),
        duration_seconds: None,
    };
    Ok(Some(CredentialSource::refreshing(provider)))
}

/// Web identity from the profile's `web_identity_token_file` and `role_arn`.
pub(super) fn web_identity_from_profile(
    sources: &Sources<'_>,
    profile: &ProfileView<'_>,
) -> Result<Option<CredentialSource>> {
    let Some(file) = profile.get("web_identity_token_file") else {
        return Ok(None);
    };
    let role_arn = profile.get("role_arn").ok_or_else(|| {
        Error::invalid(format!(
            "{} sets web_identity_token_file without role_arn",
            profile.name
        ))
    })?;
    let provider = WebIdentity {
        sts: sts(sources, profile)?,
        token_file: PathBuf::from(file),
        role_arn: role_arn.to_owned(),
        session_name: session_name(profile.get("role_session_name").map(str::to_owned)),
        duration_seconds: duration(profile)?,
    };
    Ok(Some(CredentialSource::refreshing(provider)))
}

/// IAM Identity Center credentials, when `profile` sets `sso_session` or `sso_start_url`.
pub(super) fn sso(
    sources: &Sources<'_>,
    profile: &ProfileView<'_>,
) -> Result<Option<CredentialSource>> {
    let (key, region) =
        match (profile.get("sso_session"), profile.get("sso_start_url")) {
            (Some(session), _) => {
                let section = sources.files.section("sso-session", session).ok_or_else(|| {
                Error::invalid(format!(
                    "{} names sso_session {session:?}, but there is no [sso-session {session}] \
                     section",
                    profile.name
                ))
            })?;
                (
                    session.to_owned(),
                    section.get("sso_region").map(str::to_owned),
                )
            }
            (None, Some(start_url)) => (
                start_url.to_owned(),
                profile.get("sso_region").map(str::to_owned),
            ),
            (None, None) => return Ok(None),
        };
    let missing = |what: &str| {
        Error::invalid(format!(
            "{} uses IAM Identity Center but sets no {what}",
            profile.name
        ))
    };
    let region = region.ok_or_else(|| missing("sso_region"))?;
    let account = profile
        .get("sso_account_id")
        .ok_or_else(|| missing("sso_account_id"))?;
    let role = profile
        .get("sso_role_name")
        .ok_or_else(|| missing("sso_role_name"))?;
    let cache_dir = sources
        .home
        .map(|home| home.join(".aws").join("sso").join("cache"))
        .ok_or_else(|| unavailable("no home directory, so no cached SSO token to use"))?;
    let endpoint = service_endpoint(sources, Some(profile), "sso")?;
    let portal = SsoCredentials::portal(&region, endpoint.as_deref())?;
    let provider = SsoCredentials::new(
        profile.profile_name.clone(),
        SsoCredentials::cache_file(cache_dir, &key),
        (account.to_owned(), role.to_owned()),
        portal,
        sources.access,
    );
    Ok(Some(CredentialSource::refreshing(provider)))
}

/// STS as `profile` reaches it.
fn sts(sources: &Sources<'_>, profile: &ProfileView<'_>) -> Result<Sts> {
    sts_at(sources, Some(profile))
}

/// STS at its configured endpoint, or AWS's regional one, signing for the client's region.
fn sts_at(sources: &Sources<'_>, profile: Option<&ProfileView<'_>>) -> Result<Sts> {
    let region = sources
        .region
        .map(str::to_owned)
        .or_else(|| profile.and_then(|p| p.get("region")).map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    let text = service_endpoint(sources, profile, "sts")?
        .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
    let endpoint = Url::parse(&text)
        .map_err(|err| Error::invalid(format!("the STS endpoint {text:?} is not a URL: {err}")))?;
    Ok(Sts::new(endpoint, region, sources.access))
}

/// The endpoint configured for `service` (`sts`, `sso`), as aws-cli looks it up; `None` for
/// AWS's own.
fn service_endpoint(
    sources: &Sources<'_>,
    profile: Option<&ProfileView<'_>>,
    service: &str,
) -> Result<Option<String>> {
    let variables = sources.variables;
    if variables("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"))
    {
        return Ok(None);
    }
    let specific = format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase());
    let from_services = || {
        let name = profile?.get("services")?;
        sources
            .files
            .section("services", name)?
            .get_nested(service, "endpoint_url")
            .map(str::to_owned)
    };
    Ok(variables(&specific)
        .or_else(|| variables("AWS_ENDPOINT_URL"))
        .or_else(from_services)
        .or_else(|| profile?.get("endpoint_url").map(str::to_owned)))
}

/// The profile's `duration_seconds`, a whole number of seconds.
fn duration(profile: &ProfileView<'_>) -> Result<Option<u32>> {
    profile
        .get("duration_seconds")
        .map(|text| {
            text.trim().parse().map_err(|_| {
                Error::invalid(format!(
                    "{}: duration_seconds {text:?} is not a whole number of seconds",
                    profile.name
                ))
            })
        })
        .transpose()
}

/// The session name given, else one of s3mt's (as aws-cli makes `botocore-session-<time>`).
fn session_name(given: Option<String>) -> String {
    given.unwrap_or_else(|| format!("s3mt-session-{}", Timestamp::now().as_second()))
}
