//! A small synchronous program embedding the engine: upload a file, download it back, and
//! print progress from the engine's events on a channel.
//!
//! With an endpoint and keys in the environment (for a local server, run `cargo xtask serve`
//! in another terminal and paste the `export` lines it prints):
//!
//! ```sh
//! cargo run -p s3mt-engine --example copy -- ./some-file s3://demo/some-file ./copy
//! ```

use std::path::PathBuf;
use std::thread;

use s3mt_engine::{Client, Config, Credentials, Event, S3Uri, TransferOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, object, copy] = args.as_slice() else {
        return Err("usage: copy FILE s3://bucket/key COPY".into());
    };
    let credentials =
        Credentials::from_env().ok_or("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")?;
    let mut config = Config::builder(credentials);
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        config = config.endpoint(endpoint);
    }
    let client = Client::new(config.build()?)?;
    let object: S3Uri = object.parse()?;

    // Events arrive on a channel; a thread of ours turns them into a percentage.
    let (sender, events) = crossbeam_channel::unbounded();
    let reporter = thread::spawn(move || {
        let (mut total, mut done) = (0u64, 0u64);
        for event in events {
            match event {
                Event::Planned { total_bytes, .. } => (total, done) = (total_bytes, 0),
                Event::Bytes { bytes, .. } => done += bytes,
                Event::Retry { discarded, .. } => done -= discarded,
                Event::Finished(summary) => {
                    eprintln!(
                        "\r{} bytes in {:?}: {}",
                        summary.bytes, summary.elapsed, summary.verification
                    );
                    continue;
                }
                _ => continue,
            }
            if total > 0 {
                eprint!("\r{:5.1}%", done as f64 * 100.0 / total as f64);
            }
        }
    });
    let options = TransferOptions::default().progress(sender);
    client.upload_file_with(&PathBuf::from(source), &object, &options)?;
    client.download_file_with(&object, &PathBuf::from(copy), &options)?;
    drop(options); // the last sender: the reporter sees the channel close
    reporter
        .join()
        .map_err(|_| "the reporter thread panicked")?;
    Ok(())
}
