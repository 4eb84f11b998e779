//! `cargo xtask bench --caps`: how closely `--max-bandwidth` holds its cap, measured where the
//! bytes go by: the link proxy between s3mt and the server counts what it forwards each way,
//! sampled every 50 ms.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use s3mt_engine::size::{MIB, parse_rate};

use super::link::LinkProxy;
use super::measure;
use super::peers::{Direction, Target};

/// How often the proxy's counters are read.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// How long each capped transfer should last, to see many whole seconds of it.
const SECONDS_PER_RUN: u64 = 8;
/// Bounds of the data moved per run.
const DATA_BYTES: (u64, u64) = (32 * MIB, 1024 * MIB);

/// Makes s3mt's command for a direction, an object, a local file and a cap.
pub type MakeCommand<'a> = &'a dyn Fn(Direction, &Target, &Path, Option<u64>) -> Command;

/// What the proxy saw of one capped transfer.
#[derive(Debug, Clone, Copy)]
pub struct CapFigures {
    /// The cap asked for, bytes per second (`None`: no cap).
    pub cap: Option<u64>,
    pub direction: Direction,
    pub bytes: u64,
    /// Bytes over the time from the first to the last byte the proxy forwarded.
    pub average: f64,
    /// The most bytes forwarded in any one second (sliding windows of the samples).
    pub busiest_second: f64,
    /// The same, leaving out the transfer's first second (while the client's receive
    /// buffers first fill).
    pub busiest_later: f64,
}

/// Runs the caps: `caps` like `10MB/s,100Mbit`, plus `max` for 90% of what the machine moves
/// uncapped through the proxy (measured first, and shown).
pub fn run(
    caps: &str,
    proxy: &LinkProxy,
    target: &Target,
    data_of: &dyn Fn(u64) -> Result<std::path::PathBuf>,
    scratch: &Path,
    command: MakeCommand<'_>,
) -> Result<Vec<CapFigures>> {
    let mut figures = Vec::new();
    let mut caps_asked = Vec::new();
    for cap in caps.split(',').map(str::trim) {
        caps_asked.push(match cap {
            "max" => None,
            rate => Some(parse_rate(rate)?),
        });
    }
    // Uncapped first: the machine's limit through the proxy, each way.
    let uncapped = round_trip(None, 1024 * MIB, proxy, target, data_of, scratch, command)?;
    let limit = [uncapped[0].average, uncapped[1].average];
    figures.extend(uncapped);
    for cap in caps_asked {
        let per_direction = match cap {
            Some(cap) => [cap, cap],
            None => limit.map(|rate| (rate * 0.9) as u64),
        };
        let mut pair = Vec::new();
        for (index, cap) in per_direction.into_iter().enumerate() {
            let size = (cap * SECONDS_PER_RUN).clamp(DATA_BYTES.0, DATA_BYTES.1) / MIB * MIB;
            let run = round_trip(Some(cap), size, proxy, target, data_of, scratch, command)?;
            pair.push(run[index]);
        }
        figures.extend(pair);
    }
    Ok(figures)
}

/// Uploads `size` bytes and downloads them back at `cap`, checking the copy; what the proxy
/// saw of each.
fn round_trip(
    cap: Option<u64>,
    size: u64,
    proxy: &LinkProxy,
    target: &Target,
    data_of: &dyn Fn(u64) -> Result<std::path::PathBuf>,
    scratch: &Path,
    command: MakeCommand<'_>,
) -> Result<[CapFigures; 2]> {
    let data = data_of(size)?;
    let target = Target {
        key: format!("caps/{size}"),
        ..target.clone()
    };
    let copy = scratch.join("caps-copy");
    let _ = std::fs::remove_file(&copy);
    eprintln!(
        "cap {}: {} MiB up and down",
        cap.map_or("none".to_owned(), |cap| format!(
            "{:.1} MB/s",
            cap as f64 / 1e6
        )),
        size / MIB
    );
    let up = watched(proxy, 0, || {
        measure::run(&mut command(Direction::Upload, &target, &data, cap), None).map(drop)
    })?;
    let down = watched(proxy, 1, || {
        measure::run(&mut command(Direction::Download, &target, &copy, cap), None).map(drop)
    })?;
    if measure::file_sha256(&copy)? != measure::file_sha256(&data)? {
        bail!("the downloaded copy differs from the source");
    }
    std::fs::remove_file(&copy)?;
    let figures = |direction, samples: &[(Instant, u64)]| -> Result<CapFigures> {
        let (bytes, average, [busiest_second, busiest_later]) = rates(samples)?;
        Ok(CapFigures {
            cap,
            direction,
            bytes,
            average,
            busiest_second,
            busiest_later,
        })
    };
    Ok([
        figures(Direction::Upload, &up)?,
        figures(Direction::Download, &down)?,
    ])
}

/// Runs `transfer` while a thread samples the proxy's counter of `direction`.
fn watched(
    proxy: &LinkProxy,
    direction: usize,
    transfer: impl FnOnce() -> Result<()>,
) -> Result<Vec<(Instant, u64)>> {
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                samples.push((Instant::now(), proxy.bytes_moved()[direction]));
                thread::sleep(SAMPLE_EVERY);
            }
            samples.push((Instant::now(), proxy.bytes_moved()[direction]));
            samples
        });
        let outcome = transfer();
        done.store(true, Ordering::Relaxed);
        let samples = sampler.join().expect("the sampler does not panic");
        outcome.map(|()| samples)
    })
}

/// From samples of a growing counter: the bytes moved, the average rate from the first
/// byte to the last, and the highest rate over any one second of samples, and over any one
/// second that starts a second or more after the first byte.
fn rates(samples: &[(Instant, u64)]) -> Result<(u64, f64, [f64; 2])> {
    let base = samples.first().map_or(0, |(_, count)| *count);
    let last = samples.last().map_or(0, |(_, count)| *count);
    // The transfer's span: from the last sample before any byte moved to the first that saw
    // every byte.
    let start = samples
        .iter()
        .rposition(|(_, count)| *count == base)
        .unwrap_or(0);
    let end = samples
        .iter()
        .position(|(_, count)| *count == last)
        .unwrap_or(samples.len() - 1);
    ensure!(end > start, "the proxy saw no bytes move");
    let seconds = |from: usize, to: usize| (samples[to].0 - samples[from].0).as_secs_f64();
    let average = (last - base) as f64 / seconds(start, end);
    let mut busiest = [0.0f64; 2];
    for from in start..end {
        let Some(to) = (from..=end).find(|&to| seconds(from, to) >= 1.0) else {
            break;
        };
        let rate = (samples[to].1 - samples[from].1) as f64 / seconds(from, to);
        busiest[0] = busiest[0].max(rate);
        if seconds(start, from) >= 1.0 {
            busiest[1] = busiest[1].max(rate);
        }
    }
    Ok((last - base, average, busiest))
}

/// The table: each cap and direction, what the proxy measured against the cap.
pub fn markdown(figures: &[CapFigures]) -> String {
    let mut table = String::from(
        "| cap MB/s | direction | MiB moved | MB/s | vs cap | busiest second MB/s | vs cap | \
         busiest after the first second | vs cap |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for figure in figures {
        let mb = |rate: f64| rate / 1e6;
        let versus = |rate: f64| {
            figure
                .cap
                .map_or("-".to_owned(), |cap| format!("{:.3}", rate / cap as f64))
        };
        let cap = figure
            .cap
            .map_or("none".to_owned(), |cap| format!("{:.1}", mb(cap as f64)));
        let direction = match figure.direction {
            Direction::Upload => "upload",
            Direction::Download => "download",
        };
        table.push_str(&format!(
            "| {cap} | {direction} | {} | {:.1} | {} | {:.1} | {} | {:.1} | {} |\n",
            figure.bytes / MIB,
            mb(figure.average),
            versus(figure.average),
            mb(figure.busiest_second),
            versus(figure.busiest_second),
            mb(figure.busiest_later),
            versus(figure.busiest_later),
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_span_the_bytes_and_find_the_busiest_second() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // Idle, then 1000 bytes a second for 3 s with 500 extra in the first second, then idle.
        let mut samples = vec![(at(0), 0), (at(500), 0)];
        for step in 1..=30u64 {
            let extra = if step >= 5 { 500 } else { 0 };
            samples.push((at(500 + step * 100), step * 100 + extra));
        }
        samples.push((at(4000), 3500));
        let (bytes, average, [busiest, later]) = rates(&samples).unwrap();
        assert_eq!(bytes, 3500);
        assert!((average - 3500.0 / 3.0).abs() < 1e-6, "{average}");
        assert!((busiest - 1500.0).abs() < 1e-6, "{busiest}");
        assert!((later - 1000.0).abs() < 1e-6, "{later}");
        assert!(rates(&[(at(0), 5), (at(100), 5)]).is_err());
    }
}
