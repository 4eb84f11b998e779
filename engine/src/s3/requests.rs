//! The requests around transfers, as calls on the one request path: buckets, deletes, object
//! tagging, the multipart-upload housekeeping (ListParts, Abort, ListMultipartUploads) and
//! object listings, each listing through the one [`paginate`] loop.

use std::cell::Cell;
use std::time::Duration;

use jiff::Timestamp;
use url::Url;

use super::call::{Body, Call, Observer, Requester};
use super::http;
use super::paginate::{Page, paginate};
use super::sign::PresignMethod;
use super::xml::{self, KeyError, Listing, MultipartUpload, ObjectInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::integrity::algorithm::to_base64_bytes;

/// The largest GetObjectTagging reply read: 10 tags of 128 + 256 characters, escaped, fit.
const MAX_TAGGING_REPLY: u64 = 64 * 1024;

/// What GetObjectTagging says of an object.
pub(crate) enum Tagging {
    /// The reply's XML (`<Tagging><TagSet>...`).
    Tags(String),
    /// The server does not implement object tagging.
    Unsupported,
}

impl Requester {
    /// Creates the bucket; one that already exists and is ours counts as created.
    pub fn create_bucket(&self) -> Result<()> {
        let call = Call::new(|signer, at| Ok(signer.create_bucket(at))).body(Body::Empty);
        match self.call(&call, &(), http::finish_body) {
            Err(err) if err.has_code("BucketAlreadyOwnedByYou") => Ok(()),
            other => other,
        }
    }

    /// Deletes `keys` (at most 1,000) in one DeleteObjects; the keys the server refused.
    pub fn delete_objects(
        &self,
        keys: &[String],
        observer: &dyn Observer,
    ) -> Result<Vec<KeyError>> {
        let body = xml::delete_body(keys);
        // S3 wants an integrity header on DeleteObjects: Content-MD5, which every server knows.
        let md5 = to_base64_bytes(&<md5::Md5 as md5::Digest>::digest(body.as_bytes()));
        let headers = [
            ("content-md5", md5.as_str()),
            ("content-type", "application/xml"),
        ];
        let call = Call::new(|signer, at| Ok(signer.delete_objects(at)))
            .headers(&headers)
            .body(Body::Bytes(body.as_bytes()));
        self.call(&call, observer, |reply| {
            xml::parse_delete_errors(&http::read_text(reply)?)
        })
    }

    /// Deletes `key`; S3 reports success whether or not it existed.
    pub fn delete_object(&self, key: &str) -> Result<()> {
        let call = Call::new(|signer, at| Ok(signer.delete_object(key, at))).expect(&[200, 204]);
        self.call(&call, &(), http::finish_body)
    }

    /// A URL for `method` on `key` that anyone may use for `expires` from now.
    pub fn presign(&self, key: &str, method: PresignMethod, expires: Duration) -> Result<Url> {
        Ok(self
            .signer()
            .presign_object(key, method, expires, &self.stamp()?))
    }

    /// The object's tag set (GetObjectTagging's XML), or [`Tagging::Unsupported`] when the
    /// server serves `?tagging` as the object itself: rclone answers `GET ?tagging` with the
    /// object's bytes and takes `PUT ?tagging` as a PutObject that replaces the object with the
    /// tag XML. A reply too large for a tag set is not read.
    pub fn object_tagging(&self, key: &str, observer: &dyn Observer) -> Result<Tagging> {
        let call = Call::new(|signer, at| Ok(signer.get_object_tagging(key, at)));
        self.call(&call, observer, |response| {
            let length = http::header(response, "content-length").and_then(|n| n.parse().ok());
            if length.is_some_and(|length: u64| length > MAX_TAGGING_REPLY) {
                // Dropped unread: the connection is closed rather than drained.
                return Ok(Tagging::Unsupported);
            }
            match http::read_text(response) {
                Ok(body) if xml::root_is(&body, "Tagging") => Ok(Tagging::Tags(body)),
                Err(err) if err.is_retryable() => Err(err),
                _ => Ok(Tagging::Unsupported),
            }
        })
    }

    /// Sets the object's tag set to the one tag `name` = `value` (PutObjectTagging). Refused,
    /// without a PutObjectTagging, on a server that would take it as a PutObject replacing the
    /// object.
    pub fn put_object_tag(
        &self,
        key: &str,
        (name, value): (&str, &str),
        observer: &dyn Observer,
    ) -> Result<()> {
        self.put_object_tagging(key, &xml::tagging_body(name, value), observer)
    }

    /// Sets the object's tag set to `body` (a `<Tagging>` document, as GetObjectTagging
    /// answers), with the same refusal as [`Self::put_object_tag`].
    pub fn put_object_tagging(&self, key: &str, body: &str, observer: &dyn Observer) -> Result<()> {
        if let Ok(Tagging::Unsupported) = self.object_tagging(key, observer) {
            return Err(Error::new(
                ErrorKind::Service,
                "the server does not implement object tagging",
            ));
        }
        let md5 = <md5::Md5 as md5::Digest>::digest(body.as_bytes());
        let headers = [("content-md5".into(), to_base64_bytes(&md5))];
        let call = Call::new(|signer, at| Ok(signer.put_object_tagging(key, &headers, at)))
            .body(Body::Bytes(body.as_bytes()))
            .expect(&[200, 204]);
        self.call(&call, observer, http::finish_body)
    }

    /// Aborts a multipart upload; one already gone (404) counts as aborted.
    pub fn abort_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        observer: &dyn Observer,
    ) -> Result<()> {
        let call = Call::new(|signer, at| Ok(signer.abort_multipart_upload(key, upload_id, at)))
            .expect(&[200, 204]);
        match self.call(&call, observer, http::finish_body) {
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// The parts of `upload_id` the server holds, as (number, ETag); a 404 means the upload
    /// is gone.
    pub fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<(u32, String)>> {
        paginate("ListParts", |marker: Option<&u32>| {
            let call = list_parts_call(key, upload_id, marker.copied());
            self.call(&call, &(), |response| {
                xml::parse_list_parts(&http::read_text(response)?)
            })
        })
        .collect()
    }

    /// One ListParts request, not retried: the server's `NoSuchUpload` error when the upload
    /// is gone.
    pub fn ensure_upload_exists(&self, key: &str, upload_id: &str) -> Result<()> {
        self.attempt(
            &list_parts_call(key, upload_id, None),
            &mut http::finish_body,
        )
    }

    /// The incomplete multipart uploads whose keys start with `prefix`.
    pub fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUpload>> {
        self.list_multipart_uploads_dated(prefix)
            .map(|(uploads, _)| uploads)
    }

    /// [`Requester::list_multipart_uploads`], and the server's clock (its `Date`) when it
    /// answered.
    pub fn list_multipart_uploads_dated(
        &self,
        prefix: &str,
    ) -> Result<(Vec<MultipartUpload>, Option<Timestamp>)> {
        let server_now = Cell::new(None);
        let uploads = paginate(
            "ListMultipartUploads",
            |marker: Option<&(String, String)>| {
                let marker = marker.map(|(key, upload)| (key.as_str(), upload.as_str()));
                let call = Call::new(move |signer, at| {
                    Ok(signer.list_multipart_uploads(prefix, marker, at))
                })
                .inspect(|reply| server_now.set(http::date(reply).or(server_now.get())));
                match self.call(&call, &(), |response| {
                    xml::parse_list_uploads(&http::read_text(response)?)
                }) {
                    // rclone's answer when the bucket has no upload in progress.
                    Err(err) if err.has_code("NoSuchUpload") => Ok(Page {
                        items: Vec::new(),
                        next: None,
                    }),
                    other => other,
                }
            },
        )
        .collect::<Result<Vec<_>>>()?;
        Ok((uploads, server_now.get()))
    }

    /// The objects whose keys start with `prefix`, in the server's order (by key, for AWS), a
    /// page of ListObjectsV2 at a time as the iterator is consumed.
    pub fn list_objects<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = Result<ObjectInfo>> + 'a {
        self.listing(prefix, false).filter_map(|item| match item {
            Ok(Listing::Object(object)) => Some(Ok(object)),
            Ok(Listing::Prefix(_)) => None,
            Err(err) => Some(Err(err)),
        })
    }

    /// One "directory" of keys: the objects directly under `prefix` (which ends in `/`, or is
    /// empty) and the common prefixes of the deeper ones, in the server's order.
    pub fn list_directory<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = Result<Listing>> + 'a {
        self.listing(prefix, true)
    }

    /// ListObjectsV2 of `prefix`, flat or one directory deep, through the one listing loop.
    fn listing<'a>(
        &'a self,
        prefix: &'a str,
        directory: bool,
    ) -> impl Iterator<Item = Result<Listing>> + 'a {
        paginate("ListObjectsV2", move |token: Option<&String>| {
            let call = Call::new(move |signer, at| {
                Ok(signer.list_objects_v2(prefix, token.map(String::as_str), directory, at))
            });
            self.call(&call, &(), |response| {
                xml::parse_listing(&http::read_text(response)?)
            })
        })
    }
}

/// ListParts of `upload_id`, from after part `marker` when given.
fn list_parts_call<'a>(key: &'a str, upload_id: &'a str, marker: Option<u32>) -> Call<'a> {
    Call::new(move |signer, at| Ok(signer.list_parts(key, upload_id, marker, at)))
}
