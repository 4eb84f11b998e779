//! The test server harness itself: start, answer, restart, stop, clean up.

use std::path::Path;
use std::time::{Duration, Instant};

use s3mt_tests::server::{self, S3Server};

/// Status code of an anonymous `GET /` to `endpoint`.
fn anonymous_status(endpoint: &str) -> u16 {
    server::anonymous_status(endpoint).expect("an anonymous GET")
}

/// Whether a process with this PID exists: it has a `/proc/PID` entry. A zombie (exited but
/// not reaped) still has one and counts as existing, as with `kill(pid, 0)`: a stopped server
/// must also have been reaped.
fn process_exists(pid: u32) -> bool {
    assert!(pid > 0);
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn start_restart_stop_cleanup() {
    let t = Instant::now();
    let mut server = S3Server::start().expect("start the server");
    let anonymous = server.kind().anonymous_list_status();
    eprintln!("started in {:.1} s: {server:?}", t.elapsed().as_secs_f64());
    let scheme = if s3mt_tests::tls::enabled() {
        "https"
    } else {
        "http"
    };
    assert!(
        server
            .endpoint()
            .starts_with(&format!("{scheme}://127.0.0.1:"))
    );
    assert_eq!(server.region(), "us-east-1");
    assert_eq!(server.access_key().len(), 20);
    assert_eq!(server.secret_key().len(), 40);
    assert_eq!(anonymous_status(server.endpoint()), anonymous);

    let (endpoint, first_pid) = (server.endpoint().to_owned(), server.pid());
    let t = Instant::now();
    server.restart().expect("restart the server");
    eprintln!("restarted in {:.1} s", t.elapsed().as_secs_f64());
    assert_eq!(server.endpoint(), endpoint, "restart keeps the ports");
    assert_ne!(server.pid(), first_pid);
    assert!(!process_exists(first_pid));
    assert_eq!(anonymous_status(server.endpoint()), anonymous);

    let (pid, data_dir) = (server.pid(), server.data_dir().to_path_buf());
    assert!(data_dir.is_dir());
    let t = Instant::now();
    server.stop();
    eprintln!("stopped in {:.1} s", t.elapsed().as_secs_f64());
    assert!(
        !process_exists(pid),
        "server {pid} still exists after stop()"
    );
    server.stop(); // idempotent
    drop(server);
    assert!(!data_dir.exists(), "{} left behind", data_dir.display());
}

#[test]
fn kill_then_restart() {
    let mut server = S3Server::start().expect("start the server");
    let anonymous = server.kind().anonymous_list_status();
    let pid = server.pid();
    let t = Instant::now();
    server.kill();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "kill() should not wait"
    );
    assert!(!process_exists(pid));
    assert!(!server.is_running());
    server.restart().expect("restart after kill");
    assert!(server.is_running());
    assert_eq!(anonymous_status(server.endpoint()), anonymous);
}

#[test]
fn shared_server_answers() {
    let shared = server::shared();
    assert_eq!(
        anonymous_status(shared.endpoint()),
        shared.kind().anonymous_list_status()
    );
    assert!(
        std::ptr::eq(shared, server::shared()),
        "one server per process"
    );
}
