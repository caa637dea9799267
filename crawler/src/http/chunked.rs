//! Decodes a chunked body (RFC 9112 §7.1) in place, for [`super::ResponseReader`]. It takes a
//! byte at a time and keeps no line: a read that splits a line costs nothing more.

use crate::fetch::FetchError;

/// Where the decoder is in the body.
#[derive(Clone, Copy, Debug)]
pub(super) enum Chunked {
    Size { size: u64, digits: bool }, // in a size line's hex digits; `digits` once there is one
    AfterSize { size: u64, ext: bool }, // spaces, then an extension (ignored) if `ext`
    SizeLf { size: u64 },             // the size line's CR is in; its LF must follow
    Data { left: u64 },               // in a chunk's data
    DataEnd { cr: bool },             // the CRLF after the data; `cr` once its CR is in
    Trailer { empty: bool },          // in the trailers; `empty` while this line is
    Done,
}

impl Chunked {
    pub(super) const START: Chunked = Chunked::Size {
        size: 0,
        digits: false,
    };

    /// Decodes `buf[from..end]`, moving each chunk's data down to `*len`, where the body so far
    /// ends. Once the last chunk and its trailers are in, says where the response ends.
    pub(super) fn decode(
        &mut self,
        buf: &mut [u8],
        len: &mut usize,
        mut from: usize,
        end: usize,
    ) -> Result<Option<usize>, FetchError> {
        while from < end && !matches!(self, Chunked::Done) {
            if let Chunked::Data { left } = self {
                let take = (end - from).min(usize::try_from(*left).unwrap_or(usize::MAX));
                buf.copy_within(from..from + take, *len);
                (*len, from) = (*len + take, from + take);
                *left -= take as u64;
                if *left == 0 {
                    *self = Chunked::DataEnd { cr: false };
                }
                continue;
            }
            *self = self
                .step(buf[from])
                .map_err(|why| FetchError::Malformed(format!("chunked body: {why}")))?;
            from += 1;
        }
        Ok(matches!(self, Chunked::Done).then_some(from))
    }

    /// The state after `byte`. A line may end in CRLF or, as RFC 9112 §2.2 allows, a bare LF.
    fn step(self, byte: u8) -> Result<Chunked, &'static str> {
        use Chunked::*;
        Ok(match (self, byte) {
            (Size { size, .. }, _) if byte.is_ascii_hexdigit() => {
                let digit = u64::from((byte as char).to_digit(16).unwrap_or_default());
                let size = size.checked_mul(16).and_then(|s| s.checked_add(digit));
                let size = size.ok_or("chunk size too large")?;
                Size { size, digits: true }
            }
            (Size { digits: false, .. }, b'\r' | b'\n') => return Err("empty chunk size line"),
            (Size { digits: false, .. }, _) => return Err("invalid chunk size line"),
            (Size { size, .. } | AfterSize { size, .. }, b';') => AfterSize { size, ext: true },
            (Size { size, .. }, b' ' | b'\t') => AfterSize { size, ext: false },
            (Size { size, .. } | AfterSize { size, .. }, b'\r') => SizeLf { size },
            (Size { size, .. } | AfterSize { size, .. } | SizeLf { size }, b'\n') => match size {
                0 => Trailer { empty: true },
                left => Data { left },
            },
            (AfterSize { size, ext }, b' ' | b'\t') => AfterSize { size, ext },
            (AfterSize { size, ext: true }, _) => AfterSize { size, ext: true },
            (Size { .. } | AfterSize { .. } | SizeLf { .. }, _) => {
                return Err("invalid chunk size line");
            }
            (DataEnd { cr: false }, b'\r') => DataEnd { cr: true },
            (DataEnd { .. }, b'\n') => Chunked::START,
            (DataEnd { .. }, _) => return Err("a chunk is not followed by CRLF"),
            (Trailer { empty: true }, b'\n') => Done,
            (Trailer { empty }, b'\r') => Trailer { empty },
            (Trailer { .. }, b'\n') => Trailer { empty: true },
            (Trailer { .. }, _) => Trailer { empty: false },
            (Data { .. } | Done, _) => self, // `decode` takes data in bulk, and stops at the end
        })
    }
}
