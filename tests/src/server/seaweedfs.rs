//! SeaweedFS (`weed server`): master, volume, filer and S3 in one process, every port given
//! explicitly, identities from a JSON file, signatures enforced, no bucket auto-creation.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::probe;

/// The actions of every identity: all of them.
const ACTIONS: &str = r#"["Admin","Read","Write","List","Tagging"]"#;

/// Volumes created per bucket (collection) when it needs one. SeaweedFS grows 7 at a time by
/// default; with many test buckets that exhausts `-volume.max`.
const VOLUME_GROWTH: &str = "2";

/// Every port `weed server` listens on; all passed explicitly (the gRPC defaults are
/// port + 10000, which could collide or be taken).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Ports {
    pub master: u16,
    master_grpc: u16,
    volume: u16,
    volume_grpc: u16,
    filer: u16,
    filer_grpc: u16,
    pub s3: u16,
    s3_grpc: u16,
}

impl Ports {
    /// Eight distinct free ports.
    pub fn pick() -> io::Result<Ports> {
        let p = probe::free_ports(8)?;
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
    pub fn sockets(&self) -> Vec<PathBuf> {
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

fn identities_path(data_dir: &Path) -> PathBuf {
    data_dir.join("identities.json")
}

/// Writes the identities file (the admin first, then the spares) and `tmp/` for the server's
/// `TMPDIR` into the (empty) data dir.
pub(super) fn prepare(data_dir: &Path, identities: &[(String, String)]) -> io::Result<()> {
    fs::create_dir_all(data_dir.join("tmp"))?;
    let identities: Vec<String> = identities
        .iter()
        .enumerate()
        .map(|(index, (access_key, secret_key))| {
            let name = match index {
                0 => "s3mt-admin".to_owned(),
                n => format!("s3mt-spare-{}", n - 1),
            };
            format!(
                r#"{{"name":"{name}","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":{ACTIONS}}}"#
            )
        })
        .collect();
    let identities = format!(r#"{{"identities":[{}]}}"#, identities.join(","));
    fs::write(identities_path(data_dir), identities)
}

/// `weed server` on `ports` with its data, logs and HOME in `data_dir`.
pub(super) fn command(weed: &Path, data_dir: &Path, ports: &Ports, tls: bool) -> Command {
    let p = ports;
    let dir = data_dir.display();
    let args: Vec<String> = vec![
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
        // Two volumes per bucket (VOLUME_GROWTH): room for ~500 buckets. The suite makes a
        // bucket per test (over 120 of them); at 200 volumes the 101st bucket's first write
        // failed with 500 InternalError (no writable volume). Volumes are sparse files.
        "-volume.max=1000".into(),
        "-volume.preStopSeconds=0".into(),
        "-filer".into(),
        format!("-filer.port={}", p.filer),
        format!("-filer.port.grpc={}", p.filer_grpc),
        "-s3".into(),
        format!("-s3.port={}", p.s3),
        format!("-s3.port.grpc={}", p.s3_grpc),
        format!("-s3.config={}", identities_path(data_dir).display()),
        "-s3.port.iceberg=0".into(),
        "-s3.port.lance=0".into(),
        "-s3.autoCreateBucket=false".into(),
    ];
    let mut args = args;
    if tls {
        let tls = crate::tls::shared();
        args.push(format!("-s3.cert.file={}", tls.cert_file.display()));
        args.push(format!("-s3.key.file={}", tls.key_file.display()));
    }
    let mut cmd = Command::new(weed);
    cmd.args(args)
        // glog writes its files to TMPDIR; keep them in the data dir.
        .env("TMPDIR", data_dir.join("tmp"))
        // Keep any ~/.seaweedfs/*.toml of the developer out of the tests.
        .env("HOME", data_dir)
        .env("WEED_MASTER_VOLUME_GROWTH_COPY_1", VOLUME_GROWTH);
    cmd
}

/// Readiness, in two steps:
/// 1. the S3 port answers an anonymous `GET /` with 403: the S3 gateway is up, has loaded
///    the identities, and reached the filer;
/// 2. the master's topology (`/dir/status`) lists the volume server with as many volumes as
///    the volume server itself reports (`/status`). On a fresh dir that is 0 volumes, but the
///    data node must have registered, or the first write fails; after a restart the volume
///    server re-registers its volumes only with its next heartbeat (up to ~5 s after 403),
///    and until then reads of existing objects fail with 500 "volume id N not found".
pub(super) fn ready(ports: &Ports, tls: bool) -> Result<(), String> {
    if !matches!(probe::get(ports.s3, "/", tls), Ok((403, _))) {
        return Err("waiting for the S3 port to answer 403 to an anonymous request".into());
    }
    if !volumes_registered(ports) {
        return Err("waiting for the volume server to register with the master".into());
    }
    Ok(())
}

fn volumes_registered(ports: &Ports) -> bool {
    let Ok((200, local)) = probe::http_get(ports.volume, "/status") else {
        return false;
    };
    let Ok((200, topology)) = probe::http_get(ports.master, "/dir/status") else {
        return false;
    };
    let local_volumes = local
        .split_once("\"Volumes\":")
        .map_or(0, |(_, rest)| rest.matches("\"Id\":").count());
    let node = format!("\"Url\":\"127.0.0.1:{}\"", ports.volume);
    let Some((_, after_node)) = topology.split_once(&node) else {
        return false;
    };
    let registered = after_node.split_once("\"Volumes\":").and_then(|(_, rest)| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<usize>().ok()
    });
    registered == Some(local_volumes)
}
