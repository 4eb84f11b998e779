//! Objects under a prefix -> deleted (`rm --recursive`): the prefix listed a page at a time,
//! the paths the filters and the shard keep gathered in DeleteObjects batches of up to 1,000
//! keys, the batches sent from the worker pool, several in flight. Each key the server refuses
//! is named; one refusal stops nothing else.

use std::path::Path;

use super::listing::objects;
use super::options::TreeOptions;
use super::run::Tree;
use crate::error::{Error, Result, ServiceError};
use crate::s3::S3Uri;
use crate::s3::http;
use crate::transfer::progress::Progress;
use crate::transfer::session::Session;
use crate::transfer::{TreeAction, TreeSummary};

/// The most keys one DeleteObjects may name.
pub(crate) const BATCH: usize = 1000;

/// Deletes the objects under `prefix` (empty, or ending in `/`) that `options`' filters and
/// shard keep; with `dry_run`, names them and deletes nothing.
pub(crate) fn remove_tree(
    session: &Session,
    prefix: S3Uri,
    options: &TreeOptions,
    progress: &Progress,
) -> Result<TreeSummary> {
    let started = std::time::Instant::now();
    let (agent, _cancellable) = session.agent_for(progress);
    let tree = Tree::new(session, options, progress, agent, prefix, Path::new(""))?;
    let kept = |path: &str| {
        options.filters.includes(path) && options.shard.is_none_or(|shard| shard.takes(path))
    };
    session.pool.in_place_scope(|scope| -> Result<()> {
        let mut batch = Vec::with_capacity(BATCH);
        let listing = objects(&tree.requester, tree.prefix.key());
        for object in listing {
            progress.check_cancelled()?;
            let object = object?;
            if !kept(&object.path) {
                continue;
            }
            tree.planned(&object.path, TreeAction::Delete, 0);
            if options.dry_run {
                tree.lock().deleted += 1;
                continue;
            }
            batch.push(object.path);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                let entered = tree.window.enter();
                let tree = &tree;
                scope.spawn(move |_| {
                    let _entered = entered;
                    delete_batch(tree, &full);
                });
            }
        }
        if !batch.is_empty() {
            delete_batch(&tree, &batch);
        }
        Ok(())
    })?;
    progress.check_cancelled()?;
    let mut summary = tree.lock().clone();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// One DeleteObjects of `paths`: each deleted path counted and reported done, each refused one
/// failed with the server's reason; a request that fails outright fails them all.
fn delete_batch(tree: &Tree<'_>, paths: &[String]) {
    let prefix = tree.prefix.key();
    let keys: Vec<String> = paths.iter().map(|path| format!("{prefix}{path}")).collect();
    match tree.requester.delete_objects(&keys, tree.progress) {
        Ok(refused) => {
            for path in paths {
                let key = format!("{prefix}{path}");
                match refused.iter().find(|error| error.key == key) {
                    Some(error) => {
                        let service = ServiceError {
                            status: 200,
                            code: Some(error.code.clone()),
                            message: Some(error.message.clone()),
                        };
                        tree.failed(path, TreeAction::Delete, &http::service_error(service));
                    }
                    None => {
                        tree.lock().deleted += 1;
                        tree.done(path, TreeAction::Delete, 0);
                    }
                }
            }
        }
        Err(error) => {
            let error: Error = error.context("DeleteObjects");
            for path in paths {
                tree.failed(path, TreeAction::Delete, &error);
            }
        }
    }
}
