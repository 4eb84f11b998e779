//! Where credentials, region, endpoint and addressing come from: the shared config files, the
//! container endpoint and EC2 instance metadata (our loopback servers playing both), and
//! temporary credentials replaced before they expire, in the middle of a transfer.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use s3mt_engine::{Client, Config, CredentialSource, Credentials, ProvideCredentials, S3Uri};
use s3mt_tests::fixture::{TestBucket, random_bytes, run, write_random_file};
use s3mt_tests::metadata::{Flavor, IssuedCredentials, MetadataServer};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, Rule};

use crate::{MIB, assert_same_bytes};

/// Runs `command`, asserts success, and that `secret` shows in neither output.
fn succeeds(command: &mut Command, secret: &str) {
    let (output, stdout, stderr) = run(command);
    assert!(output.status.success(), "{stderr}");
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
}

/// Writes `[profile s3mt]` with the server's endpoint, region and path addressing to a config
/// file, and its keys to a credentials file; returns the two paths.
fn write_profile_files(bucket: &TestBucket, dir: &Path) -> (String, String) {
    let server = bucket.server();
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "[default]\nregion = nowhere-1\n\n[profile s3mt]\nregion = {}\ns3 =\n  \
             addressing_style = path\n  endpoint_url = {}\n",
            server.region(),
            server.endpoint()
        ),
    )
    .unwrap();
    let credentials = dir.join("credentials");
    let (access_key, secret_key) = server.spare_credentials(0);
    std::fs::write(
        &credentials,
        format!(
            "# test keys\n[s3mt]\naws_access_key_id = {access_key}\n\
             aws_secret_access_key = {secret_key} ; inline comment\n"
        ),
    )
    .unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    (path(&config), path(&credentials))
}

#[test]
fn a_profile_supplies_keys_region_endpoint_and_addressing() {
    let bucket = TestBucket::new("profile");
    let dir = tempfile::tempdir().unwrap();
    let (config, credentials) = write_profile_files(&bucket, dir.path());
    let file = dir.path().join("data");
    write_random_file(&file, 6 * MIB, 1);
    let secret = bucket.server().spare_credentials(0).1;
    let object = format!("s3://{}/from-profile", bucket.name());

    succeeds(
        bucket
            .bare_s3mt()
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .args(["--profile", "s3mt", "cp"])
            .arg(&file)
            .arg(&object),
        secret,
    );
    // The same profile named by AWS_PROFILE, and the default file locations under $HOME.
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::copy(&config, home.join(".aws/config")).unwrap();
    std::fs::copy(&credentials, home.join(".aws/credentials")).unwrap();
    let copy = dir.path().join("copy");
    succeeds(
        bucket
            .bare_s3mt()
            .env_remove("AWS_CONFIG_FILE")
            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
            .env("HOME", &home)
            .env("AWS_PROFILE", "s3mt")
            .args(["cp", &object])
            .arg(&copy),
        secret,
    );
    assert_same_bytes(
        &std::fs::read(&file).unwrap(),
        &std::fs::read(&copy).unwrap(),
        "round trip through the profile",
    );
}

#[test]
fn the_profile_flag_beats_environment_keys_and_aws_profile_does_not() {
    let bucket = TestBucket::new("profile-order");
    let dir = tempfile::tempdir().unwrap();
    let (config, credentials) = write_profile_files(&bucket, dir.path());
    // Through a proxy, which records the access key each request was signed with: a server
    // that checks no signatures (moto) answers either way.
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let wrong_key = "AKIAWRONGWRONGWRONG0";
    let with_wrong_keys = || {
        let mut command = bucket.bare_s3mt();
        command
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_ACCESS_KEY_ID", wrong_key)
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "wrong-secret-key-that-must-not-show",
            )
            .args(["--endpoint-url", &proxy.endpoint()]);
        command
    };
    // Every request after the first `seen` was signed by `access_key`; returns how many
    // there are now.
    let signed_by = |seen: usize, access_key: &str| {
        let requests = proxy.requests();
        assert!(requests.len() > seen, "no request reached the proxy");
        for request in &requests[seen..] {
            assert_eq!(
                request.access_key.as_deref(),
                Some(access_key),
                "{request:?}"
            );
        }
        requests.len()
    };
    let listing = format!("s3://{}", bucket.name());
    let (output, _, stderr) = run(with_wrong_keys().args(["--profile", "s3mt", "ls", &listing]));
    assert!(output.status.success(), "{stderr}");
    let seen = signed_by(0, bucket.server().spare_credentials(0).0);
    let (output, _, stderr) = run(with_wrong_keys()
        .env("AWS_PROFILE", "s3mt")
        .args(["ls", &listing]));
    let expected = if bucket.server().kind().checks_signatures() {
        5
    } else {
        0
    };
    assert_eq!(output.status.code(), Some(expected), "{stderr}");
    signed_by(seen, wrong_key);
    let (output, _, stderr) = run(with_wrong_keys().args(["--profile", "nope", "ls", &listing]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("profile \"nope\""), "{stderr}");
}

#[test]
fn the_container_endpoint_supplies_credentials_with_its_authorization_token() {
    let bucket = TestBucket::new("container");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    write_random_file(&file, MIB, 2);
    let authorization = "container-authorization-token-value";
    let endpoint = MetadataServer::start(
        Flavor::Container {
            path: "/v1/credentials".into(),
            authorization: Some(authorization.into()),
        },
        vec![IssuedCredentials::spare(
            bucket.server(),
            1,
            None,
            Duration::from_secs(3600),
        )],
    )
    .unwrap();
    let uri = format!("{}/v1/credentials", endpoint.endpoint());
    let object = format!("s3://{}/container", bucket.name());
    let secret = bucket.server().spare_credentials(1).1;
    let with_endpoint = || {
        let mut command = bucket.bare_s3mt();
        command
            .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri)
            .args(["--endpoint-url", bucket.server().endpoint()]);
        command
    };
    succeeds(
        with_endpoint()
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", authorization)
            .arg("cp")
            .arg(&file)
            .arg(&object),
        secret,
    );
    // The token from a file (it wins over the variable), as EKS Pod Identity provides it.
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{authorization}\n")).unwrap();
    succeeds(
        with_endpoint()
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "stale-token-value")
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file)
            .args(["ls", &object]),
        secret,
    );
    let requests = endpoint.requests();
    assert_eq!(
        endpoint.credentials_served(),
        2,
        "one fetch per run: {requests:?}"
    );
    // A wrong token: the endpoint refuses, and s3mt says so (exit 5) without the token.
    let (output, _, stderr) = run(with_endpoint()
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong-token-value")
        .args(["ls", &object]));
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("container credentials endpoint"),
        "{stderr}"
    );
    assert!(stderr.contains("401"), "{stderr}");
}

#[test]
fn instance_metadata_is_asked_for_a_token_first() {
    let bucket = TestBucket::new("imds");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    write_random_file(&file, MIB, 3);
    let imds = MetadataServer::start(
        Flavor::Imds,
        vec![IssuedCredentials::spare(
            bucket.server(),
            2,
            None,
            Duration::from_secs(3600),
        )],
    )
    .unwrap();
    succeeds(
        bucket
            .bare_s3mt()
            .env_remove("AWS_EC2_METADATA_DISABLED")
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint())
            .args(["--endpoint-url", bucket.server().endpoint(), "cp"])
            .arg(&file)
            .arg(format!("s3://{}/imds", bucket.name())),
        bucket.server().spare_credentials(2).1,
    );
    let requests = imds.requests();
    let summary: Vec<(String, String, bool)> = requests
        .iter()
        .map(|r| {
            let token = r
                .headers
                .iter()
                .any(|(name, _)| name == "x-aws-ec2-metadata-token");
            (r.method.clone(), r.path.clone(), token)
        })
        .collect();
    let role_path = "/latest/meta-data/iam/security-credentials/";
    assert_eq!(
        summary,
        [
            ("PUT".to_owned(), "/latest/api/token".to_owned(), false),
            ("GET".to_owned(), role_path.to_owned(), true),
            ("GET".to_owned(), format!("{role_path}s3mt-test-role"), true),
        ],
        "{requests:?}"
    );
}

#[test]
fn a_session_token_from_metadata_is_signed_into_every_request() {
    // SeaweedFS knows no session tokens and refuses them (403); rclone and moto accept any.
    // What is checked everywhere is that the token handed out is the one sent, and that it
    // never shows.
    let bucket = TestBucket::new("imds-token");
    let session_token = "imds-session-token-FwoGZXIvYXdzEBYaDH";
    let imds = MetadataServer::start(
        Flavor::Imds,
        vec![IssuedCredentials::spare(
            bucket.server(),
            2,
            Some(session_token),
            Duration::from_secs(3600),
        )],
    )
    .unwrap();
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let (output, stdout, stderr) = run(bucket
        .bare_s3mt()
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint())
        .args(["--endpoint-url", &proxy.endpoint(), "ls"])
        .arg(format!("s3://{}", bucket.name())));
    let expected = if bucket.server().kind().checks_session_tokens() {
        5
    } else {
        0
    };
    assert_eq!(output.status.code(), Some(expected), "{stderr}");
    assert!(!stdout.contains(session_token) && !stderr.contains(session_token));
    let requests = proxy.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.session_token.as_deref(), Some(session_token));
        assert_eq!(
            request.access_key.as_deref(),
            Some(bucket.server().spare_credentials(2).0)
        );
    }
}

#[test]
fn credentials_from_the_container_endpoint_are_replaced_mid_transfer() {
    // Each document expires 301 s after it is served (1 s at most after truncation to whole
    // seconds): with the default 5-minute margin, the first must be replaced within a second,
    // while the 256 MiB upload is still going.
    let bucket = TestBucket::new("refresh-cli");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    write_random_file(&file, 256 * MIB, 4);
    let lifetime = Duration::from_secs(301);
    let endpoint = MetadataServer::start(
        Flavor::Container {
            path: "/creds".into(),
            authorization: None,
        },
        vec![
            IssuedCredentials::spare(bucket.server(), 0, None, lifetime),
            IssuedCredentials::spare(bucket.server(), 1, None, lifetime),
        ],
    )
    .unwrap();
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    // The first parts in flight (one per worker) are held for longer than that second, so the
    // upload outlasts it even on a server that takes 256 MiB in under a second (rclone).
    proxy.add(Rule::new(
        Match::method("PUT").query("partNumber="),
        4,
        Fault::Delay {
            for_: Duration::from_millis(1500),
        },
    ));
    succeeds(
        bucket
            .bare_s3mt()
            .env(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                format!("{}/creds", endpoint.endpoint()),
            )
            .args(["--endpoint-url", &proxy.endpoint(), "cp"])
            .arg(&file)
            .arg(format!("s3://{}/big", bucket.name()))
            .args(crate::CP_ARGS),
        bucket.server().spare_credentials(0).1,
    );
    // Who signed each request in the order they came. The first is signed the moment the
    // first credentials arrive; a part must be signed by the second. (Counting parts alone
    // would not do: a slow CreateMultipartUpload, as moto's under load, can outlast the first
    // credentials' second, and then every part is rightly signed by the second.)
    let requests = proxy.requests();
    let signers: Vec<Option<String>> = requests
        .iter()
        .map(|request| request.access_key.clone())
        .collect();
    let first = bucket.server().spare_credentials(0).0;
    let second = bucket.server().spare_credentials(1).0;
    let switch = signers
        .iter()
        .position(|key| key.as_deref() == Some(second))
        .unwrap_or_else(|| panic!("the second credentials never signed: {signers:?}"));
    assert!(
        switch > 0,
        "the first credentials signed nothing: {signers:?}"
    );
    assert!(
        signers[..switch]
            .iter()
            .all(|key| key.as_deref() == Some(first)),
        "{signers:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.has_query("partNumber") && r.access_key.as_deref() == Some(second)),
        "the second credentials signed no part: {signers:?}"
    );
    assert!(endpoint.credentials_served() >= 2);
}

/// Hands out the server's spare identities in turn, each expiring `lifetime` after it is
/// issued (the last one after an hour), and has the proxy refuse each from its expiry on, as
/// S3 refuses expired credentials.
#[derive(Debug)]
struct RotatingProvider {
    identities: Vec<(String, String)>,
    issued: AtomicUsize,
    lifetime: Duration,
    proxy: Arc<FaultProxy>,
    revocations: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl ProvideCredentials for RotatingProvider {
    fn provide(&self) -> s3mt_engine::Result<Credentials> {
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        let last = n + 1 >= self.identities.len();
        let (access_key, secret_key) = self.identities[n.min(self.identities.len() - 1)].clone();
        let lifetime = if last {
            Duration::from_secs(3600)
        } else {
            self.lifetime
        };
        let expires = jiff::Timestamp::now() + lifetime;
        if !last {
            let proxy = Arc::clone(&self.proxy);
            let key = access_key.clone();
            self.revocations
                .lock()
                .unwrap()
                .push(std::thread::spawn(move || {
                    std::thread::sleep(lifetime);
                    let refuse = Fault::Respond {
                        status: 403,
                        code: "ExpiredToken",
                    };
                    proxy.add(Rule::new(Match::signed_by(key), usize::MAX, refuse));
                }));
        }
        Ok(Credentials::new(access_key, secret_key).with_expiry(expires))
    }
}

#[test]
fn transfers_outlive_credentials_that_expire_and_are_refused_after() {
    let bucket = TestBucket::new("refresh-lib");
    let proxy = Arc::new(FaultProxy::start(bucket.server().endpoint()).unwrap());
    let identities = (0..s3mt_tests::server::SPARE_IDENTITIES)
        .map(|i| {
            let (access_key, secret_key) = bucket.server().spare_credentials(i);
            (access_key.to_owned(), secret_key.to_owned())
        })
        .collect();
    let provider = Arc::new(RotatingProvider {
        identities,
        issued: AtomicUsize::new(0),
        lifetime: Duration::from_millis(700),
        proxy: Arc::clone(&proxy),
        revocations: Mutex::new(Vec::new()),
    });
    let source = CredentialSource::refreshing_with_margin(
        SharedProvider(Arc::clone(&provider)),
        Duration::from_millis(500),
    );
    let config: Config = s3mt_tests::fixture::trusting_the_test_ca(Config::builder(source))
        .endpoint(proxy.endpoint())
        .region(bucket.server().region())
        .addressing(s3mt_engine::Addressing::Path)
        .part_size(5 * MIB as u64)
        .concurrency(2)
        .build()
        .unwrap();
    let client = Client::new(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source_file = dir.path().join("data");
    let data = random_bytes(96 * MIB, 5);
    std::fs::write(&source_file, &data).unwrap();
    let object: S3Uri = bucket.uri("rotating");
    client.upload_file(&source_file, &object).unwrap();
    let copy = dir.path().join("copy");
    client.download_file(&object, &copy).unwrap();
    assert_same_bytes(
        &data,
        &std::fs::read(&copy).unwrap(),
        "rotating credentials",
    );
    let mut signers: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter_map(|request| request.access_key)
        .collect();
    signers.dedup();
    assert!(signers.len() >= 2, "no refresh happened: {signers:?}");
    for handle in provider.revocations.lock().unwrap().drain(..) {
        handle.join().unwrap();
    }
}

/// Lets the test keep a handle on the provider it gives away.
#[derive(Debug)]
struct SharedProvider(Arc<RotatingProvider>);

impl ProvideCredentials for SharedProvider {
    fn provide(&self) -> s3mt_engine::Result<Credentials> {
        self.0.provide()
    }
}
