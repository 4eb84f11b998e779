//! What one soak run does, drawn from its seed alone: a transfer (a file, a stream or a tree,
//! up or down) of a random size, and a random mix of faults for the proxy to inject. Pure: the same
//! seed gives the same run.

use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use s3mt_engine::size::MIB;
use s3mt_tests::proxy::{Fault, Match, Rule};

/// How long a stall lasts: longer than the soak's `--io-timeout`, so it is a stall.
pub const STALL: Duration = Duration::from_millis(2500);

/// What is moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    UploadFile,
    DownloadFile,
    UploadStream,
    DownloadStream,
    UploadTree,
    DownloadTree,
}

impl Kind {
    pub fn uploads(self) -> bool {
        matches!(
            self,
            Self::UploadFile | Self::UploadStream | Self::UploadTree
        )
    }

    pub fn is_tree(self) -> bool {
        matches!(self, Self::UploadTree | Self::DownloadTree)
    }
}

/// A fault, where it strikes, and how many times.
#[derive(Debug, Clone)]
pub struct Injected {
    pub fault: Fault,
    pub method: &'static str,
    /// Only ranged requests (GETs of part of an object).
    pub ranged: bool,
    pub times: usize,
}

impl Injected {
    pub fn rule(&self) -> Rule {
        let matcher = Match::method(self.method);
        let matcher = if self.ranged {
            matcher.header("range")
        } else {
            matcher
        };
        Rule::new(matcher, self.times, self.fault.clone())
    }

    /// The fault's kind, for the report: `reset mid-response`, `503 SlowDown`, ...
    pub fn name(&self) -> String {
        match &self.fault {
            Fault::ResetDuringRequestBody { .. } => "reset mid-request".into(),
            Fault::ResetDuringResponseBody { .. } => "reset mid-response".into(),
            Fault::Respond { status, code } => format!("{status} {code}"),
            Fault::Stall { .. } => "stall".into(),
            Fault::ShortBody { .. } => "short body".into(),
            Fault::FlipResponseByte { .. } => "flipped byte, reply".into(),
            Fault::FlipRequestByte { .. } => "flipped byte, request".into(),
            Fault::OkWithErrorBody { .. } => "200 with an error body".into(),
            Fault::EmptyOk => "empty 200".into(),
            Fault::DropRequestHeader { .. } => {
                "ranged GET answered 200 with the whole object".into()
            }
            Fault::RewriteResponseHeader { name, .. } => format!("{name} removed from a reply"),
            other => format!("{other:?}"),
        }
    }
}

/// New connections refused for a while, from a moment after the start: the server down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub after: Duration,
    pub lasting: Duration,
}

/// One run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub kind: Kind,
    pub size: u64,
    pub faults: Vec<Injected>,
    pub refusal: Option<Refusal>,
    /// A tree's small files beside its main one (of `size` bytes), by size.
    pub small_files: Vec<u64>,
}

impl Plan {
    /// The run of `seed`, moving at most `max_size` bytes.
    pub fn new(seed: u64, max_size: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let kind = match rng.random_range(0..10) {
            0..=2 => Kind::UploadFile,
            3..=5 => Kind::DownloadFile,
            6 => Kind::UploadStream,
            7 => Kind::DownloadStream,
            8 => Kind::UploadTree,
            _ => Kind::DownloadTree,
        };
        let size = pick_size(&mut rng, max_size);
        let small_files = if kind.is_tree() {
            (0..rng.random_range(1..=6))
                .map(|_| rng.random_range(0..64 * 1024))
                .collect()
        } else {
            Vec::new()
        };
        let count = rng.random_range(0..=3);
        let faults = (0..count)
            .map(|_| pick_fault(&mut rng, kind, size))
            .collect();
        let refusal = (rng.random_range(0..4) == 0).then(|| Refusal {
            // From the first connection on, or later (when a reset makes s3mt reconnect).
            after: Duration::from_millis(rng.random_range(0..2) * rng.random_range(0..1500)),
            lasting: Duration::from_millis(rng.random_range(200..3000)),
        });
        Self {
            seed,
            kind,
            size,
            faults,
            refusal,
            small_files,
        }
    }

    /// The files moved, by name (relative to the tree's root) and size; one for a file or a
    /// stream.
    pub fn files(&self) -> Vec<(String, u64)> {
        let mut files = vec![("main".to_owned(), self.size)];
        files.extend(
            self.small_files
                .iter()
                .enumerate()
                .map(|(n, size)| (format!("small/{n}"), *size)),
        );
        files
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} of {} bytes", self.kind, self.size)?;
        if !self.small_files.is_empty() {
            write!(f, " and {} small files", self.small_files.len())?;
        }
        for fault in &self.faults {
            write!(f, ", {} x{} on {}", fault.name(), fault.times, fault.method)?;
        }
        if let Some(refusal) = self.refusal {
            write!(
                f,
                ", connections refused from {:.1} s for {:.1} s",
                refusal.after.as_secs_f64(),
                refusal.lasting.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

/// Empty, a few bytes, around the part size, or anything up to `max_size`.
fn pick_size(rng: &mut StdRng, max_size: u64) -> u64 {
    let part = 5 * MIB;
    let size = match rng.random_range(0..10) {
        0 => 0,
        1..=2 => rng.random_range(1..64 * 1024),
        3..=5 => (part * rng.random_range(1..4)).saturating_add_signed(rng.random_range(-2..=2)),
        _ => rng.random_range(1..=max_size.max(1)),
    };
    size.min(max_size)
}

/// A fault that may strike a transfer of `kind`.
fn pick_fault(rng: &mut StdRng, kind: Kind, size: u64) -> Injected {
    let times = rng.random_range(1..=3);
    let offset = rng.random_range(0..size.clamp(1, 5 * MIB)) as usize;
    let (fault, method, ranged) = match rng.random_range(0..10) {
        0 => (
            Fault::Respond {
                status: 503,
                code: "SlowDown",
            },
            any_method(rng, kind),
            false,
        ),
        1 => (
            Fault::Respond {
                status: 500,
                code: "InternalError",
            },
            any_method(rng, kind),
            false,
        ),
        2 => (Fault::Stall { for_: STALL }, any_method(rng, kind), false),
        3 if kind.uploads() => (
            Fault::ResetDuringRequestBody { after: offset },
            "PUT",
            false,
        ),
        3 => (
            Fault::ResetDuringResponseBody { after: offset },
            "GET",
            true,
        ),
        4 if kind.uploads() => (Fault::FlipRequestByte { offset }, "PUT", false),
        4 => (Fault::FlipResponseByte { offset }, "GET", true),
        5 if kind.uploads() => (Fault::EmptyOk, "PUT", false),
        5 => (
            Fault::ShortBody {
                missing: rng.random_range(1..4096),
            },
            "GET",
            true,
        ),
        6 => (
            Fault::OkWithErrorBody {
                code: "InternalError",
            },
            if kind.uploads() { "POST" } else { "HEAD" },
            false,
        ),
        7 => (
            Fault::ResetDuringResponseBody { after: 0 },
            any_method(rng, kind),
            false,
        ),
        8 if kind.uploads() => (
            Fault::RewriteResponseHeader {
                name: "etag".to_owned(),
                value: None,
            },
            "PUT",
            false,
        ),
        8 => (
            Fault::DropRequestHeader {
                name: "range".to_owned(),
            },
            "GET",
            true,
        ),
        _ => (
            Fault::Respond {
                status: 503,
                code: "SlowDown",
            },
            "POST",
            false,
        ),
    };
    Injected {
        fault,
        method,
        ranged,
        times,
    }
}

/// A method the transfer sends.
fn any_method(rng: &mut StdRng, kind: Kind) -> &'static str {
    let methods: &[&'static str] = if kind.uploads() {
        &["PUT", "POST"]
    } else {
        &["GET", "HEAD"]
    };
    methods[rng.random_range(0..methods.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_is_one_run_and_sizes_stay_in_bounds() {
        for seed in 0..500 {
            let plan = Plan::new(seed, 24 * MIB);
            assert!(plan.size <= 24 * MIB);
            assert!(plan.faults.len() <= 3);
            assert_eq!(plan.to_string(), Plan::new(seed, 24 * MIB).to_string());
        }
        let kinds: std::collections::BTreeSet<String> = (0..200)
            .map(|seed| format!("{:?}", Plan::new(seed, MIB).kind))
            .collect();
        assert_eq!(kinds.len(), 6, "every kind is drawn: {kinds:?}");
    }
}
