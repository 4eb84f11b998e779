//! Trees: a local directory to or from the objects under a prefix, or one prefix to another
//! inside S3, by `cp --recursive`, `sync` or `mv --recursive`. The two listings are walked in S3's key order and merged as they stream
//! (`walk`, `listing`, `merge`); each path is decided by the rules of `decide` (filters, shard,
//! what differs, what may be deleted); `run` sends the files to the worker pool as jobs, in a
//! bounded window, each through the file flows of `transfer`; `remove` deletes a prefix's
//! objects in DeleteObjects batches (`rm --recursive`). Above `transfer`; only the
//! `Client` façade imports it.

mod between;
mod content;
mod decide;
mod download;
pub(crate) mod filter;
pub(crate) mod keys;
mod listing;
mod merge;
pub(crate) mod options;
mod remove;
mod run;
mod upload;
mod walk;

pub(crate) use between::copy_tree;
pub(crate) use download::download_tree;
pub use filter::{Filters, Rule, Shard};
pub use options::{Compare, TreeOptions};
pub(crate) use remove::remove_tree;
pub(crate) use upload::upload_tree;
