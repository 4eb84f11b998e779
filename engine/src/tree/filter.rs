//! Which paths of a tree take part: `--exclude` and `--include` rules applied in order to the
//! path relative to the tree's root (the last rule that matches wins, as in aws-cli), and a
//! `--shard K/N` that takes a deterministic share of the paths. Pure.

use std::fmt;
use std::str::FromStr;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};
use crate::integrity::algorithm::sha256;

/// Ordered include and exclude rules. With none, every path is in.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    rules: Vec<(Rule, String)>,
    set: Option<GlobSet>,
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The path is in (`--include`).
    Include,
    /// The path is out (`--exclude`).
    Exclude,
}

impl Filters {
    /// Adds a rule after the others: a glob matched against the whole relative path, where
    /// `*` and `?` match `/` too (aws-cli's patterns), `[...]` is a class, and `\` escapes.
    pub fn push(mut self, rule: Rule, pattern: &str) -> Result<Self> {
        glob(pattern)?;
        self.rules.push((rule, pattern.to_owned()));
        let mut builder = GlobSetBuilder::new();
        for (_, pattern) in &self.rules {
            builder.add(glob(pattern)?);
        }
        self.set = Some(builder.build().map_err(|err| {
            Error::invalid(format!(
                "cannot use the --include/--exclude patterns: {err}"
            ))
        })?);
        Ok(self)
    }

    /// Whether `path` (relative to the tree's root, `/`-separated) is in.
    pub fn includes(&self, path: &str) -> bool {
        let Some(set) = &self.set else {
            return true;
        };
        match set.matches(path).last() {
            Some(&index) => self.rules[index].0 == Rule::Include,
            None => true,
        }
    }

    /// Whether there is any rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn glob(pattern: &str) -> Result<Glob> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map_err(|err| Error::invalid(format!("invalid pattern {pattern:?}: {err}")))
}

/// Shard `index` of `count`: the paths whose hash falls to it. `count` processes given shards
/// `0/count` to `count-1/count` cover a tree exactly once between them, on any host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// Shard `index` (0-based) of `count`.
    pub fn new(index: u64, count: u64) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(Error::invalid(format!(
                "shard {index}/{count}: expected K/N with 0 <= K < N"
            )));
        }
        Ok(Self { index, count })
    }

    /// Whether `path` is this shard's: the first 8 bytes of the SHA-256 of the relative path,
    /// as a big-endian number, modulo the count, is the index.
    pub fn takes(&self, path: &str) -> bool {
        let digest = sha256(path.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_bytes()[..8]);
        u64::from_be_bytes(first) % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `K/N`, e.g. `0/4` (a Kubernetes `JOB_COMPLETION_INDEX` or a Slurm array index from 0).
    fn from_str(text: &str) -> Result<Self> {
        let invalid = || Error::invalid(format!("shard {text:?}: expected K/N, e.g. 0/4"));
        let (index, count) = text.split_once('/').ok_or_else(invalid)?;
        let number = |part: &str| part.trim().parse::<u64>().map_err(|_| invalid());
        Self::new(number(index)?, number(count)?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(rules: &[(Rule, &str)]) -> Filters {
        rules
            .iter()
            .try_fold(Filters::default(), |filters, (rule, pattern)| {
                filters.push(*rule, pattern)
            })
            .unwrap()
    }

    #[test]
    fn the_last_matching_rule_wins() {
        let only_logs = filters(&[(Rule::Exclude, "*"), (Rule::Include, "*.log")]);
        assert!(only_logs.includes("a/b.log") && only_logs.includes("x.log"));
        assert!(!only_logs.includes("a/b.txt"));
        // The same rules the other way round exclude everything.
        let nothing = filters(&[(Rule::Include, "*.log"), (Rule::Exclude, "*")]);
        assert!(!nothing.includes("a/b.log"));
        assert!(Filters::default().includes("anything"));
    }

    #[test]
    fn stars_match_across_directories_as_in_aws_cli() {
        let no_tmp = filters(&[(Rule::Exclude, "*.tmp"), (Rule::Exclude, "cache/*")]);
        assert!(!no_tmp.includes("deep/er/x.tmp"));
        assert!(!no_tmp.includes("cache/a/b"));
        assert!(
            no_tmp.includes("src/cache/a"),
            "patterns match the whole path"
        );
        assert!(no_tmp.includes("x.tmpl"));
        let one_char = filters(&[(Rule::Exclude, "a?c")]);
        assert!(!one_char.includes("a/c") && !one_char.includes("abc"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        let err = Filters::default()
            .push(Rule::Exclude, "[unclosed")
            .unwrap_err();
        assert!(err.to_string().contains("[unclosed"), "{err}");
    }

    #[test]
    fn shards_cover_every_path_exactly_once() {
        let count = 5;
        let shards: Vec<Shard> = (0..count).map(|k| Shard::new(k, count).unwrap()).collect();
        let mut per_shard = vec![0; count as usize];
        for n in 0..2000 {
            let path = format!("dir{}/file-{n}.dat", n % 7);
            let owners: Vec<usize> = (0..shards.len())
                .filter(|&k| shards[k].takes(&path))
                .collect();
            assert_eq!(owners.len(), 1, "{path}");
            per_shard[owners[0]] += 1;
        }
        assert!(per_shard.iter().all(|&n| n > 300), "{per_shard:?}");
        assert_eq!("2/5".parse::<Shard>().unwrap(), shards[2]);
        for bad in ["5/5", "1", "a/b", "0/0", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
