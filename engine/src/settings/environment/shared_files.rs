//! The shared config and credentials files, read (a missing file is an empty one) and seen as
//! one profile across both.

use std::io;
use std::path::PathBuf;

use super::Variables;
use crate::error::{Error, Result};
use crate::settings::credentials::{self, Credentials};
use crate::settings::profile_file::{FileKind, Profile, ProfileFile};

/// The shared config and credentials files, parsed (a missing file is an empty one).
pub(super) struct SharedFiles {
    config: ProfileFile,
    config_path: PathBuf,
    credentials: ProfileFile,
    credentials_path: PathBuf,
}

impl SharedFiles {
    pub(super) fn load(variables: Variables<'_>, home: Option<PathBuf>) -> Result<Self> {
        let path = |variable: &str, file: &str| {
            variables(variable)
                .map(|path| expand_home(&path, home.as_ref()))
                .unwrap_or_else(|| home.clone().unwrap_or_default().join(".aws").join(file))
        };
        let config_path = path("AWS_CONFIG_FILE", "config");
        let credentials_path = path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        Ok(Self {
            config: read_profile_file(&config_path, FileKind::Config)?,
            credentials: read_profile_file(&credentials_path, FileKind::Credentials)?,
            config_path,
            credentials_path,
        })
    }

    /// The profile `name`. Only `default` may be missing from both files.
    pub(super) fn profile(&self, name: &str) -> Result<ProfileView<'_>> {
        let view = ProfileView {
            name: format!(
                "profile {name:?} ({} and {})",
                self.credentials_path.display(),
                self.config_path.display()
            ),
            profile_name: name.to_owned(),
            credentials: self.credentials.profile(name),
            config: self.config.profile(name),
        };
        if name != "default" && view.credentials.is_none() && view.config.is_none() {
            return Err(Error::invalid(format!(
                "profile {name:?} is in neither {} nor {}",
                self.credentials_path.display(),
                self.config_path.display()
            )));
        }
        Ok(view)
    }
}

impl SharedFiles {
    /// The config file's `[KIND NAME]` section (`sso-session`, `services`).
    pub(super) fn section(&self, kind: &str, name: &str) -> Option<&Profile> {
        self.config.section(kind, name)
    }
}

/// `~/x` with the home directory, as aws-cli expands file variables.
fn expand_home(path: &str, home: Option<&PathBuf>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

fn read_profile_file(path: &PathBuf, kind: FileKind) -> Result<ProfileFile> {
    if path.as_os_str().is_empty() {
        return Ok(ProfileFile::default());
    }
    match std::fs::read_to_string(path) {
        Ok(text) => ProfileFile::parse(&text, kind)
            .map_err(|err| Error::invalid(format!("{}: {err}", path.display()))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(ProfileFile::default()),
        Err(err) => Err(Error::local_io(
            format!("cannot read {}", path.display()),
            err,
        )),
    }
}

/// One profile across both files: the credentials file's values win, as in aws-cli.
pub(super) struct ProfileView<'a> {
    /// How messages name it: the profile and the files.
    pub name: String,
    pub profile_name: String,
    credentials: Option<&'a Profile>,
    config: Option<&'a Profile>,
}

impl ProfileView<'_> {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        [self.credentials, self.config]
            .into_iter()
            .flatten()
            .find_map(|profile| profile.get(key))
    }

    pub(super) fn get_nested(&self, section: &str, key: &str) -> Option<&str> {
        [self.credentials, self.config]
            .into_iter()
            .flatten()
            .find_map(|profile| profile.get_nested(section, key))
    }

    /// Static keys written in one of the two files.
    pub(super) fn keys(&self, file: FileKind) -> Option<Credentials> {
        let profile = match file {
            FileKind::Credentials => self.credentials?,
            FileKind::Config => self.config?,
        };
        // The same rules as the variables: both keys or none, an empty token is none.
        credentials::from_variables(|name| {
            let key = match name {
                "AWS_ACCESS_KEY_ID" => "aws_access_key_id",
                "AWS_SECRET_ACCESS_KEY" => "aws_secret_access_key",
                _ => "aws_session_token",
            };
            profile.get(key).map(str::to_owned)
        })
    }
}
