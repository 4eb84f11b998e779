//! Property tests of the crate's pure parsers (issue 21's fuzzing, with proptest): every reader
//! of text from outside (S3's XML replies, the shared config files, s3mt's record, sizes,
//! addresses, proxy lists, checksums, shards, filters, keys as paths, redaction) never panics
//! on any input, arbitrary or a valid document mutated, and what a server would send or s3mt
//! writes reads back as it was.
//!
//! `PROPTEST_CASES` sets how many cases each property runs (proptest's 256 by default, a few
//! seconds in all), so a soak can run them longer. A failure found here is pinned as a plain
//! unit test next to the code that failed, so no regression file is written.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Component, Path};

use jiff::Timestamp;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config as ProptestConfig;

use crate::error::ErrorKind;
use crate::integrity::ChecksumAlgorithm;
use crate::integrity::algorithm::{from_base64, parse_checksum, sha256, to_base64_bytes};
use crate::integrity::expected::Expected;
use crate::integrity::record::Record;
use crate::plan;
use crate::s3::S3Uri;
use crate::s3::xml::{self, CompletedPart, Listing, ObjectInfo};
use crate::settings::profile_file::{FileKind, ProfileFile};
use crate::settings::proxy::ProxyVariables;
use crate::size::{GIB, KIB, MIB, Size, TIB, parse_size};
use crate::tree::filter::{Filters, Rule, Shard};
use crate::tree::keys::unsafe_key;

/// The default config (which reads `PROPTEST_CASES`), without a regressions file.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generators shared by the properties.

/// An edit of a valid document: insert, delete, duplicate or replace a span.
#[derive(Debug, Clone)]
enum Edit {
    Insert(Index, String),
    Delete(Index, Index),
    Duplicate(Index, Index),
    Replace(Index, Index, String),
}

/// Pieces that upset parsers of the kind `tokens` names, and arbitrary short text.
fn edit(tokens: &'static [&'static str]) -> impl Strategy<Value = Edit> {
    let piece = prop_oneof![
        3 => prop::sample::select(tokens).prop_map(str::to_owned),
        1 => any::<String>().prop_map(|text| text.chars().take(8).collect()),
    ];
    prop_oneof![
        (any::<Index>(), piece.clone()).prop_map(|(at, piece)| Edit::Insert(at, piece)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Delete(a, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Duplicate(a, b)),
        (any::<Index>(), any::<Index>(), piece).prop_map(|(a, b, p)| Edit::Replace(a, b, p)),
    ]
}

/// `document` after `edits`, each at character boundaries.
fn apply(mut document: String, edits: &[Edit]) -> String {
    for edit in edits {
        let bounds: Vec<usize> = document
            .char_indices()
            .map(|(at, _)| at)
            .chain([document.len()])
            .collect();
        let at = |index: &Index| bounds[index.index(bounds.len())];
        let span = |a: &Index, b: &Index| {
            let (a, b) = (at(a), at(b));
            (a.min(b), a.max(b))
        };
        match edit {
            Edit::Insert(index, piece) => document.insert_str(at(index), piece),
            Edit::Delete(a, b) => {
                let (start, end) = span(a, b);
                document.replace_range(start..end, "");
            }
            Edit::Duplicate(a, b) => {
                let (start, end) = span(a, b);
                let copy = document[start..end].to_owned();
                document.insert_str(end, &copy);
            }
            Edit::Replace(a, b, piece) => {
                let (start, end) = span(a, b);
                document.replace_range(start..end, piece);
            }
        }
    }
    document
}

/// Documents made of `valid` ones damaged by up to six edits with `tokens`.
fn mutated(
    valid: impl Strategy<Value = String>,
    tokens: &'static [&'static str],
) -> impl Strategy<Value = String> {
    (valid, prop::collection::vec(edit(tokens), 0..6))
        .prop_map(|(document, edits)| apply(document, &edits))
}

/// Text made of `tokens` and arbitrary characters, for parsers that reject most random text at
/// its first character.
fn token_soup(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(tokens).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// Whether XML 1.0 can carry `c` at all (as itself or as a character reference).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || c >= '\u{10000}'
}

/// Text as a server writes it in an element: markup escaped, and a carriage return (which an
/// XML reader would turn into a line feed) as a character reference.
fn xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` url-encoded as S3 encodes keys for `encoding-type=url`: unreserved characters and `/`
/// kept, a space as `+` (or `%20`), every other byte `%XX`.
fn url_encode(text: &str, space_as_plus: bool) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char);
            }
            b' ' if space_as_plus => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// An object key: any characters (S3 allows every one in a key), 1 to 40 of them.
fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ a-z0-9/%+&<>\"'.\r\t\n-]{0,16}",
        "[ ]?[a-zA-Z0-9_./ -]{0,30}[ ]?",
    ]
    .prop_map(|key| key.chars().take(40).collect::<String>())
    .prop_filter("S3 keys are not empty", |key| !key.is_empty())
}

/// A key that XML 1.0 can carry (a listing that is not url-encoded, a DeleteObjects body).
fn xml_key() -> impl Strategy<Value = String> {
    any_key()
        .prop_map(|key| key.chars().filter(|c| xml_char(*c)).collect::<String>())
        .prop_filter("S3 keys are not empty", |key| !key.is_empty())
}

/// A quoted ETag, an MD5's or a multipart upload's.
fn etag() -> impl Strategy<Value = String> {
    "[0-9a-f]{32}(-[1-9][0-9]{0,3})?".prop_map(|hex| format!("\"{hex}\""))
}

/// An opaque marker or id as servers write them (base64 and the like).
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/=_.&<>-]{1,48}"
}

const XML_TOKENS: &[&str] = &[
    "<",
    ">",
    "/",
    "</",
    "/>",
    "=",
    "\"",
    "'",
    "&",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#13;",
    "&#x110000;",
    "&#xD800;",
    "&unknown;",
    "&#",
    "<![CDATA[x]]>",
    "<![CDATA[",
    "]]>",
    "<!--c-->",
    "<!--",
    "<?pi x?>",
    "<?xml version=\"1.0\"?>",
    "<!DOCTYPE a [<!ENTITY e \"x\">]>",
    "&e;",
    "\u{0}",
    "\u{feff}",
    "\u{fffe}",
    "\u{e9}",
    " ",
    "\r\n",
    "\t",
    "%",
    "%zz",
    "%C3",
    "%2",
    "%+1",
    "%-1",
    "+",
    "-1",
    "18446744073709551615",
    "18446744073709551616",
    "4294967296",
    "0",
    "true",
    "false",
    "url",
    "URL",
    "<Key>",
    "</Key>",
    "<Size>",
    "</Size>",
    "<Contents>",
    "</Contents>",
    "<CommonPrefixes><Prefix>",
    "</Prefix></CommonPrefixes>",
    "<IsTruncated>true</IsTruncated>",
    "<NextContinuationToken>",
    "</NextContinuationToken>",
    "<EncodingType>url</EncodingType>",
    "<Error>",
    "</Error>",
    "<Code>",
    "</Code>",
    "<Message>",
    "</Message>",
    "<Part>",
    "</Part>",
    "<PartNumber>",
    "</PartNumber>",
    "<ETag>",
    "</ETag>",
    "<NextPartNumberMarker>",
    "<Upload>",
    "</Upload>",
    "<UploadId>",
    "</UploadId>",
    "<NextKeyMarker>",
    "<NextUploadIdMarker>",
    "<TagSet>",
    "<Tag>",
    "<Value>",
    "</Value>",
    "xmlns=\"x\"",
    "xmlns:a=\"urn:a\"",
    "<a:Key>",
    "</a:Key>",
    "a:",
];

/// A ListObjectsV2 page as a server writes it, and what reading it gives.
#[derive(Debug, Clone)]
struct ListingPage {
    body: String,
    items: Vec<Listing>,
    next: Option<String>,
}

fn listing_page() -> impl Strategy<Value = ListingPage> {
    let object = (
        any_key(),
        xml_key(),
        any::<u64>(),
        prop::option::of(etag()),
        prop::option::of("20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\\.000Z"),
    );
    let prefix = (any_key(), xml_key());
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(object, 0..8),
        prop::collection::vec(prefix, 0..4),
        prop::option::of(token()),
    )
        .prop_map(
            |(url_encoded, plus, namespaced, objects, prefixes, token)| {
                let key = |any: String, xml: String| {
                    if url_encoded {
                        (url_encode(&any, plus), any)
                    } else {
                        (xml_text(&xml), xml)
                    }
                };
                let mut body = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
                body.push_str(if namespaced {
                    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                } else {
                    "<ListBucketResult>"
                });
                let _ = write!(
                    body,
                    "<Name>bucket</Name><Prefix></Prefix><KeyCount>{}</KeyCount>\
                     <MaxKeys>1000</MaxKeys>",
                    objects.len() + prefixes.len()
                );
                if url_encoded {
                    body.push_str("<EncodingType>url</EncodingType>");
                }
                let _ = write!(body, "<IsTruncated>{}</IsTruncated>", token.is_some());
                if let Some(token) = &token {
                    let _ = write!(
                        body,
                        "<NextContinuationToken>{}</NextContinuationToken>",
                        xml_text(token)
                    );
                }
                let mut items = Vec::new();
                for (any, xml, size, etag, modified) in objects {
                    let (written, key) = key(any, xml);
                    let _ = write!(body, "<Contents><Key>{written}</Key>");
                    if let Some(modified) = &modified {
                        let _ = write!(body, "<LastModified>{modified}</LastModified>");
                    }
                    if let Some(etag) = &etag {
                        let _ = write!(body, "<ETag>{}</ETag>", xml_text(etag));
                    }
                    let _ = write!(
                        body,
                        "<Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>"
                    );
                    items.push(Listing::Object(ObjectInfo {
                        key,
                        size,
                        last_modified: modified,
                        etag,
                    }));
                }
                for (any, xml) in prefixes {
                    let (written, prefix) = key(format!("{any}/"), format!("{xml}/"));
                    let _ = write!(
                        body,
                        "<CommonPrefixes><Prefix>{written}</Prefix></CommonPrefixes>"
                    );
                    items.push(Listing::Prefix(prefix));
                }
                body.push_str("</ListBucketResult>");
                ListingPage {
                    body,
                    items,
                    next: token,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------------
// The XML readers.

/// Every XML reader on `body`: none panics, and the ones that fail say the reply was wrong.
fn read_with_every_xml_reader(body: &str, name: &str) {
    let protocol = |kind: ErrorKind| assert_eq!(kind, ErrorKind::Protocol);
    let _ = xml::parse_error(503, body);
    let _ = xml::element_text(body, name);
    let _ = xml::root_is(body, name);
    if let Err(err) = xml::parse_complete(body) {
        protocol(err.kind());
    }
    if let Err(err) = xml::parse_upload_id(body) {
        protocol(err.kind());
    }
    if let Err(err) = xml::parse_copy_etag(body) {
        protocol(err.kind());
    }
    if let Err(err) = xml::parse_delete_errors(body) {
        protocol(err.kind());
    }
    match xml::parse_list_parts(body) {
        Ok(page) => assert!(page.items.iter().all(|(_, etag)| !etag.is_empty())),
        Err(err) => protocol(err.kind()),
    }
    if let Err(err) = xml::parse_tag(body, name) {
        protocol(err.kind());
    }
    if let Err(err) = xml::parse_list_uploads(body) {
        protocol(err.kind());
    }
    match xml::parse_listing(body) {
        // A truncated page always says where the next one starts.
        Ok(page) => assert!(page.next.as_ref().is_none_or(|next| !next.is_empty())),
        Err(err) => protocol(err.kind()),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn xml_readers_never_panic_on_any_text(body in any::<String>(), name in "[A-Za-z]{0,8}") {
        read_with_every_xml_reader(&body, &name);
    }

    #[test]
    fn xml_readers_never_panic_on_xml_like_text(
        body in token_soup(XML_TOKENS),
        name in prop::sample::select(&["Key", "Code", "ETag", "UploadId", "ChecksumCRC32", ""][..]),
    ) {
        read_with_every_xml_reader(&body, name);
    }

    #[test]
    fn xml_readers_never_panic_on_damaged_replies(
        body in mutated(listing_page().prop_map(|page| page.body), XML_TOKENS),
    ) {
        read_with_every_xml_reader(&body, "Key");
    }

    /// A hostile server's deeply nested reply is read without exhausting the stack.
    #[test]
    fn xml_readers_never_panic_on_deep_documents(
        depth in prop_oneof![15 => 0usize..2_000, 1 => 50_000usize..200_000],
        name in prop::sample::select(&["Key", "Contents", "Error", "TagSet"][..]),
        closed in any::<bool>(),
    ) {
        let mut body = format!("<{name}>").repeat(depth);
        if closed {
            body.push_str(&format!("</{name}>").repeat(depth));
        }
        read_with_every_xml_reader(&body, name);
    }

    #[test]
    fn a_listing_page_reads_back_as_the_server_wrote_it(page in listing_page()) {
        let read = xml::parse_listing(&page.body).unwrap();
        prop_assert_eq!(read.items, page.items);
        prop_assert_eq!(read.next, page.next);
    }

    /// An url-encoded key is decoded as its `%XX` escapes (two hex digits) and `+` say, and
    /// kept as it is when that is not UTF-8; anything else is the key's own text.
    #[test]
    fn url_encoded_keys_decode_only_their_escapes(
        written in token_soup(&[
            "%", "+", " ", "1", "f", "F", "g", "%2", "%41", "%c3%a9", "%C3", "%+1", "%-1", "%%",
            "\u{e9}", "a", "/",
        ]),
    ) {
        let written: String = written.chars().filter(|c| xml_char(*c)).collect();
        prop_assume!(!written.is_empty());
        let body = format!(
            "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>{}</Key>\
             <Size>1</Size></Contents></ListBucketResult>",
            xml_text(&written)
        );
        let bytes = written.as_bytes();
        let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
        let (mut decoded, mut at) = (Vec::new(), 0);
        while at < bytes.len() {
            match (bytes[at], hex(at + 1), hex(at + 2)) {
                (b'+', _, _) => decoded.push(b' '),
                (b'%', Some(high), Some(low)) => {
                    decoded.push((high * 16 + low) as u8);
                    at += 2;
                }
                (byte, _, _) => decoded.push(byte),
            }
            at += 1;
        }
        let expected = String::from_utf8(decoded).unwrap_or_else(|_| written.clone());
        let items = xml::parse_listing(&body).unwrap().items;
        prop_assert_eq!(&items[0], &Listing::Object(ObjectInfo {
            key: expected,
            size: 1,
            last_modified: None,
            etag: None,
        }));
    }

    #[test]
    fn list_parts_and_uploads_pages_read_back(
        parts in prop::collection::vec((1u32..=10_000, etag()), 0..8),
        uploads in prop::collection::vec((xml_key(), token(), any::<bool>()), 0..6),
        marker in prop::option::of((1u32..=10_000, xml_key(), token())),
    ) {
        let mut body = String::from("<ListPartsResult>");
        let _ = write!(body, "<IsTruncated>{}</IsTruncated>", marker.is_some());
        if let Some((number, _, _)) = &marker {
            let _ = write!(body, "<NextPartNumberMarker>{number}</NextPartNumberMarker>");
        }
        for (number, etag) in &parts {
            let _ = write!(
                body,
                "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag><Size>5</Size></Part>",
                xml_text(etag)
            );
        }
        body.push_str("</ListPartsResult>");
        let read = xml::parse_list_parts(&body).unwrap();
        prop_assert_eq!(read.items, parts);
        prop_assert_eq!(read.next, marker.as_ref().map(|(number, _, _)| *number));

        let mut body = String::from("<ListMultipartUploadsResult><Bucket>b</Bucket>");
        let _ = write!(body, "<IsTruncated>{}</IsTruncated>", marker.is_some());
        if let Some((_, key, id)) = &marker {
            let _ = write!(
                body,
                "<NextKeyMarker>{}</NextKeyMarker><NextUploadIdMarker>{}</NextUploadIdMarker>",
                xml_text(key),
                xml_text(id)
            );
        }
        let mut expected = Vec::new();
        for (key, id, initiated) in uploads {
            let (written_key, written_id) = (xml_text(&key), xml_text(&id));
            let _ = write!(body, "<Upload><Key>{written_key}</Key>");
            let _ = write!(body, "<UploadId>{written_id}</UploadId>");
            let initiated = initiated.then(|| "2026-01-02T03:04:05.000Z".to_owned());
            if let Some(time) = &initiated {
                let _ = write!(body, "<Initiated>{time}</Initiated>");
            }
            body.push_str("</Upload>");
            expected.push(xml::MultipartUpload { key, upload_id: id, initiated });
        }
        body.push_str("</ListMultipartUploadsResult>");
        let read = xml::parse_list_uploads(&body).unwrap();
        prop_assert_eq!(read.items, expected);
        prop_assert_eq!(read.next, marker.map(|(_, key, id)| (key, id)));
    }

    #[test]
    fn error_and_copy_replies_read_back(
        code in "[A-Za-z]{1,20}",
        message in "[ -~]{1,60}",
        etag in etag(),
        delete_errors in prop::collection::vec((xml_key(), "[A-Za-z]{1,12}", "[ -~]{0,30}"), 0..5),
    ) {
        let message = message.trim().to_owned();
        prop_assume!(!message.is_empty());
        let body = format!(
            "<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{}</Message>\
             <RequestId>r</RequestId></Error>",
            xml_text(&message)
        );
        let error = xml::parse_error(500, &body).unwrap();
        prop_assert_eq!(error.code, Some(code));
        prop_assert_eq!(error.message, Some(message));
        let copy = format!("<CopyPartResult><ETag>{}</ETag></CopyPartResult>", xml_text(&etag));
        prop_assert_eq!(xml::parse_copy_etag(&copy).unwrap(), etag);

        let mut body = String::from("<DeleteResult><Deleted><Key>ok</Key></Deleted>");
        for (key, code, message) in &delete_errors {
            let _ = write!(
                body,
                "<Error><Key>{}</Key><Code>{code}</Code><Message>{}</Message></Error>",
                xml_text(key),
                xml_text(message.trim())
            );
        }
        body.push_str("</DeleteResult>");
        let read = xml::parse_delete_errors(&body).unwrap();
        let read: Vec<_> = read.into_iter().map(|e| (e.key, e.code, e.message)).collect();
        let expected: Vec<_> = delete_errors
            .into_iter()
            .map(|(key, code, message)| (key, code, message.trim().to_owned()))
            .collect();
        prop_assert_eq!(read, expected);
    }

    /// What s3mt writes (DeleteObjects, CompleteMultipartUpload, PutObjectTagging) an XML
    /// reader reads back exactly: the server acts on the keys, ETags and values s3mt meant.
    #[test]
    fn the_bodies_s3mt_writes_read_back(
        keys in prop::collection::vec(xml_key(), 1..6),
        parts in prop::collection::vec(
            (1u32..=10_000, "[ -~]{1,40}", prop::option::of("[A-Za-z0-9+/=]{4,44}")),
            1..6,
        ),
        tag_value in "[!-~]([ -~\t\r\n]{0,40}[!-~])?",
    ) {
        let body = xml::delete_body(&keys);
        let document = roxmltree::Document::parse(&body).unwrap();
        let written: Vec<String> = document
            .descendants()
            .filter(|node| node.has_tag_name("Key"))
            .map(|node| node.text().unwrap_or_default().to_owned())
            .collect();
        prop_assert_eq!(written, keys);

        let parts: Vec<CompletedPart> = parts
            .into_iter()
            .map(|(number, etag, checksum)| CompletedPart { number, etag, checksum })
            .collect();
        let body = xml::complete_body(&parts, ChecksumAlgorithm::Crc32c);
        let document = roxmltree::Document::parse(&body).unwrap();
        let read: Vec<CompletedPart> = document
            .root_element()
            .children()
            .filter(|node| node.has_tag_name("Part"))
            .map(|part| {
                let text = |name: &str| {
                    part.children()
                        .find(|node| node.tag_name().name() == name)
                        .map(|node| node.text().unwrap_or_default().to_owned())
                };
                CompletedPart {
                    number: text("PartNumber").unwrap().parse().unwrap(),
                    etag: text("ETag").unwrap(),
                    checksum: text("ChecksumCRC32C"),
                }
            })
            .collect();
        prop_assert_eq!(read, parts);

        let body = xml::tagging_body("s3mt-sha256", &tag_value);
        prop_assert_eq!(xml::parse_tag(&body, "s3mt-sha256").unwrap(), Some(tag_value));
        prop_assert_eq!(xml::parse_tag(&body, "other").unwrap(), None);
    }
}

// ---------------------------------------------------------------------------------------------
// The shared config and credentials files.

const PROFILE_TOKENS: &[&str] = &[
    "[",
    "]",
    "[profile ",
    "[default]",
    "[sso-session ",
    "[services ",
    "=",
    " = ",
    "#",
    ";",
    " #",
    " ;",
    "\n",
    "\r\n",
    "\r",
    "\n  ",
    "\n\t",
    " ",
    "\t",
    "\u{3000}",
    "\u{feff}",
    "\u{e9}",
    "s3 =\n  addressing_style = path\n",
    "region",
    "aws_secret_access_key",
    "value",
];

/// One section of a generated file: its name and properties, each value one or more lines,
/// and perhaps a nested `s3 =` sub-section.
type Section = (String, Vec<(String, Vec<String>)>, Vec<(String, String)>);

/// A value line as people write them: words of printable characters, where `#` and `;` start
/// a comment only after a blank.
fn value_line() -> impl Strategy<Value = String> {
    prop::collection::vec(
        "[A-Za-z0-9/+=:._\u{e9}\\[\\]-][A-Za-z0-9/+=:._#;\u{e9}\\[\\]-]{0,12}",
        1..4,
    )
    .prop_map(|words| words.join(" "))
}

fn property_key() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,12}".prop_filter("s3 is the nested section", |key| {
        !key.eq_ignore_ascii_case("s3")
    })
}

fn section() -> impl Strategy<Value = Section> {
    (
        "[A-Za-z0-9_.@-]([A-Za-z0-9_.@ -]{0,10}[A-Za-z0-9_.@-])?",
        prop::collection::btree_map(
            property_key().prop_map(|key| key.to_ascii_lowercase()),
            prop::collection::vec(value_line(), 1..3),
            0..5,
        ),
        prop::collection::btree_map(
            property_key().prop_map(|key| key.to_ascii_lowercase()),
            value_line(),
            0..3,
        ),
    )
        .prop_map(|(name, properties, nested)| {
            (
                name,
                properties.into_iter().collect(),
                nested.into_iter().collect(),
            )
        })
}

/// Writing style: which separators, comments and line ends a generated file uses.
#[derive(Debug, Clone)]
struct Style {
    crlf: bool,
    spaced: bool,
    comments: bool,
    upper_keys: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(crlf, spaced, comments, upper_keys)| Style {
            crlf,
            spaced,
            comments,
            upper_keys,
        },
    )
}

/// The text of a file of `sections` (names unique) as `kind` names them.
fn profile_text(sections: &[Section], kind: FileKind, style: &Style) -> String {
    let mut lines = Vec::new();
    if style.comments {
        lines.push("# written by a property test".to_owned());
    }
    for (index, (name, properties, nested)) in sections.iter().enumerate() {
        let header = match kind {
            FileKind::Credentials => format!("[{name}]"),
            FileKind::Config if name == "default" && index % 2 == 0 => "[default]".to_owned(),
            FileKind::Config => format!("[profile {name}]"),
        };
        lines.push(if style.comments {
            format!("{header} ; a comment")
        } else {
            header
        });
        let key = |key: &str| {
            if style.upper_keys {
                key.to_ascii_uppercase()
            } else {
                key.to_owned()
            }
        };
        let separator = if style.spaced { " = " } else { "=" };
        for (name, value) in properties {
            lines.push(format!("{}{separator}{}", key(name), value[0]));
            for more in &value[1..] {
                lines.push(format!("  {more}"));
            }
            if style.comments {
                lines.push("; between properties".to_owned());
                lines.push(String::new());
            }
        }
        if !nested.is_empty() {
            lines.push(format!("s3{separator}"));
            for (name, value) in nested {
                let comment = if style.comments { " # nested" } else { "" };
                lines.push(format!("\t{}{separator}{value}{comment}", key(name)));
            }
        }
        if kind == FileKind::Config && index == 0 {
            // Sections that are not profiles, kept apart or ignored.
            lines.push(format!("[sso-session {name}]"));
            lines.push(format!("sso_region{separator}eu-west-1"));
            lines.push(format!("[unknown {name}]"));
            lines.push(format!("region{separator}nowhere"));
        }
    }
    lines.join(if style.crlf { "\r\n" } else { "\n" })
}

fn sections() -> impl Strategy<Value = Vec<Section>> {
    prop::collection::vec(section(), 0..6).prop_map(|sections| {
        let mut seen = std::collections::HashSet::new();
        sections
            .into_iter()
            .filter(|(name, _, _)| seen.insert(name.clone()))
            .collect()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn profile_files_never_panic_and_errors_name_only_a_line(
        text in prop_oneof![any::<String>(), token_soup(PROFILE_TOKENS)],
    ) {
        for kind in [FileKind::Config, FileKind::Credentials] {
            if let Err(err) = ProfileFile::parse(&text, kind) {
                prop_assert!((1..=text.lines().count()).contains(&err.line), "{err:?}");
                prop_assert_eq!(err.to_string(), format!("line {}: {}", err.line, err.reason));
            }
        }
    }

    #[test]
    fn a_generated_profile_file_parses_back(
        sections in sections(),
        kind in prop::sample::select(&[FileKind::Config, FileKind::Credentials][..]),
        style in style(),
    ) {
        let text = profile_text(&sections, kind, &style);
        let file = ProfileFile::parse(&text, kind).unwrap();
        let mut names: Vec<&str> = sections.iter().map(|(name, _, _)| name.as_str()).collect();
        names.sort_unstable();
        prop_assert_eq!(file.names().collect::<Vec<_>>(), names);
        for (name, properties, nested) in &sections {
            let profile = file.profile(name).unwrap();
            for (key, value) in properties {
                let value = value.join("\n");
                prop_assert_eq!(profile.get(key), Some(value.as_str()), "{}", text);
            }
            for (key, value) in nested {
                prop_assert_eq!(profile.get_nested("s3", key), Some(value.as_str()), "{}", text);
            }
            prop_assert_eq!(profile.get("s3"), None);
        }
        if let (FileKind::Config, Some((name, _, _))) = (kind, sections.first()) {
            let session = file.section("sso-session", name).unwrap();
            prop_assert_eq!(session.get("sso_region"), Some("eu-west-1"));
        }
    }

    /// A bad line holding a secret fails the parse at that line, and the error never shows it.
    #[test]
    fn a_bad_line_is_named_by_number_never_by_its_text(
        sections in sections(),
        kind in prop::sample::select(&[FileKind::Config, FileKind::Credentials][..]),
        style in style(),
        secret in "wJalr[A-Za-z0-9/+]{16,36}",
        shape in 0usize..4,
        at in any::<Index>(),
    ) {
        let text = profile_text(&sections, kind, &style);
        let mut lines: Vec<&str> = text.lines().collect();
        let bad = match shape {
            0 => secret.clone(),
            1 => format!("[{secret}"),
            2 => format!("[profile p] {secret}"),
            _ => format!("= {secret}"),
        };
        let line = at.index(lines.len() + 1);
        lines.insert(line, &bad);
        let text = lines.join("\n");
        let err = ProfileFile::parse(&text, kind).unwrap_err();
        prop_assert_eq!(err.line, line + 1);
        prop_assert!(!err.to_string().contains(&secret));
        let debug = format!("{err:?}");
        prop_assert!(!debug.contains(&secret));
    }
}

// ---------------------------------------------------------------------------------------------
// s3mt's record.

fn timestamp() -> impl Strategy<Value = Timestamp> {
    let (min, max) = (Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    let seconds = prop_oneof![
        min..=max,
        -10_000_000_000i64..10_000_000_000,
        prop::sample::select(vec![min, min + 1, -1, 0, max - 1, max]),
    ];
    (seconds, 0i32..1_000_000_000)
        .prop_filter_map("inside jiff's range", |(s, n)| Timestamp::new(s, n).ok())
}

fn record() -> impl Strategy<Value = Record> {
    let part_size = prop_oneof![
        1..=u64::MAX,
        plan::MIN_PART_SIZE..=plan::MAX_PART_SIZE,
        prop::sample::select(vec![1, plan::MIN_PART_SIZE, plan::MAX_PART_SIZE, u64::MAX]),
    ];
    let parts = prop_oneof![0..=plan::MAX_PARTS + 1, any::<u64>()];
    (
        prop::sample::select(ChecksumAlgorithm::ALL.to_vec()),
        part_size,
        parts,
        any::<[u8; 8]>(),
        prop::option::of(prop_oneof![1u32..=4, 1..=u32::MAX]),
        prop::option::of(timestamp()),
    )
        .prop_map(
            |(algorithm, part_size, parts, seed, doubling_every, modified)| Record {
                algorithm,
                part_size,
                parts,
                composite: sha256(&seed),
                doubling_every,
                modified,
            },
        )
}

/// The layout's parts as the plan defines them, in exact arithmetic: every part's size, first
/// to `record.parts`-th (a grown part doubles at most 16 times, and is at most 5 GiB).
fn part_sizes(record: &Record) -> impl Iterator<Item = u128> + '_ {
    (1..=record.parts).map(|number| match record.doubling_every {
        None => u128::from(record.part_size),
        Some(every) => {
            let doublings = ((number - 1) / u64::from(every)).min(16);
            (u128::from(record.part_size) << doublings).min(u128::from(plan::MAX_PART_SIZE))
        }
    })
}

/// Whether `record`'s parts hold exactly `size` bytes: at most 10,000 of them, every part but
/// the last full, the last holding at least a byte (no parts for no bytes).
fn adds_up(record: &Record, size: u64) -> bool {
    if record.parts > plan::MAX_PARTS {
        return false;
    }
    if record.parts == 0 || size == 0 {
        return record.parts == 0 && size == 0;
    }
    let sizes: Vec<u128> = part_sizes(record).collect();
    let (last, before) = sizes.split_last().unwrap();
    let before: u128 = before.iter().sum();
    let size = u128::from(size);
    before < size && size <= before + last
}

/// Whether `record` can describe `size` bytes: its parts within S3's limits, and adding up.
fn plausible(record: &Record, size: u64) -> bool {
    let sized = (plan::MIN_PART_SIZE..=plan::MAX_PART_SIZE).contains(&record.part_size);
    (record.parts <= 1 || sized) && adds_up(record, size)
}

const RECORD_TOKENS: &[&str] = &[
    "v1",
    "v2",
    " ",
    "\t",
    "part-size=",
    "parts=",
    "sha256=",
    "crc64nvme=",
    "crc32=",
    "crc32c=",
    "doubling-every=",
    "mtime=",
    "=",
    ".",
    "0",
    "1",
    "5242880",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "+1",
    "4294967296",
    "000000000",
    "-00000001",
    "+00000001",
    "999999999",
    "1000000000",
    "-377705116800",
    "253402207200",
    "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
    "AA==",
    "====",
    "colour=blue",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn records_never_panic_and_what_reads_writes_back(
        text in prop_oneof![any::<String>(), token_soup(RECORD_TOKENS)],
        size in any::<u64>(),
    ) {
        if let Some(record) = Record::from_metadata(&text) {
            prop_assert_eq!(Record::from_metadata(&record.to_metadata()), Some(record.clone()));
            prop_assert_eq!(record.implausible(size).is_none(), plausible(&record, size));
        }
    }

    #[test]
    fn damaged_records_never_panic(
        text in mutated(record().prop_map(|record| record.to_metadata()), RECORD_TOKENS),
        size in any::<u64>(),
    ) {
        if let Some(record) = Record::from_metadata(&text) {
            prop_assert_eq!(record.implausible(size).is_none(), plausible(&record, size));
        }
    }

    #[test]
    fn a_record_round_trips_through_its_metadata(record in record()) {
        let value = record.to_metadata();
        prop_assert_eq!(Record::from_metadata(&value), Some(record.clone()));
        // A later version's fields after the composite are ignored.
        let later = format!("{value} colour=blue");
        prop_assert_eq!(Record::from_metadata(&later), Some(record));
    }

    /// `implausible` never panics for any record and size, and says the same as the layout's
    /// exact arithmetic: it accepts exactly the sizes the parts add up to within S3's limits.
    #[test]
    fn implausible_agrees_with_exact_arithmetic(
        record in record(),
        size in any::<u64>(),
        inside in any::<Index>(),
    ) {
        prop_assert_eq!(record.implausible(size).is_none(), plausible(&record, size));
        // A size the layout holds, when there is one, to test acceptance too.
        if record.parts <= plan::MAX_PARTS && record.parts > 0 {
            let sizes: Vec<u128> = part_sizes(&record).collect();
            let (last, before) = sizes.split_last().unwrap();
            let before: u128 = before.iter().sum();
            let offset = inside.index(usize::try_from(*last).unwrap_or(usize::MAX));
            let size = before + 1 + offset as u128;
            if let Ok(size) = u64::try_from(size) {
                prop_assert_eq!(record.implausible(size).is_none(), plausible(&record, size));
            }
        }
        // The layout `part_sizes` gives agrees on what fits.
        prop_assert_eq!(record.part_sizes().fits(size, record.parts), adds_up(&record, size));
    }
}

// ---------------------------------------------------------------------------------------------
// Sizes.

/// The spellings of each unit `parse_size` reads, with its multiplier.
const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("B", 1),
    ("k", KIB),
    ("K", KIB),
    ("kb", KIB),
    ("KB", KIB),
    ("KiB", KIB),
    ("kib", KIB),
    ("m", MIB),
    ("M", MIB),
    ("MB", MIB),
    ("MiB", MIB),
    ("mib", MIB),
    ("g", GIB),
    ("G", GIB),
    ("GB", GIB),
    ("GiB", GIB),
    ("t", TIB),
    ("T", TIB),
    ("TB", TIB),
    ("TiB", TIB),
    ("tIb", TIB),
];

const SIZE_TOKENS: &[&str] = &[
    "0",
    "1",
    "9",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    " ",
    "\t",
    "\u{a0}",
    "k",
    "M",
    "G",
    "T",
    "P",
    "iB",
    "B",
    "b",
    "ib",
    "-",
    "+",
    ".",
    "e",
    "\u{e9}",
    "\u{0660}",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sizes_never_panic(text in prop_oneof![any::<String>(), token_soup(SIZE_TOKENS)]) {
        if let Err(err) = parse_size(&text) {
            prop_assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }

    /// A number and a unit, however spaced, is the product when it fits in a u64 and an error,
    /// never a panic or a wrapped value, when it does not.
    #[test]
    fn a_number_and_a_unit_parse_or_overflow_cleanly(
        number in prop_oneof![any::<u64>().prop_map(u128::from), any::<u128>(), 0u128..100_000],
        (unit, multiplier) in prop::sample::select(UNITS),
        before in "[ \t]{0,2}",
        between in "[ ]{0,2}",
        after in "[ \t\n]{0,2}",
    ) {
        let text = format!("{before}{number}{between}{unit}{after}");
        let exact = number.checked_mul(u128::from(multiplier)).and_then(|n| u64::try_from(n).ok());
        prop_assert_eq!(parse_size(&text).ok(), exact, "{:?}", text);
    }

    /// `Size` shows a whole number of its unit without decimals, and that reads back.
    #[test]
    fn sizes_shown_whole_read_back(
        bytes in prop_oneof![
            any::<u64>(),
            (0u64..2048, 0u32..5).prop_map(|(n, unit)| n << (10 * unit)),
            (0u64..(1 << 24), 0u32..5).prop_map(|(n, unit)| n << (10 * unit)),
        ],
    ) {
        let shown = Size(bytes).to_string();
        let unit = (0..5u32).rev().find(|unit| bytes >= 1u64 << (10 * unit)).unwrap_or(0);
        let whole = bytes.is_multiple_of(1 << (10 * unit));
        prop_assert_eq!(!shown.contains('.'), whole, "{}", shown);
        if whole {
            prop_assert_eq!(parse_size(&shown).unwrap(), bytes, "{}", shown);
        }
        let _ = format!("{:.3}", Size(bytes));
    }
}

// ---------------------------------------------------------------------------------------------
// Other readers of text from outside: addresses, proxy lists, checksums, shards, filters, keys
// that become paths, and redaction.

fn bucket() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]".prop_filter("a valid bucket name", |bucket| {
        !bucket.contains("..") && bucket.parse::<Ipv4Addr>().is_err()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn s3_addresses_never_panic_and_valid_ones_round_trip(
        text in prop_oneof![
            any::<String>(),
            any::<String>().prop_map(|rest| format!("s3://{rest}")),
        ],
        bucket in bucket(),
        key in any_key(),
    ) {
        if let Ok(uri) = text.parse::<S3Uri>() {
            prop_assert_eq!(uri.to_string().parse::<S3Uri>().unwrap(), uri.clone());
            let _ = (uri.file_name(), uri.is_prefix(), uri.join(&text));
        }
        let dot_segment = key.split('/').any(|segment| segment == "." || segment == "..");
        match format!("s3://{bucket}/{key}").parse::<S3Uri>() {
            Ok(uri) => {
                prop_assert!(!dot_segment);
                prop_assert_eq!((uri.bucket(), uri.key()), (bucket.as_str(), key.as_str()));
                prop_assert_eq!(uri.to_string().parse::<S3Uri>().unwrap(), uri);
            }
            Err(err) => {
                prop_assert!(dot_segment, "{}", err);
                prop_assert_eq!(err.kind(), ErrorKind::InvalidInput);
            }
        }
    }

    #[test]
    fn no_proxy_lists_never_panic_and_name_their_hosts(
        list in prop_oneof![
            any::<String>(),
            token_soup(&[
                "*", ".", "*.", ",", " ", "/", "/33", "[", "]", "::1", "10.0.0.0/8", "example.com",
                "EXAMPLE.com.", "0", "\u{e9}",
            ]),
        ],
        host in prop_oneof![
            // Labels start with a letter: the URL parser reads `1.2` and `0x1` as addresses.
            "[a-z]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z][a-z0-9]{0,7}){0,3}"
                .prop_filter("not punycode", |host: &String| !host.contains("--")),
            any::<[u8; 4]>().prop_map(|ip| Ipv4Addr::from(ip).to_string()),
            any::<[u16; 8]>().prop_map(|ip| format!("[{}]", std::net::Ipv6Addr::from(ip))),
        ],
        listed in prop_oneof![Just(String::new()), Just(".".to_owned()), Just("*.".to_owned())],
        upper in any::<bool>(),
    ) {
        prop_assume!(!host.ends_with("other.invalid"));
        let endpoint = url::Url::parse(&format!("https://{host}:9000/")).unwrap();
        let with = |no_proxy: String| {
            ProxyVariables::read(&move |name| match name {
                "HTTPS_PROXY" => Some("http://proxy:3128".to_owned()),
                "NO_PROXY" => Some(no_proxy.clone()),
                _ => None,
            })
        };
        let _ = with(list.clone()).proxy_for(&endpoint);
        // The host itself (or a domain's `.host` and `*.host`), among other entries, is
        // reached directly.
        let entry = if host.starts_with('[') || host.parse::<Ipv4Addr>().is_ok() {
            host.clone()
        } else {
            format!("{listed}{host}")
        };
        let entry = if upper { entry.to_ascii_uppercase() } else { entry };
        let variables = with(format!("{list} , {entry},other.invalid"));
        prop_assert_eq!(variables.proxy_for(&endpoint), None, "{:?}", variables);
        prop_assert!(with("other.invalid".to_owned()).proxy_for(&endpoint).is_some());
    }

    /// An address in a listed network is reached directly; one a bit outside it is not.
    #[test]
    fn no_proxy_networks_hold_exactly_their_addresses(address in any::<u32>(), bits in 0u32..=32) {
        let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
        let network = format!("{}/{bits}", Ipv4Addr::from(address & mask));
        let via_proxy = |address: u32| {
            let endpoint = format!("https://{}/", Ipv4Addr::from(address));
            let endpoint = url::Url::parse(&endpoint).unwrap();
            let network = network.clone();
            ProxyVariables::read(&move |name| match name {
                "HTTPS_PROXY" => Some("http://proxy:3128".to_owned()),
                "NO_PROXY" => Some(network.clone()),
                _ => None,
            })
            .proxy_for(&endpoint)
            .is_some()
        };
        prop_assert!(!via_proxy(address));
        if bits > 0 {
            prop_assert!(via_proxy(address ^ (1 << (32 - bits))));
        }
    }

    #[test]
    fn checksums_never_panic_and_round_trip_at_their_length(
        text in prop_oneof![any::<String>(), "[A-Za-z0-9+/=\\- ]{0,50}"],
        bytes in prop::collection::vec(any::<u8>(), 0..40),
        algorithm in prop::sample::select(ChecksumAlgorithm::ALL.to_vec()),
        size in any::<u64>(),
        checksum_type in prop::option::of(prop_oneof![
            Just("FULL_OBJECT".to_owned()),
            Just("composite".to_owned()),
            any::<String>(),
        ]),
        etag in prop::option::of(prop_oneof![etag(), any::<String>()]),
    ) {
        let _ = from_base64(&text);
        let _ = parse_checksum(algorithm, &text);
        let encoded = to_base64_bytes(&bytes);
        prop_assert_eq!(from_base64(&encoded), Some(bytes.clone()));
        let digest = parse_checksum(algorithm, &encoded);
        prop_assert_eq!(digest.is_some(), bytes.len() == algorithm.len());
        if let Some(digest) = digest {
            prop_assert_eq!(digest.as_bytes(), &bytes[..]);
        }
        // Every header a HEAD reply may carry, whatever is in it.
        let value = format!("{encoded}{text}");
        let choice = Expected::from_headers(
            size,
            Some(&text),
            |candidate| (candidate == algorithm).then_some(value.as_str()),
            checksum_type.as_deref(),
            etag.as_deref(),
            false,
        );
        prop_assert!(choice.ignored_record.is_some() || Record::from_metadata(&text).is_some());
        let _ = (choice.expected.per_part(), choice.expected.verdict(true));
    }

    #[test]
    fn shards_never_panic_and_split_every_path_once(
        text in prop_oneof![any::<String>(), "[0-9 /+-]{0,12}"],
        count in 1u64..12,
        path in any::<String>(),
    ) {
        if let Ok(shard) = text.parse::<Shard>() {
            prop_assert_eq!(shard.to_string().parse::<Shard>().unwrap(), shard);
        }
        let takers = (0..count)
            .filter(|index| Shard::new(*index, count).unwrap().takes(&path))
            .count();
        prop_assert_eq!(takers, 1);
    }

    #[test]
    fn filters_never_panic_and_the_last_matching_rule_wins(
        pattern in prop_oneof![
            any::<String>(),
            token_soup(&["*", "**", "?", "[", "]", "[!", "{", "}", ",", "\\", "/", "a", "-", "^"]),
        ],
        path in any::<String>(),
        name in "[a-z0-9_]{1,12}",
    ) {
        if let Ok(filters) = Filters::default().push(Rule::Exclude, &pattern) {
            let _ = filters.includes(&path);
        }
        let only = Filters::default()
            .push(Rule::Exclude, "*")
            .and_then(|filters| filters.push(Rule::Include, &format!("*/{name}")))
            .unwrap();
        let (named, longer) = (format!("{path}/{name}"), format!("{path}/{name}x"));
        prop_assert!(only.includes(&named));
        prop_assert!(!only.includes(&longer));
    }

    /// A key accepted as a file under the destination is a relative path of plain names, one
    /// per segment: nothing that could climb out of the destination or mean another place.
    #[test]
    fn keys_accepted_as_paths_stay_under_the_destination(
        key in prop_oneof![any::<String>(), any_key(), "[a./\\\\]{0,10}"],
    ) {
        if unsafe_key(&key).is_none() {
            let components: Vec<Component<'_>> = Path::new(&key).components().collect();
            let plain = components.iter().all(|c| matches!(c, Component::Normal(_)));
            prop_assert!(plain, "{:?}", key);
            prop_assert_eq!(components.len(), key.split('/').count(), "{:?}", key);
        }
    }

    /// Signatures, session tokens and URL passwords are gone from any text shown.
    #[test]
    fn redaction_never_panics_and_removes_secrets(
        text in any::<String>(),
        secret in "[A-Za-z0-9%+]{12,40}",
        before in "[ -~]{0,20}",
        param in prop::sample::select(
            &["X-Amz-Signature=", "X-Amz-Security-Token=", "X-Amz-Credential="][..]
        ),
        blank in prop::sample::select(&[" ", "\n", "\t", "\r\n", " (", ":\n  "][..]),
    ) {
        let _ = crate::s3::http::redact(&text);
        let _ = crate::settings::config::redact_userinfo(&text);
        let url = format!("{before}{blank}https://h/k?{param}{secret}&x-id=Get{blank}{before}");
        prop_assert!(!crate::s3::http::redact(&url).contains(&secret));
        let proxies = format!(
            "{before}{blank}http://user:{secret}@proxy/{blank}https://u:{secret}@p{blank}{before}"
        );
        let shown = crate::s3::http::redact(&proxies);
        prop_assert!(!shown.contains(&secret), "{:?}", shown);
    }
}
