//! The session every transfer of a client shares (settings, the HTTP agent, the worker pool,
//! the clock), and the context of one object's transfer, built in one place.

use std::path::Path;
use std::sync::{Arc, Once};

use super::bandwidth::BandwidthCap;
use super::journal;
use super::progress::{PartAttempts, Progress, Registration};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::s3::S3Uri;
use crate::s3::call::{BucketRegions, Requester};
use crate::s3::http::{Http, trust_roots};
use crate::settings::Config;
use crate::settings::tls::Roots;

/// What every transfer of a client shares.
#[derive(Debug)]
pub(crate) struct Session {
    pub config: Config,
    /// The shared agent: its connection pool serves every transfer that cannot be cancelled.
    pub http: Http,
    /// The workers, [`Config::concurrency`] of them.
    pub pool: rayon::ThreadPool,
    /// The CA certificates every agent of the session trusts, read once.
    roots: Roots,
    pub clock: Arc<dyn Clock>,
    /// `--max-bandwidth`: the cap every connection's bytes share.
    pub bandwidth: Option<BandwidthCap>,
    /// The regions servers named for buckets, learnt once for every requester.
    regions: Arc<BucketRegions>,
    /// Whether the state directory's old journals were cleaned (once per session).
    cleaned: Once,
}

impl Session {
    /// A session for `config`, with its worker pool started.
    pub fn new(config: Config) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.concurrency)
            .thread_name(|index| format!("s3mt-worker-{index}"))
            .build()
            .map_err(|err| {
                Error::new(
                    ErrorKind::LocalIo,
                    format!("cannot start worker threads: {err}"),
                )
            })?;
        let roots = trust_roots(&config);
        let http = Http::new(&config, &roots);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let bandwidth = config
            .max_bandwidth
            .map(|rate| BandwidthCap::new(rate, Arc::clone(&clock)));
        Ok(Self {
            config,
            http,
            pool,
            roots,
            clock,
            bandwidth,
            regions: Arc::default(),
            cleaned: Once::new(),
        })
    }

    /// Removes the state directory's journals older than a week, the first time a transfer
    /// of this session could resume (a tree's files need not read the directory each).
    pub fn clean_old_state_once(&self, state_dir: &Path) {
        self.cleaned
            .call_once(|| journal::clean_old_state(state_dir));
    }

    /// Sends requests to `bucket` over `http`.
    pub fn requester(&self, http: Http, bucket: &str) -> Result<Requester> {
        Requester::new(
            &self.config,
            http,
            bucket,
            Arc::clone(&self.clock),
            Arc::clone(&self.regions),
        )
    }

    /// The agent for a transfer: the shared one, or, when the transfer can be cancelled, one of
    /// its own that the cancel token shuts down while the registration lives.
    pub fn agent_for(&self, progress: &Progress) -> (Http, Option<Registration>) {
        match progress.cancel_token() {
            None => (self.http.clone(), None),
            Some(token) => {
                let http = Http::new(&self.config, &self.roots);
                let registration = token.register(&http);
                (http, Some(registration))
            }
        }
    }
}

/// One object's transfer: the session, the requests to the object's bucket over the
/// transfer's agent, the object, and the progress its workers report to.
pub(crate) struct Transfer<'a> {
    pub session: &'a Session,
    pub requester: Requester,
    pub object: &'a S3Uri,
    pub progress: &'a Progress,
    /// Keeps a cancellable transfer's agent known to its cancel token.
    _cancellable: Option<Registration>,
}

impl<'a> Transfer<'a> {
    /// The context for a transfer of `object`, which must name an object (not a prefix).
    pub fn new(session: &'a Session, object: &'a S3Uri, progress: &'a Progress) -> Result<Self> {
        let (http, cancellable) = session.agent_for(progress);
        let mut transfer = Self::over(session, object, progress, http)?;
        transfer._cancellable = cancellable;
        Ok(transfer)
    }

    /// The context for a transfer of `object` over `http`, an agent its caller chose (a tree's
    /// transfers share the tree's).
    pub fn over(
        session: &'a Session,
        object: &'a S3Uri,
        progress: &'a Progress,
        http: Http,
    ) -> Result<Self> {
        object.require_object_key()?;
        Ok(Self {
            session,
            requester: session.requester(http, object.bucket())?,
            object,
            progress,
            _cancellable: None,
        })
    }

    /// Requests to the object's bucket over the session's shared agent, for what must go out
    /// even after a cancellation shut the transfer's own agent down (an abort).
    pub fn housekeeping(&self) -> Result<Requester> {
        self.session
            .requester(self.session.http.clone(), self.object.bucket())
    }

    /// The object's key.
    pub fn key(&self) -> &'a str {
        self.object.key()
    }

    pub fn config(&self) -> &'a Config {
        &self.session.config
    }

    /// The attempts of `part`'s request, its bytes paced by the session's bandwidth cap.
    pub fn part_attempts(&self, part: u32) -> PartAttempts<'a> {
        PartAttempts::new(self.progress, part, self.session.bandwidth.as_ref())
    }
}
