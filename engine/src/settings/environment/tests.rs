//! The resolution order, the credential chain and the shared files, against files written
//! by each test.

use std::collections::HashMap;
use std::time::Duration;

use super::machine::{check_container_uri, patience};
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
    max_bandwidth = 50MB/s

[profile mistuned]
aws_access_key_id = TUNED
aws_secret_access_key = s
s3 =
    multipart_chunksize = lots

[profile chain-a]
role_arn = arn:aws:iam::1:role/a
source_profile = chain-b

[profile chain-b]
role_arn = arn:aws:iam::1:role/b
source_profile = chain-c

[profile chain-c]
role_arn = arn:aws:iam::1:role/c
source_profile = chain-a

[profile mfa]
role_arn = arn:aws:iam::1:role/r
source_profile = default
mfa_serial = arn:aws:iam::1:mfa/me

[profile env-source]
role_arn = arn:aws:iam::1:role/r
credential_source = Environment
role_session_name = nightly
duration_seconds = 3600

[profile both-sources]
role_arn = arn:aws:iam::1:role/r
source_profile = default
credential_source = Environment

[profile routed]
role_arn = arn:aws:iam::1:role/r
source_profile = default
services = local

[services local]
sts =
    endpoint_url = http://127.0.0.1:4566

[profile web]
role_arn = arn:aws:iam::1:role/web
web_identity_token_file = /var/run/token

[profile sso]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Admin

[sso-session corp]
sso_region = eu-central-1
sso_start_url = https://corp.awsapps.com/start

[profile sso-legacy]
sso_start_url = https://old.awsapps.com/start
sso_region = us-east-2
sso_account_id = 111122223333
sso_role_name = Admin

[profile sso-broken]
sso_session = missing
sso_account_id = 111122223333
sso_role_name = Admin
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
        crate::settings::DEFAULT_REGION,
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
    assert_eq!(
        tuned.max_bandwidth,
        Some(50 << 20),
        "aws-cli's MB/s is a MiB/s"
    );
    let err = resolve_with(&profile("mistuned"), &[], &home).unwrap_err();
    assert!(
        err.to_string().contains("multipart_chunksize \"lots\""),
        "{err}"
    );
    assert_eq!(parse_size("5KiB").unwrap(), 5 << 10);
    assert_eq!(parse_size("7").unwrap(), 7);
}

#[test]
fn unknown_profiles_are_errors() {
    let home = home();
    let err = resolve_with(&profile("nope"), &ENV_KEYS, &home).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("\"nope\""), "{err}");
}

/// How a resolved client's credentials are described (its `Debug`, which shows no secret).
fn described(name: &str, vars: &[(&str, &str)], home: &tempfile::TempDir) -> String {
    format!(
        "{:?}",
        resolve_with(&profile(name), vars, home)
            .unwrap()
            .credentials
    )
}

#[test]
fn roles_are_assumed_from_a_source_profile_or_credential_source() {
    let home = home();
    let role = described("role", &[], &home);
    assert!(
        role.contains("AssumeRole")
            && role.contains("arn:aws:iam::1:role/r")
            && role.contains("https://sts.us-east-1.amazonaws.com/")
            && role.contains("FILE_DEFAULT"),
        "the default profile's keys sign AssumeRole at the regional STS: {role}"
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", "ENV_KEY"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_REGION", "ap-east-1"),
    ];
    let from_env = resolve_with(&profile("env-source"), &env, &home).unwrap();
    let text = format!("{:?}", from_env.credentials);
    assert!(
        text.contains("ENV_KEY") && text.contains("\"nightly\"") && text.contains("ap-east-1"),
        "{text}"
    );
    let err = resolve_with(&profile("env-source"), &[], &home).unwrap_err();
    assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
    let routed = described("routed", &[], &home);
    assert!(
        routed.contains("http://127.0.0.1:4566/"),
        "the services section: {routed}"
    );
    let sts = [("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:7777")];
    let overridden = described("routed", &sts, &home);
    assert!(
        overridden.contains("http://127.0.0.1:7777/"),
        "{overridden}"
    );
    let ignored = [
        ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:7777"),
        ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
    ];
    assert!(described("routed", &ignored, &home).contains("https://sts.us-east-1"));
}

#[test]
fn role_chains_that_circle_or_need_mfa_or_two_sources_are_refused() {
    let home = home();
    let err = resolve_with(&profile("chain-a"), &[], &home).unwrap_err();
    assert!(
        err.to_string()
            .contains("chain-a -> chain-b -> chain-c -> chain-a"),
        "{err}"
    );
    let err = resolve_with(&profile("mfa"), &[], &home).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials);
    assert!(
        err.to_string().contains("mfa_serial") && err.to_string().contains("export-credentials"),
        "{err}"
    );
    let err = resolve_with(&profile("both-sources"), &[], &home).unwrap_err();
    assert!(err.to_string().contains("both"), "{err}");
}

#[test]
fn web_identity_comes_from_the_variables_or_the_profile() {
    let home = home();
    let web = described("web", &[], &home);
    assert!(
        web.contains("WebIdentity") && web.contains("/var/run/token"),
        "{web}"
    );
    let eks = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/eks/token"),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/pod"),
        ("AWS_ROLE_SESSION_NAME", "pod-1"),
    ];
    let from_variables = described("bare", &eks, &home);
    assert!(
        from_variables.contains("/var/run/eks/token") && from_variables.contains("pod-1"),
        "{from_variables}"
    );
}

#[test]
fn sso_profiles_find_their_session_their_cache_file_and_their_portal() {
    let home = home();
    let sso = described("sso", &[], &home);
    assert!(
        sso.contains("SsoCredentials")
            && sso.contains("111122223333")
            && sso.contains("https://portal.sso.eu-central-1.amazonaws.com/"),
        "{sso}"
    );
    let portal = [("AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:8888")];
    assert!(described("sso-legacy", &portal, &home).contains("http://127.0.0.1:8888/"));
    let err = resolve_with(&profile("sso-broken"), &[], &home).unwrap_err();
    assert!(err.to_string().contains("[sso-session missing]"), "{err}");
    // No token cached: the first request's credentials say how to log in.
    let config = resolve_with(&profile("sso"), &[], &home).unwrap();
    let err = config.credentials.current().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials);
    assert!(
        err.to_string().contains("aws sso login --profile sso"),
        "{err}"
    );
}

#[test]
fn a_credential_process_runs_when_credentials_are_first_needed() {
    let home = home();
    let config = resolve_with(&profile("process"), &[], &home).unwrap();
    let err = config.credentials.current().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials);
    assert!(err.to_string().contains("\"/bin/false\""), "{err}");
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

#[test]
fn ca_bundles_come_from_the_flag_then_the_variable_then_the_profile() {
    let home = home();
    let pem = rcgen::generate_simple_self_signed(vec!["ca.example".to_owned()])
        .unwrap()
        .cert
        .pem();
    let one = home.path().join("one.pem");
    let two = home.path().join("two.pem");
    std::fs::write(&one, &pem).unwrap();
    std::fs::write(&two, format!("{pem}{pem}")).unwrap();
    let config = home.path().join("tls-config");
    std::fs::write(
        &config,
        format!(
            "[default]\naws_access_key_id = A\naws_secret_access_key = s\nca_bundle = {}\n",
            two.display()
        ),
    )
    .unwrap();
    let (one, config) = (one.to_str().unwrap(), config.to_str().unwrap());
    let count = |overrides: &Overrides, vars: &[(&str, &str)]| {
        resolve_with(overrides, vars, &home)
            .unwrap()
            .ca_certificates
            .len()
    };
    let profile_file = ("AWS_CONFIG_FILE", config);
    assert_eq!(
        count(&Overrides::default(), &[profile_file]),
        2,
        "the profile's"
    );
    assert_eq!(
        count(
            &Overrides::default(),
            &[profile_file, ("AWS_CA_BUNDLE", one)]
        ),
        1,
        "the variable's"
    );
    let flag = Overrides {
        ca_bundle: Some(PathBuf::from(one)),
        ..Overrides::default()
    };
    assert_eq!(count(&flag, &[profile_file]), 1, "the flag's");
    assert_eq!(count(&Overrides::default(), &[]), 0);
    let missing = Overrides {
        ca_bundle: Some(home.path().join("missing.pem")),
        ..Overrides::default()
    };
    let err = resolve_with(&missing, &[], &home).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("missing.pem"), "{err}");
}

#[test]
fn the_proxy_is_the_endpoints_schemes_unless_no_proxy_names_it() {
    let home = home();
    let proxy = |endpoint: &str, vars: &[(&str, &str)]| {
        let overrides = Overrides {
            endpoint_url: Some(endpoint.to_owned()),
            ..Overrides::default()
        };
        resolve_with(&overrides, vars, &home)
            .unwrap()
            .proxy
            .map(|proxy| proxy.0)
    };
    let both = [
        ("HTTPS_PROXY", "http://secure:3128"),
        ("HTTP_PROXY", "http://plain:3128"),
    ];
    assert_eq!(
        proxy("https://s3.example", &both).as_deref(),
        Some("http://secure:3128")
    );
    assert_eq!(
        proxy("http://127.0.0.1:9000", &both).as_deref(),
        Some("http://plain:3128")
    );
    let mut bypass = both.to_vec();
    bypass.push(("NO_PROXY", "127.0.0.1"));
    assert_eq!(proxy("http://127.0.0.1:9000", &bypass), None);
    let default_endpoint = resolve_with(&Overrides::default(), &both, &home).unwrap();
    assert_eq!(
        default_endpoint.proxy.map(|proxy| proxy.0).as_deref(),
        Some("http://secure:3128"),
        "AWS's endpoints are https"
    );
}
