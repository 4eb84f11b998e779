//! aws-cli's credential chain: keys from the variables, a role assumed from the profile, web
//! identity from the variables, what the profile names (`profile`), then the container
//! endpoint and EC2 instance metadata (`machine`).

use super::Sources;
use super::machine::{container_credentials, instance_metadata, patience};
use super::profile::{assume_role, assumes_role, from_profile, web_identity_from_variables};
use super::shared_files::ProfileView;
use crate::error::Result;
use crate::settings::credentials::{self, CredentialSource, unavailable};

/// aws-cli's credential chain for `profile` (`explicit_profile`: named by `--profile`, whose
/// credentials then win over the variables' keys).
pub(super) fn credential_source(
    sources: &Sources<'_>,
    profile: &ProfileView<'_>,
    explicit_profile: bool,
) -> Result<CredentialSource> {
    let variables = sources.variables;
    if !explicit_profile && let Some(found) = credentials::from_variables(variables) {
        return Ok(found.into());
    }
    if assumes_role(profile) {
        return assume_role(sources, profile, &mut Vec::new());
    }
    if let Some(found) = web_identity_from_variables(sources)? {
        return Ok(found);
    }
    if let Some(found) = from_profile(sources, profile, &mut Vec::new())? {
        return Ok(found);
    }
    let patience = patience(profile, variables)?;
    if let Some(container) = container_credentials(variables, patience)? {
        return Ok(CredentialSource::refreshing(container));
    }
    let disabled = variables("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    if disabled {
        return Err(unavailable(format!(
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add keys to {} \
             (instance metadata is off: AWS_EC2_METADATA_DISABLED=true)",
            profile.name
        )));
    }
    Ok(CredentialSource::refreshing(instance_metadata(
        profile, variables, patience,
    )))
}
