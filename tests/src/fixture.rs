//! Helpers for scenarios: a fresh bucket per test on the shared server, clients and the `s3mt`
//! binary pointed at it, and deterministic test data.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rusty_s3::S3Action as _;
use s3mt_engine::{Addressing, Client, Config, ConfigBuilder, Credentials, S3Uri};

use crate::server::{self, S3Server};

/// A bucket created for one test on the shared server.
#[derive(Debug)]
pub struct TestBucket {
    name: String,
    server: &'static S3Server,
}

impl TestBucket {
    /// Creates a fresh bucket whose name starts with `label` (letters, digits and dashes).
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let server = server::shared();
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        let name = format!(
            "{}-{}-{}",
            label.trim_matches('-'),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let client = Client::new(config_for(server).build().expect("test config is valid"))
            .expect("client starts");
        client
            .create_bucket(&name)
            .unwrap_or_else(|err| panic!("create bucket {name}: {err}"));
        Self { name, server }
    }

    /// The bucket name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server holding the bucket.
    pub fn server(&self) -> &'static S3Server {
        self.server
    }

    /// `s3://bucket/key`.
    pub fn uri(&self, key: &str) -> S3Uri {
        S3Uri::new(self.name.clone(), key).expect("valid test key")
    }

    /// A config builder for this server with small parts (5 MiB parts, 5 MiB threshold) and
    /// quick retries, so tests cross the multipart boundaries with little data.
    pub fn config(&self) -> ConfigBuilder {
        config_for(self.server)
            .part_size(5 * 1024 * 1024)
            .multipart_threshold(5 * 1024 * 1024)
            .backoff(
                std::time::Duration::from_millis(10),
                std::time::Duration::from_millis(100),
            )
    }

    /// A client from [`TestBucket::config`] with `concurrency` workers.
    pub fn client(&self, concurrency: usize) -> Client {
        Client::new(
            self.config()
                .concurrency(concurrency)
                .build()
                .expect("valid config"),
        )
        .expect("client starts")
    }

    /// The multipart uploads still open in this bucket.
    pub fn open_uploads(&self) -> Vec<s3mt_engine::MultipartUpload> {
        self.client(1)
            .list_multipart_uploads(&self.name, "")
            .expect("list multipart uploads")
    }

    /// An `s3mt` command with this server's endpoint and credentials in its environment.
    pub fn s3mt(&self) -> Command {
        s3mt_for(self.server)
    }

    /// [`Self::s3mt`] less the credentials, region and endpoint: for tests of where those come
    /// from.
    pub fn bare_s3mt(&self) -> Command {
        let mut command = self.s3mt();
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
        ] {
            command.env_remove(name);
        }
        command
    }
}

/// Where `s3mt` commands for `server` keep resume journals (`$XDG_STATE_HOME`; the journals go
/// in its `s3mt` directory).
pub fn state_home(server: &S3Server) -> PathBuf {
    server.data_dir().join("state")
}

/// An `s3mt` command with `server`'s endpoint and credentials in its environment, `PATH`,
/// empty shared config files, instance metadata turned off, and resume journals kept in the
/// server's data dir; no other variable.
pub fn s3mt_for(server: &S3Server) -> Command {
    s3mt_binary_for(s3mt_binary(), server)
}

/// [`s3mt_for`] with the `s3mt` at `binary` (e.g. the release build, for the soak).
pub fn s3mt_binary_for(binary: &Path, server: &S3Server) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", server.access_key())
        .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
        .env("AWS_ENDPOINT_URL", server.endpoint())
        .env("AWS_REGION", server.region())
        // Nothing from the user's ~/.aws, and never a request to a real metadata address.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Resume journals in the server's data dir, removed with it.
        .env("XDG_STATE_HOME", state_home(server));
    if crate::tls::enabled() {
        command.env("AWS_CA_BUNDLE", crate::tls::shared().ca_path());
    }
    command
}

impl TestBucket {
    /// Stores `body` at `key` with a plain presigned PutObject, as a tool that records no
    /// checksum would. Returns the ETag.
    pub fn put_foreign_object(&self, key: &str, body: &[u8]) -> String {
        self.put_foreign_object_with(key, body, &[])
    }

    /// [`Self::put_foreign_object`] with extra signed `x-amz-*` headers, e.g. a whole-object
    /// `x-amz-checksum-crc64nvme` as another tool would send.
    pub fn put_foreign_object_with(
        &self,
        key: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> String {
        let (bucket, credentials) = self.rusty();
        let mut action = bucket.put_object(Some(&credentials), key);
        for (name, value) in headers {
            action.headers_mut().insert(*name, *value);
        }
        let url = action.sign(PRESIGN);
        let mut request = agent().put(url.as_str());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send(body).expect("foreign PUT");
        assert_eq!(response.status().as_u16(), 200, "foreign PUT");
        etag(&response)
    }

    /// Stores `body` at `key` exactly as given, `..` and `//` included, with an unsigned PUT
    /// over a plain connection (the URL layer would resolve dot segments): only for a server
    /// that checks no signature and keeps any key ([`crate::server::ServerKind::stores_any_key`]).
    pub fn put_object_as_is(&self, key: &str, body: &[u8]) {
        use std::io::{Read as _, Write as _};
        assert!(
            self.server.kind().stores_any_key(),
            "{}",
            self.server.kind()
        );
        let endpoint: url::Url = self.server.endpoint().parse().expect("endpoint URL");
        let address = format!(
            "{}:{}",
            endpoint.host_str().expect("host"),
            endpoint.port_or_known_default().expect("port")
        );
        // Every byte but unreserved letters, digits and `/` percent-encoded, dots included,
        // so that nothing on the way resolves a segment.
        let path: String = key
            .bytes()
            .map(|byte| match byte {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'-' | b'_' => {
                    char::from(byte).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        let head = format!(
            "PUT /{}/{path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            self.name,
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("send");
        stream.write_all(body).expect("send");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("reply");
        assert!(reply.starts_with("HTTP/1.1 200"), "PUT {key:?}: {reply}");
    }

    /// Stores `parts` at `key` as a plain multipart upload with no checksums. Returns the ETag.
    pub fn put_foreign_multipart(&self, key: &str, parts: &[&[u8]]) -> String {
        let (bucket, credentials) = self.rusty();
        let agent = agent();
        let url = bucket
            .create_multipart_upload(Some(&credentials), key)
            .sign(PRESIGN);
        let mut response = agent.post(url.as_str()).send(&[][..]).expect("create");
        let body = response.body_mut().read_to_string().expect("create reply");
        let upload_id = upload_id(&body);
        let mut etags = Vec::new();
        for (index, part) in parts.iter().enumerate() {
            let number = u16::try_from(index + 1).expect("few parts");
            let url = bucket
                .upload_part(Some(&credentials), key, number, &upload_id)
                .sign(PRESIGN);
            let response = agent.put(url.as_str()).send(*part).expect("upload part");
            assert_eq!(response.status().as_u16(), 200, "upload part");
            etags.push(etag(&response));
        }
        let complete = bucket.complete_multipart_upload(
            Some(&credentials),
            key,
            &upload_id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(PRESIGN);
        let mut response = agent
            .post(url.as_str())
            .send(complete.body())
            .expect("complete");
        let reply = response
            .body_mut()
            .read_to_string()
            .expect("complete reply");
        // The root is `CompleteMultipartUploadResult` on AWS, another name on some servers;
        // an `<Error>` can come with a 200.
        assert!(
            response.status().as_u16() == 200
                && reply.contains("<ETag>")
                && !reply.contains("<Error>"),
            "complete: {reply}"
        );
        reply
    }

    /// Starts a plain multipart upload of `key` and leaves it open (no parts, not completed).
    /// Returns the upload id.
    pub fn open_foreign_multipart(&self, key: &str) -> String {
        let (bucket, credentials) = self.rusty();
        let url = bucket
            .create_multipart_upload(Some(&credentials), key)
            .sign(PRESIGN);
        let mut response = agent().post(url.as_str()).send(&[][..]).expect("create");
        let body = response.body_mut().read_to_string().expect("create reply");
        upload_id(&body)
    }

    /// The response headers of a plain presigned HeadObject of `key` (names lowercase), and
    /// its status.
    pub fn head_object(&self, key: &str) -> (u16, Vec<(String, String)>) {
        let (bucket, credentials) = self.rusty();
        let url = bucket.head_object(Some(&credentials), key).sign(PRESIGN);
        let response = agent().head(url.as_str()).call().expect("HEAD");
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        (response.status().as_u16(), headers)
    }

    fn rusty(&self) -> (rusty_s3::Bucket, rusty_s3::Credentials) {
        let endpoint = self.server.endpoint().parse().expect("endpoint URL");
        let bucket = rusty_s3::Bucket::new(
            endpoint,
            rusty_s3::UrlStyle::Path,
            self.name.clone(),
            self.server.region().to_owned(),
        )
        .expect("bucket");
        let credentials =
            rusty_s3::Credentials::new(self.server.access_key(), self.server.secret_key());
        (bucket, credentials)
    }
}

const PRESIGN: std::time::Duration = std::time::Duration::from_secs(600);

/// A plain ureq agent (statuses are not errors) that trusts the test CA when the server speaks
/// HTTPS: a client other than s3mt, e.g. for presigned URLs.
pub fn agent() -> ureq::Agent {
    let mut config = ureq::Agent::config_builder().http_status_as_error(false);
    if crate::tls::enabled() {
        let ca = ureq::tls::Certificate::from_pem(crate::tls::shared().ca_pem.as_bytes())
            .expect("the test CA")
            .to_owned();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
            .build();
        config = config.tls_config(tls);
    }
    config.build().new_agent()
}

/// The `<UploadId>` of a CreateMultipartUpload reply, whatever its root element is called
/// (`InitiateMultipartUploadResult` on AWS, `InitiateMultipartUpload` on rclone).
fn upload_id(reply: &str) -> String {
    reply
        .split_once("<UploadId>")
        .and_then(|(_, rest)| rest.split_once("</UploadId>"))
        .map(|(id, _)| id.trim().to_owned())
        .unwrap_or_else(|| panic!("no upload id in {reply}"))
}

fn etag(response: &ureq::http::Response<ureq::Body>) -> String {
    response
        .headers()
        .get("etag")
        .and_then(|value| value.to_str().ok())
        .expect("ETag")
        .to_owned()
}

/// A config builder for `server`: its endpoint, credentials and region, path-style addressing.
pub fn config_for(server: &S3Server) -> ConfigBuilder {
    trusting_the_test_ca(
        Config::builder(Credentials::new(server.access_key(), server.secret_key()))
            .endpoint(server.endpoint())
            .region(server.region())
            .addressing(Addressing::Path),
    )
}

/// `builder` trusting the test CA when the server speaks HTTPS (unchanged otherwise).
pub fn trusting_the_test_ca(builder: ConfigBuilder) -> ConfigBuilder {
    if crate::tls::enabled() {
        return builder.ca_bundle("the test CA", crate::tls::shared().ca_pem.clone());
    }
    builder
}

/// The `s3mt` binary of this build profile, built on first use.
pub fn s3mt_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        // Test binaries live in target/<profile>/deps; the CLI goes to target/<profile>.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", "s3mt", "--bin", "s3mt"]);
        // Cargo gives the test process the variables of the crate under test. Passed on, they
        // make this build differ from the outer one (ring's build script reruns when
        // CARGO_MANIFEST_DIR changes), so each would rebuild ring and all that depends on it.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let per_crate = [
                "CARGO_MANIFEST_",
                "CARGO_PKG_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
            ]
            .iter()
            .any(|prefix| name.starts_with(prefix))
                || name == "CARGO_PRIMARY_PACKAGE"
                || name == "CARGO_TARGET_TMPDIR";
            if per_crate {
                build.env_remove(&*name);
            }
        }
        if profile_dir
            .file_name()
            .is_some_and(|name| name == "release")
        {
            build.arg("--release");
        }
        let status = build
            .current_dir(crate::tools::workspace_root())
            .status()
            .expect("run cargo build for s3mt");
        assert!(status.success(), "cargo build -p s3mt failed");
        let binary = profile_dir.join("s3mt");
        assert!(binary.is_file(), "{} was not built", binary.display());
        binary
    })
}

/// Runs a command and returns its output, with stdout and stderr readable as text.
///
/// Every CLI scenario runs through here, so here is where secrets are checked: the secret key,
/// session token and container authorization token the command was given, and any
/// presigned-URL signature, must appear in neither output.
pub fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("run command");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_no_secrets(command, &stdout, &stderr);
    (output, stdout, stderr)
}

/// Like [`run`], but bounded: a command still running after `timeout` is killed and the test
/// fails.
pub fn run_for(command: &mut Command, timeout: Duration) -> (Output, String, String) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run command");
    finish(command, child, timeout)
}

/// Waits up to `timeout` for `child`, spawned from `command` with piped stdout and stderr, and
/// returns its output as [`run`] does, checked for secrets. A child still running at the
/// deadline is killed (through its own handle) and the test fails.
///
/// The outputs are read once the child has exited: enough for commands that print a few lines
/// (more than a pipe's 64 KiB would block the child).
pub fn finish(command: &Command, mut child: Child, timeout: Duration) -> (Output, String, String) {
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{:?} {:?} was still running after {timeout:?}: killed",
                command.get_program(),
                command.get_args().collect::<Vec<_>>()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let output = Output {
        status,
        stdout,
        stderr,
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_no_secrets(command, &stdout, &stderr);
    (output, stdout, stderr)
}

/// Everything left in `pipe` (nothing if there is no pipe).
fn read_all(pipe: Option<impl std::io::Read>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut bytes)
            .expect("read the command's output");
    }
    bytes
}

/// Fails if `stdout` or `stderr` shows a secret `command` was given, or a signature.
#[track_caller]
pub fn assert_no_secrets(command: &Command, stdout: &str, stderr: &str) {
    let secrets = command.get_envs().filter_map(|(name, value)| {
        let secret = matches!(
            name.to_str(),
            Some(
                "AWS_SECRET_ACCESS_KEY" | "AWS_SESSION_TOKEN" | "AWS_CONTAINER_AUTHORIZATION_TOKEN"
            )
        );
        value.filter(|_| secret).and_then(|value| value.to_str())
    });
    for secret in secrets.filter(|secret| secret.len() >= 8) {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a secret from the environment appears in the output of {:?} {:?}",
            command.get_program(),
            command.get_args().collect::<Vec<_>>()
        );
    }
    for output in [stdout, stderr] {
        assert!(
            !output.contains("X-Amz-Signature=") && !output.contains("X-Amz-Credential="),
            "a presigned URL appears unredacted in the output of {:?} {:?}",
            command.get_program(),
            command.get_args().collect::<Vec<_>>()
        );
    }
}

/// `len` pseudo-random bytes from `seed` (xorshift: fast, reproducible, incompressible).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Writes `random_bytes(len, seed)` to `path` and returns the bytes.
pub fn write_random_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let bytes = random_bytes(len, seed);
    std::fs::write(path, &bytes).expect("write test file");
    bytes
}

/// The names of the entries in `dir`, sorted.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
