//! Parser for aws-cli's shared config files, `~/.aws/config` and `~/.aws/credentials`.
//!
//! Follows the AWS SDKs' shared config file format as botocore and the AWS SDK for Rust read it:
//! `[profile NAME]` headers in the config file, bare `[NAME]` headers in the credentials file,
//! `key = value` properties, inline comments, multi-line values and nested sub-sections such as
//! `s3 =` followed by indented `addressing_style = path`. It is pure: text in, profiles out.
//!
//! Hand-written because generic INI crates handle neither the nested sub-sections nor the
//! `[profile name]` rules, and the format is small. Errors carry a line number and a fixed
//! reason, never the line's text, which may hold a secret key.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Which shared file is being parsed; they name their profiles differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `~/.aws/config`: `[default]` or `[profile NAME]`; other sections are ignored.
    Config,
    /// `~/.aws/credentials`: every `[NAME]` is a profile.
    Credentials,
}

/// A syntax error: the 1-based line and a fixed reason, never the line's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with the line.
    pub reason: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// The profiles of one parsed file, by name, and the config file's other named sections
/// (`[sso-session NAME]`, `[services NAME]`), by kind and name.
#[derive(Debug, Default, Clone)]
pub(crate) struct ProfileFile {
    profiles: BTreeMap<String, Profile>,
    sections: BTreeMap<(String, String), Profile>,
}

/// One profile's properties; keys are lowercase.
#[derive(Debug, Default, Clone)]
pub(crate) struct Profile {
    properties: HashMap<String, String>,
    nested: HashMap<String, HashMap<String, String>>,
}

impl Profile {
    /// The top-level property `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties
            .get(&key.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The property `key` of the nested sub-section `section`, e.g. `("s3", "addressing_style")`.
    pub fn get_nested(&self, section: &str, key: &str) -> Option<&str> {
        self.nested
            .get(&section.to_ascii_lowercase())?
            .get(&key.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Where the properties of the current section go.
enum Target {
    Profile(String),
    /// `[default]` in a config file, which `[profile default]` overrides.
    BareDefault,
    /// `[sso-session NAME]` or `[services NAME]` in a config file: (kind, name).
    Section(String, String),
    /// A section that is not a profile: checked, then dropped.
    Ignored,
}

/// The last property seen, which indented lines extend.
enum Last {
    None,
    /// A non-empty value: indented lines continue it.
    Value(String),
    /// An empty value: indented lines are its sub-properties.
    Section(String),
}

impl ProfileFile {
    /// Parses the text of a shared config or credentials file, as `kind` says.
    pub fn parse(text: &str, kind: FileKind) -> Result<ProfileFile, ParseError> {
        let mut profiles: BTreeMap<String, Profile> = BTreeMap::new();
        let mut sections: BTreeMap<(String, String), Profile> = BTreeMap::new();
        let mut bare_default: Option<Profile> = None;
        let mut ignored = Profile::default();
        let mut target: Option<Target> = None;
        let mut last = Last::None;

        for (index, raw) in text.lines().enumerate() {
            let err = |reason| ParseError {
                line: index + 1,
                reason,
            };
            let line = raw.trim_end();
            let content = line.trim_start();
            if content.is_empty() || content.starts_with(['#', ';']) {
                continue;
            }
            if line.starts_with('[') {
                target = Some(parse_header(line, kind).map_err(err)?);
                match &target {
                    Some(Target::Profile(name)) => {
                        profiles.entry(name.clone()).or_default();
                    }
                    Some(Target::BareDefault) => {
                        bare_default.get_or_insert_with(Profile::default);
                    }
                    _ => {}
                }
                last = Last::None;
                continue;
            }
            let profile = match &target {
                None => return Err(err("property before any [section]")),
                Some(Target::Profile(name)) => profiles.entry(name.clone()).or_default(),
                Some(Target::BareDefault) => bare_default.get_or_insert_with(Profile::default),
                Some(Target::Section(kind, name)) => {
                    sections.entry((kind.clone(), name.clone())).or_default()
                }
                Some(Target::Ignored) => &mut ignored,
            };
            if line.starts_with([' ', '\t']) {
                match &last {
                    Last::None => return Err(err("indented line with no property above it")),
                    Last::Value(key) => {
                        let value = profile.properties.entry(key.clone()).or_default();
                        value.push('\n');
                        value.push_str(strip_comment(content));
                    }
                    Last::Section(section) => {
                        let (key, value) = split_property(content).map_err(err)?;
                        profile.properties.remove(section);
                        let nested = profile.nested.entry(section.clone()).or_default();
                        nested.insert(key, value.to_owned());
                    }
                }
                continue;
            }
            let (key, value) = split_property(line).map_err(err)?;
            last = if value.is_empty() {
                Last::Section(key.clone())
            } else {
                Last::Value(key.clone())
            };
            profile.properties.insert(key, value.to_owned());
        }

        if let Some(default) = bare_default {
            profiles.entry("default".to_owned()).or_insert(default);
        }
        Ok(ProfileFile { profiles, sections })
    }

    /// The `[KIND NAME]` section of a config file (`sso-session`, `services`), if there is one.
    pub fn section(&self, kind: &str, name: &str) -> Option<&Profile> {
        self.sections.get(&(kind.to_owned(), name.to_owned()))
    }

    /// The profile named `name` (case-sensitive), if the file has one.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    /// The names of the profiles in the file, sorted.
    #[cfg(test)]
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }
}

/// Reads a `[ name ]` header line (already trimmed at the end) into the section it starts.
fn parse_header(line: &str, kind: FileKind) -> Result<Target, &'static str> {
    let Some((inside, rest)) = line[1..].split_once(']') else {
        return Err("unterminated [section] header");
    };
    let rest = rest.trim_start();
    if !(rest.is_empty() || rest.starts_with(['#', ';'])) {
        return Err("unexpected text after [section] header");
    }
    let name = inside.trim();
    if name.is_empty() {
        return Err("empty profile name");
    }
    if kind == FileKind::Credentials {
        return Ok(Target::Profile(name.to_owned()));
    }
    if name == "default" {
        return Ok(Target::BareDefault);
    }
    if let Some((kind, rest)) = name.split_once([' ', '\t']) {
        let rest = rest.trim().to_owned();
        match kind {
            "profile" => return Ok(Target::Profile(rest)),
            "sso-session" | "services" => return Ok(Target::Section(kind.to_owned(), rest)),
            _ => {}
        }
    }
    Ok(Target::Ignored)
}

/// Splits `key = value` at the first `=`: lowercase key, value without its inline comment.
fn split_property(line: &str) -> Result<(String, &str), &'static str> {
    let (key, value) = line.split_once('=').ok_or("expected `key = value`")?;
    let key = key.trim();
    if key.is_empty() {
        return Err("empty property name");
    }
    Ok((key.to_ascii_lowercase(), strip_comment(value)))
}

/// Cuts a value at the first `#` or `;` preceded by whitespace, then trims it.
fn strip_comment(value: &str) -> &str {
    let mut prev_blank = true;
    for (i, c) in value.char_indices() {
        if prev_blank && (c == '#' || c == ';') {
            return value[..i].trim();
        }
        prev_blank = c.is_whitespace();
    }
    value.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, kind: FileKind) -> ProfileFile {
        ProfileFile::parse(text, kind).unwrap()
    }

    fn get<'a>(file: &'a ProfileFile, profile: &str, key: &str) -> Option<&'a str> {
        file.profile(profile)?.get(key)
    }

    #[test]
    fn config_profile_naming_and_ignored_sections() {
        let file = parse(
            "# comment\n[default]\nregion = us-east-1\n\n[profile  \tdev ] # c\nregion = eu-west-1\n\
             [sso-session corp]\nsso_region = x\n[services s]\ns3 =\n  endpoint_url = http://x\n\
             [foo]\nregion = nope\n[profilebar]\nregion = nope\n",
            FileKind::Config,
        );
        assert_eq!(file.names().collect::<Vec<_>>(), ["default", "dev"]);
        assert_eq!(get(&file, "default", "region"), Some("us-east-1"));
        assert_eq!(get(&file, "dev", "region"), Some("eu-west-1"));
        // The named sections the SDKs read are kept apart from the profiles.
        let session = file.section("sso-session", "corp").unwrap();
        assert_eq!(session.get("sso_region"), Some("x"));
        let services = file.section("services", "s").unwrap();
        assert_eq!(services.get_nested("s3", "endpoint_url"), Some("http://x"));
        assert!(file.section("sso-session", "dev").is_none());
    }

    #[test]
    fn credentials_profile_naming() {
        let text = "[default]\naws_access_key_id = A\n[profile x]\naws_access_key_id = B\n[y]\nk=C";
        let file = parse(text, FileKind::Credentials);
        let names: Vec<_> = file.names().collect();
        assert_eq!(names, ["default", "profile x", "y"]);
        assert_eq!(get(&file, "default", "aws_access_key_id"), Some("A"));
        assert_eq!(get(&file, "profile x", "aws_access_key_id"), Some("B"));
        assert_eq!(get(&file, "y", "k"), Some("C"));
    }

    #[test]
    fn profile_default_beats_default_in_either_order() {
        for text in [
            "[default]\nregion = a\nonly_bare = 1\n[profile default]\nregion = b\n",
            "[profile default]\nregion = b\n[default]\nregion = a\nonly_bare = 1\n",
        ] {
            let file = parse(text, FileKind::Config);
            assert_eq!(get(&file, "default", "region"), Some("b"));
            assert_eq!(get(&file, "default", "only_bare"), None);
        }
    }

    #[test]
    fn nested_sections_and_continuations() {
        let file = parse(
            "[profile p]\ns3 =\n  addressing_style = path\n\tEndpoint_URL = http://h:9000 # local\n\
             region = us-west-2\nca_bundle = first\n  second\n\tthird ; note\n",
            FileKind::Config,
        );
        let p = file.profile("p").unwrap();
        assert_eq!(p.get_nested("s3", "addressing_style"), Some("path"));
        assert_eq!(p.get_nested("S3", "endpoint_url"), Some("http://h:9000"));
        assert_eq!(p.get("s3"), None);
        assert_eq!(p.get("region"), Some("us-west-2"));
        assert_eq!(p.get("ca_bundle"), Some("first\nsecond\nthird"));
        assert_eq!(p.get_nested("s3", "missing"), None);
        assert_eq!(p.get_nested("ca_bundle", "x"), None);
    }

    #[test]
    fn inline_comments_case_and_merge() {
        let file = parse(
            "[profile p]\nSecret = abc#def;ghi # comment\nA_Key = 1 ;c\nempty = # nothing\nx=\t=y\n\
             [profile q]\n[profile p]\na_key = 2\nother = 3\n",
            FileKind::Config,
        );
        let p = file.profile("p").unwrap();
        assert_eq!(p.get("secret"), Some("abc#def;ghi"));
        assert_eq!(p.get("SECRET"), Some("abc#def;ghi"));
        assert_eq!(p.get("a_key"), Some("2"));
        assert_eq!(p.get("other"), Some("3"));
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.get("x"), Some("=y"));
        assert!(file.profile("q").is_some());
    }

    #[test]
    fn crlf_parses_like_lf() {
        let lf = "[default]\nk = v\n  more\n[profile p]\ns3 =\n  addressing_style = path\n";
        let crlf = parse(&lf.replace('\n', "\r\n"), FileKind::Config);
        let lf = parse(lf, FileKind::Config);
        assert_eq!(crlf.names().collect::<Vec<_>>(), ["default", "p"]);
        assert_eq!(get(&crlf, "default", "k"), Some("v\nmore"));
        assert_eq!(get(&crlf, "default", "k"), get(&lf, "default", "k"));
        let p = crlf.profile("p").unwrap();
        assert_eq!(p.get_nested("s3", "addressing_style"), Some("path"));
    }

    #[test]
    fn errors_report_line_and_hide_text() {
        let cases = [
            ("wJalrX = x\n", 1, "property before any [section]"),
            ("[default]\n\nwJalrX\n", 3, "expected `key = value`"),
            ("[default\nwJalrX", 1, "unterminated [section] header"),
            (
                "# c\n[ ] wJalrX\n",
                2,
                "unexpected text after [section] header",
            ),
            ("[ \t ]\n", 1, "empty profile name"),
            ("[profile p]\n= wJalrX\n", 2, "empty property name"),
            (
                "[p]\n  wJalrX = 1\n",
                2,
                "indented line with no property above it",
            ),
            ("[p]\ns3 =\n  wJalrX\n", 3, "expected `key = value`"),
            ("[sso-session s]\nwJalrX\n", 2, "expected `key = value`"),
        ];
        for (text, line, reason) in cases {
            let e = ProfileFile::parse(text, FileKind::Config).unwrap_err();
            assert_eq!(e, ParseError { line, reason }, "{text:?}");
            assert_eq!(e.to_string(), format!("line {line}: {reason}"));
            assert!(!e.to_string().contains("wJalrX"));
        }
        let e = ProfileFile::parse("[]", FileKind::Credentials).unwrap_err();
        assert_eq!(e.reason, "empty profile name");
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let long = format!("[p]\n{}={}\n", "k".repeat(100_000), "v".repeat(100_000));
        // `|`-separated to keep the list short.
        let odd = "|[|]|=|\t=| |\r\n|[\u{e9}]\n\u{fc}=\u{e9}#|[é]\n  é|[a]\n\r=|[p]\nk = #|[profile]\n=\
                   |\u{feff}[x]|[a]]\nk=v|[a]\n\u{3000}x=1|[a]\r\rk=v";
        for text in odd.split('|').chain([long.as_str()]) {
            for kind in [FileKind::Config, FileKind::Credentials] {
                let _ = ProfileFile::parse(text, kind);
            }
        }
        let file = parse(&long, FileKind::Credentials);
        let value = get(&file, "p", &"K".repeat(100_000));
        assert_eq!(value.map(str::len), Some(100_000));
    }
}
