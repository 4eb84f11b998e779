//! The one request path: every S3 request s3mt makes is a [`Call`] that a [`Requester`]
//! stamps, signs, sends, checks and reads, attempt after attempt under the retry policy.

use std::io::Read;
use std::sync::Arc;
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

/// Sends the requests of one bucket over one agent, signing each attempt with the credentials
/// current then.
#[derive(Debug)]
pub(crate) struct Requester {
    http: Http,
    signer: Signer,
    credentials: CredentialSource,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl Requester {
    pub fn new(config: &Config, http: Http, bucket: &str, clock: Arc<dyn Clock>) -> Result<Self> {
        Ok(Self {
            http,
            signer: Signer::new(config, bucket)?,
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
                |_| {
                    observer.before_attempt()?;
                    self.attempt(call, &mut read)
                },
                |number, err, delay| observer.retrying(number, err, delay),
                || observer.stopped(),
            )
            .map_err(|err| observer.outcome(err))
    }

    /// One attempt of `call`, not retried.
    pub fn attempt<T>(
        &self,
        call: &Call<'_>,
        read: &mut impl FnMut(&mut Reply) -> Result<T>,
    ) -> Result<T> {
        let request = (call.sign)(&self.signer, &self.stamp()?)?;
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
    pub fn signer(&self) -> &Signer {
        &self.signer
    }
}
