//! The one listing loop: the items of a paged listing (ListObjectsV2, ListMultipartUploads,
//! ListParts), fetched a page at a time as they are consumed. A server that hands back a
//! continuation token or marker it already gave, or page after empty page each saying more
//! follow, is refused rather than followed forever. Pure: the fetching is the caller's.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher as _};

use crate::error::{Error, ErrorKind, Result};

/// How many empty pages in a row, each with a next marker, end a listing with an error. S3 may
/// answer a page with no items that is not the last (keys it skipped, a page cut short by
/// time), but not a thousand in a row; a server that does would be listed forever.
pub(crate) const MAX_EMPTY_PAGES: usize = 1000;

/// One page of a listing: its items, and the marker of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page<T, M> {
    pub items: Vec<T>,
    pub next: Option<M>,
}

/// The items of a listing whose pages `fetch(marker)` returns, `marker` being `None` for
/// the first page. Only one page is held at a time; the markers seen are kept as hashes.
pub(crate) fn paginate<T, M, F>(what: &'static str, fetch: F) -> Pages<T, M, F>
where
    M: Hash,
    F: FnMut(Option<&M>) -> Result<Page<T, M>>,
{
    Pages {
        what,
        fetch,
        marker: None,
        seen: HashSet::new(),
        empty_run: 0,
        items: Vec::new().into_iter(),
        state: State::More,
    }
}

/// The iterator [`paginate`] returns.
pub(crate) struct Pages<T, M, F> {
    what: &'static str,
    fetch: F,
    marker: Option<M>,
    seen: HashSet<u64>,
    /// Empty pages in a row that said more follow.
    empty_run: usize,
    items: std::vec::IntoIter<T>,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// More pages to fetch.
    More,
    /// The next page's marker repeats an earlier one: an error once this page's items are out.
    Repeated,
    /// [`MAX_EMPTY_PAGES`] empty pages in a row said more follow: an error.
    Endless,
    /// Nothing more, not even an error.
    Done,
}

impl<T, M, F> Iterator for Pages<T, M, F>
where
    M: Hash,
    F: FnMut(Option<&M>) -> Result<Page<T, M>>,
{
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(item) = self.items.next() {
                return Some(Ok(item));
            }
            match self.state {
                State::Done => return None,
                State::Repeated => {
                    self.state = State::Done;
                    return Some(Err(Error::new(
                        ErrorKind::Protocol,
                        format!(
                            "the server's {} reply repeats an earlier continuation marker; \
                             stopped rather than list the same pages forever",
                            self.what
                        ),
                    )));
                }
                State::Endless => {
                    self.state = State::Done;
                    return Some(Err(Error::new(
                        ErrorKind::Protocol,
                        format!(
                            "the server's {} replies were {MAX_EMPTY_PAGES} empty pages in a \
                             row, each saying more follow; stopped rather than list forever",
                            self.what
                        ),
                    )));
                }
                State::More => {}
            }
            let page = match (self.fetch)(self.marker.as_ref()) {
                Ok(page) => page,
                Err(err) => {
                    self.state = State::Done;
                    return Some(Err(err));
                }
            };
            let empty = page.items.is_empty();
            self.items = page.items.into_iter();
            self.empty_run = if empty { self.empty_run + 1 } else { 0 };
            self.state = match &page.next {
                None => State::Done,
                Some(next) if !self.seen.insert(fingerprint(next)) => State::Repeated,
                Some(_) if self.empty_run >= MAX_EMPTY_PAGES => State::Endless,
                Some(_) => State::More,
            };
            self.marker = page.next;
        }
    }
}

/// A marker's hash, enough to recognise it again without keeping it.
fn fingerprint(marker: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    marker.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing of `pages`, each (items, next marker); records the markers asked for.
    fn listing(
        pages: Vec<(Vec<u32>, Option<&'static str>)>,
    ) -> (Vec<Result<u32>>, Vec<Option<&'static str>>) {
        let mut asked = Vec::new();
        let mut pages = pages.into_iter();
        let items = paginate("test", |marker: Option<&&'static str>| {
            asked.push(marker.copied());
            let (items, next) = pages.next().expect("no page past the last");
            Ok(Page { items, next })
        })
        .collect();
        (items, asked)
    }

    #[test]
    fn pages_are_followed_by_their_markers_to_the_last() {
        let (items, asked) = listing(vec![
            (vec![1, 2], Some("a")),
            (vec![], Some("b")),
            (vec![3], None),
        ]);
        let items: Vec<u32> = items.into_iter().map(Result::unwrap).collect();
        assert_eq!(items, [1, 2, 3]);
        assert_eq!(asked, [None, Some("a"), Some("b")]);
    }

    #[test]
    fn a_repeated_marker_ends_the_listing_with_an_error() {
        let (items, asked) = listing(vec![
            (vec![1], Some("a")),
            (vec![2], Some("b")),
            (vec![3], Some("a")),
        ]);
        assert_eq!(asked, [None, Some("a"), Some("b")]);
        assert_eq!(items.len(), 4);
        assert_eq!(items[2].as_ref().unwrap(), &3);
        let err = items[3].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert!(err.to_string().contains("test"), "{err}");
    }

    /// A server whose every page is empty, with a new marker, until `pages` have been served
    /// (then items); what the listing gives, and how many pages it asked for.
    fn endless_empty_pages(items_every: Option<usize>, pages: usize) -> (Vec<Result<u32>>, usize) {
        let mut asked = 0;
        let items = paginate("test", |marker: Option<&usize>| {
            asked += 1;
            let number = marker.map_or(0, |marker| marker + 1);
            let has_item = items_every.is_some_and(|every| number % every == every - 1);
            Ok(Page {
                items: if has_item {
                    vec![number as u32]
                } else {
                    vec![]
                },
                next: (number + 1 < pages).then_some(number),
            })
        })
        .collect();
        (items, asked)
    }

    #[test]
    fn endless_empty_pages_end_the_listing_with_an_error() {
        let (items, asked) = endless_empty_pages(None, usize::MAX);
        assert_eq!(asked, MAX_EMPTY_PAGES);
        assert_eq!(items.len(), 1);
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
        let message = err.to_string();
        assert!(message.contains("1000 empty pages in a row"), "{message}");
    }

    #[test]
    fn empty_pages_between_items_and_a_last_empty_page_are_followed() {
        // An item every 999 pages breaks every run; 5,000 pages end normally.
        let (items, asked) = endless_empty_pages(Some(MAX_EMPTY_PAGES - 1), 5000);
        assert_eq!(asked, 5000);
        assert!(items.iter().all(Result::is_ok));
        assert_eq!(items.len(), 5000 / (MAX_EMPTY_PAGES - 1));
        // Exactly the bound of empty pages, the last without a marker: no error.
        let (items, asked) = endless_empty_pages(None, MAX_EMPTY_PAGES);
        assert_eq!((items.len(), asked), (0, MAX_EMPTY_PAGES));
    }

    #[test]
    fn a_failed_page_ends_the_listing_with_its_error() {
        let mut calls = 0;
        let items: Vec<Result<u32>> = paginate("test", |_: Option<&u32>| {
            calls += 1;
            Err(Error::new(ErrorKind::Network, "reset"))
        })
        .collect();
        assert_eq!(calls, 1);
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
    }
}
