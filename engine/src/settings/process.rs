//! Credentials from a profile's `credential_process`, as aws-cli runs it: the command line
//! split as a POSIX shell splits words (no shell runs it), its standard output a JSON document
//! (`Version` 1, `AccessKeyId`, `SecretAccessKey`, optional `SessionToken` and `Expiration`),
//! run again before temporary credentials expire. Its output holds secrets: errors quote its
//! standard error, summarised, never its standard output. I/O at the edge.

use std::process::{Command, Stdio};

use serde::Deserialize;

use super::credentials::{Credentials, ProvideCredentials, unavailable};
use crate::error::Result;

/// Most of the command's standard error an error quotes.
const STDERR_QUOTED: usize = 300;

/// A profile's `credential_process`.
#[derive(Debug)]
pub(crate) struct CredentialProcess {
    /// The program and its arguments.
    argv: Vec<String>,
    /// How errors name it: the profile and the program.
    what: String,
}

impl CredentialProcess {
    /// The command line `command` of `profile` (a malformed one, e.g. an unclosed quote, is
    /// refused).
    pub fn new(command: &str, profile: &str) -> Result<Self> {
        let argv = shlex::split(command)
            .filter(|argv| !argv.is_empty())
            .ok_or_else(|| {
                unavailable(format!(
                    "{profile}: credential_process is not a command line (empty, or an \
                     unclosed quote)"
                ))
            })?;
        let what = format!("credential_process {:?} of {profile}", argv[0]);
        Ok(Self { argv, what })
    }
}

impl ProvideCredentials for CredentialProcess {
    fn provide(&self) -> Result<Credentials> {
        let what = &self.what;
        let output = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|err| unavailable(format!("{what} could not be run: {err}")))?;
        if !output.status.success() {
            return Err(unavailable(format!(
                "{what} failed ({}){}",
                output.status,
                summary(&output.stderr)
                    .map(|text| format!(": {text}"))
                    .unwrap_or_default()
            )));
        }
        parse_output(&output.stdout, what)
    }
}

/// The last lines of standard error, at most [`STDERR_QUOTED`] characters, one line.
fn summary(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    if joined.is_empty() {
        return None;
    }
    let skip = joined.chars().count().saturating_sub(STDERR_QUOTED);
    Some(match skip {
        0 => joined,
        _ => format!("...{}", joined.chars().skip(skip).collect::<String>()),
    })
}

/// The document a credential process prints.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    version: Option<u32>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    expiration: Option<String>,
}

/// Credentials from a process's standard output; errors name the problem, never the text.
fn parse_output(stdout: &[u8], what: &str) -> Result<Credentials> {
    let document: Document = serde_json::from_slice(stdout).map_err(|err| {
        unavailable(format!(
            "{what} printed no JSON document (error at line {} column {})",
            err.line(),
            err.column()
        ))
    })?;
    match document.version {
        Some(1) => {}
        Some(other) => {
            return Err(unavailable(format!(
                "{what} printed Version {other}; only 1 is known"
            )));
        }
        None => return Err(unavailable(format!("{what} printed no Version"))),
    }
    let access_key = document
        .access_key_id
        .filter(|key| !key.is_empty())
        .ok_or_else(|| unavailable(format!("{what} printed no AccessKeyId")))?;
    let secret_key = document
        .secret_access_key
        .filter(|key| !key.is_empty())
        .ok_or_else(|| unavailable(format!("{what} printed no SecretAccessKey")))?;
    let mut credentials = Credentials::new(access_key, secret_key);
    if let Some(token) = document.session_token {
        credentials = credentials.with_session_token(token);
    }
    if let Some(expiration) = document.expiration {
        let expires = expiration.parse().map_err(|_| {
            unavailable(format!(
                "{what} printed an Expiration that is not an ISO 8601 time"
            ))
        })?;
        credentials = credentials.with_expiry(expires);
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_gives_credentials_and_a_bad_one_says_why_without_its_text() {
        let good = br#"{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"SECRET","SessionToken":"TOK","Expiration":"2026-12-04T18:00:00Z"}"#;
        let credentials = parse_output(good, "p").unwrap();
        assert_eq!(credentials.access_key(), "AK");
        assert!(credentials.expires().is_some());
        for (bad, says) in [
            (&br#"{"Version":2,"AccessKeyId":"AK","SecretAccessKey":"SECRET"}"#[..], "Version 2"),
            (br#"{"AccessKeyId":"AK","SecretAccessKey":"SECRET"}"#, "no Version"),
            (br#"{"Version":1,"SecretAccessKey":"SECRET"}"#, "no AccessKeyId"),
            (br#"{"Version":1,"AccessKeyId":"AK"}"#, "no SecretAccessKey"),
            (b"SECRET is not json", "no JSON"),
            (
                br#"{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"SECRET","Expiration":"soon"}"#,
                "Expiration",
            ),
        ] {
            let err = parse_output(bad, "p").unwrap_err();
            let text = err.to_string();
            assert!(text.contains(says) && !text.contains("SECRET"), "{text}");
        }
    }

    #[test]
    fn command_lines_split_as_a_shell_would_and_stderr_is_summarised() {
        let process = CredentialProcess::new("'/opt/my vault' --role \"a b\" x", "p").unwrap();
        assert_eq!(process.argv, ["/opt/my vault", "--role", "a b", "x"]);
        assert!(CredentialProcess::new("vault 'unclosed", "p").is_err());
        assert!(CredentialProcess::new("   ", "p").is_err());
        assert_eq!(
            summary(b"\n  first\n\nsecond \n").as_deref(),
            Some("first / second")
        );
        assert_eq!(summary(b"  \n"), None);
        let long = "x".repeat(1000);
        assert_eq!(
            summary(long.as_bytes()).unwrap().chars().count(),
            STDERR_QUOTED + 3
        );
    }

    #[test]
    fn a_failing_or_missing_command_is_a_credentials_error() {
        let failing = CredentialProcess::new("sh -c 'echo nope >&2; exit 3'", "p").unwrap();
        let err = failing.provide().unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Credentials);
        assert!(err.to_string().contains("nope"), "{err}");
        let missing = CredentialProcess::new("/nonexistent/vault", "p").unwrap();
        assert!(
            missing
                .provide()
                .unwrap_err()
                .to_string()
                .contains("could not be run")
        );
        let printing = CredentialProcess::new(
            r#"sh -c 'echo "{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}"'"#,
            "p",
        )
        .unwrap();
        assert_eq!(printing.provide().unwrap().access_key(), "A");
    }
}
