//! What each action checks and answers: STS's `AssumeRole` (signed) and
//! `AssumeRoleWithWebIdentity` (a token), in the order STS checks, and the portal's
//! `GetRoleCredentials`; and the credentials they serve, which may sign in turn.

use std::time::Instant;

use super::wire::{self, Refusal, Served};
use super::{
    SSO_TOKEN_HEADER, STS_VERSION, Shared, State, TemporaryCaller, parameter, parameters, sigv4,
};
use crate::loopback::{Request, Response};

/// The `DurationSeconds` STS accepts (15 minutes to 12 hours).
const DURATION_SECONDS: std::ops::RangeInclusive<u64> = 900..=43_200;

impl Shared {
    /// The query API at `/`: the action the parameters name.
    pub(super) fn query_api(
        &self,
        state: &mut State,
        request: &Request,
        request_id: &str,
    ) -> Result<Response, Refusal> {
        if request.path != "/" {
            return Err(Refusal::new(404, "NotFound", "STS is at /"));
        }
        if request.method != "GET" && request.method != "POST" {
            return Err(Refusal::new(405, "MethodNotAllowed", "GET or POST only"));
        }
        let parameters = parameters(request);
        let Some(action) = parameter(&parameters, "Action") else {
            return Err(Refusal::new(400, "MissingAction", "Missing Action"));
        };
        let version = parameter(&parameters, "Version").unwrap_or_default();
        if version != STS_VERSION {
            return Err(Refusal::new(
                400,
                "InvalidAction",
                format!("Could not find operation {action} for version {version}"),
            ));
        }
        match action {
            "AssumeRole" => self.assume_role(state, request, &parameters, request_id),
            "AssumeRoleWithWebIdentity" => self.web_identity(state, &parameters, request_id),
            _ => Err(Refusal::new(
                400,
                "InvalidAction",
                format!("Could not find operation {action} for version {version}"),
            )),
        }
    }

    fn assume_role(
        &self,
        state: &mut State,
        request: &Request,
        parameters: &[(String, String)],
        request_id: &str,
    ) -> Result<Response, Refusal> {
        let caller = sigv4::authenticate(request, |access_key, token| {
            self.secret_of(state, access_key, token)
        })?;
        let session = SessionRequest::read(parameters)?;
        let external_id = parameter(parameters, "ExternalId");
        if let Some(id) = external_id {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c);
            if !(2..=1224).contains(&id.len()) || !id.chars().all(allowed) {
                return Err(Refusal::invalid(
                    "externalId",
                    Some(id),
                    "satisfy regular expression pattern: [\\w+=,.@:\\/-]*",
                ));
            }
        }
        let trusted = self.roles.iter().any(|role| {
            role.arn == session.role_arn
                && role
                    .external_id
                    .as_deref()
                    .is_none_or(|wanted| external_id == Some(wanted))
        });
        if !trusted {
            return Err(Refusal::new(
                403,
                "AccessDenied",
                format!(
                    "User: {caller} is not authorized to perform: sts:AssumeRole on resource: {}",
                    session.role_arn
                ),
            ));
        }
        let served = self.serve_credentials(state);
        Ok(wire::assumed_role_reply(
            "AssumeRole",
            &served,
            session.role_arn,
            session.name,
            request_id,
        ))
    }

    fn web_identity(
        &self,
        state: &mut State,
        parameters: &[(String, String)],
        request_id: &str,
    ) -> Result<Response, Refusal> {
        let session = SessionRequest::read(parameters)?;
        let token = parameter(parameters, "WebIdentityToken");
        let Some(token) = token.filter(|token| token.len() >= 4) else {
            return Err(Refusal::invalid(
                "webIdentityToken",
                token,
                "have length greater than or equal to 4",
            ));
        };
        if !state.web_identity_tokens.iter().any(|t| t == token) {
            return Err(Refusal::new(
                400,
                "InvalidIdentityToken",
                "The web identity token that was passed could not be validated by AWS. Get a \
                 new identity token from the identity provider and then retry the request.",
            ));
        }
        if !self.roles.iter().any(|role| role.arn == session.role_arn) {
            return Err(Refusal::new(
                403,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            ));
        }
        let served = self.serve_credentials(state);
        Ok(wire::assumed_role_reply(
            "AssumeRoleWithWebIdentity",
            &served,
            session.role_arn,
            session.name,
            request_id,
        ))
    }

    /// The portal's `GetRoleCredentials`: the token first, then the parameters, then access.
    pub(super) fn get_role_credentials(
        &self,
        state: &mut State,
        request: &Request,
    ) -> Result<Response, Refusal> {
        if request.method != "GET" {
            return Err(Refusal::new(
                405,
                "InvalidRequestException",
                "GetRoleCredentials is a GET",
            ));
        }
        let token = request.header(SSO_TOKEN_HEADER);
        if !token.is_some_and(|token| state.sso_tokens.iter().any(|t| t == token)) {
            return Err(Refusal::new(
                401,
                "UnauthorizedException",
                "Session token not found or invalid",
            ));
        }
        let parameters = parameters(request);
        let (Some(role_name), Some(account_id)) = (
            parameter(&parameters, "role_name"),
            parameter(&parameters, "account_id"),
        ) else {
            return Err(Refusal::new(
                400,
                "InvalidRequestException",
                "role_name and account_id are required",
            ));
        };
        let entitled = self
            .sso_roles
            .iter()
            .any(|(account, role)| account == account_id && role == role_name);
        if !entitled {
            return Err(Refusal::new(403, "ForbiddenException", "No access"));
        }
        let served = self.serve_credentials(state);
        Ok(wire::role_credentials_reply(&served))
    }

    /// The secret key of `access_key`: a configured caller's, or that of credentials served
    /// earlier, which must come with their token and be unexpired.
    fn secret_of(
        &self,
        state: &State,
        access_key: &str,
        token: Option<&str>,
    ) -> Result<String, Refusal> {
        let invalid = || {
            Refusal::new(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
        };
        if let Some((_, secret)) = self.callers.iter().find(|(key, _)| key == access_key) {
            return Ok(secret.clone());
        }
        let caller = state
            .temporary_callers
            .iter()
            .rev()
            .find(|caller| caller.access_key == access_key)
            .ok_or_else(invalid)?;
        if caller.token.is_some() && caller.token.as_deref() != token {
            return Err(invalid());
        }
        if caller
            .expires
            .is_some_and(|expires| Instant::now() >= expires)
        {
            return Err(Refusal::new(
                400,
                "ExpiredToken",
                "The security token included in the request is expired",
            ));
        }
        Ok(caller.secret_key.clone())
    }

    /// The next set of credentials, counted as served, and from now on allowed to sign.
    fn serve_credentials(&self, state: &mut State) -> Served<'_> {
        let issued = &self.issued[state.served.min(self.issued.len() - 1)];
        state.served += 1;
        state.temporary_callers.push(TemporaryCaller {
            access_key: issued.access_key.clone(),
            secret_key: issued.secret_key.clone(),
            token: issued.token.clone(),
            expires: Instant::now().checked_add(issued.expires_in),
        });
        Served {
            credentials: issued,
            expiration: issued.expiration_if_served_now(),
        }
    }
}

/// The parameters both STS actions share, checked as STS does.
struct SessionRequest<'a> {
    role_arn: &'a str,
    name: &'a str,
}

impl<'a> SessionRequest<'a> {
    fn read(parameters: &'a [(String, String)]) -> Result<Self, Refusal> {
        let role_arn = parameter(parameters, "RoleArn");
        let Some(role_arn) = role_arn.filter(|arn| (20..=2048).contains(&arn.len())) else {
            return Err(Refusal::invalid(
                "roleArn",
                role_arn,
                "have length between 20 and 2048",
            ));
        };
        let name = parameter(parameters, "RoleSessionName");
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
        let Some(name) =
            name.filter(|name| (2..=64).contains(&name.len()) && name.chars().all(allowed))
        else {
            return Err(Refusal::invalid(
                "roleSessionName",
                name,
                "satisfy regular expression pattern: [\\w+=,.@-]{2,64}",
            ));
        };
        if let Some(duration) = parameter(parameters, "DurationSeconds") {
            let valid = duration
                .parse::<u64>()
                .is_ok_and(|seconds| DURATION_SECONDS.contains(&seconds));
            if !valid {
                return Err(Refusal::invalid(
                    "durationSeconds",
                    Some(duration),
                    "have value between 900 and 43200",
                ));
            }
        }
        Ok(Self { role_arn, name })
    }
}
