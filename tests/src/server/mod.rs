//! Real S3 servers on loopback ports, for tests and `cargo xtask`: SeaweedFS (the default),
//! rclone's `serve s3` or moto's server, picked by `S3MT_TEST_SERVER` (see [`ServerKind`]).
//!
//! Each [`S3Server`] gets a fresh data dir under the system temp dir, its own free ports and
//! its own credentials (an admin and [`SPARE_IDENTITIES`] spares), and listens on 127.0.0.1
//! only. SeaweedFS and rclone check signatures; moto checks none. [`shared`] gives one lazily
//! started server per test process.
//!
//! Cleanup: dropping an [`S3Server`] kills it and removes its data dir. A server that is never
//! dropped (the [`shared`] one lives in a static) is killed and cleaned by an `atexit` handler,
//! and, should the process die without running it, by the kernel: every server is spawned with
//! `PR_SET_PDEATHSIG = SIGKILL` from a dedicated thread that never exits (the signal fires when
//! the *thread* that spawned the child ends, not the process).

mod backend;
mod kind;
mod moto;
mod probe;
mod process;
mod rclone;
mod seaweedfs;

use std::env;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use backend::Backend;

/// The status of an anonymous `GET /` to `endpoint` (`http://127.0.0.1:PORT`, or `https://`
/// trusting the test CA).
///
/// # Errors
/// When `endpoint` is not a loopback `http(s)://127.0.0.1:PORT`, or the request fails.
pub fn anonymous_status(endpoint: &str) -> io::Result<u16> {
    let (tls, authority) = match endpoint.split_once("://") {
        Some(("http", authority)) => (false, authority),
        Some(("https", authority)) => (true, authority),
        _ => {
            return Err(io::Error::other(format!(
                "not an http(s) endpoint: {endpoint}"
            )));
        }
    };
    let port = authority
        .trim_end_matches('/')
        .strip_prefix("127.0.0.1:")
        .and_then(|port| port.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not a loopback endpoint: {endpoint}")))?;
    probe::get(port, "/", tls).map(|(status, _)| status)
}
pub use kind::{MOTO_UPLOAD_INITIATED, SERVER_ENV, ServerKind, Sse, StoredChecksum};

/// The region the server's signatures are checked against.
pub const REGION: &str = "us-east-1";

/// How many spare identities every server has besides its admin (see
/// [`S3Server::spare_credentials`]).
pub const SPARE_IDENTITIES: usize = 3;

/// How long startup may take before it is declared failed.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Readiness poll interval.
const POLL: Duration = Duration::from_millis(200);
/// How long [`S3Server::stop`] waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Start attempts with fresh ports when a port turns out to be taken.
const START_ATTEMPTS: u32 = 3;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A running (or stopped) S3 server listening on 127.0.0.1 only.
pub struct S3Server {
    id: u64,
    backend: Backend,
    data_dir: PathBuf,
    endpoint: String,
    /// The admin's access key and secret key, then the spares'.
    identities: [(String, String); 1 + SPARE_IDENTITIES],
    child: Option<Child>,
    pid: u32,
}

impl fmt::Debug for S3Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Server")
            .field("kind", &self.kind())
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key())
            .field("secret_key", &"<redacted>")
            .field(
                "spare_access_keys",
                &self.identities[1..]
                    .iter()
                    .map(|(key, _)| key)
                    .collect::<Vec<_>>(),
            )
            .field("pid", &self.pid)
            .field("running", &self.child.is_some())
            .field("data_dir", &self.data_dir)
            .field("backend", &self.backend)
            .finish()
    }
}

impl S3Server {
    /// Starts a server of the kind `S3MT_TEST_SERVER` names (SeaweedFS by default; see
    /// [`ServerKind::from_env`] and [`S3Server::start_kind`]).
    ///
    /// # Errors
    /// When the variable names no kind, or as [`S3Server::start_kind`].
    pub fn start() -> io::Result<S3Server> {
        S3Server::start_kind(ServerKind::from_env()?)
    }

    /// Starts a server of `kind` on a fresh temp data dir and free loopback ports, and waits
    /// until it serves S3 requests. Installs the server into `target/tools` first if needed.
    ///
    /// # Errors
    /// When the server cannot be installed, the data dir cannot be prepared, or the server
    /// does not become ready within 60 s (the error then holds the log's last lines).
    pub fn start_kind(kind: ServerKind) -> io::Result<S3Server> {
        S3Server::start_kind_over(kind, crate::tls::enabled())
    }

    /// [`S3Server::start_kind`], serving HTTPS (with the test CA's certificate, SeaweedFS
    /// only) when `tls`.
    ///
    /// # Errors
    /// As [`S3Server::start_kind`]; and `tls` for another kind than SeaweedFS.
    pub fn start_kind_over(kind: ServerKind, tls: bool) -> io::Result<S3Server> {
        static SWEEP: Once = Once::new();
        SWEEP.call_once(process::remove_stale_data_dirs);
        let backend = Backend::install(kind, tls)?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let data_dir = env::temp_dir().join(format!(
            "{}{}-{id}",
            process::DATA_DIR_PREFIX,
            std::process::id()
        ));
        let mut server = S3Server {
            id,
            backend,
            data_dir,
            endpoint: String::new(),
            identities: std::array::from_fn(|index| new_credentials(id, index as u64)),
            child: None,
            pid: 0,
        };
        // From here on, dropping `server` removes the data dir.
        let mut attempt = 1;
        loop {
            server.prepare_data_dir()?;
            server.backend.pick_ports()?;
            let scheme = if server.backend.tls() {
                "https"
            } else {
                "http"
            };
            server.endpoint = format!("{scheme}://127.0.0.1:{}", server.backend.s3_port());
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(failure) if failure.port_in_use && attempt < START_ATTEMPTS => attempt += 1,
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// Which implementation this server runs.
    pub fn kind(&self) -> ServerKind {
        self.backend.kind()
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT` (path-style addressing); `https://` for a
    /// server over TLS.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SeaweedFS's master HTTP address, `http://127.0.0.1:PORT` (e.g. for `/vol/vacuum`);
    /// `None` for the kinds that have no master (rclone, moto).
    pub fn master_url(&self) -> Option<String> {
        self.backend
            .master_port()
            .map(|port| format!("http://127.0.0.1:{port}"))
    }

    /// The access key of the server's admin identity.
    pub fn access_key(&self) -> &str {
        &self.identities[0].0
    }

    /// The secret key of the server's admin identity.
    pub fn secret_key(&self) -> &str {
        &self.identities[0].1
    }

    /// The access key and secret key of the spare identity `index` (`0..SPARE_IDENTITIES`):
    /// distinct from the admin's and from each other, with the same rights as the admin, e.g.
    /// to hand out "rotated" credentials that the server accepts. (moto accepts any
    /// credentials, these included.)
    ///
    /// # Panics
    /// When `index >= SPARE_IDENTITIES`.
    pub fn spare_credentials(&self, index: usize) -> (&str, &str) {
        match self.identities[1..].get(index) {
            Some((access_key, secret_key)) => (access_key, secret_key),
            _ => panic!(
                "no spare identity {index}: a server has {SPARE_IDENTITIES}, numbered from 0"
            ),
        }
    }

    /// The region to sign requests for: always [`REGION`].
    pub fn region(&self) -> &str {
        REGION
    }

    /// The PID of the server process (the last one started, if the server is stopped): the
    /// server's own binary (`weed`, `rclone`, or the Python interpreter running moto).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's data dir (removed when the server is dropped). SeaweedFS and rclone keep
    /// objects in it; moto keeps them in memory and only logs there.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file that receives the server's stdout and stderr.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join(self.backend.log_name())
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops the server: SIGTERM, up to 5 s to exit, then SIGKILL. Idempotent.
    ///
    /// SeaweedFS 4.48 rarely exits within 5 s of SIGTERM (its filer waits 15 s for gRPC
    /// streams to close), so this usually ends in SIGKILL; [`S3Server::kill`] skips the wait.
    pub fn stop(&mut self) {
        self.terminate(STOP_GRACE);
    }

    /// Kills the server at once with SIGKILL, as a crash would. Idempotent.
    pub fn kill(&mut self) {
        self.terminate(Duration::ZERO);
    }

    /// Stops the server if it runs, then starts it again on the same data dir, ports and
    /// credentials, so clients keep their endpoint. SeaweedFS keeps objects and multipart
    /// uploads; rclone keeps objects but loses metadata and open multipart uploads (held in
    /// memory); moto starts empty (see [`ServerKind::keeps_data_across_restart`]).
    ///
    /// # Errors
    /// When the server does not become ready again (the error holds the log's last lines).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let mut attempt = 1;
        loop {
            match self.launch() {
                Ok(()) => return Ok(()),
                Err(failure) if failure.port_in_use && attempt < START_ATTEMPTS => {
                    attempt += 1;
                    thread::sleep(Duration::from_secs(1));
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// An empty data dir holding only what the kind needs before it starts.
    fn prepare_data_dir(&self) -> io::Result<()> {
        let dir = &self.data_dir;
        let ctx = |what: &str, e: io::Error| {
            io::Error::other(format!("cannot {what} {}: {e}", dir.display()))
        };
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| ctx("clear", e))?;
        }
        fs::create_dir_all(dir).map_err(|e| ctx("create", e))?;
        self.backend
            .prepare(dir, &self.identities)
            .map_err(|e| ctx("prepare", e))
    }

    /// Spawns the server on its ports and waits until it is ready.
    fn launch(&mut self) -> Result<(), LaunchFailure> {
        let log_path = self.log_file();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| {
                LaunchFailure::other(format!("cannot open {}: {e}", log_path.display()))
            })?;
        let mut cmd = self.backend.command(&self.data_dir, &self.identities);
        // The program and arguments only: the environment may hold secrets (rclone's keys).
        let _ = writeln!(log, "=== s3mt: starting {}", command_line(&cmd));
        let log_offset = log.metadata().map_or(0, |m| m.len());
        let stderr = log.try_clone().map_err(|e| {
            LaunchFailure::other(format!("cannot clone {}: {e}", log_path.display()))
        })?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(stderr);
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = process::spawn(cmd)
            .map_err(|e| LaunchFailure::other(format!("cannot run {program}: {e}")))?;
        self.pid = child.id();
        self.child = Some(child);
        self.update_registry(true);

        let started = Instant::now();
        match self.wait_ready(started) {
            Ok(()) => Ok(()),
            Err(reason) => {
                self.kill();
                let tail = probe::log_tail(&log_path, log_offset);
                Err(LaunchFailure {
                    port_in_use: tail.to_ascii_lowercase().contains("address already in use"),
                    error: io::Error::other(format!(
                        "{} failed to start ({reason}, after {:.1} s); last lines of {}:\n{tail}",
                        self.kind(),
                        started.elapsed().as_secs_f64(),
                        log_path.display()
                    )),
                })
            }
        }
    }

    /// Polls the kind's readiness check until it passes, the process exits, or 60 s pass.
    fn wait_ready(&mut self, started: Instant) -> Result<(), String> {
        let deadline = started + READY_TIMEOUT;
        loop {
            let child = self.child.as_mut().ok_or("no child process")?;
            match child.try_wait() {
                Ok(Some(status)) => return Err(format!("the server exited early: {status}")),
                Ok(None) => {}
                Err(e) => return Err(format!("cannot check the server process: {e}")),
            }
            let awaited = match self.backend.ready() {
                Ok(()) => return Ok(()),
                Err(awaited) => awaited,
            };
            if Instant::now() >= deadline {
                return Err(format!("timed out {awaited}"));
            }
            thread::sleep(POLL);
        }
    }

    fn terminate(&mut self, grace: Duration) {
        if let Some(child) = self.child.take() {
            process::terminate(child, grace, &self.backend.sockets());
            self.update_registry(false);
        }
    }

    fn update_registry(&self, running: bool) {
        process::register(
            self.id,
            process::Live {
                pid: running.then_some(self.pid),
                data_dir: self.data_dir.clone(),
                sockets: self.backend.sockets(),
            },
        );
    }
}

impl Drop for S3Server {
    /// Kills the server (SIGKILL: its data is deleted next, so a graceful stop buys nothing)
    /// and removes its data dir and socket files.
    fn drop(&mut self) {
        self.kill();
        process::unregister(self.id);
        let _ = fs::remove_dir_all(&self.data_dir);
    }
}

/// The test process's shared server (of the kind `S3MT_TEST_SERVER` names), started on first
/// use and stopped when the process exits. Panics with the startup error if it cannot start
/// (every later call panics with the same message, without retrying).
pub fn shared() -> &'static S3Server {
    static SHARED: OnceLock<Result<S3Server, String>> = OnceLock::new();
    match SHARED.get_or_init(|| S3Server::start().map_err(|e| e.to_string())) {
        Ok(server) => server,
        Err(e) => panic!("cannot start the shared S3 server: {e}"),
    }
}

struct LaunchFailure {
    error: io::Error,
    port_in_use: bool,
}

impl LaunchFailure {
    fn other(message: String) -> Self {
        LaunchFailure {
            error: io::Error::other(message),
            port_in_use: false,
        }
    }
}

/// The program and its arguments, space-separated.
fn command_line(cmd: &std::process::Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A fresh access key (20 chars, AWS style) and secret key (40 chars) from the process's
/// randomly seeded hasher, the time, the PID, the server's number and the identity's number
/// (0 for the admin, 1.. for the spares).
fn new_credentials(id: u64, identity: u64) -> (String, String) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let word = |i: u64| {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_u64(id);
        h.write_u64(identity);
        h.write_u64(i);
        h.finish()
    };
    let access_key = format!("S3MT{:016X}", word(0));
    let mut secret_key = format!("{:016x}{:016x}{:016x}", word(1), word(2), word(3));
    secret_key.truncate(40);
    (access_key, secret_key)
}
