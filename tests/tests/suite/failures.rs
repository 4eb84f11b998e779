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
