//! A real SeaweedFS S3 server (`weed server`) on loopback ports, for tests and `cargo xtask`.
//!
//! Each [`S3Server`] gets a fresh data dir under the system temp dir, its own free ports and
//! its own admin credentials; signatures are enforced. [`shared`] gives one lazily started
//! server per test process.
//!
//! Cleanup: dropping an [`S3Server`] kills it and removes its data dir. A server that is never
//! dropped (the [`shared`] one lives in a static) is killed and cleaned by an `atexit` handler,
//! and, should the process die without running it, by the kernel: every `weed` is spawned with
//! `PR_SET_PDEATHSIG = SIGKILL` from a dedicated thread that never exits (the signal fires when
//! the *thread* that spawned the child ends, not the process).

use std::collections::BTreeMap;
use std::env;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::mem;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::panic;
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, OnceLock, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::tools;

/// The region the server's signatures are checked against.
pub const REGION: &str = "us-east-1";

/// How many spare identities every server has besides its admin (see
/// [`S3Server::spare_credentials`]).
pub const SPARE_IDENTITIES: usize = 3;

/// The actions of every identity: all of them.
const ACTIONS: &str = r#"["Admin","Read","Write","List","Tagging"]"#;

/// How long startup may take before it is declared failed.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Readiness poll interval.
const POLL: Duration = Duration::from_millis(200);
/// How long [`S3Server::stop`] waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long the exit handler waits after SIGTERM before SIGKILL.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// Start attempts with fresh ports when a port turns out to be taken.
const START_ATTEMPTS: u32 = 3;

/// Volumes created per bucket (collection) when it needs one. SeaweedFS grows 7 at a time by
/// default; with many test buckets that exhausts `-volume.max`.
const VOLUME_GROWTH: &str = "2";

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A running (or stopped) SeaweedFS server with S3 enabled, listening on 127.0.0.1 only.
pub struct S3Server {
    id: u64,
    weed: PathBuf,
    data_dir: PathBuf,
    ports: Ports,
    endpoint: String,
    access_key: String,
    secret_key: String,
    spares: [(String, String); SPARE_IDENTITIES],
    child: Option<Child>,
    pid: u32,
}

impl fmt::Debug for S3Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Server")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "spare_access_keys",
                &self.spares.iter().map(|(key, _)| key).collect::<Vec<_>>(),
            )
            .field("pid", &self.pid)
            .field("running", &self.child.is_some())
            .field("data_dir", &self.data_dir)
            .field("ports", &self.ports)
            .finish()
    }
}

impl S3Server {
    /// Starts a server on a fresh temp data dir and free loopback ports, and waits until it
    /// serves S3 requests. Installs `weed` first if needed (see [`tools::weed_binary`]).
    ///
    /// # Errors
    /// When `weed` cannot be found or installed, the data dir cannot be prepared, or the
    /// server does not become ready within 60 s (the error then holds the log's last lines).
    pub fn start() -> io::Result<S3Server> {
        static SWEEP: Once = Once::new();
        SWEEP.call_once(remove_stale_data_dirs);
        let weed = tools::weed_binary()?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let data_dir = env::temp_dir().join(format!("s3mt-test-{}-{id}", process::id()));
        let (access_key, secret_key) = new_credentials(id, 0);
        let spares = std::array::from_fn(|index| new_credentials(id, index as u64 + 1));
        let mut server = S3Server {
            id,
            weed,
            data_dir,
            ports: Ports::default(),
            endpoint: String::new(),
            access_key,
            secret_key,
            spares,
            child: None,
            pid: 0,
        };
        // From here on, dropping `server` removes the data dir.
        let mut attempt = 1;
        loop {
            server.prepare_data_dir()?;
            server.ports = Ports::pick()?;
            server.endpoint = format!("http://127.0.0.1:{}", server.ports.s3);
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(failure) if failure.port_in_use && attempt < START_ATTEMPTS => attempt += 1,
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT` (path-style addressing).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The master's HTTP address, `http://127.0.0.1:PORT` (e.g. for `/vol/vacuum`).
    pub fn master_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.master)
    }

    /// The access key of the server's admin identity.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key of the server's admin identity.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The access key and secret key of the spare identity `index` (`0..SPARE_IDENTITIES`):
    /// distinct from the admin's and from each other, with the same rights as the admin, e.g.
    /// to hand out "rotated" credentials that the server accepts.
    ///
    /// # Panics
    /// When `index >= SPARE_IDENTITIES`.
    pub fn spare_credentials(&self, index: usize) -> (&str, &str) {
        match self.spares.get(index) {
            Some((access_key, secret_key)) => (access_key, secret_key),
            None => panic!(
                "no spare identity {index}: a server has {SPARE_IDENTITIES}, numbered from 0"
            ),
        }
    }

    /// The region to sign requests for: always [`REGION`].
    pub fn region(&self) -> &str {
        REGION
    }

    /// The PID of the `weed` process (the last one started, if the server is stopped).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's data dir (removed when the server is dropped).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file that receives the server's stdout and stderr.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("weed.log")
    }

    /// Whether the `weed` process is still running.
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
    /// credentials, so objects written before survive and clients keep their endpoint.
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

    fn identities_path(&self) -> PathBuf {
        self.data_dir.join("identities.json")
    }

    /// An empty data dir holding only the identities file (and `tmp/` for the server's
    /// `TMPDIR`).
    fn prepare_data_dir(&self) -> io::Result<()> {
        let dir = &self.data_dir;
        let ctx = |what: &str, e: io::Error| {
            io::Error::other(format!("cannot {what} {}: {e}", dir.display()))
        };
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| ctx("clear", e))?;
        }
        fs::create_dir_all(dir.join("tmp")).map_err(|e| ctx("create", e))?;
        let admin = ("s3mt-admin".to_owned(), &self.access_key, &self.secret_key);
        let spares = self
            .spares
            .iter()
            .enumerate()
            .map(|(index, (access_key, secret_key))| {
                (format!("s3mt-spare-{index}"), access_key, secret_key)
            });
        let identities: Vec<String> = std::iter::once(admin)
            .chain(spares)
            .map(|(name, access_key, secret_key)| {
                format!(
                    r#"{{"name":"{name}","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":{ACTIONS}}}"#
                )
            })
            .collect();
        let identities = format!(r#"{{"identities":[{}]}}"#, identities.join(","));
        fs::write(self.identities_path(), identities).map_err(|e| ctx("write identities in", e))
    }

    fn args(&self) -> Vec<String> {
        let p = &self.ports;
        let dir = self.data_dir.display();
        vec![
            "server".into(),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-dir={dir}"),
            format!("-master.port={}", p.master),
            format!("-master.port.grpc={}", p.master_grpc),
            "-master.telemetry=false".into(),
            // Volumes are sparse files (no preallocation); 1 GiB keeps a 1 GiB upload to a
            // couple of volumes.
            "-master.volumeSizeLimitMB=1024".into(),
            // Single master: on restart the default 10 s election timeout (twice over) delays
            // readiness by ~20 s.
            "-master.electionTimeout=1s".into(),
            format!("-volume.port={}", p.volume),
            format!("-volume.port.grpc={}", p.volume_grpc),
            // Two volumes per bucket (VOLUME_GROWTH): room for ~100 buckets.
            "-volume.max=200".into(),
            "-volume.preStopSeconds=0".into(),
            "-filer".into(),
            format!("-filer.port={}", p.filer),
            format!("-filer.port.grpc={}", p.filer_grpc),
            "-s3".into(),
            format!("-s3.port={}", p.s3),
            format!("-s3.port.grpc={}", p.s3_grpc),
            format!("-s3.config={}", self.identities_path().display()),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            "-s3.autoCreateBucket=false".into(),
        ]
    }

    /// Spawns `weed` on `self.ports` and waits until it is ready.
    fn launch(&mut self) -> Result<(), LaunchFailure> {
        let log_path = self.log_file();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| {
                LaunchFailure::other(format!("cannot open {}: {e}", log_path.display()))
            })?;
        let _ = writeln!(
            log,
            "=== s3mt: starting {} {}",
            self.weed.display(),
            self.args().join(" ")
        );
        let log_offset = log.metadata().map_or(0, |m| m.len());
        let stderr = log.try_clone().map_err(|e| {
            LaunchFailure::other(format!("cannot clone {}: {e}", log_path.display()))
        })?;

        let mut cmd = Command::new(&self.weed);
        cmd.args(self.args())
            .current_dir(&self.data_dir)
            // glog writes its files to TMPDIR; keep them in the data dir.
            .env("TMPDIR", self.data_dir.join("tmp"))
            // Keep any ~/.seaweedfs/*.toml of the developer out of the tests.
            .env("HOME", &self.data_dir)
            .env("WEED_MASTER_VOLUME_GROWTH_COPY_1", VOLUME_GROWTH)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        die_with_parent(&mut cmd);
        let child = spawn_from_keeper_thread(cmd).map_err(|e| {
            LaunchFailure::other(format!("cannot run {}: {e}", self.weed.display()))
        })?;
        self.pid = child.id();
        self.child = Some(child);
        register_exit_cleanup();
        self.update_registry(true);

        let started = Instant::now();
        match self.wait_ready(started) {
            Ok(()) => Ok(()),
            Err(reason) => {
                self.kill();
                let tail = log_tail(&log_path, log_offset);
                Err(LaunchFailure {
                    port_in_use: tail.contains("address already in use"),
                    error: io::Error::other(format!(
                        "SeaweedFS failed to start ({reason}, after {:.1} s); last lines of {}:\n{tail}",
                        started.elapsed().as_secs_f64(),
                        log_path.display()
                    )),
                })
            }
        }
    }

    /// Readiness, in two steps:
    /// 1. the S3 port answers an anonymous `GET /` with 403: the S3 gateway is up, has
    ///    loaded the identities, and reached the filer;
    /// 2. the master's topology (`/dir/status`) lists the volume server with as many
    ///    volumes as the volume server itself reports (`/status`). On a fresh dir that is
    ///    0 volumes, but the data node must have registered, or the first write fails; after
    ///    a restart the volume server re-registers its volumes only with its next heartbeat
    ///    (up to ~5 s after 403), and until then reads of existing objects fail with 500
    ///    "volume id N not found".
    fn wait_ready(&mut self, started: Instant) -> Result<(), String> {
        let deadline = started + READY_TIMEOUT;
        let mut s3_up = false;
        loop {
            let child = self.child.as_mut().ok_or("no child process")?;
            match child.try_wait() {
                Ok(Some(status)) => return Err(format!("weed exited early: {status}")),
                Ok(None) => {}
                Err(e) => return Err(format!("cannot check the weed process: {e}")),
            }
            if !s3_up {
                s3_up = matches!(http_get(self.ports.s3, "/"), Ok((403, _)));
            }
            if s3_up && self.volumes_registered() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(if s3_up {
                    "timed out waiting for the volume server to register with the master".into()
                } else {
                    "timed out waiting for the S3 port to answer 403 to an anonymous request".into()
                });
            }
            thread::sleep(POLL);
        }
    }

    fn volumes_registered(&self) -> bool {
        let Ok((200, local)) = http_get(self.ports.volume, "/status") else {
            return false;
        };
        let Ok((200, topology)) = http_get(self.ports.master, "/dir/status") else {
            return false;
        };
        let local_volumes = local
            .split_once("\"Volumes\":")
            .map_or(0, |(_, rest)| rest.matches("\"Id\":").count());
        let node = format!("\"Url\":\"127.0.0.1:{}\"", self.ports.volume);
        let Some((_, after_node)) = topology.split_once(&node) else {
            return false;
        };
        let registered = after_node.split_once("\"Volumes\":").and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<usize>().ok()
        });
        registered == Some(local_volumes)
    }

    /// Removes the socket files, then signals: SIGTERM and up to `grace` to exit (skipped
    /// when zero), then SIGKILL; reaps the process.
    fn terminate(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // While the process lives its ports, hence these names, are ours; once it is dead
        // another server may reuse a port and create a socket by the same name.
        remove_sockets(&self.ports.sockets());
        if matches!(child.try_wait(), Ok(None)) {
            if !grace.is_zero() && send_signal(child.id(), libc::SIGTERM) {
                let deadline = Instant::now() + grace;
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    thread::sleep(Duration::from_millis(50));
                }
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
        }
        let _ = child.wait();
        self.update_registry(false);
    }

    fn update_registry(&self, running: bool) {
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        live.insert(
            self.id,
            Live {
                pid: running.then_some(self.pid),
                data_dir: self.data_dir.clone(),
                sockets: self.ports.sockets(),
            },
        );
    }
}

impl Drop for S3Server {
    /// Kills the server (SIGKILL: its data is deleted next, so a graceful stop buys nothing)
    /// and removes its data dir and socket files.
    fn drop(&mut self) {
        self.kill();
        LIVE.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
        let _ = fs::remove_dir_all(&self.data_dir);
    }
}

/// The test process's shared server, started on first use and stopped when the process
/// exits. Panics with the startup error if it cannot start (every later call panics with
/// the same message, without retrying).
pub fn shared() -> &'static S3Server {
    static SHARED: OnceLock<Result<S3Server, String>> = OnceLock::new();
    match SHARED.get_or_init(|| S3Server::start().map_err(|e| e.to_string())) {
        Ok(server) => server,
        Err(e) => panic!("cannot start the shared SeaweedFS S3 server: {e}"),
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

/// Every port `weed server` listens on; all passed explicitly (the gRPC defaults are
/// port + 10000, which could collide or be taken).
#[derive(Debug, Clone, Copy, Default)]
struct Ports {
    master: u16,
    master_grpc: u16,
    volume: u16,
    volume_grpc: u16,
    filer: u16,
    filer_grpc: u16,
    s3: u16,
    s3_grpc: u16,
}

impl Ports {
    /// Eight distinct free ports: all bound to 127.0.0.1:0 at once, then released.
    fn pick() -> io::Result<Ports> {
        let listeners = (0..8)
            .map(|_| TcpListener::bind(("127.0.0.1", 0)))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| io::Error::other(format!("cannot find free loopback ports: {e}")))?;
        let p = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<io::Result<Vec<u16>>>()?;
        Ok(Ports {
            master: p[0],
            master_grpc: p[1],
            volume: p[2],
            volume_grpc: p[3],
            filer: p[4],
            filer_grpc: p[5],
            s3: p[6],
            s3_grpc: p[7],
        })
    }

    /// The Unix sockets SeaweedFS creates next to its gRPC and HTTP ports. Their dir is
    /// `/tmp`, hard-coded (TMPDIR does not move them).
    fn sockets(&self) -> Vec<PathBuf> {
        let names = [
            format!("seaweedfs-master-grpc-{}.sock", self.master_grpc),
            format!("seaweedfs-volume-grpc-{}.sock", self.volume_grpc),
            format!("seaweedfs-filer-{}.sock", self.filer),
            format!("seaweedfs-filer-grpc-{}.sock", self.filer_grpc),
            format!("seaweedfs-s3-{}.sock", self.s3),
            format!("seaweedfs-s3-grpc-{}.sock", self.s3_grpc),
        ];
        let mut dirs = vec![PathBuf::from("/tmp")];
        if env::temp_dir() != Path::new("/tmp") {
            dirs.push(env::temp_dir());
        }
        dirs.iter()
            .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
            .collect()
    }
}

fn remove_sockets(sockets: &[PathBuf]) {
    for socket in sockets {
        if fs::symlink_metadata(socket).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = fs::remove_file(socket);
        }
    }
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
        h.write_u32(process::id());
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

/// A plain HTTP/1.1 GET to 127.0.0.1:`port`; returns the status code and the body.
fn http_get(port: u16, path: &str) -> io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw);
    let bad = || io::Error::other("malformed HTTP response");
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(bad)?;
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    let body = if chunked {
        dechunk(body).ok_or_else(bad)?
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size_line, after) = rest.split_once("\r\n")?;
        let size_hex = size_line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_hex, 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// The last lines the server logged since `offset`.
fn log_tail(path: &Path, offset: u64) -> String {
    const MAX_BYTES: u64 = 8 * 1024;
    const MAX_LINES: usize = 40;
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(offset.max(len.saturating_sub(MAX_BYTES))))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(MAX_LINES)..].join("\n")
        }
        Err(e) => format!("(cannot read the log: {e})"),
    }
}

// ---------------------------------------------------------------------------------------
// Process lifetime: PDEATHSIG, the keeper thread, the exit handler.

/// Makes the kernel SIGKILL the child when the thread that spawned it exits (so, as every
/// spawn happens on the keeper thread, when this process exits, however it exits).
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = libc::pid_t::try_from(process::id()).unwrap_or(0);
    // SAFETY: the closure runs in the forked child before exec. It only makes the
    // async-signal-safe system calls prctl(2) and getppid(2) and allocates nothing
    // (`last_os_error` and `from_raw_os_error` build an error from a plain code).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The parent died between fork and prctl: the signal will never come.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` on a thread that lives as long as the process: PR_SET_PDEATHSIG fires when
/// the spawning thread ends, and test threads end long before the shared server should.
fn spawn_from_keeper_thread(cmd: Command) -> io::Result<Child> {
    static KEEPER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let requests = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let keeper = thread::Builder::new()
            .name("s3mt-weed-keeper".into())
            .spawn(move || {
                while let Ok((mut cmd, reply)) = rx.recv() {
                    let _ = reply.send(cmd.spawn());
                }
                // Unreachable while the static sender lives; never end regardless.
                loop {
                    thread::park();
                }
            });
        if let Err(e) = keeper {
            panic!("cannot start the thread that spawns SeaweedFS: {e}");
        }
        tx
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    requests
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("the SeaweedFS spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the SeaweedFS spawner thread did not answer"))?
}

/// What the exit handler needs to clean up after a server that was never dropped.
#[derive(Clone)]
struct Live {
    pid: Option<u32>,
    data_dir: PathBuf,
    sockets: Vec<PathBuf>,
}

/// Servers not yet dropped, by id.
static LIVE: Mutex<BTreeMap<u64, Live>> = Mutex::new(BTreeMap::new());

#[allow(unsafe_code)]
fn register_exit_cleanup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn()` that catches every panic, so it never
        // unwinds into libc's exit().
        unsafe {
            libc::atexit(cleanup_at_exit);
        }
    });
}

/// Runs at process exit (libtest's `main` returns through `exit`): SIGTERM to every server
/// still running (the shared one), up to 500 ms to exit, SIGKILL, then removes data dirs.
extern "C" fn cleanup_at_exit() {
    let _ = panic::catch_unwind(|| {
        let live = {
            let mut guard = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
            mem::take(&mut *guard)
        };
        for server in live.values() {
            remove_sockets(&server.sockets);
            if let Some(pid) = server.pid {
                send_signal(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + EXIT_GRACE;
        for server in live.values() {
            let Some(pid) = server.pid else { continue };
            while !reap(pid, false) {
                if Instant::now() >= deadline {
                    send_signal(pid, libc::SIGKILL);
                    reap(pid, true);
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        for server in live.values() {
            let _ = fs::remove_dir_all(&server.data_dir);
        }
    });
}

/// kill(2) to one child process by PID; false if the PID is invalid or the call failed.
#[allow(unsafe_code)]
fn send_signal(pid: u32, signal: libc::c_int) -> bool {
    match libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) on a single positive PID (never 0 or -1, which would address a
        // process group or every process); no memory is passed.
        Ok(pid) if pid > 0 => unsafe { libc::kill(pid, signal) == 0 },
        _ => false,
    }
}

/// waitpid(2) on one child: true once it has exited (or is not ours to wait for).
#[allow(unsafe_code)]
fn reap(pid: u32, block: bool) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    let mut status: libc::c_int = 0;
    let flags = if block { 0 } else { libc::WNOHANG };
    // SAFETY: waitpid(2) on a single positive PID, writing into a local c_int.
    let r = unsafe { libc::waitpid(pid, &mut status, flags) };
    r != 0
}

/// Removes the data dirs of test processes that died without cleaning up (killed by a signal,
/// so neither `Drop` nor the exit handler ran). Their servers died with them (PDEATHSIG).
fn remove_stale_data_dirs() {
    let Ok(entries) = fs::read_dir(env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.strip_prefix("s3mt-test-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let dead = pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if dead {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}
