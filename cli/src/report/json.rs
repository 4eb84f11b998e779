//! `--json`: one JSON object per line on standard output for each event, `Bytes` events
//! coalesced per part and interval, then a `summary` or an `error` object last.

use std::collections::BTreeMap;
use std::io::Write as _;

use s3mt_engine::{Event, TransferSummary, TreeSummary};
use serde::Serialize;

use super::Sink;
use super::tally::Tally;

/// One line of output.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line<'a> {
    Planned {
        total_bytes: u64,
        part_size: u64,
        parts: u64,
    },
    PartStarted {
        part: u32,
        bytes: u64,
    },
    /// `bytes` more of `part`; `done` is the running total, retried bytes counted once.
    Bytes {
        part: u32,
        bytes: u64,
        done: u64,
    },
    Retry {
        part: u32,
        attempt: u32,
        reason: &'a str,
        delay_ms: u128,
        discarded: u64,
    },
    PartDone {
        part: u32,
    },
    Notice {
        message: &'a str,
    },
    TreeEntry {
        path: &'a str,
        action: String,
        bytes: u64,
    },
    FileDone {
        path: &'a str,
        action: String,
        bytes: u64,
    },
    FileFailed {
        path: &'a str,
        action: String,
        kind: &'a str,
        message: &'a str,
    },
    FileSkipped {
        path: &'a str,
        reason: &'a str,
    },
    TreeSummary {
        command: &'a str,
        source: &'a str,
        destination: &'a str,
        copied: u64,
        bytes: u64,
        deleted: u64,
        unchanged: u64,
        skipped: u64,
        failed: u64,
        seconds: f64,
        mb_per_s: f64,
        dry_run: bool,
    },
    Summary {
        direction: &'a str,
        source: &'a str,
        destination: &'a str,
        bytes: u64,
        parts: u64,
        seconds: f64,
        mb_per_s: f64,
        verification: String,
        /// What the bytes were checked against (`s3mt_record`, `full_object`, `composite`,
        /// `etag_md5`, `none`) or how an upload sent them.
        verified_against: &'static str,
        /// The checksum algorithm (`CRC64NVME`, `CRC32`, `CRC32C`, `SHA256`), if one was used.
        #[serde(skip_serializing_if = "Option::is_none")]
        checksum_algorithm: Option<&'static str>,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        message: String,
        exit_code: u8,
    },
}

/// Writes `line` and a newline to standard output, flushed so readers see it at once. A closed
/// standard output is no reason to stop the transfer.
fn print(line: &Line<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, line);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// The JSON sink: passes events on as lines, holding `Bytes` back until the interval ends or
/// another event comes, so that every line stays in event order.
#[derive(Debug, Default)]
pub struct Json {
    pending: BTreeMap<u32, u64>,
    done: u64,
}

impl Json {
    fn flush(&mut self) {
        for (part, bytes) in std::mem::take(&mut self.pending) {
            self.done += bytes;
            print(&Line::Bytes {
                part,
                bytes,
                done: self.done,
            });
        }
    }
}

impl Sink for Json {
    fn event(&mut self, event: &Event, _: &Tally) {
        if let Event::Bytes { part, bytes } = event {
            *self.pending.entry(*part).or_default() += bytes;
            return;
        }
        self.flush();
        match event {
            Event::Planned {
                total_bytes,
                part_size,
                parts,
            } => print(&Line::Planned {
                total_bytes: *total_bytes,
                part_size: *part_size,
                parts: *parts,
            }),
            Event::PartStarted { part, bytes } => print(&Line::PartStarted {
                part: *part,
                bytes: *bytes,
            }),
            Event::Retry {
                part,
                attempt,
                reason,
                delay,
                discarded,
            } => {
                self.done = self.done.saturating_sub(*discarded);
                print(&Line::Retry {
                    part: *part,
                    attempt: *attempt,
                    reason,
                    delay_ms: delay.as_millis(),
                    discarded: *discarded,
                });
            }
            Event::PartDone { part } => print(&Line::PartDone { part: *part }),
            Event::Notice(message) => print(&Line::Notice { message }),
            Event::TreeEntry {
                path,
                action,
                bytes,
            } => print(&Line::TreeEntry {
                path,
                action: action.to_string(),
                bytes: *bytes,
            }),
            Event::FileDone {
                path,
                action,
                bytes,
            } => print(&Line::FileDone {
                path,
                action: action.to_string(),
                bytes: *bytes,
            }),
            Event::FileFailed {
                path,
                action,
                kind,
                message,
            } => print(&Line::FileFailed {
                path,
                action: action.to_string(),
                kind: kind.as_str(),
                message,
            }),
            Event::FileSkipped { path, reason } => print(&Line::FileSkipped { path, reason }),
            // The summary and the error are printed by the command, which knows more.
            _ => {}
        }
    }

    fn tick(&mut self, _: &Tally) {
        self.flush();
    }

    fn end(&mut self, _: &Tally) {
        self.flush();
    }
}

/// The last line of a transfer that succeeded.
pub fn print_summary(direction: &str, source: &str, destination: &str, summary: &TransferSummary) {
    let seconds = summary.elapsed.as_secs_f64();
    let rate = summary.bytes_per_second() / 1e6;
    print(&Line::Summary {
        direction,
        source,
        destination,
        bytes: summary.bytes,
        parts: summary.parts,
        seconds: (seconds * 1000.0).round() / 1000.0,
        mb_per_s: (rate * 10.0).round() / 10.0,
        verification: summary.verification.to_string(),
        verified_against: summary.verification.kind(),
        checksum_algorithm: summary.verification.algorithm().map(|a| a.s3_name()),
    });
}

/// The last line of a tree transfer that ran to its end (its failures and skips were lines of
/// their own).
pub fn print_tree_summary(command: &str, source: &str, destination: &str, summary: &TreeSummary) {
    let seconds = summary.elapsed.as_secs_f64();
    let rate = summary.bytes_per_second() / 1e6;
    print(&Line::TreeSummary {
        command,
        source,
        destination,
        copied: summary.copied,
        bytes: summary.bytes,
        deleted: summary.deleted,
        unchanged: summary.unchanged,
        skipped: summary.skipped.len() as u64,
        failed: summary.failed.len() as u64,
        seconds: (seconds * 1000.0).round() / 1000.0,
        mb_per_s: (rate * 10.0).round() / 10.0,
        dry_run: summary.dry_run,
    });
}

/// The last line of a command that failed: the message printed on standard error, the engine's
/// error kind when there is one (`network`, `not_found`, ...), and the exit code.
pub fn print_error(err: &anyhow::Error, exit_code: u8) {
    let kind = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<s3mt_engine::Error>())
        .map(|err| err.kind().as_str().to_owned());
    print(&Line::Error {
        kind,
        message: format!("{err:#}"),
        exit_code,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_tagged_in_snake_case() {
        let line = Line::PartStarted { part: 2, bytes: 5 };
        assert_eq!(
            serde_json::to_string(&line).unwrap(),
            r#"{"type":"part_started","part":2,"bytes":5}"#
        );
    }
}
