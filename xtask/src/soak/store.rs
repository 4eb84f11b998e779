//! The soak's own S3 server and bucket: never the shared test server, since the server-crash
//! runs kill it and start it again.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};
use s3mt_engine::{Client, MultipartUpload, S3Uri};
use s3mt_tests::fixture::{config_for, s3mt_binary_for};
use s3mt_tests::server::S3Server;

/// A server of `S3MT_TEST_SERVER`'s kind (SeaweedFS by default) and one bucket on it.
pub struct Store {
    pub server: S3Server,
    bucket: String,
    binary: PathBuf,
}

impl Store {
    /// Starts the server and creates the bucket; `binary` is the `s3mt` soaked.
    pub fn start(binary: PathBuf) -> Result<Self> {
        let server = S3Server::start().context("start the soak's S3 server")?;
        let store = Self {
            server,
            bucket: "soak".to_owned(),
            binary,
        };
        store
            .client()
            .create_bucket(&store.bucket)
            .context("create the soak's bucket")?;
        Ok(store)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `s3://soak/key`.
    pub fn uri(&self, key: &str) -> S3Uri {
        S3Uri::new(self.bucket.clone(), key).expect("the soak's keys are valid")
    }

    /// A client that sets up and checks the runs, with faults nowhere near it.
    pub fn client(&self) -> Client {
        let config = config_for(&self.server)
            .part_size(5 * 1024 * 1024)
            .multipart_threshold(5 * 1024 * 1024)
            .concurrency(4)
            .build()
            .expect("a valid config");
        Client::new(config).expect("a client starts")
    }

    /// The `s3mt` soaked, with this server's endpoint and keys in its environment.
    pub fn s3mt(&self) -> Command {
        s3mt_binary_for(&self.binary, &self.server)
    }

    /// The multipart uploads open under `prefix`.
    pub fn open_uploads(&self, prefix: &str) -> Result<Vec<MultipartUpload>> {
        Ok(self.client().list_multipart_uploads(&self.bucket, prefix)?)
    }

    /// Aborts the multipart uploads open under `prefix` (best effort).
    pub fn abort_open(&self, prefix: &str) {
        let client = self.client();
        for upload in self.open_uploads(prefix).unwrap_or_default() {
            let _ = client.abort_multipart_upload(&self.uri(&upload.key), &upload.upload_id);
        }
    }

    /// The object's bytes as stored; `None` when there is none.
    pub fn stored(&self, key: &str) -> Option<Vec<u8>> {
        let dir = tempfile::tempdir().ok()?;
        let copy = dir.path().join("stored");
        self.client().download_file(&self.uri(key), &copy).ok()?;
        std::fs::read(copy).ok()
    }

    /// Stores the file at `path` as `key`, with no fault in the way.
    pub fn put(&self, path: &Path, key: &str) -> Result<()> {
        self.client()
            .upload_file(path, &self.uri(key))
            .with_context(|| format!("store {key}"))?;
        Ok(())
    }

    /// Removes `key`, if it is there.
    pub fn delete(&self, key: &str) {
        let _ = self.client().delete_object(&self.uri(key));
    }
}
