//! Progress reporting for `s3mt cp`: a thread that reads the engine's events from a channel
//! and shows them as a bar, a parts grid, plain lines or JSON lines (see the README).

mod human;
mod json;
mod tally;

use std::io::IsTerminal as _;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use s3mt_engine::Event;

pub use self::json::{print_error, print_summary, print_tree_summary};
use self::tally::Tally;
use crate::args::CpArgs;
use crate::exit::UsageError;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not at all.
    None,
    /// A bar redrawn in place on the terminal.
    Bar,
    /// The bar and the parts grid, redrawn in place on the terminal.
    PartsLive,
    /// A status line and the parts grid per interval, as plain text.
    PartsBlocks,
    /// A status line per interval, as plain text.
    Lines,
    /// JSON lines on standard output.
    Json,
}

/// What `cp` reports, and how often.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub mode: Mode,
    pub interval: Duration,
    /// The summary goes to standard output as JSON instead of to standard error.
    pub json: bool,
    /// Nothing but errors on standard error.
    pub quiet: bool,
    /// A tree's dry run: what would be done is printed, one line each.
    pub dry_run: bool,
    /// `--max-bandwidth` (or the profile's), in bytes per second, shown beside the rate.
    pub cap: Option<u64>,
}

impl Settings {
    /// The settings `--progress`, `--progress-interval`, `--json` and `--quiet` ask for.
    /// Standard error decides the defaults: a bar on a terminal, lines otherwise.
    pub fn from_args(args: &CpArgs) -> Result<Self> {
        let terminal = std::io::stderr().is_terminal();
        let asked = match args.progress.as_deref() {
            None if terminal => Mode::Bar,
            None => Mode::Lines,
            Some("bar") if terminal => Mode::Bar,
            Some("parts") if terminal => Mode::PartsLive,
            Some("parts") => Mode::PartsBlocks,
            // A bar is drawn with escape codes: logs and pipes get lines instead.
            Some("bar" | "lines") => Mode::Lines,
            Some("none") => Mode::None,
            Some(other) => {
                return Err(UsageError::new(format!(
                    "--progress {other:?}: expected bar, parts, lines or none"
                ))
                .into());
            }
        };
        let mode = if args.json {
            Mode::Json
        } else if args.quiet {
            Mode::None
        } else {
            asked
        };
        let interval = match args.progress_interval {
            Some(seconds) => Duration::try_from_secs_f64(seconds)
                .ok()
                .filter(|interval| !interval.is_zero())
                .ok_or_else(|| {
                    UsageError::new(format!(
                        "--progress-interval {seconds}: expected seconds > 0"
                    ))
                })?,
            None => match mode {
                Mode::Lines | Mode::PartsBlocks => Duration::from_secs(5),
                Mode::Json => Duration::from_secs(1),
                Mode::None | Mode::Bar | Mode::PartsLive => Duration::from_millis(500),
            },
        };
        Ok(Self {
            mode,
            interval,
            json: args.json,
            quiet: args.quiet,
            dry_run: args.dry_run,
            cap: None,
        })
    }
}

/// Where the reporter thread shows events.
trait Sink {
    /// `event` happened; `tally` already counts it.
    fn event(&mut self, event: &Event, tally: &Tally);
    /// An interval passed.
    fn tick(&mut self, tally: &Tally);
    /// No more events will come.
    fn end(&mut self, tally: &Tally);
}

/// The reporter thread.
#[derive(Debug)]
pub struct Reporter {
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// Starts the reporter for `settings`, and returns it with the sender to give the transfer
    /// (none when nothing is reported). The thread ends on the transfer's last event, or once
    /// every clone of the sender is dropped.
    pub fn start(settings: &Settings) -> (Self, Option<Sender<Event>>) {
        let sink: Box<dyn Sink + Send> = match settings.mode {
            Mode::None if settings.quiet => return (Self { thread: None }, None),
            // No progress, but what the user must know (e.g. that a transfer resumes).
            Mode::None => Box::new(human::NoticesOnly {
                dry_run: settings.dry_run,
            }),
            Mode::Bar => Box::new(human::Live::new(false, settings)),
            Mode::PartsLive => Box::new(human::Live::new(true, settings)),
            Mode::PartsBlocks => Box::new(human::Lines::new(true, settings)),
            Mode::Lines => Box::new(human::Lines::new(false, settings)),
            Mode::Json => Box::new(json::Json::default()),
        };
        let (sender, receiver) = crossbeam_channel::unbounded();
        let interval = settings.interval;
        let thread = std::thread::Builder::new()
            .name("s3mt-report".into())
            .spawn(move || report(&receiver, sink, interval));
        match thread {
            Ok(thread) => (
                Self {
                    thread: Some(thread),
                },
                Some(sender),
            ),
            // Without a thread, the transfer goes on unreported.
            Err(_) => (Self { thread: None }, None),
        }
    }

    /// Waits for the reporter to show the last event. Drop every sender first.
    pub fn finish(mut self) {
        if let Some(thread) = self.thread.take() {
            // A reporter that panicked has nothing more to show; the transfer's outcome stands.
            let _ = thread.join();
        }
    }
}

/// The reporter's loop: every event as it comes, a tick per interval.
fn report(receiver: &Receiver<Event>, mut sink: Box<dyn Sink + Send>, interval: Duration) {
    let mut tally = Tally::default();
    let mut next_tick = Instant::now() + interval;
    loop {
        match receiver.recv_deadline(next_tick) {
            Ok(event) => {
                tally.apply(&event);
                sink.event(&event, &tally);
                if matches!(
                    event,
                    Event::Finished(_) | Event::TreeFinished(_) | Event::Failed { .. }
                ) {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                sink.tick(&tally);
                next_tick = Instant::now() + interval;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    sink.end(&tally);
}
