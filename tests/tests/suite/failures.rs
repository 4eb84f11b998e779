//! Failed transfers leave nothing behind: no multipart upload, no temporary file, and an
//! existing destination untouched.

use std::thread;
use std::time::{Duration, SystemTime};

use s3mt_engine::{ErrorKind, Event, TransferOptions};
use s3mt_tests::fixture::{TestBucket, dir_entries, write_random_file};

use crate::MIB;

/// A rendezvous channel: the transfer blocks on each event until the test takes it, so the test
/// can act between two parts deterministically.
fn lockstep_events() -> (
    crossbeam_channel::Sender<Event>,
    crossbeam_channel::Receiver<Event>,
) {
    crossbeam_channel::bounded(0)
}

/// Waits for the first finished part of a transfer running on another thread (which then waits
/// for the test to take its next event).
fn wait_for_first_part(events: &crossbeam_channel::Receiver<Event>) {
    loop {
        match events.recv_timeout(Duration::from_secs(60)) {
            Ok(Event::PartDone { .. }) => return,
            Ok(_) => {}
            Err(err) => panic!("no part finished: {err}"),
        }
    }
}

#[test]
fn source_changed_during_upload_aborts_and_leaves_no_multipart_upload() {
    let bucket = TestBucket::new("changed-source");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("growing");
    write_random_file(&source, 60 * MIB + 1, 3);
    let object = bucket.uri("changed");
    let client = bucket.client(1);

    let (sender, events) = lockstep_events();
    let upload = thread::spawn({
        let (source, object) = (source.clone(), object.clone());
        move || {
            client.upload_file_with(
                &source,
                &object,
                &TransferOptions::default().progress(sender),
            )
        }
    });
    wait_for_first_part(&events);
    // A later modification time is a change, as an editor saving the file would make.
    let file = std::fs::File::options().write(true).open(&source).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    events.iter().for_each(drop);

    let err = upload.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SourceChanged, "{err}");
    assert!(
        err.to_string()
            .contains("changed while it was being uploaded"),
        "{err}"
    );
    assert!(
        bucket.open_uploads().is_empty(),
        "the multipart upload was aborted"
    );
    let gone = bucket
        .client(1)
        .download_file(&object, &dir.path().join("never"))
        .unwrap_err();
    assert_eq!(
        gone.kind(),
        ErrorKind::NotFound,
        "no object was created: {gone}"
    );
}

#[test]
fn missing_object_leaves_no_file_and_keeps_the_destination() {
    let bucket = TestBucket::new("missing-object");
    let dir = tempfile::tempdir().unwrap();
    let destination = dir.path().join("precious");
    std::fs::write(&destination, b"keep me").unwrap();

    let err = bucket
        .client(4)
        .download_file(&bucket.uri("no/such/key"), &destination)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(std::fs::read(&destination).unwrap(), b"keep me");
    assert_eq!(dir_entries(dir.path()), ["precious"]);
}

#[test]
fn object_replaced_mid_download_fails_and_leaves_the_destination_as_it_was() {
    let bucket = TestBucket::new("replaced-object");
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    write_random_file(&first, 60 * MIB, 5);
    let second = dir.path().join("second");
    write_random_file(&second, 60 * MIB, 6);
    let object = bucket.uri("replaced");
    let client = bucket.client(1);
    client.upload_file(&first, &object).unwrap();

    let destination = dir.path().join("precious");
    std::fs::write(&destination, b"keep me").unwrap();
    let (sender, events) = lockstep_events();
    let download = thread::spawn({
        let (client, object, destination) = (client.clone(), object.clone(), destination.clone());
        move || {
            client.download_file_with(
                &object,
                &destination,
                &TransferOptions::default().progress(sender),
            )
        }
    });
    wait_for_first_part(&events);
    // Another client: this one's only worker is waiting for the test to take its next event.
    bucket.client(1).upload_file(&second, &object).unwrap();
    events.iter().for_each(drop);

    let err = download.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");
    assert!(
        err.to_string()
            .contains("object changed during the download"),
        "{err}"
    );
    assert_eq!(std::fs::read(&destination).unwrap(), b"keep me");
    assert_eq!(
        dir_entries(dir.path()),
        ["first", "precious", "second"],
        "no temporary file"
    );
}

/// A small tmpfs, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Self { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn full_disk_fails_cleanly_before_writing_anything() {
    let bucket = TestBucket::new("full-disk");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("eight");
    write_random_file(&source, 8 * MIB, 21);
    let client = bucket.client(2);
    client.upload_file(&source, &bucket.uri("eight")).unwrap();

    let disk = SmallDisk::mount("4m");
    let destination = disk.dir.path().join("eight");
    let err = client
        .download_file(&bucket.uri("eight"), &destination)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DiskFull, "{err}");
    let cause = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(cause.contains("No space left on device"), "{err}: {cause}");
    assert!(
        dir_entries(disk.dir.path()).is_empty(),
        "no temporary file is left"
    );

    let object = format!("s3://{}/eight", bucket.name());
    let (output, _, stderr) =
        s3mt_tests::fixture::run(bucket.s3mt().args(["cp", &object]).arg(&destination));
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        dir_entries(disk.dir.path()).is_empty(),
        "no temporary file is left"
    );
}
