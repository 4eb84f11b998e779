//! The credentials people have beyond keys, through the binary: `credential_process`, roles
//! assumed from a source profile (a chain of two), web identity (its token file re-read at a
//! refresh in the middle of a transfer), and IAM Identity Center's cached login, against our
//! loopback STS and SSO portal ([`StsServer`], which checks SigV4 signatures). Where the S3
//! server refuses session tokens it did not issue (SeaweedFS), the requests are checked at the
//! proxy and the refusal is the documented exit 5.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use s3mt_tests::fixture::{TestBucket, run, write_random_file};
use s3mt_tests::metadata::IssuedCredentials;
use s3mt_tests::proxy::{Fault, FaultProxy, Match, Rule};
use s3mt_tests::sts::{ROLE_ARN, Role, SSO_ACCOUNT_ID, SSO_ROLE_NAME, StsConfig, StsServer};

use crate::MIB;

/// The key STS knows as the base profile's.
const BASE_KEY: &str = "AKIDS3MTBASEPROFILE0";
const BASE_SECRET: &str = "base-profile-secret-key-0123456789abcdef";
/// The second role of a chain, which requires an external id.
const SECOND_ROLE: &str = "arn:aws:iam::000000000000:role/s3mt-second";

/// `s3mt` with no credentials, region or endpoint in its environment, the config file
/// `config`, and the home directory `home`.
fn s3mt(bucket: &TestBucket, config: &Path, home: &Path) -> Command {
    let mut command = bucket.bare_s3mt();
    command
        .env("AWS_CONFIG_FILE", config)
        .env("HOME", home)
        .args(["--region", bucket.server().region()]);
    command
}

/// The exit code of a request signed with a session token the S3 server did not issue.
fn with_session_token(bucket: &TestBucket) -> i32 {
    if bucket.server().kind().checks_session_tokens() {
        5
    } else {
        0
    }
}

/// Runs `command`: its exit code and standard error, after checking that none of `secrets`
/// shows in either output.
fn ran(command: &mut Command, secrets: &[&str]) -> (i32, String) {
    let (output, stdout, stderr) = run(command);
    for secret in secrets {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a secret shows: {stderr}"
        );
    }
    (output.status.code().expect("an exit code"), stderr)
}

#[test]
fn credential_process_keys_are_used_and_its_failures_quote_only_its_stderr() {
    let bucket = TestBucket::new("process-creds");
    let dir = tempfile::tempdir().unwrap();
    let (key, secret) = bucket.server().spare_credentials(1);
    let script = |name: &str, body: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let good = script(
        "good.sh",
        format!(
            "printf '%s' '{{\"Version\": 1, \"AccessKeyId\": \"{key}\", \"SecretAccessKey\": \
             \"{secret}\"}}'\n"
        ),
    );
    let sealed = script(
        "sealed.sh",
        "echo 'SECRET-ON-STDOUT'\necho 'the vault is sealed' >&2\nexit 2\n".to_owned(),
    );
    let garbage = script("garbage.sh", "echo 'SECRET-NOT-JSON'\n".to_owned());
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile vault]\ncredential_process = sh {good}\n\
             [profile sealed]\ncredential_process = sh {sealed}\n\
             [profile garbage]\ncredential_process = sh '{garbage}'\n"
        ),
    )
    .unwrap();
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let listing = format!("s3://{}", bucket.name());
    let ls = |profile: &str| {
        let mut command = s3mt(&bucket, &config, dir.path());
        command
            .args(["--profile", profile, "--endpoint-url", &proxy.endpoint()])
            .args(["ls", &listing]);
        command
    };
    let secrets = [secret, "SECRET-ON-STDOUT", "SECRET-NOT-JSON"];
    let (code, stderr) = ran(&mut ls("vault"), &secrets);
    assert_eq!(code, 0, "{stderr}");
    let requests = proxy.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.access_key.as_deref() == Some(key))
    );
    let (code, stderr) = ran(&mut ls("sealed"), &secrets);
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("the vault is sealed"), "{stderr}");
    let (code, stderr) = ran(&mut ls("garbage"), &secrets);
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("no JSON document"), "{stderr}");
}

#[test]
fn a_chain_of_roles_is_assumed_each_signed_by_the_one_before() {
    let bucket = TestBucket::new("assume-role-chain");
    let dir = tempfile::tempdir().unwrap();
    let (first_key, first_secret) = bucket.server().spare_credentials(1);
    let (second_key, second_secret) = bucket.server().spare_credentials(2);
    let hour = Duration::from_secs(3600);
    let sts = StsServer::start(StsConfig {
        // The first role's credentials sign the second AssumeRole.
        callers: vec![
            (BASE_KEY.to_owned(), BASE_SECRET.to_owned()),
            (first_key.to_owned(), first_secret.to_owned()),
        ],
        roles: vec![
            Role::new(ROLE_ARN),
            Role::new(SECOND_ROLE).with_external_id("ext-42"),
        ],
        issued: vec![
            IssuedCredentials::spare(
                bucket.server(),
                1,
                Some("sts-session-token-first-0123"),
                hour,
            ),
            IssuedCredentials::spare(
                bucket.server(),
                2,
                Some("sts-session-token-second-0123"),
                hour,
            ),
        ],
        ..StsConfig::default()
    })
    .unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile base]\naws_access_key_id = {BASE_KEY}\naws_secret_access_key = \
             {BASE_SECRET}\n\n[profile first]\nrole_arn = {ROLE_ARN}\nsource_profile = base\n\
             role_session_name = nightly-copy\n\n[profile second]\nrole_arn = {SECOND_ROLE}\n\
             source_profile = first\nexternal_id = ext-42\nduration_seconds = 900\n"
        ),
    )
    .unwrap();
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let mut command = s3mt(&bucket, &config, dir.path());
    command
        .env("AWS_ENDPOINT_URL_STS", sts.endpoint())
        .args(["--profile", "second", "--endpoint-url", &proxy.endpoint()])
        .args(["ls", &format!("s3://{}", bucket.name())]);
    let secrets = [
        BASE_SECRET,
        first_secret,
        second_secret,
        "sts-session-token-first-0123",
        "sts-session-token-second-0123",
    ];
    let (code, stderr) = ran(&mut command, &secrets);
    assert_eq!(code, with_session_token(&bucket), "{stderr}");
    let calls = sts.requests();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let (first, second) = (&calls[0], &calls[1]);
    assert_eq!(first.action.as_deref(), Some("AssumeRole"));
    assert_eq!(
        (first.access_key.as_deref(), first.session_token.as_deref()),
        (Some(BASE_KEY), None),
        "the base profile's keys sign the first"
    );
    assert_eq!(first.role_arn.as_deref(), Some(ROLE_ARN));
    assert_eq!(first.role_session_name.as_deref(), Some("nightly-copy"));
    assert_eq!(
        (
            second.access_key.as_deref(),
            second.session_token.as_deref()
        ),
        (Some(first_key), Some("sts-session-token-first-0123")),
        "the first role's credentials sign the second"
    );
    assert_eq!(second.role_arn.as_deref(), Some(SECOND_ROLE));
    assert_eq!(second.external_id.as_deref(), Some("ext-42"));
    assert_eq!(second.duration_seconds.as_deref(), Some("900"));
    assert!(calls.iter().all(|call| call.status == 200), "{calls:?}");
    let requests = proxy.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.access_key.as_deref(), Some(second_key));
        assert_eq!(
            request.session_token.as_deref(),
            Some("sts-session-token-second-0123")
        );
    }
}

#[test]
fn refused_roles_mfa_and_unknown_source_keys_are_exit_5_saying_why() {
    let bucket = TestBucket::new("assume-role-refused");
    let dir = tempfile::tempdir().unwrap();
    let sts = StsServer::start(StsConfig {
        callers: vec![(BASE_KEY.to_owned(), BASE_SECRET.to_owned())],
        issued: vec![IssuedCredentials::spare(
            bucket.server(),
            1,
            None,
            Duration::from_secs(3600),
        )],
        ..StsConfig::default()
    })
    .unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile base]\naws_access_key_id = {BASE_KEY}\naws_secret_access_key = \
             {BASE_SECRET}\n[profile stranger]\naws_access_key_id = AKIDUNKNOWN\n\
             aws_secret_access_key = stranger-secret-0123456789\n\
             [profile other-role]\nrole_arn = {SECOND_ROLE}\nsource_profile = base\n\
             [profile unknown-key]\nrole_arn = {ROLE_ARN}\nsource_profile = stranger\n\
             [profile mfa]\nrole_arn = {ROLE_ARN}\nsource_profile = base\n\
             mfa_serial = arn:aws:iam::000000000000:mfa/me\n"
        ),
    )
    .unwrap();
    let secrets = [BASE_SECRET, "stranger-secret-0123456789"];
    for (profile, says) in [
        ("other-role", "AccessDenied"),
        ("unknown-key", "STS AssumeRole"),
        ("mfa", "mfa_serial"),
    ] {
        let mut command = s3mt(&bucket, &config, dir.path());
        command
            .env("AWS_ENDPOINT_URL_STS", sts.endpoint())
            .args(["--profile", profile, "ls"])
            .arg(format!("s3://{}", bucket.name()));
        let (code, stderr) = ran(&mut command, &secrets);
        assert_eq!(code, 5, "{profile}: {stderr}");
        assert!(stderr.contains(says), "{profile}: {stderr}");
    }
    // The MFA profile never reached STS; the other two did, and were refused.
    let refused: Vec<u16> = sts.requests().iter().map(|r| r.status).collect();
    assert_eq!(refused, [403, 403], "{:?}", sts.requests());
}

#[test]
fn web_identity_tokens_are_read_again_when_credentials_are_refreshed_mid_transfer() {
    // Credentials served without a session token (which real STS never does) so that every
    // server, SeaweedFS included, takes them: what is tested here is the token file and the
    // refresh. Each set expires 301 s after it is served: with the 5-minute margin the first
    // is replaced within a second, while the upload is still going.
    let bucket = TestBucket::new("web-identity-refresh");
    let dir = tempfile::tempdir().unwrap();
    let lifetime = Duration::from_secs(301);
    let sts = StsServer::start(StsConfig {
        web_identity_tokens: vec!["projected-token-one".into(), "projected-token-two".into()],
        issued: vec![
            IssuedCredentials::spare(bucket.server(), 1, None, lifetime),
            IssuedCredentials::spare(bucket.server(), 2, None, Duration::from_secs(3600)),
        ],
        ..StsConfig::default()
    })
    .unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "projected-token-one\n").unwrap();
    let file = dir.path().join("data");
    write_random_file(&file, 64 * MIB, 9);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    // The first parts are held long enough for the first credentials to come due.
    proxy.add(Rule::new(
        Match::method("PUT").query("partNumber="),
        4,
        Fault::Delay {
            for_: Duration::from_millis(2500),
        },
    ));
    let config = dir.path().join("config");
    std::fs::write(&config, "").unwrap();
    let mut command = s3mt(&bucket, &config, dir.path());
    command
        .env("AWS_ENDPOINT_URL_STS", sts.endpoint())
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file)
        .env("AWS_ROLE_ARN", ROLE_ARN)
        .env("AWS_ROLE_SESSION_NAME", "pod-7")
        .args(["--endpoint-url", &proxy.endpoint(), "cp"])
        .arg(&file)
        .arg(format!("s3://{}/big", bucket.name()))
        .args(crate::CP_ARGS);
    let child = std::thread::spawn(move || run(&mut command));
    // Kubernetes rotates the projected token: the next refresh must read the new one.
    let started = Instant::now();
    while sts.credentials_served() == 0 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(&token_file, "projected-token-two\n").unwrap();
    let (output, stdout, stderr) = child.join().unwrap();
    assert!(output.status.success(), "{stderr}");
    for token in ["projected-token-one", "projected-token-two"] {
        assert!(!stdout.contains(token) && !stderr.contains(token));
    }
    let calls = sts.requests();
    let tokens: Vec<&str> = calls
        .iter()
        .filter_map(|call| call.web_identity_token.as_deref())
        .collect();
    assert_eq!(
        tokens[..2],
        ["projected-token-one", "projected-token-two"],
        "{calls:?}"
    );
    assert!(
        calls.iter().all(|call| call.access_key.is_none()),
        "unsigned"
    );
    assert_eq!(calls[0].role_session_name.as_deref(), Some("pod-7"));
    let signers: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|request| request.has_query("partNumber"))
        .filter_map(|request| request.access_key)
        .collect();
    let second = bucket.server().spare_credentials(2).0;
    assert!(
        signers.iter().any(|key| key == second),
        "the refreshed credentials signed no part: {signers:?}"
    );
}

#[test]
fn sso_uses_the_cached_login_and_says_how_to_log_in_without_one() {
    let bucket = TestBucket::new("sso-creds");
    let home = tempfile::tempdir().unwrap();
    let sts = StsServer::start(StsConfig {
        sso_tokens: vec!["sso-access-token-cached-01".into()],
        issued: vec![IssuedCredentials::spare(
            bucket.server(),
            1,
            Some("sso-role-session-token-01"),
            Duration::from_secs(3600),
        )],
        ..StsConfig::default()
    })
    .unwrap();
    let aws = home.path().join(".aws");
    let cache = aws.join("sso").join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let config = aws.join("config");
    std::fs::write(
        &config,
        format!(
            "[profile dev]\nsso_session = corp\nsso_account_id = {SSO_ACCOUNT_ID}\n\
             sso_role_name = {SSO_ROLE_NAME}\n\n[sso-session corp]\nsso_region = us-east-1\n\
             sso_start_url = https://corp.awsapps.com/start\n"
        ),
    )
    .unwrap();
    // aws sso login names the cache file by the SHA-1 of the session's name.
    let cached = cache.join(format!("{}.json", sha1_hex("corp")));
    let write_token = |token: &str, expires_at: &str| {
        std::fs::write(
            &cached,
            format!(
                "{{\"startUrl\": \"https://corp.awsapps.com/start\", \"region\": \"us-east-1\", \
                 \"accessToken\": \"{token}\", \"expiresAt\": \"{expires_at}\"}}"
            ),
        )
        .unwrap();
    };
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let ls = || {
        let mut command = s3mt(&bucket, &config, home.path());
        command
            .env("AWS_ENDPOINT_URL_SSO", sts.endpoint())
            .args(["--profile", "dev", "--endpoint-url", &proxy.endpoint()])
            .args(["ls", &format!("s3://{}", bucket.name())]);
        command
    };
    let secrets = [
        "sso-access-token-cached-01",
        "sso-role-session-token-01",
        bucket.server().spare_credentials(1).1,
    ];
    let login = "aws sso login --profile dev";

    let (code, stderr) = ran(&mut ls(), &secrets);
    assert_eq!(code, 5, "no cached login yet: {stderr}");
    assert!(stderr.contains(login), "{stderr}");

    write_token("sso-access-token-cached-01", "2099-01-01T00:00:00Z");
    let (code, stderr) = ran(&mut ls(), &secrets);
    assert_eq!(code, with_session_token(&bucket), "{stderr}");
    let calls = sts.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        calls[0].sso_bearer_token.as_deref(),
        Some("sso-access-token-cached-01")
    );
    assert_eq!(calls[0].account_id.as_deref(), Some(SSO_ACCOUNT_ID));
    assert_eq!(calls[0].role_name.as_deref(), Some(SSO_ROLE_NAME));
    let requests = proxy.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| {
        r.access_key.as_deref() == Some(bucket.server().spare_credentials(1).0)
            && r.session_token.as_deref() == Some("sso-role-session-token-01")
    }));

    write_token("sso-access-token-cached-01", "2001-01-01T00:00:00Z");
    let (code, stderr) = ran(&mut ls(), &secrets);
    assert_eq!(code, 5, "an expired login: {stderr}");
    assert!(
        stderr.contains("expired") && stderr.contains(login),
        "{stderr}"
    );

    write_token("sso-access-token-revoked-02", "2099-01-01T00:00:00Z");
    let (code, stderr) = ran(&mut ls(), &secrets);
    assert_eq!(code, 5, "a login the portal no longer takes: {stderr}");
    assert!(stderr.contains("401") && stderr.contains(login), "{stderr}");
}

/// Hex SHA-1 of `text`.
fn sha1_hex(text: &str) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(text.as_bytes()))
}
