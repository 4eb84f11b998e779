//! The one request path: every S3 request s3mt makes is a [`Call`] that a [`Requester`]
//! stamps, signs, sends, checks and reads, attempt after attempt under the retry policy.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use ureq::http::Response;

use super::http::{self, Http, Payload};
use super::retry::RetryPolicy;
use super::sign::{SignedRequest, Signer, Stamp};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::settings::{Config, CredentialSource};

/// A reply, its body not read yet.
pub(crate) type Reply = Response<ureq::Body>;

/// Signs one attempt of a request.
type Sign<'a> = Box<dyn Fn(&Signer, &Stamp) -> Result<SignedRequest> + 'a>;

/// Looks at a reply before its status is checked.
type Inspect<'a> = Box<dyn Fn(&Reply) + 'a>;

/// What a request sends, the same for every attempt (each attempt is signed afresh).
pub(crate) struct Call<'a> {
    sign: Sign<'a>,
    headers: &'a [(&'a str, &'a str)],
    body: Body<'a>,
    expect: &'a [u16],
    inspect: Option<Inspect<'a>>,
}

/// A request's body.
pub(crate) enum Body<'a> {
    /// No body and no `Content-Length` (GET, HEAD, DELETE).
    None,
    /// An empty body, sent with `Content-Length: 0` (POST, PUT).
    Empty,
    /// A byte slice, sent with its length.
    Bytes(&'a [u8]),
    /// `len` bytes from a reader made afresh for each attempt, sent with `Content-Length`.
    Reader(u64, Box<dyn Fn() -> Box<dyn Read + 'a> + 'a>),
}

impl<'a> Call<'a> {
    /// A request signed by `sign`, with no body, expecting `200`.
    pub fn new(sign: impl Fn(&Signer, &Stamp) -> Result<SignedRequest> + 'a) -> Self {
        Self {
            sign: Box::new(sign),
            headers: &[],
            body: Body::None,
            expect: &[200],
            inspect: None,
        }
    }

    /// The statuses that mean success; any other is turned into the server's error.
    pub fn expect(mut self, statuses: &'a [u16]) -> Self {
        self.expect = statuses;
        self
    }

    /// The body to send.
    pub fn body(mut self, body: Body<'a>) -> Self {
        self.body = body;
        self
    }

    /// Headers sent unsigned (e.g. `range`, `if-match`).
    pub fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Looks at every reply, whatever its status, before it is checked.
    pub fn inspect(mut self, inspect: impl Fn(&Reply) + 'a) -> Self {
        self.inspect = Some(Box::new(inspect));
        self
    }
}

/// Who hears of a request's attempts: a transfer's progress, or nobody (`()`).
pub(crate) trait Observer {
    /// Called before each attempt: an error (a cancellation) ends the request with it.
    fn before_attempt(&self) -> Result<()> {
        Ok(())
    }

    /// An attempt failed with `error`; the next one starts after `delay`.
    fn retrying(&self, _attempt: u32, _error: &Error, _delay: Duration) {}

    /// Whether to stop retrying, and waiting to retry, now.
    fn stopped(&self) -> bool {
        false
    }

    /// The error the request ends with, given the last attempt's.
    fn outcome(&self, error: Error) -> Error {
        error
    }
}

impl Observer for () {}

/// The regions servers named for buckets, shared by a session's requesters: a bucket refused
/// once for a request signed in another region is signed for its own from then on, by every
/// requester (as the AWS SDKs follow a region redirect).
#[derive(Debug, Default)]
pub(crate) struct BucketRegions(Mutex<BTreeMap<String, String>>);

impl BucketRegions {
    fn get(&self, bucket: &str) -> Option<String> {
        let regions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        regions.get(bucket).cloned()
    }

    fn learn(&self, bucket: &str, region: &str) {
        let mut regions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        regions.insert(bucket.to_owned(), region.to_owned());
    }
}

/// Sends the requests of one bucket over one agent, signing each attempt with the credentials
/// current then.
#[derive(Debug)]
pub(crate) struct Requester {
    http: Http,
    /// Replaced when the server names another region for the bucket.
    signer: RwLock<Arc<Signer>>,
    regions: Arc<BucketRegions>,
    credentials: CredentialSource,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl Requester {
    /// Requests to `bucket`, signed for its region: the one `config` places it in, or the one
    /// its server named before (`regions`).
    pub fn new(
        config: &Config,
        http: Http,
        bucket: &str,
        clock: Arc<dyn Clock>,
        regions: Arc<BucketRegions>,
    ) -> Result<Self> {
        let mut signer = Signer::new(config, bucket)?;
        if let Some(region) = regions.get(bucket)
            && let Ok(learnt) = signer.in_region(&region)
        {
            signer = learnt;
        }
        Ok(Self {
            http,
            signer: RwLock::new(Arc::new(signer)),
            regions,
            credentials: config.credentials.clone(),
            policy: RetryPolicy {
                max_attempts: config.max_attempts,
                base: config.backoff_base,
                max: config.backoff_max,
            },
            clock,
        })
    }

    /// Runs `call` under the retry policy; `read` reads each reply with an expected status
    /// (its error, when retryable, is retried too).
    pub fn call<T>(
        &self,
        call: &Call<'_>,
        observer: &dyn Observer,
        mut read: impl FnMut(&mut Reply) -> Result<T>,
    ) -> Result<T> {
        self.policy
            .run(
                &*self.clock,
                |number| self.attempt_observed(call, &mut read, observer, number),
                |number, err, delay| observer.retrying(number, err, delay),
                || observer.stopped(),
            )
            .map_err(|err| observer.outcome(err))
    }

    /// One attempt of `call`, not retried (see [`Requester::attempt_observed`]).
    pub fn attempt<T>(
        &self,
        call: &Call<'_>,
        read: &mut impl FnMut(&mut Reply) -> Result<T>,
    ) -> Result<T> {
        self.attempt_observed(call, read, &(), 1)
    }

    /// Attempt `number` of `call`. Refused for being signed in another region than the one
    /// the server names for the bucket, it is signed for that one and sent again at once
    /// (`observer` told of it as of a retry, so that a part's bytes are not counted twice).
    fn attempt_observed<T>(
        &self,
        call: &Call<'_>,
        read: &mut impl FnMut(&mut Reply) -> Result<T>,
        observer: &dyn Observer,
        number: u32,
    ) -> Result<T> {
        observer.before_attempt()?;
        let signer = self.signer();
        match self.attempt_signed(&signer, call, read) {
            Err(error) if self.follow_region(&signer, &error) => {
                observer.retrying(number, &error, Duration::ZERO);
                observer.before_attempt()?;
                self.attempt_signed(&self.signer(), call, read)
            }
            outcome => outcome,
        }
    }

    /// Whether `error`, for a request signed by `used`, names the bucket's region as another
    /// that requests can be signed for; if so, requests are signed for it from now on.
    fn follow_region(&self, used: &Signer, error: &Error) -> bool {
        let Some(region) = error.bucket_region() else {
            return false;
        };
        if region == used.region() {
            return false;
        }
        if self.signer().region() == region {
            // Another attempt followed it meanwhile.
            return true;
        }
        let Ok(moved) = used.in_region(region) else {
            return false;
        };
        self.regions.learn(moved.bucket_name(), region);
        *self.signer.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(moved);
        true
    }

    fn attempt_signed<T>(
        &self,
        signer: &Signer,
        call: &Call<'_>,
        read: &mut impl FnMut(&mut Reply) -> Result<T>,
    ) -> Result<T> {
        let request = (call.sign)(signer, &self.stamp()?)?;
        let mut reader;
        let payload = match &call.body {
            Body::None => Payload::None,
            Body::Empty => Payload::Empty,
            Body::Bytes(bytes) => Payload::Bytes(bytes),
            Body::Reader(len, make) => {
                reader = make();
                Payload::Reader(&mut *reader, *len)
            }
        };
        let response = self.http.send(&request, call.headers, payload)?;
        if let Some(inspect) = &call.inspect {
            inspect(&response);
        }
        let mut response = http::expect_status(response, call.expect)?;
        read(&mut response)
    }

    /// The time and credentials to sign with now: credentials due for a refresh are fetched
    /// first.
    pub fn stamp(&self) -> Result<Stamp> {
        Ok(Stamp::new(self.credentials.current()?, self.clock.now()))
    }

    /// What requests are signed with.
    pub fn signer(&self) -> Arc<Signer> {
        Arc::clone(&self.signer.read().unwrap_or_else(PoisonError::into_inner))
    }
}
