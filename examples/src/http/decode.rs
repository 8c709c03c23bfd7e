//! Content decoding as the body streams in: `gzip` (RFC 1952) and `deflate` (RFC 1950 zlib, or
//! raw RFC 1951 data as some servers send), strict about the end of the stream.
//!
//! A compressed body must end exactly where its format says: one that stops early is
//! [`DecodeError::Truncated`], bytes after its end are [`DecodeError::TrailingData`], a bad
//! header, bad compressed data or a checksum mismatch is [`DecodeError::Corrupt`]. (Several
//! gzip members in a row are not supported: the bytes after the first member are trailing
//! data.)

use flate2::{Crc, Decompress, FlushDecompress, Status};

/// What is wrong with a compressed body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The header, the compressed data or the checksum is wrong.
    #[error("corrupt {encoding} body: {reason}")]
    Corrupt {
        /// `gzip` or `deflate`.
        encoding: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The body ended before the compressed stream did.
    #[error("truncated {encoding} body: the compressed stream ends early")]
    Truncated {
        /// `gzip` or `deflate`.
        encoding: &'static str,
    },
    /// Bytes follow the end of the compressed stream.
    #[error("trailing data after the end of the {encoding} body")]
    TrailingData {
        /// `gzip` or `deflate`.
        encoding: &'static str,
    },
    /// A `Content-Encoding` this client does not decode.
    #[error("unsupported content encoding {0:?}")]
    Unsupported(String),
}

/// The longest gzip header accepted (file name and comment included).
const MAX_GZIP_HEADER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Gzip,
    /// `deflate`: zlib or raw, decided from the first two bytes.
    Deflate,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Deflate => "deflate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting the gzip header, or the first two bytes of a deflate body.
    Header,
    Body,
    /// Collecting the 8-byte gzip trailer.
    Trailer,
    Done,
}

/// A streaming decoder of one compressed body.
pub(crate) struct Inflater {
    format: Format,
    state: State,
    /// Header or trailer bytes collected so far.
    pending: Vec<u8>,
    z: Option<Decompress>,
    crc: Crc,
    out: Vec<u8>,
    /// Whether any byte was pushed.
    started: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("format", &self.format)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A content decoder: identity or an [`Inflater`].
#[derive(Debug)]
pub(crate) enum ContentDecoder {
    Identity,
    Inflate(Box<Inflater>),
}

impl ContentDecoder {
    /// The decoder for a `Content-Encoding` value (`None`, empty or `identity`: none).
    pub(crate) fn new(encoding: Option<&str>) -> Result<Self, DecodeError> {
        match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "identity") => Ok(ContentDecoder::Identity),
            Some("gzip" | "x-gzip") => Ok(ContentDecoder::Inflate(Box::new(Inflater::new(
                Format::Gzip,
            )))),
            Some("deflate") => Ok(ContentDecoder::Inflate(Box::new(Inflater::new(
                Format::Deflate,
            )))),
            Some(other) => Err(DecodeError::Unsupported(other.to_owned())),
        }
    }

    /// Decodes `input` into `sink`; `Ok(false)` once `sink` asked to stop.
    pub(crate) fn push(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<bool, DecodeError> {
        match self {
            ContentDecoder::Identity => Ok(input.is_empty() || sink(input)),
            ContentDecoder::Inflate(i) => i.push(input, sink),
        }
    }

    /// Checks that the body ended where the compressed stream did.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self {
            ContentDecoder::Identity => Ok(()),
            ContentDecoder::Inflate(i) => i.finish(),
        }
    }
}

impl Inflater {
    fn new(format: Format) -> Self {
        Self {
            format,
            state: State::Header,
            pending: Vec::new(),
            z: None,
            crc: Crc::new(),
            out: vec![0; 32 * 1024],
            started: false,
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::Corrupt {
            encoding: self.format.name(),
            reason: reason.into(),
        }
    }

    fn push(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<bool, DecodeError> {
        self.started |= !input.is_empty();
        while !input.is_empty() {
            match self.state {
                State::Header => {
                    let room = match self.format {
                        Format::Gzip => MAX_GZIP_HEADER + 1,
                        Format::Deflate => 2,
                    } - self.pending.len();
                    let take = input.len().min(room);
                    self.pending.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let header_len = match self.format {
                        Format::Gzip => match gzip_header_len(&self.pending) {
                            Ok(Some(n)) => n,
                            Ok(None) if self.pending.len() > MAX_GZIP_HEADER => {
                                return Err(self.corrupt("gzip header too long"));
                            }
                            Ok(None) => continue,
                            Err(reason) => return Err(self.corrupt(reason)),
                        },
                        Format::Deflate if self.pending.len() < 2 => continue,
                        Format::Deflate => 0,
                    };
                    let zlib = self.format == Format::Deflate && is_zlib_header(&self.pending);
                    self.z = Some(Decompress::new(zlib));
                    self.state = State::Body;
                    // The bytes collected after the header are the start of the body.
                    let collected = std::mem::take(&mut self.pending);
                    if !self.inflate(&collected[header_len..], sink)? {
                        return Ok(false);
                    }
                }
                State::Body => {
                    let before = input.len();
                    let go_on = self.inflate_some(&mut input, sink)?;
                    if !go_on {
                        return Ok(false);
                    }
                    if input.len() == before && self.state == State::Body {
                        return Ok(true); // needs more input
                    }
                }
                State::Trailer => {
                    let take = input.len().min(8 - self.pending.len());
                    self.pending.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if self.pending.len() == 8 {
                        let crc =
                            u32::from_le_bytes(self.pending[..4].try_into().unwrap_or_default());
                        let size =
                            u32::from_le_bytes(self.pending[4..].try_into().unwrap_or_default());
                        if crc != self.crc.sum() {
                            return Err(self.corrupt("CRC-32 mismatch"));
                        }
                        if size != self.crc.amount() {
                            return Err(self.corrupt("length mismatch"));
                        }
                        self.state = State::Done;
                    }
                }
                State::Done => {
                    return Err(DecodeError::TrailingData {
                        encoding: self.format.name(),
                    });
                }
            }
        }
        Ok(true)
    }

    /// Inflates all of `data` (used for sniffed bytes).
    fn inflate(
        &mut self,
        mut data: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<bool, DecodeError> {
        while !data.is_empty() {
            if self.state != State::Body {
                return self.push(data, sink);
            }
            let before = data.len();
            if !self.inflate_some(&mut data, sink)? {
                return Ok(false);
            }
            if data.len() == before && self.state == State::Body {
                break;
            }
        }
        Ok(true)
    }

    /// Runs the decompressor on `input` until it needs more, the stream ends or `sink` stops.
    fn inflate_some(
        &mut self,
        input: &mut &[u8],
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<bool, DecodeError> {
        let Some(z) = self.z.as_mut() else {
            return Err(self.corrupt("decoder not started"));
        };
        loop {
            let (in0, out0) = (z.total_in(), z.total_out());
            let status = z.decompress(input, &mut self.out, FlushDecompress::None);
            let consumed = (z.total_in() - in0) as usize;
            let produced = (z.total_out() - out0) as usize;
            *input = &input[consumed..];
            let status = match status {
                Ok(s) => s,
                Err(e) => {
                    let reason = e.to_string();
                    return Err(self.corrupt(if reason.is_empty() {
                        "invalid compressed data".to_owned()
                    } else {
                        reason
                    }));
                }
            };
            if produced > 0 {
                let chunk = &self.out[..produced];
                if self.format == Format::Gzip {
                    self.crc.update(chunk);
                }
                if !sink(chunk) {
                    return Ok(false);
                }
            }
            if status == Status::StreamEnd {
                self.state = match self.format {
                    Format::Gzip => State::Trailer,
                    Format::Deflate => State::Done,
                };
                return Ok(true);
            }
            let out_full = produced == self.out.len();
            if !out_full && (input.is_empty() || consumed == 0) {
                return Ok(true);
            }
        }
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.state {
            State::Done => Ok(()),
            _ => Err(DecodeError::Truncated {
                encoding: self.format.name(),
            }),
        }
    }
}

/// Whether two bytes start a zlib stream (RFC 1950: deflate method, window <= 32 KiB, check
/// bits), rather than raw deflate data.
fn is_zlib_header(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// The length of the gzip header at the start of `b`: `Ok(None)` while incomplete.
fn gzip_header_len(b: &[u8]) -> Result<Option<usize>, &'static str> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    if b.first().is_some_and(|&x| x != 0x1f) || b.get(1).is_some_and(|&x| x != 0x8b) {
        return Err("not a gzip stream (bad magic bytes)");
    }
    if b.get(2).is_some_and(|&x| x != 8) {
        return Err("unknown gzip compression method");
    }
    let Some(&flags) = b.get(3) else {
        return Ok(None);
    };
    if flags & 0xe0 != 0 {
        return Err("reserved gzip header flags set");
    }
    let mut at = 10;
    if b.len() < at {
        return Ok(None);
    }
    if flags & FEXTRA != 0 {
        let Some(len) = b.get(at..at + 2) else {
            return Ok(None);
        };
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
        if b.len() < at {
            return Ok(None);
        }
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(nul) = b[at..].iter().position(|&x| x == 0) else {
                return Ok(None);
            };
            at += nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
        if b.len() < at {
            return Ok(None);
        }
    }
    Ok(Some(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Decodes `body` pushed in pieces of `step` bytes.
    fn decode(encoding: &str, body: &[u8], step: usize) -> Result<Vec<u8>, DecodeError> {
        let mut d = ContentDecoder::new(Some(encoding))?;
        let mut out = Vec::new();
        for piece in body.chunks(step.max(1)) {
            d.push(piece, &mut |b| {
                out.extend_from_slice(b);
                true
            })?;
        }
        d.finish()?;
        Ok(out)
    }

    fn data() -> Vec<u8> {
        (0..200_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 997) as u8)
            .collect()
    }

    #[test]
    fn whole_and_split_bodies_decode() {
        let d = data();
        for step in [1, 7, 4096, usize::MAX] {
            assert_eq!(decode("gzip", &gzip(&d), step).unwrap(), d, "gzip {step}");
            assert_eq!(
                decode("deflate", &zlib(&d), step).unwrap(),
                d,
                "zlib {step}"
            );
            assert_eq!(decode("deflate", &raw(&d), step).unwrap(), d, "raw {step}");
        }
        assert_eq!(decode("gzip", &gzip(b""), 3).unwrap(), b"");
    }

    #[test]
    fn gzip_header_fields_are_skipped() {
        let mut e = flate2::GzBuilder::new()
            .filename("metrics.txt")
            .comment("hello")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::fast());
        e.write_all(b"abc").unwrap();
        let z = e.finish().unwrap();
        for step in [1, 5, 100] {
            assert_eq!(decode("gzip", &z, step).unwrap(), b"abc");
        }
    }

    #[test]
    fn corrupt_truncated_and_trailing_bodies_are_errors() {
        let d = data();
        let z = gzip(&d);
        for step in [1, 1000, usize::MAX] {
            assert!(matches!(
                decode("gzip", b"this is not gzip", step),
                Err(DecodeError::Corrupt { .. })
            ));
            let mut bad = z.clone();
            let mid = bad.len() / 2;
            bad[mid] ^= 0xff;
            bad[mid + 1] ^= 0x55;
            assert!(
                matches!(decode("gzip", &bad, step), Err(DecodeError::Corrupt { .. })),
                "{step}"
            );
            let mut bad_crc = z.clone();
            let n = bad_crc.len();
            bad_crc[n - 6] ^= 1;
            let e = decode("gzip", &bad_crc, step).unwrap_err();
            assert!(e.to_string().contains("CRC-32 mismatch"), "{e}");
            for cut in [1, 5, 12, z.len() / 2, z.len() - 4, z.len() - 1] {
                assert_eq!(
                    decode("gzip", &z[..cut], step),
                    Err(DecodeError::Truncated { encoding: "gzip" }),
                    "cut {cut}"
                );
            }
            let mut junk = z.clone();
            junk.extend_from_slice(b"JUNK");
            assert_eq!(
                decode("gzip", &junk, step),
                Err(DecodeError::TrailingData { encoding: "gzip" })
            );
            let zl = zlib(&d);
            assert_eq!(
                decode("deflate", &zl[..zl.len() - 3], step),
                Err(DecodeError::Truncated {
                    encoding: "deflate"
                })
            );
            let mut junk = zl.clone();
            junk.push(0);
            assert_eq!(
                decode("deflate", &junk, step),
                Err(DecodeError::TrailingData {
                    encoding: "deflate"
                })
            );
            let mut bad_adler = zl.clone();
            let n = bad_adler.len();
            bad_adler[n - 1] ^= 1;
            assert!(matches!(
                decode("deflate", &bad_adler, step),
                Err(DecodeError::Corrupt { .. })
            ));
        }
        // An empty compressed body is not a compressed stream.
        assert_eq!(
            decode("gzip", b"", 1),
            Err(DecodeError::Truncated { encoding: "gzip" })
        );
        assert_eq!(
            ContentDecoder::new(Some("br")).unwrap_err(),
            DecodeError::Unsupported("br".into())
        );
    }

    #[test]
    fn a_stopped_sink_stops_the_decoder() {
        let z = gzip(&data());
        let mut d = ContentDecoder::new(Some("gzip")).unwrap();
        let mut calls = 0;
        assert!(
            !d.push(&z, &mut |_| {
                calls += 1;
                false
            })
            .unwrap()
        );
        assert_eq!(calls, 1);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Untrusted bodies, arbitrary or a valid stream with bytes changed and cut: a typed
        /// result, never a panic, and the same result whole and split at any step.
        #[test]
        fn untrusted_bodies_decode_the_same_whole_and_split(
            encoding in proptest::sample::select(vec!["gzip", "deflate"]),
            arbitrary in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            flips in proptest::collection::vec((proptest::prelude::any::<usize>(), 1u8..=255), 0..4),
            cut in proptest::prelude::any::<usize>(),
            step in 1usize..64,
            valid in proptest::prelude::any::<bool>(),
        ) {
            let mut body = if valid {
                let plain: Vec<u8> = arbitrary.iter().map(|b| b % 7).collect();
                match encoding {
                    "gzip" => gzip(&plain),
                    _ => zlib(&plain),
                }
            } else {
                arbitrary
            };
            if !body.is_empty() {
                for (at, x) in &flips {
                    let i = at % body.len();
                    body[i] ^= x;
                }
                body.truncate(body.len() - cut % (body.len() / 4 + 1));
            }
            let whole = decode(encoding, &body, body.len().max(1)).map_err(|e| e.to_string());
            let split = decode(encoding, &body, step).map_err(|e| e.to_string());
            proptest::prop_assert_eq!(whole.is_ok(), split.is_ok());
            if let (Ok(a), Ok(b)) = (&whole, &split) {
                proptest::prop_assert_eq!(a, b);
            }
        }
    }
}
