//! Settings: the validated `Config` and its builder, credentials and their refreshing cache,
//! the metadata endpoints that hand out temporary credentials, the profile-file parser, and
//! the aws-cli resolution of all of these from flags, variables and shared files.
//! Below `s3` and `transfer`; knows nothing of requests or transfers.

pub(crate) mod config;
pub(crate) mod credentials;
pub(crate) mod environment;
pub(crate) mod metadata;
pub(crate) mod profile_file;
pub(crate) mod proxy;
pub(crate) mod tls;

pub use config::{
    Addressing, Config, ConfigBuilder, DEFAULT_CONCURRENCY, DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_REGION, MAX_CONCURRENCY,
};
pub use credentials::{CredentialSource, Credentials, DEFAULT_REFRESH_MARGIN, ProvideCredentials};
pub use environment::{Overrides, parse_addressing};
