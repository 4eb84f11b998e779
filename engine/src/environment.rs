//! Settings found the way aws-cli finds them: explicit values first, then environment
//! variables, then the profile in the shared config and credentials files, then (for
//! credentials) the container endpoint and EC2 instance metadata.
//!
//! Reading the files and variables is I/O; parsing is [`crate::profile_file`]'s. Nothing here
//! makes a network call: metadata endpoints are asked on first use, by the
//! [`CredentialSource`].

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::config::{Addressing, Config, ConfigBuilder};
use crate::credentials::{self, CredentialSource, Credentials, unavailable};
use crate::error::{Error, Result};
use crate::metadata::{Authorization, ContainerCredentials, InstanceMetadata, Patience, Secret};
use crate::profile_file::{FileKind, Profile, ProfileFile};

/// The address of the ECS credentials endpoint `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is on.
const ECS_ENDPOINT: &str = "http://169.254.170.2";
/// The EC2 instance metadata service.
const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// The EC2 instance metadata service over IPv6.
const IMDS_ENDPOINT_IPV6: &str = "http://[fd00:ec2::254]";

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
    let credentials = credential_source(&profile, explicit, variables)?;
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
    transfer_settings(builder, &profile)
}

/// aws-cli's transfer settings in the profile's `s3` section: `max_concurrent_requests`,
/// `multipart_chunksize` and `multipart_threshold` (validated later, by `build`).
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
            builder.part_size(aws_size(text).map_err(|_| invalid("multipart_chunksize", text))?);
    }
    if let Some(text) = setting("multipart_threshold") {
        builder = builder
            .multipart_threshold(aws_size(text).map_err(|_| invalid("multipart_threshold", text))?);
    }
    Ok(builder)
}

/// A size as aws-cli reads it: bytes, or a number with `KB`, `MB`, `GB`, `TB` (all binary, as
/// aws-cli has them) or `KiB`...`TiB`.
fn aws_size(text: &str) -> Result<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let binary = match lower.strip_suffix('b') {
        Some(number) if number.ends_with(['k', 'm', 'g', 't']) => number,
        _ => &lower,
    };
    crate::plan::parse_size(binary)
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

/// aws-cli's credential chain, minus the kinds of credentials s3mt cannot use (those are
/// reported, not skipped, so the wrong identity is never used by surprise).
fn credential_source(
    profile: &ProfileView<'_>,
    explicit_profile: bool,
    variables: Variables<'_>,
) -> Result<CredentialSource> {
    if !explicit_profile && let Some(found) = credentials::from_variables(variables) {
        return Ok(found.into());
    }
    let unsupported = [
        ("role_arn", "assume-role"),
        ("web_identity_token_file", "web identity"),
        ("sso_session", "IAM Identity Center (SSO)"),
        ("sso_start_url", "IAM Identity Center (SSO)"),
    ];
    let unsupported_error = |key: &str, kind: &str| {
        unavailable(format!(
            "{} sets {key}: s3mt cannot use {kind} credentials yet; export temporary keys \
             first, e.g. eval \"$(aws configure export-credentials --profile {} --format env)\"",
            profile.name, profile.profile_name
        ))
    };
    if let Some((key, kind)) = unsupported
        .iter()
        .find(|(key, _)| profile.get(key).is_some())
    {
        return Err(unsupported_error(key, kind));
    }
    if let Some(found) = profile.keys(FileKind::Credentials) {
        return Ok(found.into());
    }
    if profile.get("credential_process").is_some() {
        return Err(unsupported_error("credential_process", "process"));
    }
    if let Some(found) = profile.keys(FileKind::Config) {
        return Ok(found.into());
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
    Ok(CredentialSource::refreshing(InstanceMetadata::new(
        &endpoint,
        !v1_disabled,
        patience,
    )))
}

/// The container endpoint, when `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI` is
/// set. Plain HTTP is allowed only to loopback and the ECS and EKS link-local addresses, as in
/// the AWS SDKs, so a token is never sent in clear across a network.
fn container_credentials(
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

fn check_container_uri(uri: &str) -> Result<()> {
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
fn patience(profile: &ProfileView<'_>, variables: Variables<'_>) -> Result<Patience> {
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

/// The shared config and credentials files, parsed (a missing file is an empty one).
struct SharedFiles {
    config: ProfileFile,
    config_path: PathBuf,
    credentials: ProfileFile,
    credentials_path: PathBuf,
}

impl SharedFiles {
    fn load(variables: Variables<'_>, home: Option<PathBuf>) -> Result<Self> {
        let path = |variable: &str, file: &str| {
            variables(variable)
                .map(|path| expand_home(&path, home.as_ref()))
                .unwrap_or_else(|| home.clone().unwrap_or_default().join(".aws").join(file))
        };
        let config_path = path("AWS_CONFIG_FILE", "config");
        let credentials_path = path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        Ok(Self {
            config: read_profile_file(&config_path, FileKind::Config)?,
            credentials: read_profile_file(&credentials_path, FileKind::Credentials)?,
            config_path,
            credentials_path,
        })
    }

    /// The profile `name`. Only `default` may be missing from both files.
    fn profile(&self, name: &str) -> Result<ProfileView<'_>> {
        let view = ProfileView {
            name: format!(
                "profile {name:?} ({} and {})",
                self.credentials_path.display(),
                self.config_path.display()
            ),
            profile_name: name.to_owned(),
            credentials: self.credentials.profile(name),
            config: self.config.profile(name),
        };
        if name != "default" && view.credentials.is_none() && view.config.is_none() {
            return Err(Error::invalid(format!(
                "profile {name:?} is in neither {} nor {}",
                self.credentials_path.display(),
                self.config_path.display()
            )));
        }
        Ok(view)
    }
}

/// `~/x` with the home directory, as aws-cli expands file variables.
fn expand_home(path: &str, home: Option<&PathBuf>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

fn read_profile_file(path: &PathBuf, kind: FileKind) -> Result<ProfileFile> {
    if path.as_os_str().is_empty() {
        return Ok(ProfileFile::default());
    }
    match std::fs::read_to_string(path) {
        Ok(text) => ProfileFile::parse(&text, kind)
            .map_err(|err| Error::invalid(format!("{}: {err}", path.display()))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(ProfileFile::default()),
        Err(err) => Err(Error::local_io(
            format!("cannot read {}", path.display()),
            err,
        )),
    }
}

/// One profile across both files: the credentials file's values win, as in aws-cli.
struct ProfileView<'a> {
    /// How messages name it: the profile and the files.
    name: String,
    profile_name: String,
    credentials: Option<&'a Profile>,
    config: Option<&'a Profile>,
}

impl ProfileView<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        [self.credentials, self.config]
            .into_iter()
            .flatten()
            .find_map(|profile| profile.get(key))
    }

    fn get_nested(&self, section: &str, key: &str) -> Option<&str> {
        [self.credentials, self.config]
            .into_iter()
            .flatten()
            .find_map(|profile| profile.get_nested(section, key))
    }

    /// Static keys written in one of the two files.
    fn keys(&self, file: FileKind) -> Option<Credentials> {
        let profile = match file {
            FileKind::Credentials => self.credentials?,
            FileKind::Config => self.config?,
        };
        // The same rules as the variables: both keys or none, an empty token is none.
        credentials::from_variables(|name| {
            let key = match name {
                "AWS_ACCESS_KEY_ID" => "aws_access_key_id",
                "AWS_SECRET_ACCESS_KEY" => "aws_secret_access_key",
                _ => "aws_session_token",
            };
            profile.get(key).map(str::to_owned)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::error::ErrorKind;

    const CONFIG: &str = "\
[default]
region = eu-west-1
aws_access_key_id = CONFIG_DEFAULT
aws_secret_access_key = s

[profile dev]
region = ap-south-1
endpoint_url = http://127.0.0.1:9000
s3 =
    addressing_style = virtual
    endpoint_url = http://127.0.0.1:9001

[profile config-keys]
aws_access_key_id = CONFIG_KEYS
aws_secret_access_key = s

[profile role]
role_arn = arn:aws:iam::1:role/r
source_profile = default

[profile process]
credential_process = /bin/false

[profile bare]
region = us-west-2

[profile tuned]
aws_access_key_id = TUNED
aws_secret_access_key = s
s3 =
    max_concurrent_requests = 20
    multipart_chunksize = 64MB
    multipart_threshold = 8388608

[profile mistuned]
aws_access_key_id = TUNED
aws_secret_access_key = s
s3 =
    multipart_chunksize = lots
";

    const CREDENTIALS: &str = "\
[default]
aws_access_key_id = FILE_DEFAULT
aws_secret_access_key = s

[dev]
aws_access_key_id = FILE_DEV
aws_secret_access_key = s
aws_session_token = t
";

    /// A home directory holding `.aws/config` and `.aws/credentials`.
    fn home() -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(home.path().join(".aws/config"), CONFIG).unwrap();
        std::fs::write(home.path().join(".aws/credentials"), CREDENTIALS).unwrap();
        home
    }

    fn resolve_with(
        overrides: &Overrides,
        vars: &[(&str, &str)],
        home: &tempfile::TempDir,
    ) -> Result<Config> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let lookup = move |name: &str| vars.get(name).cloned();
        resolve(overrides, &lookup, Some(home.path().to_owned()))?.build()
    }

    fn access_key(config: &Config) -> String {
        config.credentials.current().unwrap().key().to_owned()
    }

    fn profile(name: &str) -> Overrides {
        Overrides {
            profile: Some(name.to_owned()),
            ..Overrides::default()
        }
    }

    const ENV_KEYS: [(&str, &str); 2] = [
        ("AWS_ACCESS_KEY_ID", "ENV_KEY"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
    ];

    #[test]
    fn environment_keys_win_unless_a_profile_is_given_with_the_flag() {
        let home = home();
        let none = Overrides::default();
        assert_eq!(
            access_key(&resolve_with(&none, &ENV_KEYS, &home).unwrap()),
            "ENV_KEY"
        );
        let mut with_variable = ENV_KEYS.to_vec();
        with_variable.push(("AWS_PROFILE", "dev"));
        let config = resolve_with(&none, &with_variable, &home).unwrap();
        assert_eq!(
            access_key(&config),
            "ENV_KEY",
            "AWS_PROFILE leaves the keys first"
        );
        let config = resolve_with(&profile("dev"), &ENV_KEYS, &home).unwrap();
        assert_eq!(
            access_key(&config),
            "FILE_DEV",
            "--profile puts the profile first"
        );
        assert_eq!(config.credentials.current().unwrap().token(), Some("t"));
    }

    #[test]
    fn the_credentials_file_comes_before_the_config_file() {
        let home = home();
        let config = resolve_with(&Overrides::default(), &[], &home).unwrap();
        assert_eq!(access_key(&config), "FILE_DEFAULT");
        let config = resolve_with(&profile("config-keys"), &[], &home).unwrap();
        assert_eq!(access_key(&config), "CONFIG_KEYS");
        let config = resolve_with(
            &Overrides::default(),
            &[("AWS_PROFILE", "config-keys")],
            &home,
        );
        assert_eq!(access_key(&config.unwrap()), "CONFIG_KEYS");
    }

    #[test]
    fn file_locations_come_from_variables_with_home_expanded() {
        let home = home();
        std::fs::rename(
            home.path().join(".aws/credentials"),
            home.path().join("creds"),
        )
        .unwrap();
        let vars = [
            ("AWS_SHARED_CREDENTIALS_FILE", "~/creds"),
            ("AWS_PROFILE", "dev"),
        ];
        let config = resolve_with(&Overrides::default(), &vars, &home).unwrap();
        assert_eq!(access_key(&config), "FILE_DEV");
        let vars = [
            ("AWS_CONFIG_FILE", "/nonexistent/config"),
            ("AWS_SHARED_CREDENTIALS_FILE", "~/creds"),
        ];
        let config = resolve_with(&Overrides::default(), &vars, &home).unwrap();
        assert_eq!(
            config.region,
            crate::config::DEFAULT_REGION,
            "a missing file is empty"
        );
    }

    #[test]
    fn region_order_is_flag_variables_then_profile() {
        let home = home();
        let region = |overrides: &Overrides, vars: &[(&str, &str)]| {
            resolve_with(overrides, vars, &home).unwrap().region
        };
        let flag = Overrides {
            region: Some("flag-1".into()),
            ..profile("dev")
        };
        let both = [("AWS_REGION", "var-1"), ("AWS_DEFAULT_REGION", "var-2")];
        assert_eq!(region(&flag, &both), "flag-1");
        assert_eq!(region(&profile("dev"), &both), "var-1");
        assert_eq!(region(&profile("dev"), &both[1..]), "var-2");
        assert_eq!(region(&profile("dev"), &[]), "ap-south-1");
        assert_eq!(region(&profile("bare"), &ENV_KEYS), "us-west-2");
    }

    #[test]
    fn endpoint_order_is_flag_variables_then_the_profiles_s3_then_top_level() {
        let home = home();
        let endpoint = |overrides: &Overrides, vars: &[(&str, &str)]| {
            resolve_with(overrides, vars, &home)
                .unwrap()
                .endpoint
                .to_string()
        };
        let flag = Overrides {
            endpoint_url: Some("http://flag:1".into()),
            ..profile("dev")
        };
        let vars = [
            ("AWS_ENDPOINT_URL_S3", "http://s3var:2"),
            ("AWS_ENDPOINT_URL", "http://var:3"),
        ];
        assert_eq!(endpoint(&flag, &vars), "http://flag:1/");
        assert_eq!(endpoint(&profile("dev"), &vars), "http://s3var:2/");
        assert_eq!(endpoint(&profile("dev"), &vars[1..]), "http://var:3/");
        assert_eq!(endpoint(&profile("dev"), &[]), "http://127.0.0.1:9001/");
        let ignore = [("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"), vars[0]];
        assert_eq!(
            endpoint(&profile("dev"), &ignore),
            "https://s3.ap-south-1.amazonaws.com/"
        );
        assert_eq!(endpoint(&flag, &ignore), "http://flag:1/");
    }

    #[test]
    fn addressing_comes_from_the_flag_or_the_profiles_s3_section() {
        let home = home();
        let dev = resolve_with(&profile("dev"), &[], &home).unwrap();
        assert_eq!(dev.addressing, Addressing::VirtualHost);
        let flag = Overrides {
            addressing: Some(Addressing::Path),
            ..profile("dev")
        };
        assert_eq!(
            resolve_with(&flag, &[], &home).unwrap().addressing,
            Addressing::Path
        );
        assert_eq!(
            resolve_with(&profile("bare"), &ENV_KEYS, &home)
                .unwrap()
                .addressing,
            Addressing::Auto
        );
        assert!(parse_addressing("sideways", "x").is_err());
    }

    #[test]
    fn aws_cli_transfer_settings_in_the_profile_apply() {
        let home = home();
        let tuned = resolve_with(&profile("tuned"), &[], &home).unwrap();
        assert_eq!(tuned.concurrency, 20);
        assert_eq!(tuned.part_size, Some(64 << 20), "aws-cli's MB is a MiB");
        assert_eq!(tuned.multipart_threshold, 8 << 20);
        let err = resolve_with(&profile("mistuned"), &[], &home).unwrap_err();
        assert!(
            err.to_string().contains("multipart_chunksize \"lots\""),
            "{err}"
        );
        assert_eq!(aws_size("5KiB").unwrap(), 5 << 10);
        assert_eq!(aws_size("7").unwrap(), 7);
    }

    #[test]
    fn unknown_profiles_and_unusable_kinds_are_errors() {
        let home = home();
        let err = resolve_with(&profile("nope"), &ENV_KEYS, &home).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("\"nope\""), "{err}");
        for (name, key) in [("role", "role_arn"), ("process", "credential_process")] {
            let err = resolve_with(&profile(name), &[], &home).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Credentials);
            let message = err.to_string();
            assert!(
                message.contains(key) && message.contains("export-credentials"),
                "{message}"
            );
        }
    }

    #[test]
    fn malformed_files_name_the_file_and_line_but_not_the_text() {
        let home = home();
        std::fs::write(
            home.path().join(".aws/credentials"),
            "[default]\nSECRETLINE\n",
        )
        .unwrap();
        let err = resolve_with(&Overrides::default(), &[], &home).unwrap_err();
        let message = err.to_string();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(message.contains("credentials: line 2"), "{message}");
        assert!(!message.contains("SECRETLINE"), "{message}");
    }

    #[test]
    fn containers_and_instance_metadata_come_last() {
        let home = home();
        let bare = profile("bare");
        let full = [(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:7/creds",
        )];
        let shown = format!(
            "{:?}",
            resolve_with(&bare, &full, &home).unwrap().credentials
        );
        assert!(
            shown.contains("ContainerCredentials") && shown.contains("127.0.0.1:7/creds"),
            "{shown}"
        );
        let relative = [("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds")];
        let shown = format!(
            "{:?}",
            resolve_with(&bare, &relative, &home).unwrap().credentials
        );
        assert!(shown.contains("http://169.254.170.2/v2/creds"), "{shown}");
        let imds = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:8")];
        let shown = format!(
            "{:?}",
            resolve_with(&bare, &imds, &home).unwrap().credentials
        );
        assert!(
            shown.contains("InstanceMetadata") && shown.contains("127.0.0.1:8/"),
            "{shown}"
        );
        let off = [("AWS_EC2_METADATA_DISABLED", "true")];
        let err = resolve_with(&bare, &off, &home).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Credentials);
        assert!(err.to_string().starts_with("no credentials"), "{err}");
    }

    #[test]
    fn container_uris_in_clear_text_must_stay_local() {
        for allowed in [
            "http://127.0.0.1:80/x",
            "http://localhost/x",
            "http://169.254.170.2/x",
            "http://169.254.170.23/x",
            "http://[::1]/x",
            "http://[fd00:ec2::23]/x",
            "https://creds.example.com/x",
        ] {
            assert!(check_container_uri(allowed).is_ok(), "{allowed}");
        }
        for refused in [
            "http://10.0.0.1/x",
            "http://creds.example.com/x",
            "ftp://127.0.0.1/x",
            "nonsense",
        ] {
            assert!(check_container_uri(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn metadata_patience_is_configurable_and_checked() {
        let home = home();
        let files = SharedFiles::load(&|_| None, Some(home.path().to_owned())).unwrap();
        let view = files.profile("bare").unwrap();
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let found = patience(
            &view,
            &vars(&[
                ("AWS_METADATA_SERVICE_TIMEOUT", "0.25"),
                ("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (found.timeout, found.attempts),
            (Duration::from_millis(250), 3)
        );
        assert!(patience(&view, &vars(&[("AWS_METADATA_SERVICE_TIMEOUT", "soon")])).is_err());
        assert!(patience(&view, &vars(&[("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "0")])).is_err());
    }
}
