//! `Accept-Encoding` negotiation and streaming gzip/deflate over a chunk stream.

use bytes::Bytes;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use std::io::{self, Write};

/// An HTTP content coding kumo-metrics can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ContentEncoding {
    /// No compression.
    #[default]
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// HTTP `deflate`: the zlib format (RFC 1950).
    Deflate,
}

impl ContentEncoding {
    /// Chooses the coding for a request's `Accept-Encoding` header value (`None` when absent).
    ///
    /// Honours q-values (`gzip;q=0` means "not gzip"), `identity` and `*`. Of the acceptable
    /// codings the one with the highest q wins; on a tie gzip is preferred, then deflate, then
    /// identity. When nothing is acceptable (`identity;q=0, *;q=0`) the answer is identity
    /// anyway: a scrape is better than a 406. Malformed entries are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use kumo_metrics::ContentEncoding;
    /// assert_eq!(ContentEncoding::negotiate(Some("gzip, deflate")), ContentEncoding::Gzip);
    /// assert_eq!(ContentEncoding::negotiate(Some("gzip;q=0, *")), ContentEncoding::Deflate);
    /// assert_eq!(ContentEncoding::negotiate(Some("gzip;q=0.5, identity")), ContentEncoding::Identity);
    /// assert_eq!(ContentEncoding::negotiate(None), ContentEncoding::Identity);
    /// ```
    pub fn negotiate(accept_encoding: Option<&str>) -> Self {
        let Some(header) = accept_encoding else {
            return ContentEncoding::Identity;
        };
        // q in thousandths; None = not mentioned.
        let (mut gzip, mut deflate, mut identity, mut star) = (None, None, None, None);
        for item in header.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            if coding.is_empty() {
                continue;
            }
            let mut q = Some(1000u32);
            for p in parts {
                let p = p.trim();
                if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                    q = parse_q(v.trim());
                }
            }
            let Some(q) = q else { continue };
            let slot =
                if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                    &mut gzip
                } else if coding.eq_ignore_ascii_case("deflate") {
                    &mut deflate
                } else if coding.eq_ignore_ascii_case("identity") {
                    &mut identity
                } else if coding == "*" {
                    &mut star
                } else {
                    continue;
                };
            *slot = Some(q);
        }
        let gzip = gzip.or(star).unwrap_or(0);
        let deflate = deflate.or(star).unwrap_or(0);
        let identity = identity.or(star).unwrap_or(1);
        let best = gzip.max(deflate).max(identity);
        if best == 0 || identity == best && gzip < best && deflate < best {
            ContentEncoding::Identity
        } else if gzip == best {
            ContentEncoding::Gzip
        } else if deflate == best {
            ContentEncoding::Deflate
        } else {
            ContentEncoding::Identity
        }
    }

    /// The `Content-Encoding` header value, `None` for identity.
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            ContentEncoding::Identity => None,
            ContentEncoding::Gzip => Some("gzip"),
            ContentEncoding::Deflate => Some("deflate"),
        }
    }

    /// Compresses a chunk stream with this coding at the fastest level, chunk by chunk.
    ///
    /// Output chunks are released once at least `chunk_size` compressed bytes have
    /// accumulated, and at the end. Memory is the compressor's state plus one output chunk.
    pub fn compress<I: Iterator<Item = Bytes>>(self, input: I, chunk_size: usize) -> Compress<I> {
        let encoder = match self {
            ContentEncoding::Identity => None,
            ContentEncoding::Gzip => Some(Encoder::Gzip(GzEncoder::new(
                Vec::new(),
                Compression::fast(),
            ))),
            ContentEncoding::Deflate => Some(Encoder::Deflate(ZlibEncoder::new(
                Vec::new(),
                Compression::fast(),
            ))),
        };
        Compress {
            input,
            encoder,
            chunk_size: chunk_size.max(1),
            done: false,
        }
    }
}

fn parse_q(v: &str) -> Option<u32> {
    // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut f: u32 = 0;
    for (i, c) in frac.bytes().enumerate() {
        f += u32::from(c - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(f),
        "1" if f == 0 => Some(1000),
        _ => None,
    }
}

enum Encoder {
    Gzip(GzEncoder<Vec<u8>>),
    Deflate(ZlibEncoder<Vec<u8>>),
}

impl Encoder {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(b),
            Encoder::Deflate(e) => e.write_all(b),
        }
    }

    fn out(&mut self) -> &mut Vec<u8> {
        match self {
            Encoder::Gzip(e) => e.get_mut(),
            Encoder::Deflate(e) => e.get_mut(),
        }
    }

    fn try_finish(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.try_finish(),
            Encoder::Deflate(e) => e.try_finish(),
        }
    }
}

/// A compressed chunk stream; made by [`ContentEncoding::compress`].
///
/// Yields `io::Result<Bytes>`; the errors can only come from the compressor (writing into
/// memory does not fail in practice).
pub struct Compress<I> {
    input: I,
    encoder: Option<Encoder>,
    chunk_size: usize,
    done: bool,
}

impl<I> std::fmt::Debug for Compress<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compress")
            .field("chunk_size", &self.chunk_size)
            .field("compressing", &self.encoder.is_some())
            .field("done", &self.done)
            .finish()
    }
}

impl<I: Iterator<Item = Bytes>> Iterator for Compress<I> {
    type Item = io::Result<Bytes>;

    fn next(&mut self) -> Option<io::Result<Bytes>> {
        if self.done {
            return None;
        }
        let Some(enc) = &mut self.encoder else {
            return self.input.next().map(Ok);
        };
        loop {
            match self.input.next() {
                Some(chunk) => {
                    if let Err(e) = enc.write_all(&chunk) {
                        self.done = true;
                        return Some(Err(e));
                    }
                    if enc.out().len() >= self.chunk_size {
                        let cap = self.chunk_size + self.chunk_size / 4;
                        let out = std::mem::replace(enc.out(), Vec::with_capacity(cap));
                        return Some(Ok(Bytes::from(out)));
                    }
                }
                None => {
                    self.done = true;
                    if let Err(e) = enc.try_finish() {
                        return Some(Err(e));
                    }
                    let out = std::mem::take(enc.out());
                    return (!out.is_empty()).then(|| Ok(Bytes::from(out)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ContentEncoding::{self, *};

    #[test]
    fn negotiation() {
        let n = |s| ContentEncoding::negotiate(Some(s));
        assert_eq!(n("gzip"), Gzip);
        assert_eq!(n("deflate"), Deflate);
        assert_eq!(n("deflate, gzip"), Gzip);
        assert_eq!(n("deflate;q=1, gzip;q=0.9"), Deflate);
        assert_eq!(n("gzip;q=0"), Identity);
        assert_eq!(n("gzip;q=0, deflate;q=0"), Identity);
        assert_eq!(n("*"), Gzip);
        assert_eq!(n("*;q=0"), Identity);
        assert_eq!(n("identity"), Identity);
        assert_eq!(n("br"), Identity);
        assert_eq!(n(""), Identity);
        assert_eq!(n("GZIP ; q=0.001"), Gzip);
        assert_eq!(n("gzip;q=2"), Identity);
        assert_eq!(n("gzip;q=0.5, identity;q=0.5"), Gzip);
        assert_eq!(n("identity;q=0, *;q=0"), Identity);
    }
}
