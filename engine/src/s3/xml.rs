//! S3's XML replies, read leniently (any root name, with or without the S3 namespace, entities
//! decoded), and the CompleteMultipartUpload body. Pure.

use std::fmt::Write as _;

use roxmltree::{Document, Node};

use super::paginate::Page;
use crate::error::{Error, ErrorKind, Result, ServiceError};
use crate::integrity::ChecksumAlgorithm;

fn parse(body: &str) -> Result<Document<'_>> {
    Document::parse(body).map_err(|err| {
        Error::new(
            ErrorKind::Protocol,
            format!("the server sent malformed XML: {err}"),
        )
    })
}

/// The text of the first descendant element named `name` (namespace ignored).
fn child_text(node: Node<'_, '_>, name: &str) -> Option<String> {
    node.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
        .map(|n| n.text().unwrap_or_default().trim().to_owned())
}

/// The exact text of the first descendant element named `name`: a key, whose spaces (and any
/// other whitespace) at either end are part of it.
fn child_key(node: Node<'_, '_>, name: &str) -> Option<String> {
    node.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
        .map(|n| n.text().unwrap_or_default().to_owned())
}

/// Elements directly below `node` named `name`.
fn children<'a, 'input>(
    node: Node<'a, 'input>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children()
        .filter(move |n| n.is_element() && n.tag_name().name() == name)
}

/// Reads an `<Error><Code>..</Code><Message>..</Message></Error>` reply, whatever its status.
/// Returns `None` when the body is not an error document.
pub fn parse_error(status: u16, body: &str) -> Option<ServiceError> {
    let doc = Document::parse(body).ok()?;
    let root = doc.root_element();
    (root.tag_name().name() == "Error").then(|| ServiceError {
        status,
        code: child_text(root, "Code").filter(|code| !code.is_empty()),
        message: child_text(root, "Message").filter(|message| !message.is_empty()),
    })
}

/// The `<Region>` of an S3 error reply (a request signed for another region than the
/// bucket's), if it names one.
pub fn error_region(body: &str) -> Option<String> {
    let doc = Document::parse(body).ok()?;
    let root = doc.root_element();
    (root.tag_name().name() == "Error")
        .then(|| child_text(root, "Region"))
        .flatten()
        .filter(|region| !region.is_empty())
}

/// What a CompleteMultipartUpload answered with `200`: the error inside it, if it holds one
/// (S3 may fail a Complete after its `200` head). A body that is not XML at all proves
/// nothing was completed: a protocol error, never success.
pub fn parse_complete(body: &str) -> Result<Option<ServiceError>> {
    parse(body)
        .map_err(|err| err.context("the server's CompleteMultipartUpload reply is not S3's"))?;
    Ok(parse_error(200, body))
}

/// The upload id of a CreateMultipartUpload reply.
pub fn parse_upload_id(body: &str) -> Result<String> {
    let doc = parse(body)?;
    child_text(doc.root_element(), "UploadId")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                "the server's CreateMultipartUpload reply has no UploadId",
            )
        })
}

/// One part for the CompleteMultipartUpload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// 1-based part number.
    pub number: u32,
    /// The ETag the server returned for the part, quotes included.
    pub etag: String,
    /// The part's checksum, base64, when the upload was created with a checksum algorithm.
    pub checksum: Option<String>,
}

/// The `<ETag>` of a CopyObject (`CopyObjectResult`) or UploadPartCopy (`CopyPartResult`)
/// reply, quotes kept, as CompleteMultipartUpload takes it.
pub fn parse_copy_etag(body: &str) -> Result<String> {
    let document = parse(body)?;
    child_text(document.root_element(), "ETag")
        .filter(|etag| !etag.is_empty())
        .ok_or_else(|| Error::new(ErrorKind::Protocol, "the copy's reply has no ETag"))
}

/// The text of the first element named `name` in `body`, if it has one (e.g. a part's checksum
/// in a CopyPartResult).
pub fn element_text(body: &str, name: &str) -> Option<String> {
    let document = Document::parse(body).ok()?;
    child_text(document.root_element(), name).filter(|text| !text.is_empty())
}

/// A key DeleteObjects did not delete, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyError {
    pub key: String,
    pub code: String,
    pub message: String,
}

/// The DeleteObjects body for `keys`, in quiet mode (the reply lists only the failures).
pub fn delete_body(keys: &[String]) -> String {
    let mut body = String::from("<Delete><Quiet>true</Quiet>");
    for key in keys {
        let _ = write!(body, "<Object><Key>{}</Key></Object>", escape(key));
    }
    body.push_str("</Delete>");
    body
}

/// The keys a DeleteObjects reply says were not deleted (its `<Error>` elements).
pub fn parse_delete_errors(text: &str) -> Result<Vec<KeyError>> {
    let document = parse(text)?;
    Ok(children(document.root_element(), "Error")
        .map(|error| KeyError {
            key: child_key(error, "Key").unwrap_or_default(),
            code: child_text(error, "Code").unwrap_or_default(),
            message: child_text(error, "Message").unwrap_or_default(),
        })
        .collect())
}

/// The CompleteMultipartUpload body listing `parts` (which must be in order), their checksums
/// computed with `algorithm`.
pub fn complete_body(parts: &[CompletedPart], algorithm: ChecksumAlgorithm) -> String {
    let mut body = String::with_capacity(64 + parts.len() * 96);
    body.push_str("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for part in parts {
        let _ = write!(
            body,
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>",
            part.number,
            escape(&part.etag)
        );
        if let Some(checksum) = &part.checksum {
            let element = algorithm.complete_element();
            let _ = write!(body, "<{element}>{}</{element}>", escape(checksum));
        }
        body.push_str("</Part>");
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

/// Reads a ListParts reply.
pub fn parse_list_parts(body: &str) -> Result<Page<(u32, String), u32>> {
    let doc = parse(body)?;
    let root = doc.root_element();
    let bad = || {
        Error::new(
            ErrorKind::Protocol,
            "the server's ListParts reply is malformed",
        )
    };
    let parts = children(root, "Part")
        .map(|part| {
            let number = child_text(part, "PartNumber").and_then(|n| n.parse().ok());
            let etag = child_text(part, "ETag").filter(|etag| !etag.is_empty());
            number.zip(etag).ok_or_else(bad)
        })
        .collect::<Result<Vec<_>>>()?;
    let truncated = child_text(root, "IsTruncated").is_some_and(|text| text == "true");
    let next = child_text(root, "NextPartNumberMarker").and_then(|n| n.parse().ok());
    match (truncated, next) {
        (true, None) => Err(bad()),
        (true, next) => Ok(Page { items: parts, next }),
        (false, _) => Ok(Page {
            items: parts,
            next: None,
        }),
    }
}

/// A PutObjectTagging body with one tag.
pub fn tagging_body(key: &str, value: &str) -> String {
    format!(
        "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet><Tag><Key>{}</Key>\
         <Value>{}</Value></Tag></TagSet></Tagging>",
        escape(key),
        escape(value)
    )
}

/// The value of the tag `key` in a GetObjectTagging reply, if it has one.
pub fn parse_tag(body: &str, key: &str) -> Result<Option<String>> {
    let doc = parse(body)?;
    let tags = children(doc.root_element(), "TagSet").flat_map(|set| children(set, "Tag"));
    Ok(tags
        .filter(|tag| child_text(*tag, "Key").as_deref() == Some(key))
        .find_map(|tag| child_text(tag, "Value")))
}

/// Whether `body` is an XML document whose root element is `name`.
pub fn root_is(body: &str, name: &str) -> bool {
    parse(body).is_ok_and(|doc| doc.root_element().tag_name().name() == name)
}

/// `text` as element content that an XML reader gives back unchanged: markup escaped, and a
/// carriage return as a reference, since readers turn a literal one into a line feed (a key
/// `a\rb` would otherwise name `a\nb`).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\r' => out.push_str("&#13;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An incomplete multipart upload, as ListMultipartUploads reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    /// The key being uploaded.
    pub key: String,
    /// The upload id.
    pub upload_id: String,
    /// When the upload was created, as the server wrote it (ISO 8601).
    pub initiated: Option<String>,
}

/// Reads a ListMultipartUploads reply.
pub fn parse_list_uploads(body: &str) -> Result<Page<MultipartUpload, (String, String)>> {
    let doc = parse(body)?;
    let root = doc.root_element();
    let uploads = children(root, "Upload")
        .map(|upload| MultipartUpload {
            key: child_key(upload, "Key").unwrap_or_default(),
            upload_id: child_text(upload, "UploadId").unwrap_or_default(),
            initiated: child_text(upload, "Initiated"),
        })
        .collect();
    let truncated = children(root, "IsTruncated")
        .next()
        .and_then(|n| n.text())
        .is_some_and(|text| text.trim() == "true");
    let next = truncated
        .then(|| {
            Some((
                children(root, "NextKeyMarker").next()?.text()?.to_owned(),
                children(root, "NextUploadIdMarker")
                    .next()?
                    .text()?
                    .to_owned(),
            ))
        })
        .flatten();
    Ok(Page {
        items: uploads,
        next,
    })
}

/// One object, as ListObjectsV2 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectInfo {
    /// The object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When the object was last written, as the server wrote it (ISO 8601).
    pub last_modified: Option<String>,
    /// The ETag, quotes included, when the server sent one.
    pub etag: Option<String>,
}

/// Reads a ListObjectsV2 reply; keys are decoded when it says `EncodingType` `url`.
/// An entry of a ListObjectsV2 page: an object, or with a delimiter a common prefix (the keys
/// of a "directory", e.g. `photos/2026/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// An object.
    Object(ObjectInfo),
    /// A common prefix, ending in the delimiter.
    Prefix(String),
}

/// Reads a ListObjectsV2 reply, common prefixes included; keys and prefixes are decoded when
/// it says `EncodingType` `url`.
pub fn parse_listing(body: &str) -> Result<Page<Listing, String>> {
    let doc = parse(body)?;
    let root = doc.root_element();
    let url_encoded = children(root, "EncodingType")
        .next()
        .and_then(|n| n.text())
        .is_some_and(|text| text.trim().eq_ignore_ascii_case("url"));
    let objects = children(root, "Contents")
        .map(|object| {
            let key = child_key(object, "Key").unwrap_or_default();
            let size = child_text(object, "Size").unwrap_or_default();
            Ok(Listing::Object(ObjectInfo {
                key: if url_encoded { url_decode(&key) } else { key },
                size: size.parse().map_err(|_| {
                    Error::new(
                        ErrorKind::Protocol,
                        format!("the server's ListObjectsV2 reply has a bad Size {size:?}"),
                    )
                })?,
                last_modified: child_text(object, "LastModified").filter(|t| !t.is_empty()),
                etag: child_text(object, "ETag").filter(|t| !t.is_empty()),
            }))
        })
        .collect::<Result<Vec<_>>>()?;
    let prefixes = children(root, "CommonPrefixes").filter_map(|prefixes| {
        let prefix = child_key(prefixes, "Prefix").filter(|prefix| !prefix.is_empty())?;
        Some(Listing::Prefix(if url_encoded {
            url_decode(&prefix)
        } else {
            prefix
        }))
    });
    let items: Vec<Listing> = objects.into_iter().chain(prefixes).collect();
    let truncated = children(root, "IsTruncated")
        .next()
        .and_then(|n| n.text())
        .is_some_and(|text| text.trim() == "true");
    let next = truncated
        .then(|| children(root, "NextContinuationToken").next()?.text())
        .flatten()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty());
    if truncated && next.is_none() {
        return Err(Error::new(
            ErrorKind::Protocol,
            "the server's ListObjectsV2 reply is truncated but has no NextContinuationToken",
        ));
    }
    Ok(Page { items, next })
}

/// Decodes `encoding-type=url` text: `+` is a space, `%XX` a byte. Invalid text is kept as is.
fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            // Two hex digits exactly: `u8::from_str_radix` would also take a sign (`%+1`).
            b'%' => match (
                hex_digit(bytes.get(index + 1)),
                hex_digit(bytes.get(index + 2)),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    index += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// The value of an ASCII hex digit.
fn hex_digit(byte: Option<&u8>) -> Option<u8> {
    let digit = char::from(*byte?).to_digit(16)?;
    u8::try_from(digit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The objects of a ListObjectsV2 page.
    fn parse_list_objects(body: &str) -> Result<Page<ObjectInfo, String>> {
        let page = parse_listing(body)?;
        let items = page
            .items
            .into_iter()
            .filter_map(|item| match item {
                Listing::Object(object) => Some(object),
                Listing::Prefix(_) => None,
            })
            .collect();
        Ok(Page {
            items,
            next: page.next,
        })
    }

    #[test]
    fn a_directory_listing_has_objects_and_common_prefixes() {
        let body = "<ListBucketResult><EncodingType>url</EncodingType>\
            <Contents><Key>p/a</Key><Size>1</Size></Contents>\
            <CommonPrefixes><Prefix>p/sub%20dir/</Prefix></CommonPrefixes>\
            <CommonPrefixes><Prefix>p/z/</Prefix></CommonPrefixes></ListBucketResult>";
        let page = parse_listing(body).unwrap();
        assert!(matches!(&page.items[0], Listing::Object(object) if object.key == "p/a"));
        assert_eq!(
            page.items[1..],
            [
                Listing::Prefix("p/sub dir/".into()),
                Listing::Prefix("p/z/".into())
            ]
        );
    }

    #[test]
    fn list_parts_pages_and_their_markers() {
        let page = parse_list_parts(
            "<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker>\
             <Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>\"b\"</ETag></Part></ListPartsResult>",
        )
        .unwrap();
        assert_eq!(
            page.items,
            [(1, "\"a\"".to_owned()), (2, "\"b\"".to_owned())]
        );
        assert_eq!(page.next, Some(2));
        let last = parse_list_parts("<R><IsTruncated>false</IsTruncated></R>").unwrap();
        assert_eq!((last.items.len(), last.next), (0, None));
        assert!(parse_list_parts("<R><IsTruncated>true</IsTruncated></R>").is_err());
        assert!(parse_list_parts("<R><Part><PartNumber>x</PartNumber></Part></R>").is_err());
    }

    #[test]
    fn tagging_bodies_round_trip_and_other_tags_are_ignored() {
        let body = tagging_body("s3mt-sha256", "v1 a=<b> & c");
        assert!(
            body.contains("<Value>v1 a=&lt;b&gt; &amp; c</Value>"),
            "{body}"
        );
        assert_eq!(
            parse_tag(&body, "s3mt-sha256").unwrap().as_deref(),
            Some("v1 a=<b> & c")
        );
        let reply =
            "<Tagging><TagSet><Tag><Key>team</Key><Value>x</Value></Tag></TagSet></Tagging>";
        assert_eq!(parse_tag(reply, "s3mt-sha256").unwrap(), None);
        assert_eq!(
            parse_tag("<Tagging><TagSet/></Tagging>", "k").unwrap(),
            None
        );
    }

    #[test]
    fn error_with_namespace_and_entities() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
            <Error xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Code>NoSuchKey</Code>
            <Message>The key &quot;a&amp;b&quot; does not exist</Message></Error>"#;
        let err = parse_error(404, body).unwrap();
        assert_eq!(err.code.as_deref(), Some("NoSuchKey"));
        assert_eq!(
            err.message.as_deref(),
            Some("The key \"a&b\" does not exist")
        );
    }

    #[test]
    fn complete_replies_are_results_errors_or_malformed() {
        let result = "<?xml version=\"1.0\"?>\n   <CompleteMultipartUploadResult><ETag>\"e-2\"</ETag>\
                      </CompleteMultipartUploadResult>";
        assert_eq!(parse_complete(result).unwrap(), None);
        let inside = parse_complete("<Error><Code>InternalError</Code></Error>").unwrap();
        assert_eq!(inside.unwrap().code.as_deref(), Some("InternalError"));
        for broken in ["", "<CompleteMultipartUploadResult><ETag>", "not xml"] {
            let err = parse_complete(broken).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol, "{broken:?}");
            assert!(
                err.to_string()
                    .starts_with("the server's CompleteMultipartUpload reply is not S3's: "),
                "{err}"
            );
        }
    }

    #[test]
    fn a_region_refusal_names_the_bucket_region() {
        let body = "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region \
                    'us-east-1' is wrong; expecting 'eu-west-1'</Message>\
                    <Region>eu-west-1</Region></Error>";
        assert_eq!(error_region(body).as_deref(), Some("eu-west-1"));
        assert_eq!(
            error_region("<Error><Code>AccessDenied</Code></Error>"),
            None
        );
        assert_eq!(error_region("<Error><Region></Region></Error>"), None);
        assert_eq!(error_region("<Other><Region>x</Region></Other>"), None);
    }

    #[test]
    fn non_error_documents_are_not_errors() {
        assert!(parse_error(200, "<CompleteMultipartUploadResult/>").is_none());
        assert!(parse_error(500, "not xml at all").is_none());
    }

    #[test]
    fn upload_id_with_or_without_namespace_and_any_root() {
        let aws = r#"<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <Bucket>b</Bucket><Key>k</Key><UploadId>abc-123</UploadId></InitiateMultipartUploadResult>"#;
        assert_eq!(parse_upload_id(aws).unwrap(), "abc-123");
        let bare =
            "<CreateMultipartUploadOutput><UploadId>xyz</UploadId></CreateMultipartUploadOutput>";
        assert_eq!(parse_upload_id(bare).unwrap(), "xyz");
        let err = parse_upload_id("<Result/>").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
    }

    #[test]
    fn complete_body_lists_parts_in_order_and_escapes_etags() {
        let parts = [
            CompletedPart {
                number: 1,
                etag: "\"aa\"".into(),
                checksum: None,
            },
            CompletedPart {
                number: 2,
                etag: "\"b<b\"".into(),
                checksum: Some("q+/=".into()),
            },
        ];
        let body = complete_body(&parts, ChecksumAlgorithm::Sha256);
        assert!(body.contains(
            "<Part><PartNumber>1</PartNumber><ETag>&quot;aa&quot;</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>&quot;b&lt;b&quot;</ETag>\
             <ChecksumSHA256>q+/=</ChecksumSHA256></Part>"
        ));
        // What we write, we can read back.
        let doc = Document::parse(&body).unwrap();
        assert_eq!(children(doc.root_element(), "Part").count(), 2);
        let crc = complete_body(&parts, ChecksumAlgorithm::Crc64Nvme);
        assert!(
            crc.contains("<ChecksumCRC64NVME>q+/=</ChecksumCRC64NVME></Part>"),
            "{crc}"
        );
    }

    #[test]
    fn list_uploads_pages() {
        let body = r#"<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <Bucket>b</Bucket><IsTruncated>true</IsTruncated>
            <NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
            <Upload><Key>k1</Key><UploadId>u1</UploadId><Initiated>2026-01-01T00:00:00Z</Initiated></Upload>
            <Upload><Key>k2</Key><UploadId>u2</UploadId></Upload>
            </ListMultipartUploadsResult>"#;
        let page = parse_list_uploads(body).unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(
            page.items[0].initiated.as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert_eq!(page.next, Some(("k2".into(), "u2".into())));
        let last = parse_list_uploads("<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>").unwrap();
        assert!(last.items.is_empty() && last.next.is_none());
    }

    #[test]
    fn list_objects_pages_with_a_continuation_token() {
        let body = r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <Name>b</Name><IsTruncated>true</IsTruncated><KeyCount>2</KeyCount>
            <NextContinuationToken>tok/en==</NextContinuationToken>
            <Contents><Key>a/1</Key><Size>1048576</Size><ETag>&quot;e1&quot;</ETag>
              <LastModified>2026-11-21T19:58:36.000Z</LastModified></Contents>
            <Contents><Key>a/2</Key><Size>0</Size></Contents>
            </ListBucketResult>"#;
        let page = parse_list_objects(body).unwrap();
        assert_eq!(page.next.as_deref(), Some("tok/en=="));
        assert_eq!(
            page.items[0],
            ObjectInfo {
                key: "a/1".into(),
                size: 1_048_576,
                last_modified: Some("2026-11-21T19:58:36.000Z".into()),
                etag: Some("\"e1\"".into()),
            }
        );
        assert_eq!((page.items[1].size, page.items[1].etag.as_ref()), (0, None));
        let last = parse_list_objects(
            "<Result><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>3</Size></Contents></Result>",
        )
        .unwrap();
        assert_eq!((last.items.len(), last.next), (1, None));
        let bad = parse_list_objects("<R><IsTruncated>true</IsTruncated></R>").unwrap_err();
        assert_eq!(bad.kind(), ErrorKind::Protocol);
        let bad = parse_list_objects("<R><Contents><Key>k</Key><Size>x</Size></Contents></R>");
        assert_eq!(bad.unwrap_err().kind(), ErrorKind::Protocol);
    }

    #[test]
    fn url_encoded_keys_are_decoded() {
        let body = "<ListBucketResult><EncodingType>url</EncodingType>\
            <Contents><Key>a+b%2Bc%C3%A9%zz</Key><Size>1</Size></Contents></ListBucketResult>";
        let page = parse_list_objects(body).unwrap();
        assert_eq!(page.items[0].key, "a b+c\u{e9}%zz");
        let plain = "<R><Contents><Key>a+b%2B</Key><Size>1</Size></Contents></R>";
        assert_eq!(parse_list_objects(plain).unwrap().items[0].key, "a+b%2B");
    }

    #[test]
    fn an_escape_is_a_percent_and_two_hex_digits_not_a_signed_number() {
        // Found by properties::url_encoded_keys_decode_only_their_escapes: `%+1` was read as
        // the byte 1 (`u8::from_str_radix` takes a `+`), not kept as text.
        let body = "<ListBucketResult><EncodingType>url</EncodingType>\
            <Contents><Key>%+1%-1%2</Key><Size>1</Size></Contents></ListBucketResult>";
        assert_eq!(parse_list_objects(body).unwrap().items[0].key, "% 1%-1%2");
    }

    #[test]
    fn delete_bodies_escape_keys_and_replies_name_what_was_refused() {
        let body = delete_body(&["a&b".to_owned(), "c<d>".to_owned()]);
        assert_eq!(
            body,
            "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object>\
             <Object><Key>c&lt;d&gt;</Key></Object></Delete>"
        );
        let reply = r#"<?xml version="1.0"?>
            <DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Deleted><Key>ok</Key></Deleted>
              <Error><Key>locked</Key><Code>AccessDenied</Code><Message>no</Message></Error>
            </DeleteResult>"#;
        assert_eq!(
            parse_delete_errors(reply).unwrap(),
            [KeyError {
                key: "locked".into(),
                code: "AccessDenied".into(),
                message: "no".into()
            }]
        );
        assert!(parse_delete_errors("<DeleteResult/>").unwrap().is_empty());
        assert!(parse_delete_errors("not xml").is_err());
    }

    #[test]
    fn keys_keep_the_whitespace_at_their_ends() {
        // Found by properties::a_listing_page_reads_back_as_the_server_wrote_it: a server that
        // does not url-encode listed the key " " and it was read as "".
        let listing = "<ListBucketResult><Contents><Key> </Key><Size>0</Size></Contents>\
            <CommonPrefixes><Prefix> p/ </Prefix></CommonPrefixes></ListBucketResult>";
        let items = parse_listing(listing).unwrap().items;
        assert!(matches!(&items[0], Listing::Object(object) if object.key == " "));
        assert_eq!(items[1], Listing::Prefix(" p/ ".into()));
        // properties::list_parts_and_uploads_pages_read_back: the key "\r" read as "".
        let uploads = "<ListMultipartUploadsResult><Upload><Key>&#13;</Key>\
            <UploadId>_</UploadId></Upload></ListMultipartUploadsResult>";
        assert_eq!(parse_list_uploads(uploads).unwrap().items[0].key, "\r");
        // properties::error_and_copy_replies_read_back: the refused key "\t" named as "".
        let refused = "<DeleteResult><Error><Key>\t</Key><Code>a</Code></Error></DeleteResult>";
        assert_eq!(parse_delete_errors(refused).unwrap()[0].key, "\t");
    }

    #[test]
    fn a_carriage_return_in_a_key_is_sent_as_a_reference() {
        // Found by properties::the_bodies_s3mt_writes_read_back: DeleteObjects of the key "\r"
        // asked the server to delete "\n" (XML readers normalise a literal carriage return).
        let body = delete_body(&["\r".to_owned(), "a\r\nb".to_owned()]);
        assert!(body.contains("<Key>&#13;</Key>"), "{body}");
        let document = Document::parse(&body).unwrap();
        let keys: Vec<&str> = document
            .descendants()
            .filter(|node| node.has_tag_name("Key"))
            .filter_map(|node| node.text())
            .collect();
        assert_eq!(keys, ["\r", "a\r\nb"]);
        let tagging = tagging_body("k", "v\r1");
        assert_eq!(parse_tag(&tagging, "k").unwrap().as_deref(), Some("v\r1"));
    }

    #[test]
    fn copy_replies_give_their_etag() {
        let object = r#"<CopyObjectResult><LastModified>2026-12-04T00:00:00Z</LastModified>
            <ETag>"abc"</ETag></CopyObjectResult>"#;
        assert_eq!(parse_copy_etag(object).unwrap(), "\"abc\"");
        let part = r#"<CopyPartResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <ETag>&quot;def&quot;</ETag></CopyPartResult>"#;
        assert_eq!(parse_copy_etag(part).unwrap(), "\"def\"");
        assert!(parse_copy_etag("<CopyPartResult/>").is_err());
    }
}
