//! The requests of a download, whatever its bytes go to (a file's map or a stream's buffers):
//! a HEAD that learns the object's size, ETag and integrity data, and ranged GETs with
//! `If-Match`, each checked to be exactly the range asked for, read straight into place.

use std::io::Read;
use std::ops::{DerefMut, Range};

use jiff::Timestamp;

use super::options::VerifyMode;
use super::progress::{Event, PartAttempts, REPORT_EVERY};
use super::session::Transfer;
use crate::error::{Error, ErrorKind, Result};
use crate::integrity::ChecksumAlgorithm;
use crate::integrity::Verification;
use crate::integrity::algorithm::{Digest, Hasher};
use crate::integrity::expected::Expected;
use crate::integrity::in_order::InOrder;
use crate::integrity::record::{METADATA_HEADER, RECORD_TAG};
use crate::mapped::{DestinationMap, Mapped as _, WritableChunk};
use crate::plan::Part;
use crate::s3::call::{Call, Reply};
use crate::s3::http;
use crate::s3::object_options::Header;
use crate::s3::requests::Tagging;
use crate::s3::xml;

/// Where a range's bytes land: a chunk of the destination map, or a stream's buffer.
pub(crate) trait Landing: DerefMut<Target = [u8]> {
    /// Done with these bytes: a map drops their pages from memory.
    fn release(&mut self, _range: Range<usize>) {}

    /// Every byte of the range has landed: a map starts writing them to disk.
    fn landed(&mut self) {}
}

impl Landing for WritableChunk<'_> {
    fn release(&mut self, range: Range<usize>) {
        WritableChunk::release(self, range);
    }

    fn landed(&mut self) {
        self.start_write_back();
    }
}

impl Landing for &mut [u8] {}

/// What the HEAD said of the object.
pub(crate) struct RemoteObject {
    pub size: u64,
    pub etag: Option<String>,
    pub expected: Expected,
    /// What the server's own integrity data alone can check (no record): what a copy is
    /// compared by.
    pub server: Expected,
    /// The source file's modification time from s3mt's record, else the object's
    /// `Last-Modified`.
    pub modified: Option<Timestamp>,
    /// What describes the object besides its bytes, as a copy keeps it: content type,
    /// caching and encoding headers, and user metadata (s3mt's record included).
    pub described: Vec<Header>,
    /// Whether the object has tags.
    pub tagged: bool,
}

/// The reply headers a copy of an object carries over, beside `x-amz-meta-*`.
const DESCRIBING_HEADERS: [&str; 6] = [
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// The requests of one download.
pub(crate) struct Download<'a> {
    pub transfer: &'a Transfer<'a>,
}

impl Download<'_> {
    /// HEAD: size, ETag, and what the bytes can be verified against; refused up front when
    /// verification is required and there is nothing to verify against.
    pub fn head(&self, verify: VerifyMode) -> Result<RemoteObject> {
        let mut object = self.head_once()?;
        self.learn_layout(&mut object)?;
        require_integrity(&object, verify)?;
        Ok(object)
    }

    fn head_once(&self) -> Result<RemoteObject> {
        let key = self.transfer.key();
        let call = Call::new(|signer, at| Ok(signer.head_object(key, at)));
        let progress = self.transfer.progress;
        self.transfer
            .requester
            .call(&call, progress, |response| self.remote_object(response))
    }

    /// What the headers of a HEAD, or of a GET of the whole object, say of it.
    fn remote_object(&self, response: &Reply) -> Result<RemoteObject> {
        let size = http::header(response, "content-length")
            .and_then(|length| length.parse().ok())
            .ok_or_else(|| Error::new(ErrorKind::Protocol, "the server sent no object size"))?;
        // S3 names every object by its ETag, and each range is fetched on the condition of it:
        // a reply without one (a proxy's, a broken server's) does not describe the object.
        let etag = http::header(response, "etag")
            .filter(|etag| !etag.trim().is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Protocol,
                    "the server's reply describing the object has no ETag",
                )
            })?;
        let etag = Some(etag);
        let tagged = http::header(response, "x-amz-tagging-count")
            .and_then(|count| count.trim().parse::<u32>().ok())
            .is_some_and(|count| count > 0);
        // A stream's record follows its data, in a tag: asked for only when there is one.
        let record = match http::header(response, METADATA_HEADER) {
            Some(record) => Some(record.to_owned()),
            None if tagged => self.record_tag()?,
            None => None,
        };
        let choose = |record: Option<&str>| {
            Expected::from_headers(
                size,
                record,
                |algorithm| http::header(response, algorithm.header()),
                http::header(response, "x-amz-checksum-type"),
                etag.as_deref(),
                http::header(response, "x-amz-server-side-encryption") == Some("aws:kms"),
            )
        };
        let choice = choose(record.as_deref());
        if let Some(why) = choice.ignored_record {
            self.transfer.progress.send(|| {
                Event::Notice(format!(
                    "{}: s3mt's record on the object is ignored ({why}); the object's own \
                     integrity data is used",
                    self.transfer.object
                ))
            });
        }
        let expected = choice.expected;
        let recorded = match &expected {
            Expected::Record(record) => record.modified,
            _ => None,
        };
        let last_modified = http::header(response, "last-modified")
            .and_then(|date| jiff::fmt::rfc2822::parse(date).ok())
            .map(|date| date.timestamp());
        let described = response
            .headers()
            .iter()
            .filter(|(name, _)| {
                let name = name.as_str();
                name.starts_with("x-amz-meta-") || DESCRIBING_HEADERS.contains(&name)
            })
            .filter_map(|(name, value)| {
                Some((
                    name.as_str().to_owned().into(),
                    value.to_str().ok()?.to_owned(),
                ))
            })
            .collect();
        let server = match expected {
            Expected::Record(_) => choose(None).expected,
            _ => expected.clone(),
        };
        Ok(RemoteObject {
            size,
            etag,
            expected,
            server,
            modified: recorded.or(last_modified),
            described,
            tagged,
        })
    }

    /// One GET of the whole object (a small one, its size known from a listing), `If-Match`
    /// `etag` when known: its headers say what it is, `map` makes the map its bytes land in
    /// once its size is known, and they are checked as they land. What the object is, the
    /// map, and how its bytes were checked.
    pub fn whole(
        &self,
        etag: Option<&str>,
        verify: VerifyMode,
        mut map: impl FnMut(u64) -> Result<DestinationMap>,
    ) -> Result<(RemoteObject, DestinationMap, Verification)> {
        let progress = self.transfer.progress;
        let headers: Vec<(&str, &str)> = etag.map(|etag| ("if-match", etag)).into_iter().collect();
        let key = self.transfer.key();
        let call = Call::new(|signer, at| Ok(signer.get_whole_object(key, at))).headers(&headers);
        let attempts = self.transfer.part_attempts(1);
        let outcome = self.transfer.requester.call(&call, &attempts, |response| {
            let object = self.remote_object(response)?;
            require_integrity(&object, verify)?;
            let mut map = map(object.size)?;
            let part = Part {
                number: 1,
                offset: 0,
                len: object.size,
            };
            progress.send(|| Event::PartStarted {
                part: 1,
                bytes: part.len,
            });
            let mut check = InOrder::new(object.expected.clone());
            land(response, &mut map.whole(), &attempts, |bytes| {
                check.update(bytes)
            })?;
            progress.send(|| Event::PartDone { part: 1 });
            Ok((object, map, check))
        });
        let (mut object, map, check) = outcome.map_err(changed)?;
        let verification = match object.expected {
            // A composite is checked part by part: where the parts end is asked once the bytes
            // are in, and they are read back from the map.
            Expected::Composite(_) => {
                self.learn_layout(&mut object)?;
                require_integrity(&object, verify)?;
                let mut check = InOrder::new(object.expected.clone());
                map.scan(0..map.bytes().len(), REPORT_EVERY, |bytes| {
                    check.update(bytes)
                });
                check.finish()?
            }
            _ => check.finish()?,
        };
        Ok((object, map, verification))
    }

    /// s3mt's record from the object's tags (one GetObjectTagging). Not allowed to read
    /// tags, or no such tag: no record.
    fn record_tag(&self) -> Result<Option<String>> {
        let transfer = self.transfer;
        match transfer
            .requester
            .object_tagging(transfer.key(), transfer.progress)
        {
            Ok(Tagging::Tags(body)) => xml::parse_tag(&body, RECORD_TAG),
            Ok(Tagging::Unsupported) => Ok(None),
            Err(err) if err.is_retryable() => Err(err),
            Err(_) => Ok(None),
        }
    }

    /// Fetches `part` straight into `chunk` (its chunk of the map, or a stream's buffer),
    /// computing its checksum as it lands when `per_part` names the record's algorithm (ranges
    /// that are the record's parts).
    pub fn range(
        &self,
        object: &RemoteObject,
        part: Part,
        mut chunk: impl Landing,
        per_part: Option<ChecksumAlgorithm>,
    ) -> Result<Option<Digest>> {
        let progress = self.transfer.progress;
        progress.send(|| Event::PartStarted {
            part: part.number,
            bytes: part.len,
        });
        let range = format!("bytes={}-{}", part.offset, part.end() - 1);
        let mut headers = vec![("range", range.as_str())];
        if let Some(etag) = &object.etag {
            headers.push(("if-match", etag.as_str()));
        }
        let key = self.transfer.key();
        let call = Call::new(|signer, at| Ok(signer.get_object(key, at)))
            .headers(&headers)
            .expect(&[200, 206]);
        let attempts = self.transfer.part_attempts(part.number);
        let outcome = self.transfer.requester.call(&call, &attempts, |response| {
            check_range_reply(
                response.status().as_u16(),
                http::header(response, "content-range"),
                http::header(response, "content-length").and_then(|n| n.parse().ok()),
                part,
                object.size,
            )?;
            // For servers that ignore If-Match: the range must come from the same object.
            check_same_etag(object.etag.as_deref(), http::header(response, "etag"))?;
            let mut hasher = per_part.map(Hasher::new);
            land(response, &mut chunk, &attempts, |bytes| {
                if let Some(hasher) = &mut hasher {
                    hasher.update(bytes);
                }
            })?;
            Ok(hasher.map(Hasher::finalize))
        });
        let digest = outcome.map_err(|err| match err.kind() {
            ErrorKind::PreconditionFailed => changed(err),
            _ => err.context(format_args!("bytes {}..{}", part.offset, part.end())),
        })?;
        chunk.landed();
        progress.send(|| Event::PartDone { part: part.number });
        Ok(digest)
    }
}

/// Fails a download that requires verification of an object with nothing to verify against.
fn require_integrity(object: &RemoteObject, verify: VerifyMode) -> Result<()> {
    if verify == VerifyMode::Require && object.expected == Expected::Nothing {
        return Err(Error::new(
            ErrorKind::Integrity,
            "the object carries no integrity data s3mt can check (no s3mt record, no checksum \
             whose parts it can learn, no single-part MD5 ETag) and verification is required",
        ));
    }
    Ok(())
}

/// A 412 on `If-Match` says the object changed since the download began.
fn changed(err: Error) -> Error {
    if err.kind() != ErrorKind::PreconditionFailed {
        return err;
    }
    Error::new(
        ErrorKind::PreconditionFailed,
        "the object changed during the download (its ETag no longer matches)",
    )
    .with_source(err)
}

/// Reads a reply's body straight into `chunk`, a MiB at a time (or the bandwidth cap's
/// piece): each is given to `landed` (while it is still in the CPU's cache), dropped from
/// memory and reported; the body must end exactly at the chunk's end.
fn land(
    response: &mut Reply,
    chunk: &mut impl Landing,
    attempts: &PartAttempts<'_>,
    mut landed: impl FnMut(&[u8]),
) -> Result<()> {
    let mut reader = response.body_mut().as_reader();
    let mut done = 0;
    while done < chunk.len() {
        attempts.progress().check_cancelled()?;
        let end = done + attempts.pace(REPORT_EVERY.min(chunk.len() - done));
        reader.read_exact(&mut chunk[done..end]).map_err(|err| {
            Error::new(
                ErrorKind::Network,
                format!("the reply body ended early: {err}"),
            )
        })?;
        landed(&chunk[done..end]);
        chunk.release(done..end);
        attempts.moved((end - done) as u64);
        done = end;
    }
    // Reading to the end returns the connection to the pool, and catches long bodies.
    let mut extra = [0u8; 1];
    match reader.read(&mut extra) {
        Ok(0) => Ok(()),
        Ok(_) => Err(Error::new(
            ErrorKind::Protocol,
            "the reply body is longer than the range",
        )),
        Err(err) => Err(Error::new(
            ErrorKind::Network,
            format!("reading the reply failed: {err}"),
        )),
    }
}

/// A ranged GET must return exactly the range asked for: `206`, or `200` with a matching
/// `Content-Range` (as some servers answer), or `200` with the whole object when the range is
/// the whole object. Anything else is retried.
fn check_range_reply(
    status: u16,
    content_range: Option<&str>,
    content_length: Option<u64>,
    part: Part,
    total: u64,
) -> Result<()> {
    let expected = format!("bytes {}-{}/{total}", part.offset, part.end() - 1);
    let range_ok = match content_range {
        Some(range) => range.trim() == expected,
        None => status == 200 && part.offset == 0 && part.len == total,
    };
    if !range_ok || content_length != Some(part.len) {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!(
                "asked for {expected} but the server answered {status} with range {} and length {}",
                content_range.unwrap_or("(none)"),
                content_length.map_or_else(|| "(none)".to_owned(), |n| n.to_string()),
            ),
        ));
    }
    Ok(())
}

/// A range's ETag, when the server sends one, must be the one the download started with
/// (quotes and a weak `W/` prefix aside).
fn check_same_etag(started_with: Option<&str>, range: Option<&str>) -> Result<()> {
    let bare = |etag: &str| {
        etag.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    };
    match (started_with, range) {
        (Some(ours), Some(theirs)) if bare(ours) != bare(theirs) => Err(Error::new(
            ErrorKind::PreconditionFailed,
            "a range came from another version of the object",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_another_object_version_are_refused() {
        assert!(check_same_etag(Some("\"abc\""), Some("\"abc\"")).is_ok());
        assert!(check_same_etag(Some("\"abc\""), Some("abc")).is_ok());
        assert!(check_same_etag(Some("\"abc\""), Some("W/\"abc\"")).is_ok());
        assert!(check_same_etag(None, Some("\"abc\"")).is_ok());
        assert!(check_same_etag(Some("\"abc\""), None).is_ok());
        let err = check_same_etag(Some("\"abc\""), Some("\"abd\"")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    }

    const PART: Part = Part {
        number: 2,
        offset: 10,
        len: 10,
    };

    #[test]
    fn accepts_exact_ranges_as_206_or_200() {
        assert!(check_range_reply(206, Some("bytes 10-19/30"), Some(10), PART, 30).is_ok());
        assert!(check_range_reply(200, Some("bytes 10-19/30"), Some(10), PART, 30).is_ok());
        let whole = Part {
            number: 1,
            offset: 0,
            len: 30,
        };
        assert!(check_range_reply(200, None, Some(30), whole, 30).is_ok());
    }

    #[test]
    fn rejects_wrong_ranges_lengths_and_empty_bodies() {
        for (status, range, length) in [
            (206, Some("bytes 0-9/30"), Some(10)),
            (206, Some("bytes 10-19/30"), Some(9)),
            (206, None, Some(10)),
            (200, None, Some(0)),
            (200, None, Some(30)),
            (206, Some("bytes 10-19/31"), Some(10)),
        ] {
            let err = check_range_reply(status, range, length, PART, 30).unwrap_err();
            assert!(err.is_retryable(), "{status} {range:?} {length:?}");
        }
    }
}
