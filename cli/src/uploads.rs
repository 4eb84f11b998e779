//! `s3mt uploads ls|abort`: incomplete multipart uploads, listed or aborted.

use std::time::Duration;

use anyhow::Result;
use s3mt_engine::{Client, ConfigBuilder, MultipartUpload, S3Uri};

use crate::args::UploadsCommand;
use crate::duration;
use crate::exit::UsageError;
use crate::ls::utc_time;

pub fn run(builder: ConfigBuilder, command: UploadsCommand) -> Result<()> {
    match command {
        UploadsCommand::Ls(args) => {
            let (client, location) = setup(builder, &args.location)?;
            let resumable = s3mt_engine::default_state_dir()
                .map(|dir| s3mt_engine::resumable_uploads(&dir))
                .unwrap_or_default();
            let endpoint = client.config().endpoint().to_string();
            for upload in matching(&client, &location, args.older_than.as_deref())? {
                let mut text = line(&upload);
                let ours = resumable.iter().find(|ours| {
                    ours.upload_id == upload.upload_id
                        && ours.key == upload.key
                        && ours.bucket == location.bucket()
                        && ours.endpoint == endpoint
                });
                if let Some(ours) = ours {
                    text.push_str(&format!(
                        "  (resumable: run again s3mt cp {} ...)",
                        ours.source.display()
                    ));
                }
                println!("{text}");
            }
        }
        UploadsCommand::Abort(args) => {
            let (client, location) = setup(builder, &args.location)?;
            if let Some(upload_id) = &args.upload_id {
                if args.older_than.is_some() {
                    return Err(UsageError::new(
                        "--upload-id names one upload: --older-than does not apply",
                    )
                    .into());
                }
                location.require_object_key()?;
                client.abort_multipart_upload(&location, upload_id)?;
                println!("aborted {upload_id}  {}", location.key());
                return Ok(());
            }
            for upload in matching(&client, &location, args.older_than.as_deref())? {
                let object = S3Uri::new(location.bucket(), upload.key.clone())?;
                client.abort_multipart_upload(&object, &upload.upload_id)?;
                println!("aborted {}", line(&upload));
            }
        }
    }
    Ok(())
}

fn setup(builder: ConfigBuilder, location: &str) -> Result<(Client, S3Uri)> {
    let location: S3Uri = location.parse()?;
    Ok((Client::new(builder.build()?)?, location))
}

/// The uploads under `location`'s prefix, only those initiated more than `older_than` ago when
/// given (an upload whose start time is not known is left out then).
fn matching(
    client: &Client,
    location: &S3Uri,
    older_than: Option<&str>,
) -> Result<Vec<MultipartUpload>> {
    let older_than = older_than
        .map(|text| duration::parse("--older-than", text))
        .transpose()?;
    let mut uploads = client.list_multipart_uploads(location.bucket(), location.key())?;
    if let Some(age) = older_than {
        let now = jiff::Timestamp::now();
        uploads.retain(|upload| is_older(upload, now, age));
    }
    Ok(uploads)
}

fn is_older(upload: &MultipartUpload, now: jiff::Timestamp, age: Duration) -> bool {
    let initiated = upload
        .initiated
        .as_deref()
        .and_then(|text| text.parse::<jiff::Timestamp>().ok());
    initiated.is_some_and(|initiated| {
        let elapsed = now.as_second().saturating_sub(initiated.as_second());
        u64::try_from(elapsed).is_ok_and(|elapsed| elapsed > age.as_secs())
    })
}

/// `2026-11-21 19:58:36  UPLOAD-ID  key`.
fn line(upload: &MultipartUpload) -> String {
    let initiated = upload
        .initiated
        .as_deref()
        .map_or_else(|| "-".repeat(19), utc_time);
    format!("{initiated}  {}  {}", upload.upload_id, upload.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_than_compares_the_initiated_time() {
        let now: jiff::Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        let upload = |initiated: Option<&str>| MultipartUpload {
            key: "k".into(),
            upload_id: "u".into(),
            initiated: initiated.map(str::to_owned),
        };
        let hour = Duration::from_secs(3600);
        assert!(is_older(
            &upload(Some("2026-11-21T10:59:59.000Z")),
            now,
            hour
        ));
        assert!(!is_older(&upload(Some("2026-11-21T11:00:00Z")), now, hour));
        assert!(!is_older(&upload(Some("2026-11-21T11:59:00Z")), now, hour));
        assert!(!is_older(&upload(None), now, hour));
        assert!(!is_older(&upload(Some("garbage")), now, hour));
    }
}
