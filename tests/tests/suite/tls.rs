//! HTTPS as users reach S3: whose certificates are trusted (a CA bundle from the flag, the
//! variable or the profile), TLS failures that fail at once with exit 12 and say what to do,
//! `--no-verify-ssl`, and proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, credentials that
//! are never printed).
//!
//! A fault proxy serving TLS with certificates this test process makes (its CA, a certificate
//! for another name, an expired one) stands in front of the server, so these run in every
//! phase, whatever the server speaks.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use s3mt_tests::connect_proxy::ConnectProxy;
use s3mt_tests::fixture::{TestBucket, run, write_random_file};
use s3mt_tests::proxy::FaultProxy;

use crate::MIB;

/// `s3mt --endpoint-url ENDPOINT ARGS` trusting nothing but the built-in roots (the harness's
/// `AWS_CA_BUNDLE` removed).
fn s3mt(bucket: &TestBucket, endpoint: &str, args: &[&str]) -> Command {
    let mut command = bucket.s3mt();
    command
        .env_remove("AWS_CA_BUNDLE")
        .args(["--endpoint-url", endpoint])
        .args(args);
    command
}

/// Exit code and standard error.
fn ran(command: &mut Command) -> (i32, String) {
    let (output, _, stderr) = run(command);
    (output.status.code().expect("an exit code"), stderr)
}

/// A file to upload, and `cp` to the bucket and back.
struct RoundTrip {
    dir: tempfile::TempDir,
    object: String,
}

impl RoundTrip {
    fn new(bucket: &TestBucket, key: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_random_file(&dir.path().join("source"), 6 * MIB, 7);
        Self {
            dir,
            object: format!("s3://{}/{key}", bucket.name()),
        }
    }

    fn source(&self) -> String {
        self.dir.path().join("source").to_str().unwrap().to_owned()
    }

    /// `cp` up and back down with `args`, requiring success and the same bytes.
    fn run(&self, bucket: &TestBucket, endpoint: &str, args: &[&str], set: &[(&str, &str)]) {
        self.run_cp(bucket, endpoint, args, set, &[]);
    }

    /// [`RoundTrip::run`] with `cp_args` given to `cp`.
    fn run_cp(
        &self,
        bucket: &TestBucket,
        endpoint: &str,
        args: &[&str],
        set: &[(&str, &str)],
        cp_args: &[&str],
    ) {
        let copy = self.dir.path().join("copy");
        for (from, to) in [
            (self.source(), self.object.clone()),
            (self.object.clone(), copy.to_str().unwrap().to_owned()),
        ] {
            let mut command = s3mt(bucket, endpoint, args);
            command
                .envs(set.iter().copied())
                .args(["cp", &from, &to])
                .args(cp_args);
            let (code, stderr) = ran(&mut command);
            assert_eq!(code, 0, "{args:?} {set:?}: {stderr}");
        }
        assert_eq!(
            std::fs::read(self.dir.path().join("source")).unwrap(),
            std::fs::read(&copy).unwrap()
        );
        std::fs::remove_file(copy).unwrap();
    }
}

#[test]
fn a_ca_bundle_from_the_flag_the_variable_or_the_profile_is_trusted() {
    let bucket = TestBucket::new("tls-bundles");
    let tls = s3mt_tests::tls::shared();
    let front = FaultProxy::start_tls(bucket.server().endpoint(), tls.server.clone()).unwrap();
    let endpoint = front.endpoint();
    let ca = tls.ca_path().to_str().unwrap();
    let trip = RoundTrip::new(&bucket, "bundles");

    // Without the CA: refused at once, never retried, with what to do.
    let before = front.connections();
    let (code, stderr) = ran(
        s3mt(&bucket, &endpoint, &["cp", &trip.source(), &trip.object])
            .args(["--max-attempts", "5"]),
    );
    assert_eq!(code, 12, "{stderr}");
    assert!(
        stderr.contains("not trust") && stderr.contains("--ca-bundle"),
        "{stderr}"
    );
    assert!(stderr.contains("AWS_CA_BUNDLE"), "{stderr}");
    assert_eq!(
        front.connections() - before,
        1,
        "a TLS failure is not retried"
    );
    assert!(front.requests().is_empty());

    trip.run(&bucket, &endpoint, &["--ca-bundle", ca], &[]);
    trip.run(&bucket, &endpoint, &[], &[("AWS_CA_BUNDLE", ca)]);
    let config = trip.dir.path().join("config");
    std::fs::write(&config, format!("[default]\nca_bundle = {ca}\n")).unwrap();
    trip.run(
        &bucket,
        &endpoint,
        &[],
        &[("AWS_CONFIG_FILE", config.to_str().unwrap())],
    );
    assert!(!front.requests().is_empty());
}

#[test]
fn a_bundle_that_is_missing_or_holds_no_certificate_is_a_usage_error_naming_it() {
    let bucket = TestBucket::new("tls-bad-bundle");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let (code, stderr) = ran(&mut s3mt(
        &bucket,
        bucket.server().endpoint(),
        &[
            "--ca-bundle",
            missing.to_str().unwrap(),
            "ls",
            &format!("s3://{}", bucket.name()),
        ],
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(missing.to_str().unwrap()), "{stderr}");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let (code, stderr) = ran(s3mt(
        &bucket,
        bucket.server().endpoint(),
        &["ls", &format!("s3://{}", bucket.name())],
    )
    .env("AWS_CA_BUNDLE", &empty));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("empty.pem") && stderr.contains("no certificate"),
        "{stderr}"
    );
}

#[test]
fn a_certificate_for_another_name_or_out_of_date_fails_at_once_with_exit_12() {
    let bucket = TestBucket::new("tls-bad-certs");
    let tls = s3mt_tests::tls::shared();
    let ca = tls.ca_path().to_str().unwrap();
    let listing = format!("s3://{}", bucket.name());
    for (server, says) in [
        (
            tls.server_for(&["other.example"]),
            "not for the endpoint's host name",
        ),
        (tls.expired_server(), "expired"),
    ] {
        let front = FaultProxy::start_tls(bucket.server().endpoint(), server).unwrap();
        let (code, stderr) = ran(&mut s3mt(
            &bucket,
            &front.endpoint(),
            &["--ca-bundle", ca, "ls", &listing],
        ));
        assert_eq!(code, 12, "{stderr}");
        assert!(stderr.contains(says), "{says}: {stderr}");
        assert_eq!(front.connections(), 1, "{says}: not retried");
    }
}

#[test]
fn a_plain_http_server_on_an_https_url_fails_at_once_with_exit_12() {
    let bucket = TestBucket::new("tls-plain-server");
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut answered = 0;
        // Answers like a plain HTTP server until the test's one request is done.
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            answered += 1;
        }
        answered
    });
    let (code, stderr) = ran(&mut s3mt(
        &bucket,
        &format!("https://127.0.0.1:{port}"),
        &["ls", &format!("s3://{}", bucket.name())],
    ));
    assert_eq!(code, 12, "{stderr}");
    assert!(stderr.contains("does not speak TLS"), "{stderr}");
    assert_eq!(server.join().unwrap(), 1);
}

#[test]
fn no_verify_ssl_trusts_any_certificate_and_warns() {
    let bucket = TestBucket::new("tls-no-verify");
    let tls = s3mt_tests::tls::shared();
    let front = FaultProxy::start_tls(
        bucket.server().endpoint(),
        tls.server_for(&["other.example"]),
    )
    .unwrap();
    let trip = RoundTrip::new(&bucket, "no-verify");
    trip.run(&bucket, &front.endpoint(), &["--no-verify-ssl"], &[]);
    let (code, stderr) = ran(&mut s3mt(
        &bucket,
        &front.endpoint(),
        &["--no-verify-ssl", "ls", &format!("s3://{}", bucket.name())],
    ));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("warning: --no-verify-ssl"), "{stderr}");
}

#[test]
fn requests_take_the_proxy_of_their_scheme_unless_no_proxy_names_the_host() {
    let bucket = TestBucket::new("tls-proxies");
    let tls = s3mt_tests::tls::shared();
    let ca = tls.ca_path().to_str().unwrap();
    let front = FaultProxy::start_tls(bucket.server().endpoint(), tls.server.clone()).unwrap();
    let https_proxy = ConnectProxy::start().unwrap();
    let http_proxy = ConnectProxy::start().unwrap();
    let proxies = [
        ("HTTPS_PROXY", https_proxy.url(None)),
        ("http_proxy", http_proxy.url(None)),
    ];
    let env: Vec<(&str, &str)> = proxies.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let trip = RoundTrip::new(&bucket, "proxied");

    // An https endpoint: through HTTPS_PROXY's tunnel only.
    trip.run(&bucket, &front.endpoint(), &["--ca-bundle", ca], &env);
    let port = front.port();
    assert!(!https_proxy.tunnels().is_empty());
    assert!(
        https_proxy
            .tunnels()
            .iter()
            .all(|t| t.target == format!("127.0.0.1:{port}"))
    );
    assert!(http_proxy.tunnels().is_empty());

    // Under a bandwidth cap s3mt opens its sockets itself: through the tunnel all the same.
    let before = https_proxy.tunnels().len();
    let capped = ["--max-bandwidth", "1GB/s"];
    trip.run_cp(
        &bucket,
        &front.endpoint(),
        &["--ca-bundle", ca],
        &env,
        &capped,
    );
    assert!(https_proxy.tunnels().len() > before);
    assert!(http_proxy.tunnels().is_empty());

    // The server's own endpoint: http (or https in the TLS phase) takes that scheme's proxy.
    let endpoint = bucket.server().endpoint();
    let (used, unused) = if endpoint.starts_with("https://") {
        (&https_proxy, &http_proxy)
    } else {
        (&http_proxy, &https_proxy)
    };
    let before = (used.tunnels().len(), unused.tunnels().len());
    trip.run(&bucket, endpoint, &["--ca-bundle", ca], &env);
    assert!(used.tunnels().len() > before.0);
    assert_eq!(unused.tunnels().len(), before.1);

    // NO_PROXY names the host: no tunnel at all.
    let before = (https_proxy.tunnels().len(), http_proxy.tunnels().len());
    let mut bypass = env.clone();
    bypass.push(("NO_PROXY", "localhost, 127.0.0.0/8"));
    trip.run(&bucket, &front.endpoint(), &["--ca-bundle", ca], &bypass);
    trip.run(&bucket, endpoint, &["--ca-bundle", ca], &bypass);
    assert_eq!(
        (https_proxy.tunnels().len(), http_proxy.tunnels().len()),
        before
    );
}

#[test]
fn proxy_credentials_go_to_the_proxy_and_never_into_a_message() {
    let bucket = TestBucket::new("tls-proxy-auth");
    let tls = s3mt_tests::tls::shared();
    let ca = tls.ca_path().to_str().unwrap();
    let front = FaultProxy::start_tls(bucket.server().endpoint(), tls.server.clone()).unwrap();
    let proxy = ConnectProxy::start_requiring(Some("user:s3cr3t-pw")).unwrap();
    let listing = format!("s3://{}", bucket.name());

    let wrong = proxy.url(Some("user:wr0ng-pw"));
    let (code, stderr) = ran(s3mt(
        &bucket,
        &front.endpoint(),
        &["--ca-bundle", ca, "ls", &listing],
    )
    .env("HTTPS_PROXY", &wrong));
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("407") || stderr.to_lowercase().contains("proxy"),
        "{stderr}"
    );
    assert!(!stderr.contains("wr0ng-pw"), "the password shows: {stderr}");

    let right = proxy.url(Some("user:s3cr3t-pw"));
    let (code, stderr) = ran(s3mt(
        &bucket,
        &front.endpoint(),
        &["--ca-bundle", ca, "ls", &listing],
    )
    .env("HTTPS_PROXY", &right));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("s3cr3t-pw"), "{stderr}");
    let tunnels = proxy.tunnels();
    assert!(
        tunnels
            .iter()
            .any(|t| t.authorization.as_deref() == Some("Basic dXNlcjpzM2NyM3QtcHc=")),
        "{tunnels:?}"
    );
}
