//! An `s3mt` the soak runs: its outputs drained as they come (a stream download prints
//! megabytes), its input written from a thread (s3mt may stop reading when it fails), its end
//! awaited up to a limit.

use std::io::{Read, Write as _};
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

/// A running `s3mt`.
pub struct Running {
    pub child: Child,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

/// How it ended: its exit code (-1 for a signal, -2 when it hung and was killed) and output.
pub struct Ended {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Starts `command` with `input` on its standard input when there is one (else the input the
/// command was given).
pub fn spawn(command: &mut Command, input: Option<&[u8]>) -> Result<Running> {
    if input.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start s3mt")?;
    if let Some(input) = input {
        let mut stdin = child.stdin.take().context("stdin")?;
        let input = input.to_vec();
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    Ok(Running {
        child,
        stdout,
        stderr,
    })
}

impl Running {
    /// Waits for the end, killing it after `limit`.
    pub fn wait(mut self, limit: Duration) -> Result<Ended> {
        let deadline = Instant::now() + limit;
        let code = loop {
            if let Some(status) = self.child.try_wait()? {
                break status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break -2;
            }
            thread::sleep(Duration::from_millis(20));
        };
        let stderr = self.stderr.join().unwrap_or_default();
        Ok(Ended {
            code,
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

/// Everything `pipe` gives, read on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}
