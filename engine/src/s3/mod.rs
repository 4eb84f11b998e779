//! The S3 protocol: addresses, signing (the clock passed in), the one HTTP agent, XML replies,
//! what an upload stores with an object, the retry policy, and the one request path
//! ([`call::Requester`]) with the requests around transfers and the one listing loop.
//! Below `transfer`: it knows nothing of transfers, progress or files.

pub(crate) mod call;
pub(crate) mod capped_socket;
pub(crate) mod http;
pub(crate) mod location;
pub(crate) mod object_options;
pub(crate) mod paginate;
pub(crate) mod requests;
pub(crate) mod retry;
pub(crate) mod sign;
pub(crate) mod xml;

pub use location::S3Uri;
pub use object_options::{
    DEFAULT_CONTENT_TYPE, MetadataDirective, ObjectOptions, STORAGE_CLASSES, ServerSideEncryption,
    guess_content_type,
};
pub use sign::{MAX_PRESIGN_EXPIRY, PresignMethod};
pub use xml::{MultipartUpload, ObjectInfo};
