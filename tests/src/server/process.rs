//! The lifetime of server processes, whatever the kind: spawning with PDEATHSIG from a keeper
//! thread, stopping by PID, and the exit handler for servers that are never dropped.

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::io;
use std::mem;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::panic;
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command};
use std::sync::{Mutex, Once, OnceLock, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// How long the exit handler waits after SIGTERM before SIGKILL.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// The prefix of every server's data dir in the system temp dir, followed by the test
/// process's PID.
pub(super) const DATA_DIR_PREFIX: &str = "s3mt-test-";

/// What the exit handler needs to clean up after a server that was never dropped.
#[derive(Clone)]
pub(super) struct Live {
    pub pid: Option<u32>,
    pub data_dir: PathBuf,
    pub sockets: Vec<PathBuf>,
}

/// Servers not yet dropped, by id.
static LIVE: Mutex<BTreeMap<u64, Live>> = Mutex::new(BTreeMap::new());

/// Records (or updates) what the exit handler must clean up for server `id`.
pub(super) fn register(id: u64, live: Live) {
    register_exit_cleanup();
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, live);
}

/// Forgets server `id`: it has been cleaned up.
pub(super) fn unregister(id: u64) {
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
}

/// Spawns `cmd` so that the kernel kills it when this process dies, however it dies: with
/// `PR_SET_PDEATHSIG = SIGKILL`, from a thread that lives as long as the process.
pub(super) fn spawn(mut cmd: Command) -> io::Result<Child> {
    die_with_parent(&mut cmd);
    spawn_from_keeper_thread(cmd)
}

/// Removes `sockets`, then signals the child: SIGTERM and up to `grace` to exit (skipped
/// when zero), then SIGKILL; reaps it.
pub(super) fn terminate(mut child: Child, grace: Duration, sockets: &[PathBuf]) {
    // While the process lives its ports, hence these names, are ours; once it is dead
    // another server may reuse a port and create a socket by the same name.
    remove_sockets(sockets);
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
}

fn remove_sockets(sockets: &[PathBuf]) {
    for socket in sockets {
        if fs::symlink_metadata(socket).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = fs::remove_file(socket);
        }
    }
}

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
            .name("s3mt-server-keeper".into())
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
            panic!("cannot start the thread that spawns test servers: {e}");
        }
        tx
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    requests
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("the server spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the server spawner thread did not answer"))?
}

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
pub(super) fn remove_stale_data_dirs() {
    let Ok(entries) = fs::read_dir(env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.strip_prefix(DATA_DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let dead = pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if dead {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}
