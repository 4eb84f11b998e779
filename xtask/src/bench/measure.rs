//! Measuring one run of a tool: wall time, the CPU it used (children included), its peak
//! resident memory, and the CPU the S3 server used meanwhile. Read from `/proc`, so no
//! `unsafe` is needed: the CPU of waited-for children is in this process's own `stat`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// What one run cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Wall time.
    pub wall: Duration,
    /// User + system CPU seconds of the tool and its children.
    pub cpu_seconds: f64,
    /// Peak resident memory of the largest process of the tool, in KiB.
    pub peak_rss_kib: u64,
    /// User + system CPU seconds the server used during the run (0 when not known).
    pub server_cpu_seconds: f64,
}

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 on Linux).
fn ticks_per_second() -> f64 {
    let output = Command::new("getconf").arg("CLK_TCK").output();
    output
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Fields 14 to 17 of `/proc/PID/stat` (utime, stime, cutime, cstime), in ticks.
fn cpu_ticks(pid: &str) -> Option<[u64; 4]> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime is field 14, so index 11.
    let get = |index: usize| fields.get(index)?.parse().ok();
    Some([get(11)?, get(12)?, get(13)?, get(14)?])
}

/// Runs `command` to completion (its output discarded), measuring it, and the process
/// `server_pid` when given. Fails if the command fails.
pub fn run(command: &mut Command, server_pid: Option<u32>) -> Result<Sample> {
    run_capturing(command, server_pid).map(|(sample, _)| sample)
}

/// [`run`], also returning what the command printed on standard error.
pub fn run_capturing(command: &mut Command, server_pid: Option<u32>) -> Result<(Sample, String)> {
    let ticks = ticks_per_second();
    let own = |ticks: [u64; 4]| ticks[2] + ticks[3];
    let server = |pid: Option<u32>| {
        pid.and_then(|pid| cpu_ticks(&pid.to_string()))
            .map_or(0, |t| t[0] + t[1])
    };
    let children_before = own(cpu_ticks("self").context("read /proc/self/stat")?);
    let server_before = server(server_pid);
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {:?}", command.get_program()))?;
    let peak_rss_kib = watch(&mut child);
    let output = child.wait_with_output().context("wait for the tool")?;
    let wall = started.elapsed();
    let children_after = own(cpu_ticks("self").context("read /proc/self/stat")?);
    let server_after = server(server_pid);
    if !output.status.success() {
        bail!(
            "{:?} {:?} failed ({}):\n{}",
            command.get_program(),
            command.get_args().collect::<Vec<_>>(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let sample = Sample {
        wall,
        cpu_seconds: (children_after - children_before) as f64 / ticks,
        peak_rss_kib,
        server_cpu_seconds: server_after.saturating_sub(server_before) as f64 / ticks,
    };
    Ok((sample, String::from_utf8_lossy(&output.stderr).into_owned()))
}

/// Samples the peak resident memory (`VmHWM`) of `child` and its descendants every 10 ms
/// until it exits; returns the largest.
fn watch(child: &mut Child) -> u64 {
    let mut peak = 0;
    loop {
        for pid in tree(child.id()) {
            peak = peak.max(high_water_mark(pid).unwrap_or(0));
        }
        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
            return peak;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `pid` and its descendants, from `/proc/PID/task/*/children`.
fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut index = 0;
    while let Some(&current) = all.get(index) {
        index += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{current}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    all
}

/// `VmHWM` of `pid`, in KiB.
fn high_water_mark(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0; 8 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_reports_its_cpu_and_memory() {
        // A child that allocates ~64 MiB and spins a little.
        let mut command = Command::new("sh");
        command.args(["-c", "head -c 67108864 /dev/zero | tail -c 1 > /dev/null"]);
        let sample = run(&mut command, None).unwrap();
        assert!(sample.wall > Duration::ZERO);
        assert!(sample.peak_rss_kib > 0, "{sample:?}");
        assert!(sample.cpu_seconds >= 0.0);
        let failing = run(&mut Command::new("false"), None);
        assert!(failing.is_err());
    }

    #[test]
    fn own_stat_parses() {
        let ticks = cpu_ticks("self").unwrap();
        assert!(ticks.iter().all(|t| *t < u64::MAX));
    }
}
