//! The engine's progress events: their order, totals that equal the object size even when
//! parts are retried, and cancellation from an event callback.

use std::sync::{Arc, Mutex};

use s3mt_engine::{CancelToken, ErrorKind, Event, TransferOptions, TransferSummary};
use s3mt_tests::fixture::{TestBucket, dir_entries, write_random_file};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, Rule};

use crate::MIB;

/// Three parts of 5, 5 and 3 MiB.
const SIZE: usize = 13 * MIB + 1;

/// Runs `transfer` with a channel and returns every event it sent.
fn collect(transfer: impl FnOnce(&TransferOptions)) -> Vec<Event> {
    let (sender, events) = crossbeam_channel::unbounded();
    transfer(&TransferOptions::default().progress(sender));
    events.try_iter().collect()
}

/// Checks the shape every transfer's events have, and returns the summary.
#[track_caller]
fn assert_well_formed(events: &[Event], size: u64, parts: u32) -> TransferSummary {
    let Some(Event::Planned {
        total_bytes,
        parts: planned,
        ..
    }) = events.first()
    else {
        panic!("the first event is Planned: {events:?}");
    };
    assert_eq!((*total_bytes, *planned), (size, u64::from(parts)));
    let Some(Event::Finished(summary)) = events.last() else {
        panic!("the last event is Finished: {:?}", events.last());
    };
    for part in 1..=parts {
        let started = events
            .iter()
            .position(|e| matches!(e, Event::PartStarted { part: p, .. } if *p == part));
        let done = events
            .iter()
            .position(|e| matches!(e, Event::PartDone { part: p } if *p == part));
        assert!(
            matches!((started, done), (Some(s), Some(d)) if s < d),
            "part {part} starts, then finishes"
        );
    }
    assert_eq!(
        net_bytes(events),
        size,
        "bytes counted once each, retries included"
    );
    summary.clone()
}

/// Bytes reported, less the bytes of failed attempts that were sent again.
fn net_bytes(events: &[Event]) -> u64 {
    events.iter().fold(0, |total, event| match event {
        Event::Bytes { bytes, .. } => total + bytes,
        Event::Retry { discarded, .. } => total - discarded,
        _ => total,
    })
}

#[test]
fn upload_and_download_send_planned_parts_bytes_and_finished_in_order() {
    let bucket = TestBucket::new("events-order");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    write_random_file(&source, SIZE, 31);
    let object = bucket.uri("events");
    let client = bucket.client(2);

    let events = collect(|options| {
        client.upload_file_with(&source, &object, options).unwrap();
    });
    let summary = assert_well_formed(&events, SIZE as u64, 3);
    assert_eq!(summary.bytes, SIZE as u64);

    let events = collect(|options| {
        client
            .download_file_with(&object, &dir.path().join("copy"), options)
            .unwrap();
    });
    assert_well_formed(&events, SIZE as u64, 3);
}

#[test]
fn totals_equal_the_object_size_when_parts_are_retried() {
    let bucket = TestBucket::new("events-retried");
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    // Reset after 3 MiB of a part and of a range: some of their bytes were already reported.
    proxy.add(Rule::once(
        Match::method("PUT").query("partNumber=2"),
        Fault::ResetDuringRequestBody { after: 3 * MIB },
    ));
    proxy.add(Rule::once(
        Match::method("GET").header("range"),
        Fault::ResetDuringResponseBody { after: 3 * MIB },
    ));
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    write_random_file(&source, SIZE, 32);
    let object = bucket.uri("retried");
    let client = s3mt_engine::Client::new(
        bucket
            .config()
            .endpoint(proxy.endpoint())
            .concurrency(2)
            .build()
            .unwrap(),
    )
    .unwrap();

    let upload = collect(|options| {
        client.upload_file_with(&source, &object, options).unwrap();
    });
    let download = collect(|options| {
        client
            .download_file_with(&object, &dir.path().join("copy"), options)
            .unwrap();
    });
    let discarded = |events: &[Event]| -> Option<u64> {
        let retries = events.iter().filter_map(|e| match e {
            Event::Retry { discarded, .. } => Some(*discarded),
            _ => None,
        });
        retries.reduce(|a, b| a + b)
    };
    // The client had sent at least 2 MiB of the part when the proxy cut it (a download's reset
    // may throw away bytes the client had not read yet, so it may have counted none).
    assert!(
        discarded(&upload).is_some_and(|bytes| bytes > 0),
        "{upload:?}"
    );
    assert!(discarded(&download).is_some(), "{download:?}");
    assert_well_formed(&upload, SIZE as u64, 3);
    assert_well_formed(&download, SIZE as u64, 3);
}

#[test]
fn cancelling_from_an_event_callback_stops_and_leaves_nothing_behind() {
    let bucket = TestBucket::new("events-cancel");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    write_random_file(&source, 4 * SIZE, 33);
    let object = bucket.uri("cancelled");
    let client = bucket.client(1);

    let cancel_after_first_part = |token: CancelToken, seen: Arc<Mutex<Vec<Event>>>| {
        TransferOptions::default()
            .cancel(token.clone())
            .on_event(move |event| {
                if matches!(event, Event::PartDone { .. }) {
                    token.cancel();
                }
                seen.lock().unwrap().push(event.clone());
            })
    };

    let seen = Arc::new(Mutex::new(Vec::new()));
    let options = cancel_after_first_part(CancelToken::new(), Arc::clone(&seen));
    let err = client
        .upload_file_with(&source, &object, &options)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(
        err.to_string().contains("the multipart upload was aborted"),
        "{err}"
    );
    assert!(bucket.open_uploads().is_empty());
    let events = seen.lock().unwrap().clone();
    assert!(matches!(
        events.last(),
        Some(Event::Failed {
            kind: ErrorKind::Cancelled,
            ..
        })
    ));
    let parts_done = events
        .iter()
        .filter(|e| matches!(e, Event::PartDone { .. }))
        .count();
    assert!(parts_done < 12, "stopped early: {parts_done} of 12 parts");

    bucket.client(2).upload_file(&source, &object).unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let options = cancel_after_first_part(CancelToken::new(), Arc::new(Mutex::new(Vec::new())));
    let err = client
        .download_file_with(&object, &downloads.path().join("copy"), &options)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(
        dir_entries(downloads.path()).is_empty(),
        "no partial download is left"
    );
}

#[test]
fn cancelling_cuts_a_request_blocked_on_a_silent_server_at_once() {
    let bucket = TestBucket::new("events-cancel-stalled");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    write_random_file(&source, SIZE, 34);
    let object = bucket.uri("stalled");
    bucket.client(2).upload_file(&source, &object).unwrap();

    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    proxy.add(Rule::once(
        Match::method("GET").header("range"),
        Fault::Stall {
            for_: std::time::Duration::from_secs(20),
        },
    ));
    // The I/O timeout alone would wait 30 s for the silent server.
    let client = s3mt_engine::Client::new(
        bucket
            .config()
            .endpoint(proxy.endpoint())
            .io_timeout(std::time::Duration::from_secs(30))
            .concurrency(1)
            .build()
            .unwrap(),
    )
    .unwrap();
    let token = CancelToken::new();
    let download = std::thread::spawn({
        let (object, destination) = (object.clone(), dir.path().join("copy"));
        let options = TransferOptions::default().cancel(token.clone());
        move || client.download_file_with(&object, &destination, &options)
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !proxy.requests().iter().any(|r| r.fault.is_some()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled GET never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let cancelled = std::time::Instant::now();
    token.cancel();
    let err = download.join().unwrap().unwrap_err();
    let took = cancelled.elapsed();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(
        took < std::time::Duration::from_secs(2),
        "stopped {took:?} after cancel"
    );
    assert_eq!(
        dir_entries(dir.path()),
        ["source"],
        "no partial download is left"
    );
}
