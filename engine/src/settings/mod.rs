//! Settings: the validated `Config` and its builder, credentials and their refreshing cache,
//! where temporary credentials come from (the metadata endpoints, STS roles and web identity,
//! IAM Identity Center, `credential_process`), the profile-file parser, trust and proxies, and
//! the aws-cli resolution of all of these from flags, variables and shared files.
//! Below `s3` and `transfer`; knows nothing of requests or transfers.

pub(crate) mod config;
pub(crate) mod credentials;
pub(crate) mod environment;
pub(crate) mod metadata;
pub(crate) mod process;
pub(crate) mod profile_file;
pub(crate) mod proxy;
pub(crate) mod service_http;
pub(crate) mod sso;
pub(crate) mod sts;
pub(crate) mod tls;

pub use config::{
    Addressing, Config, ConfigBuilder, DEFAULT_CONCURRENCY, DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_REGION, MAX_CONCURRENCY,
};
pub use credentials::{CredentialSource, Credentials, DEFAULT_REFRESH_MARGIN, ProvideCredentials};
pub use environment::{Overrides, parse_addressing};
