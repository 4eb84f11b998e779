//! Ctrl-C and SIGTERM: the first asks the transfer to stop cleanly (its connections are cut,
//! the multipart upload aborted, the partial download removed); a second one exits at once.

use anyhow::{Context as _, Result};
use s3mt_engine::CancelToken;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A token cancelled by the first SIGINT or SIGTERM; the second exits with code 130.
pub fn cancel_on_signals() -> Result<CancelToken> {
    let token = CancelToken::new();
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("install the signal handler")?;
    let cancel = token.clone();
    // Cancelling shuts connections down, which a signal handler may not do: a thread waits for
    // the signals instead.
    std::thread::Builder::new()
        .name("s3mt-signals".into())
        .spawn(move || {
            let mut signals = signals.forever();
            if signals.next().is_some() {
                cancel.cancel();
            }
            if signals.next().is_some() {
                std::process::exit(i32::from(crate::exit::INTERRUPTED));
            }
        })
        .context("start the signal thread")?;
    Ok(token)
}
