//! Progress for people, on standard error: a bar (and the parts grid) redrawn in place on a
//! terminal, or plain lines (and grid blocks) once per interval for logs and pipes.

use std::io::Write as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use s3mt_engine::Event;
use s3mt_engine::size::Size;

use super::tally::{Files, Tally};
use super::{Settings, Sink};

/// Columns of a grid written to a log, or to a terminal whose width cannot be had.
const LOG_WIDTH: usize = 80;
/// Rows of the parts grid at most; a transfer with more parts shows those in flight and the
/// most recently finished.
const GRID_ROWS: usize = 4;

/// The bar, with the parts grid below it when `parts`, redrawn in place on a terminal. A tree
/// gets one bar for all its files, its total growing as the listings go.
pub struct Live {
    parts: bool,
    dry_run: bool,
    cap: Option<u64>,
    bar: Option<ProgressBar>,
}

impl Live {
    pub fn new(parts: bool, settings: &Settings) -> Self {
        Self {
            parts,
            dry_run: settings.dry_run,
            cap: settings.cap,
            bar: None,
        }
    }

    /// A bar, or for a stream of unknown size (a total of 0) a counter of bytes.
    fn start(&mut self, total: u64, tree: bool) -> &ProgressBar {
        let mut template = String::from(if tree { "{prefix} " } else { "" });
        template.push_str(if total == 0 && !tree {
            "{spinner} {binary_bytes}, {decimal_bytes_per_sec}"
        } else {
            "[{bar:40}] {binary_bytes} / {binary_total_bytes} ({percent}%), \
             {decimal_bytes_per_sec}, ETA {eta}"
        });
        if let Some(cap) = self.cap {
            template.push_str(&cap_text(cap));
        }
        if self.parts {
            template.push_str("\n{msg}");
        }
        let style = ProgressStyle::with_template(&template)
            .expect("the progress template is valid")
            .progress_chars("=> ");
        self.bar.insert(
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                .with_style(style),
        )
    }

    /// Moves the bar to the tally (a tree's total and file counts too).
    fn update(&self, tally: &Tally) {
        if let Some(bar) = &self.bar {
            bar.set_position(tally.done);
            if let Some(files) = tally.files {
                bar.set_length(tally.total.unwrap_or_default());
                bar.set_prefix(files_status(&files));
            }
        }
    }

    fn redraw(&self, tally: &Tally) {
        self.update(tally);
        if let Some(bar) = &self.bar {
            if self.parts && tally.files.is_none() {
                let width = console::Term::stderr()
                    .size_checked()
                    .map_or(LOG_WIDTH, |(_, columns)| usize::from(columns));
                bar.set_message(parts_block(tally, width));
            } else {
                bar.tick();
            }
        }
    }

    /// Prints above the bar.
    fn above(&self, print: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

impl Sink for Live {
    fn event(&mut self, event: &Event, tally: &Tally) {
        if let Some(line) = TreeLine::of(event, self.dry_run, false) {
            self.above(|| line.print());
        }
        match event {
            Event::Planned { total_bytes, .. } => {
                self.start(*total_bytes, false);
                self.redraw(tally);
            }
            Event::TreeEntry { .. } if self.bar.is_none() => {
                self.start(tally.total.unwrap_or_default(), true);
                self.redraw(tally);
            }
            Event::Notice(message) => self.above(|| notice(message)),
            // The summary line or the error takes the bar's place.
            Event::Finished(_) | Event::TreeFinished(_) | Event::Failed { .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
            _ => self.update(tally),
        }
    }

    fn tick(&mut self, tally: &Tally) {
        self.redraw(tally);
    }

    fn end(&mut self, _: &Tally) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Shows notices, and a tree's failures and skips, only (`--progress none`).
pub struct NoticesOnly {
    pub dry_run: bool,
}

impl Sink for NoticesOnly {
    fn event(&mut self, event: &Event, _: &Tally) {
        if let Event::Notice(message) = event {
            notice(message);
        }
        if let Some(line) = TreeLine::of(event, self.dry_run, false) {
            line.print();
        }
    }

    fn tick(&mut self, _: &Tally) {}

    fn end(&mut self, _: &Tally) {}
}

/// `s3mt: MESSAGE` on standard error.
fn notice(message: &str) {
    eprintln!("s3mt: {message}");
}

/// A line of its own for a tree's event: a failure or a skip (always), a file done (in logs,
/// `every_file`), or in a dry run what would be done.
enum TreeLine {
    /// For standard error.
    Log(String),
    /// For standard output: a dry run's plan, to read or pipe.
    Plan(String),
}

impl TreeLine {
    fn of(event: &Event, dry_run: bool, every_file: bool) -> Option<Self> {
        match event {
            Event::FileFailed {
                path,
                action,
                message,
                ..
            } => Some(Self::Log(format!(
                "s3mt: failed: {action} {path}: {message}"
            ))),
            Event::FileSkipped { path, reason } => {
                Some(Self::Log(format!("s3mt: skipped: {path}: {reason}")))
            }
            Event::FileDone { path, action, .. } if every_file => {
                Some(Self::Log(format!("s3mt: {action}: {path}")))
            }
            Event::TreeEntry { path, action, .. } if dry_run => {
                Some(Self::Plan(format!("(dry run) {action}: {path}")))
            }
            _ => None,
        }
    }

    fn print(&self) {
        match self {
            Self::Log(text) => eprintln!("{text}"),
            Self::Plan(text) => println!("{text}"),
        }
    }
}

/// One line per interval (`s3mt: 412.0 MiB / 1.0 GiB (40.2%), 205.3 MB/s`), followed by the
/// parts grid when `parts`, with no escape codes: for logs and pipes. A tree also gets a line
/// per file done.
pub struct Lines {
    parts: bool,
    dry_run: bool,
    cap: Option<u64>,
    rate: Rate,
}

impl Lines {
    pub fn new(parts: bool, settings: &Settings) -> Self {
        Self {
            parts,
            dry_run: settings.dry_run,
            cap: settings.cap,
            rate: Rate::new(),
        }
    }
}

impl Sink for Lines {
    fn event(&mut self, event: &Event, tally: &Tally) {
        if let Some(line) = TreeLine::of(event, self.dry_run, true) {
            line.print();
        }
        match event {
            Event::Planned { .. } => {
                self.rate = Rate::new();
                self.rate.per_second(tally.moved);
            }
            Event::Notice(message) => notice(message),
            _ => {}
        }
    }

    fn tick(&mut self, tally: &Tally) {
        if tally.total.is_none() {
            return;
        }
        let mut text = format!("s3mt: {}", status(tally, self.rate.per_second(tally.moved)));
        if let Some(cap) = self.cap {
            text.push_str(&cap_text(cap));
        }
        if self.parts && tally.files.is_none() {
            text.push('\n');
            text.push_str(&parts_block(tally, LOG_WIDTH));
        }
        text.push('\n');
        // A closed standard error is no reason to stop the transfer.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    fn end(&mut self, _: &Tally) {}
}

/// ` (cap 52.4 MB/s)`: the bandwidth cap, in the rate's units.
fn cap_text(bytes_per_second: u64) -> String {
    format!(" (cap {:.1} MB/s)", bytes_per_second as f64 / 1e6)
}

/// `12 / 340 files` and the failures, for a tree.
fn files_status(files: &Files) -> String {
    let mut text = format!("{} / {} files", files.done, files.planned);
    if files.failed > 0 {
        text.push_str(&format!(", {} failed", files.failed));
    }
    text
}

/// `412.0 MiB / 1.0 GiB (40.2%), 205.3 MB/s`, and the retries if there were any.
fn status(tally: &Tally, bytes_per_second: f64) -> String {
    let mut text = tally
        .files
        .map(|files| format!("{}, ", files_status(&files)))
        .unwrap_or_default();
    text += &match tally.total {
        // A stream of unknown size.
        Some(0) | None => format!("{}, {:.1} MB/s", bytes(tally.done), bytes_per_second / 1e6),
        Some(total) => format!(
            "{} / {} ({:.1}%), {:.1} MB/s",
            bytes(tally.done),
            bytes(total),
            tally.percent(),
            bytes_per_second / 1e6
        ),
    };
    match tally.retries {
        0 => {}
        1 => text.push_str(", 1 retry"),
        n => text.push_str(&format!(", {n} retries")),
    }
    text
}

/// `  parts: 1 of 3 done, 2 in flight` and rows of `  1:100%   2: 43%   3:  0%`, fitting
/// `width` columns.
fn parts_block(tally: &Tally, width: usize) -> String {
    let digits = tally.parts.max(1).to_string().len();
    let cell_width = digits + 5;
    let per_row = ((width.saturating_sub(2) + 3) / (cell_width + 3)).max(1);
    let mut text = format!(
        "  parts: {} of {} done, {} in flight",
        tally.parts_done(),
        tally.parts,
        tally.parts_in_flight()
    );
    for row in tally.grid(per_row * GRID_ROWS).chunks(per_row) {
        let cells: Vec<String> = row
            .iter()
            .map(|cell| format!("{:>digits$}:{:>3}%", cell.part, cell.percent))
            .collect();
        text.push_str("\n  ");
        text.push_str(&cells.join("   "));
    }
    text
}

/// A size with binary units and one decimal: `512 B`, `412.0 MiB`.
fn bytes(count: u64) -> String {
    format!("{:.1}", Size(count))
}

/// Bytes per second between two readings of a counter.
struct Rate {
    at: Instant,
    count: u64,
}

impl Rate {
    fn new() -> Self {
        Self {
            at: Instant::now(),
            count: 0,
        }
    }

    /// The rate since the last call, given the counter now.
    fn per_second(&mut self, count: u64) -> f64 {
        let now = Instant::now();
        let seconds = now.duration_since(self.at).max(Duration::from_millis(1));
        let rate = count.saturating_sub(self.count) as f64 / seconds.as_secs_f64();
        self.at = now;
        self.count = count;
        rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_have_one_decimal_past_bytes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(412 * 1024 * 1024), "412.0 MiB");
        assert_eq!(bytes(1 << 30), "1.0 GiB");
    }

    #[test]
    fn the_status_line_and_the_grid() {
        let mut tally = Tally::default();
        for event in [
            Event::Planned {
                total_bytes: 1000,
                part_size: 400,
                parts: 3,
            },
            Event::PartStarted {
                part: 1,
                bytes: 400,
            },
            Event::Bytes {
                part: 1,
                bytes: 400,
            },
            Event::PartDone { part: 1 },
            Event::PartStarted {
                part: 2,
                bytes: 400,
            },
            Event::Bytes {
                part: 2,
                bytes: 172,
            },
        ] {
            tally.apply(&event);
        }
        assert_eq!(status(&tally, 2.5e6), "572 B / 1000 B (57.2%), 2.5 MB/s");
        assert_eq!(
            parts_block(&tally, 80),
            "  parts: 1 of 3 done, 1 in flight\n  1:100%   2: 43%   3:  0%"
        );
        // Two cells of 6 columns and a 3-column gap fit in 17 columns.
        assert_eq!(
            parts_block(&tally, 17),
            "  parts: 1 of 3 done, 1 in flight\n  1:100%   2: 43%\n  3:  0%"
        );
    }
}
