//! Ctrl-C and SIGTERM: the first asks the transfer to stop cleanly (abort the multipart upload,
//! remove the partial download); a second one exits at once.

use anyhow::{Context as _, Result};
use s3mt_engine::CancelToken;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// A token cancelled by the first SIGINT or SIGTERM; the second exits with code 130.
pub fn cancel_on_signals() -> Result<CancelToken> {
    let token = CancelToken::new();
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as the previous signal left it.
        flag::register_conditional_shutdown(
            signal,
            i32::from(crate::exit::INTERRUPTED),
            token.flag(),
        )
        .context("install the signal handler")?;
        flag::register(signal, token.flag()).context("install the signal handler")?;
    }
    Ok(token)
}
