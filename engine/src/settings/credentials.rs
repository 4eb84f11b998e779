//! Credentials, and where a client gets them: fixed ones, or ones fetched from a provider (an
//! instance-metadata or container endpoint) and fetched again before they expire.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};

/// How long before their expiry temporary credentials are replaced, by default. AWS makes new
/// instance credentials available at least five minutes before the old ones expire.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Access key, secret key, optional session token and expiry. `Debug` shows only the access key.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
    expires: Option<Timestamp>,
}

impl Credentials {
    /// Long-term credentials.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            session_token: None,
            expires: None,
        }
    }

    /// Adds the session token of temporary credentials (an empty token means none).
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into()).filter(|token| !token.is_empty());
        self
    }

    /// Sets when the credentials stop working.
    pub fn with_expiry(mut self, expires: Timestamp) -> Self {
        self.expires = Some(expires);
        self
    }

    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Option<Self> {
        from_variables(|name| std::env::var(name).ok())
    }

    /// The access key id (not secret).
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// When the credentials expire, if they do.
    pub fn expires(&self) -> Option<Timestamp> {
        self.expires
    }

    fn to_rusty(&self) -> rusty_s3::Credentials {
        match &self.session_token {
            Some(token) => {
                rusty_s3::Credentials::new_with_token(&self.access_key, &self.secret_key, token)
            }
            None => rusty_s3::Credentials::new(&self.access_key, &self.secret_key),
        }
    }
}

/// Keys from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` as `var`
/// reads them; none unless both keys are set and non-empty.
pub(crate) fn from_variables(var: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
    let var = |name| var(name).filter(|value| !value.is_empty());
    let credentials = Credentials::new(var("AWS_ACCESS_KEY_ID")?, var("AWS_SECRET_ACCESS_KEY")?);
    Some(match var("AWS_SESSION_TOKEN") {
        Some(token) => credentials.with_session_token(token),
        None => credentials,
    })
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires", &self.expires)
            .finish()
    }
}

/// Fetches temporary credentials, e.g. from an instance-metadata endpoint. A
/// [`CredentialSource::refreshing`] calls it once, then again whenever the credentials it
/// returned are about to expire.
pub trait ProvideCredentials: Send + Sync + fmt::Debug {
    /// Fresh credentials, or why there are none. Messages must not contain secrets.
    fn provide(&self) -> Result<Credentials>;
}

/// Where a client's credentials come from: fixed ones, or a provider whose credentials are
/// cached and fetched again [`DEFAULT_REFRESH_MARGIN`] before they expire, so transfers that
/// outlive them keep going. Cheap to clone: clones share the cache.
#[derive(Clone)]
pub struct CredentialSource {
    inner: Arc<Source>,
}

enum Source {
    Fixed(Arc<rusty_s3::Credentials>),
    Refreshing(Refreshing),
}

struct Refreshing {
    provider: Box<dyn ProvideCredentials>,
    margin: Duration,
    clock: Arc<dyn Clock>,
    cache: Mutex<Option<Cached>>,
}

struct Cached {
    signing: Arc<rusty_s3::Credentials>,
    expires: Option<Timestamp>,
    /// No new fetch before this, unless the credentials have expired: a provider may keep
    /// handing out credentials already inside the margin, or fail for a while.
    quiet_until: Timestamp,
}

impl CredentialSource {
    /// Credentials that never change.
    pub fn fixed(credentials: Credentials) -> Self {
        Self {
            inner: Arc::new(Source::Fixed(Arc::new(credentials.to_rusty()))),
        }
    }

    /// Credentials from `provider`, fetched on first use and again when fewer than
    /// [`DEFAULT_REFRESH_MARGIN`] remain before they expire.
    pub fn refreshing(provider: impl ProvideCredentials + 'static) -> Self {
        Self::refreshing_with_margin(provider, DEFAULT_REFRESH_MARGIN)
    }

    /// Like [`CredentialSource::refreshing`], replacing credentials `margin` before expiry.
    ///
    /// When a refresh fails while the cached credentials have not yet expired, they stay in
    /// use and the next fetch waits a tenth of the margin (at most 30 s); once they have
    /// expired, the failure is the caller's error.
    pub fn refreshing_with_margin(
        provider: impl ProvideCredentials + 'static,
        margin: Duration,
    ) -> Self {
        Self::refreshing_on(provider, margin, Arc::new(SystemClock))
    }

    /// [`CredentialSource::refreshing_with_margin`], telling the time by `clock`.
    pub(crate) fn refreshing_on(
        provider: impl ProvideCredentials + 'static,
        margin: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Source::Refreshing(Refreshing {
                provider: Box::new(provider),
                margin,
                clock,
                cache: Mutex::new(None),
            })),
        }
    }

    /// Refuses fixed credentials with an empty key.
    pub(crate) fn check(&self) -> Result<()> {
        match &*self.inner {
            Source::Fixed(credentials)
                if credentials.key().is_empty() || credentials.secret().is_empty() =>
            {
                Err(Error::invalid(
                    "the access key and secret key must not be empty",
                ))
            }
            _ => Ok(()),
        }
    }

    /// The credentials to sign with now, fetched first if needed.
    pub(crate) fn current(&self) -> Result<Arc<rusty_s3::Credentials>> {
        match &*self.inner {
            Source::Fixed(credentials) => Ok(Arc::clone(credentials)),
            Source::Refreshing(refreshing) => refreshing.current(),
        }
    }
}

impl From<Credentials> for CredentialSource {
    fn from(credentials: Credentials) -> Self {
        Self::fixed(credentials)
    }
}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Source::Fixed(credentials) => f
                .debug_struct("Fixed")
                .field("access_key", &credentials.key())
                .finish_non_exhaustive(),
            Source::Refreshing(refreshing) => f
                .debug_struct("Refreshing")
                .field("provider", &refreshing.provider)
                .field("margin", &refreshing.margin)
                .finish_non_exhaustive(),
        }
    }
}

impl Refreshing {
    fn current(&self) -> Result<Arc<rusty_s3::Credentials>> {
        // One thread fetches while the others wait for its result: fetches are rare and short.
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        if let Some(cached) = cache.as_ref() {
            let expired = cached.expires.is_some_and(|expires| expires <= now);
            if !expired && (!self.is_due(cached, now) || now < cached.quiet_until) {
                return Ok(Arc::clone(&cached.signing));
            }
        }
        let quiet_until = now + (self.margin / 10).min(Duration::from_secs(30));
        let fetched = self.provider.provide().and_then(|fresh| {
            if fresh.access_key.is_empty() || fresh.secret_key.is_empty() {
                return Err(unavailable(format!(
                    "{:?} returned an empty key",
                    self.provider
                )));
            }
            Ok(fresh)
        });
        match fetched {
            Ok(fresh) => {
                let signing = Arc::new(fresh.to_rusty());
                let mut cached = Cached {
                    signing: Arc::clone(&signing),
                    expires: fresh.expires,
                    quiet_until: now,
                };
                if self.is_due(&cached, now) {
                    cached.quiet_until = quiet_until;
                }
                *cache = Some(cached);
                Ok(signing)
            }
            Err(err) => match cache.as_mut() {
                Some(cached) if cached.expires.is_none_or(|expires| expires > now) => {
                    cached.quiet_until = quiet_until;
                    Ok(Arc::clone(&cached.signing))
                }
                _ => Err(err),
            },
        }
    }

    /// Whether `cached` expires within the margin.
    fn is_due(&self, cached: &Cached, now: Timestamp) -> bool {
        let margin = SignedDuration::try_from(self.margin).unwrap_or(SignedDuration::MAX);
        cached
            .expires
            .is_some_and(|expires| expires.duration_since(now) < margin)
    }
}

/// An error for credentials that cannot be found or fetched.
pub(crate) fn unavailable(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Credentials, message)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::clock::testing::ManualClock;

    /// Hands out `key-N` expiring `lifetime` after each fetch, by `clock`; fails while
    /// `failing` is set.
    #[derive(Debug)]
    struct Counter {
        fetches: AtomicUsize,
        lifetime: SignedDuration,
        failing: AtomicBool,
        clock: Arc<ManualClock>,
    }

    impl ProvideCredentials for Arc<Counter> {
        fn provide(&self) -> Result<Credentials> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(unavailable("endpoint down"));
            }
            Ok(Credentials::new(format!("key-{n}"), "secret")
                .with_session_token("token")
                .with_expiry(self.clock.now() + self.lifetime))
        }
    }

    /// A provider of credentials living `lifetime`, and a source refreshing them `margin`
    /// before they expire, both on one manual clock.
    fn counter(lifetime: SignedDuration, margin: Duration) -> (Arc<Counter>, CredentialSource) {
        let clock = Arc::new(ManualClock::new());
        let provider = Arc::new(Counter {
            fetches: AtomicUsize::new(0),
            lifetime,
            failing: false.into(),
            clock: Arc::clone(&clock),
        });
        let source = CredentialSource::refreshing_on(Arc::clone(&provider), margin, clock);
        (provider, source)
    }

    #[test]
    fn fresh_credentials_are_fetched_once_and_cached() {
        let (provider, source) = counter(SignedDuration::from_hours(1), DEFAULT_REFRESH_MARGIN);
        assert_eq!(source.current().unwrap().key(), "key-0");
        assert_eq!(source.clone().current().unwrap().key(), "key-0");
        assert_eq!(provider.fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn credentials_are_replaced_as_soon_as_they_enter_the_margin() {
        let (provider, source) =
            counter(SignedDuration::from_millis(10_200), Duration::from_secs(10));
        assert_eq!(source.current().unwrap().key(), "key-0");
        provider.clock.advance(Duration::from_millis(300));
        // Well inside the quiet second a failed or stale fetch would wait.
        assert_eq!(source.current().unwrap().key(), "key-1");
    }

    #[test]
    fn credentials_inside_the_margin_are_replaced_but_not_hammered() {
        let margin = Duration::from_millis(1200);
        let (provider, source) = counter(SignedDuration::from_secs(1), margin);
        assert_eq!(source.current().unwrap().key(), "key-0");
        // Every fetch returns credentials already inside the margin: wait a tenth of it.
        assert_eq!(source.current().unwrap().key(), "key-0");
        provider
            .clock
            .advance(margin / 10 + Duration::from_millis(50));
        assert_eq!(source.current().unwrap().key(), "key-1");
        assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_refresh_keeps_unexpired_credentials_but_not_expired_ones() {
        let (provider, source) = counter(SignedDuration::from_millis(1500), Duration::from_secs(1));
        assert_eq!(source.current().unwrap().key(), "key-0");
        provider.failing.store(true, Ordering::SeqCst);
        provider.clock.advance(Duration::from_millis(600));
        assert_eq!(source.current().unwrap().key(), "key-0", "still valid");
        provider.clock.advance(Duration::from_millis(1000));
        let err = source.current().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Credentials);
        provider.failing.store(false, Ordering::SeqCst);
        assert!(source.current().unwrap().key().starts_with("key-"));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let credentials = Credentials::new("AKID", "SECRETKEY").with_session_token("TOKENVALUE");
        let shown =
            format!("{credentials:?}") + &format!("{:?}", CredentialSource::fixed(credentials));
        assert!(shown.contains("AKID"));
        assert!(!shown.contains("SECRETKEY") && !shown.contains("TOKENVALUE"));
    }

    #[test]
    fn keys_come_from_variables_only_when_both_are_set() {
        let vars = |pairs: &'static [(&str, &str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(from_variables(vars(&[("AWS_ACCESS_KEY_ID", "A")])).is_none());
        assert!(
            from_variables(vars(&[
                ("AWS_ACCESS_KEY_ID", "A"),
                ("AWS_SECRET_ACCESS_KEY", "")
            ]))
            .is_none()
        );
        let found = from_variables(vars(&[
            ("AWS_ACCESS_KEY_ID", "A"),
            ("AWS_SECRET_ACCESS_KEY", "S"),
            ("AWS_SESSION_TOKEN", "T"),
        ]))
        .unwrap();
        assert_eq!(found.session_token.as_deref(), Some("T"));
    }
}
