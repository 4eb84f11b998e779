//! Where the parts of an object with a composite checksum end, asked of the server: a HEAD of
//! part 1 (its length, and `x-amz-mp-parts-count`); when the parts are not all that long, a
//! HEAD of each. A server that cannot say leaves the object without usable integrity data.

use super::progress::Event;
use super::ranged::{Download, RemoteObject};
use crate::error::Result;
use crate::integrity::expected::Expected;
use crate::integrity::parts::PartSizes;
use crate::s3::call::Call;
use crate::s3::http;

impl Download<'_> {
    /// Completes a composite checksum with where its parts end; when the server cannot say,
    /// the object is left with nothing to verify against, and a notice says why.
    pub fn learn_layout(&self, object: &mut RemoteObject) -> Result<()> {
        let Expected::Composite(composite) = &mut object.expected else {
            return Ok(());
        };
        if composite.sizes.is_some() {
            return Ok(());
        }
        match self.part_sizes(object.size, composite.parts)? {
            Some(sizes) => composite.sizes = Some(sizes),
            None => {
                let (algorithm, parts) = (composite.algorithm, composite.parts);
                object.expected = Expected::Nothing;
                self.transfer.progress.send(|| {
                    Event::Notice(format!(
                        "{}: its composite {algorithm} checksum of {parts} parts cannot be \
                         checked: the server does not say where its parts end",
                        self.transfer.object
                    ))
                });
            }
        }
        Ok(())
    }

    /// The sizes of the `parts` parts of an object of `size` bytes, `None` when the server's
    /// answers do not describe them.
    fn part_sizes(&self, size: u64, parts: u32) -> Result<Option<PartSizes>> {
        let Some((first, count)) = self.part_length(1)? else {
            return Ok(None);
        };
        if count.is_some_and(|count| count != parts) || (first >= size && parts > 1) {
            return Ok(None);
        }
        let uniform = PartSizes::Uniform(first);
        if uniform.fits(size, u64::from(parts)) {
            return Ok(Some(uniform));
        }
        // Parts of different sizes (a stream's, say): ask for each.
        let mut sizes = vec![first];
        for number in 2..=parts {
            match self.part_length(number)? {
                Some((length, _)) => sizes.push(length),
                None => return Ok(None),
            }
        }
        let listed = PartSizes::Listed(sizes);
        Ok(listed.fits(size, u64::from(parts)).then_some(listed))
    }

    /// Part `number`'s length and the object's part count, from a HEAD with `partNumber`;
    /// `None` when the server refuses the question (retryable failures are errors).
    fn part_length(&self, number: u32) -> Result<Option<(u64, Option<u32>)>> {
        let key = self.transfer.key();
        let call =
            Call::new(|signer, at| Ok(signer.head_part(key, number, at))).expect(&[200, 206]);
        let answer = self
            .transfer
            .requester
            .call(&call, self.transfer.progress, |reply| {
                let length = http::header(reply, "content-length").and_then(|n| n.parse().ok());
                let count =
                    http::header(reply, "x-amz-mp-parts-count").and_then(|n| n.trim().parse().ok());
                Ok(length.map(|length| (length, count)))
            });
        match answer {
            Ok(answer) => Ok(answer),
            Err(err) if err.is_retryable() => Err(err),
            Err(_) => Ok(None),
        }
    }
}
