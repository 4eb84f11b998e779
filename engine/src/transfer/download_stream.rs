//! Object -> stream (e.g. standard output): concurrent ranged GETs into a bounded reorder
//! window, written in order, and verified in order as they are written.
//!
//! Memory: at most `concurrency + 1` ranges of the part size are held at once (in flight,
//! waiting their turn, or being written).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

use super::options::VerifyMode;
use super::progress::Event;
use super::ranged::{Download, RemoteObject};
use super::session::Transfer;
use super::summary::TransferSummary;
use crate::error::{Error, Result};
use crate::integrity::in_order::InOrder;
use crate::plan::{self, DEFAULT_PART_SIZE, PartPlan};

pub(crate) fn download_to_writer(
    transfer: &Transfer<'_>,
    writer: &mut dyn Write,
    verify: VerifyMode,
) -> Result<TransferSummary> {
    let started = Instant::now();
    let config = transfer.config();
    let progress = transfer.progress;
    let download = Download { transfer };
    let object = download.head(verify)?;
    let plan = plan::plan_download(object.size, config.part_size.unwrap_or(DEFAULT_PART_SIZE));
    progress.send(|| Event::Planned {
        total_bytes: plan.total,
        part_size: plan.part_size,
        parts: plan.count(),
    });
    let window = Window {
        download: &download,
        object: &object,
        plan,
        slots: config.concurrency as u64 + 1,
        next_claim: AtomicU64::new(0),
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
    };
    let mut check = InOrder::new(object.expected.clone());
    transfer.session.pool.in_place_scope(|scope| {
        for _ in 0..config.concurrency {
            scope.spawn(|_| window.fetch_ranges());
        }
        window.write_in_order(writer, &mut check);
    });
    if let Some(error) = window
        .state
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .error
    {
        return Err(error);
    }
    let verification = check
        .finish()
        .map_err(|err| err.note("the bytes were already written to the output: discard them"))?;
    Ok(TransferSummary {
        bytes: object.size,
        parts: plan.count(),
        elapsed: started.elapsed(),
        verification,
    })
}

/// The reorder window shared by the fetching workers and the writing thread.
struct Window<'a> {
    download: &'a Download<'a>,
    object: &'a RemoteObject,
    plan: PartPlan,
    /// Ranges held at most: fetched or being fetched ahead of the one being written.
    slots: u64,
    next_claim: AtomicU64,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// The index of the next range to write.
    next_write: u64,
    /// Fetched ranges waiting for their turn.
    ready: BTreeMap<u64, Vec<u8>>,
    /// Buffers already written, for reuse.
    spare: Vec<Vec<u8>>,
    /// The first failure (fetching or writing); everyone stops.
    error: Option<Error>,
}

impl Window<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A worker: claims ranges in order, waits for room in the window, fetches.
    fn fetch_ranges(&self) {
        loop {
            let index = self.next_claim.fetch_add(1, Ordering::Relaxed);
            if index >= self.plan.count() {
                return;
            }
            let mut buffer = {
                let mut state = self.lock();
                while index >= state.next_write + self.slots && state.error.is_none() {
                    state = self
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if state.error.is_some() {
                    return;
                }
                state.spare.pop().unwrap_or_default()
            };
            let part = self.plan.part(index);
            buffer.resize(part.len as usize, 0);
            let fetched = self
                .download
                .range(self.object, part, &mut buffer[..], None);
            let mut state = self.lock();
            match fetched {
                Ok(_) => {
                    state.ready.insert(index, buffer);
                }
                Err(err) => {
                    state.error.get_or_insert(err);
                }
            }
            self.changed.notify_all();
        }
    }

    /// The calling thread: writes each range as soon as it and all before it have arrived.
    fn write_in_order(&self, writer: &mut dyn Write, check: &mut InOrder) {
        for index in 0..self.plan.count() {
            let buffer = {
                let mut state = self.lock();
                loop {
                    if state.error.is_some() {
                        return;
                    }
                    if let Some(buffer) = state.ready.remove(&index) {
                        break buffer;
                    }
                    state = self
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            let written = writer.write_all(&buffer);
            check.update(&buffer);
            let mut state = self.lock();
            if let Err(err) = written {
                state.error.get_or_insert(write_error(err));
            }
            state.next_write = index + 1;
            state.spare.push(buffer);
            self.changed.notify_all();
            if state.error.is_some() {
                return;
            }
        }
        let flushed = writer.flush();
        if let Err(err) = flushed {
            self.lock().error.get_or_insert(write_error(err));
        }
    }
}

/// A failed write to the output. A closed pipe stays recognisable: the OS error is the
/// source, with kind `std::io::ErrorKind::BrokenPipe`.
fn write_error(err: std::io::Error) -> Error {
    Error::local_io("cannot write the output", err)
}
