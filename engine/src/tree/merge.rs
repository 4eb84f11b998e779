//! Two listings sorted by path (the local walk and ListObjectsV2, both in S3's byte order),
//! merged into pairs as they stream: nothing is held but the head of each. A listing that
//! goes backwards is an error, never a silent mismatch. Pure.

use std::cmp::Ordering;

use crate::error::{Error, ErrorKind, Result};

/// Something listed under a relative path.
pub(crate) trait Listed {
    /// The path relative to the tree's root, `/`-separated.
    fn path(&self) -> &str;
}

/// One path of the merged listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pair<S, D> {
    /// Only the source has it.
    Source(S),
    /// Only the destination has it.
    Destination(D),
    /// Both have it.
    Both(S, D),
}

/// The merge of `source` and `destination`, each in strictly increasing path order. The
/// first error (of either listing, or an entry out of order) is the last item.
pub(crate) fn merge<S, D, I, J>(source: I, destination: J) -> Merge<S, D, I, J>
where
    S: Listed,
    D: Listed,
    I: Iterator<Item = Result<S>>,
    J: Iterator<Item = Result<D>>,
{
    Merge {
        source: Ordered::new(source, "source"),
        destination: Ordered::new(destination, "destination"),
        failed: false,
    }
}

/// The iterator [`merge`] returns.
pub(crate) struct Merge<S, D, I, J> {
    source: Ordered<S, I>,
    destination: Ordered<D, J>,
    failed: bool,
}

impl<S, D, I, J> Iterator for Merge<S, D, I, J>
where
    S: Listed,
    D: Listed,
    I: Iterator<Item = Result<S>>,
    J: Iterator<Item = Result<D>>,
{
    type Item = Result<Pair<S, D>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let order = match (self.source.peek(), self.destination.peek()) {
            (None, None) => return None,
            (Some(Err(_)), _) | (Some(Ok(_)), None) => Ordering::Less,
            (_, Some(Err(_))) | (None, Some(Ok(_))) => Ordering::Greater,
            (Some(Ok(source)), Some(Ok(destination))) => {
                source.path().as_bytes().cmp(destination.path().as_bytes())
            }
        };
        let pair = match order {
            Ordering::Less => self.source.next()?.map(Pair::Source),
            Ordering::Greater => self.destination.next()?.map(Pair::Destination),
            Ordering::Equal => match (self.source.next()?, self.destination.next()?) {
                (Ok(source), Ok(destination)) => Ok(Pair::Both(source, destination)),
                (Err(err), _) | (_, Err(err)) => Err(err),
            },
        };
        self.failed = pair.is_err();
        Some(pair)
    }
}

/// A listing checked to go forward: an entry not after the one before it becomes an error,
/// and the listing ends there.
struct Ordered<T, I> {
    items: I,
    head: Option<Result<T>>,
    last: Option<String>,
    ended: bool,
    what: &'static str,
}

impl<T: Listed, I: Iterator<Item = Result<T>>> Ordered<T, I> {
    fn new(items: I, what: &'static str) -> Self {
        Self {
            items,
            head: None,
            last: None,
            ended: false,
            what,
        }
    }

    fn peek(&mut self) -> Option<&Result<T>> {
        if self.head.is_none() && !self.ended {
            self.head = match self.items.next() {
                Some(Ok(item)) => match &self.last {
                    Some(last) if item.path().as_bytes() <= last.as_bytes() => {
                        self.ended = true;
                        Some(Err(Error::new(
                            ErrorKind::Protocol,
                            format!(
                                "the {} listing is not in S3's key order ({:?} came after {last:?})",
                                self.what,
                                item.path()
                            ),
                        )))
                    }
                    _ => Some(Ok(item)),
                },
                Some(Err(err)) => {
                    self.ended = true;
                    Some(Err(err))
                }
                None => {
                    self.ended = true;
                    None
                }
            };
        }
        self.head.as_ref()
    }

    fn next(&mut self) -> Option<Result<T>> {
        self.peek();
        let item = self.head.take();
        if let Some(Ok(item)) = &item {
            self.last = Some(item.path().to_owned());
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Listed for &str {
        fn path(&self) -> &str {
            self
        }
    }

    fn ok(paths: &[&'static str]) -> Vec<Result<&'static str>> {
        paths.iter().map(|path| Ok(*path)).collect()
    }

    fn pairs(
        source: Vec<Result<&'static str>>,
        destination: Vec<Result<&'static str>>,
    ) -> Vec<Result<Pair<&'static str, &'static str>>> {
        merge(source.into_iter(), destination.into_iter()).collect()
    }

    #[test]
    fn paths_pair_up_in_byte_order() {
        let merged: Vec<_> = pairs(ok(&["a", "a-c", "a/b", "c"]), ok(&["a-c", "b", "c", "d"]))
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            merged,
            [
                Pair::Source("a"),
                Pair::Both("a-c", "a-c"),
                Pair::Source("a/b"),
                Pair::Destination("b"),
                Pair::Both("c", "c"),
                Pair::Destination("d"),
            ]
        );
        assert!(pairs(ok(&[]), ok(&[])).is_empty());
    }

    #[test]
    fn a_listing_that_goes_backwards_ends_the_merge_with_an_error() {
        let merged = pairs(ok(&["a/b", "a-c", "z"]), ok(&["x"]));
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].as_ref().unwrap(), &Pair::Source("a/b"));
        let err = merged[1].as_ref().unwrap_err();
        assert!(
            err.to_string()
                .contains("source listing is not in S3's key order"),
            "{err}"
        );
        let repeated = pairs(ok(&["a"]), ok(&["b", "b"]));
        assert!(
            repeated.last().unwrap().is_err(),
            "a repeat is out of order too"
        );
    }

    #[test]
    fn an_error_in_either_listing_is_the_last_item() {
        let failing = vec![
            Ok("a"),
            Err(Error::new(ErrorKind::Network, "reset")),
            Ok("c"),
        ];
        let merged = pairs(failing, ok(&["a", "b", "c", "d"]));
        assert_eq!(merged.len(), 2, "nothing after the error, not even d");
        assert_eq!(merged[0].as_ref().unwrap(), &Pair::Both("a", "a"));
        assert_eq!(merged[1].as_ref().unwrap_err().kind(), ErrorKind::Network);
    }
}
