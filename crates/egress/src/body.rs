//! Request bodies: buffered whole, and decoded for inspection.
//!
//! DLP must see a request body before any of it is sent upstream, so the
//! proxy reads it completely (chunked or not) up to [`MAX_REQUEST_BODY_BYTES`];
//! a larger body is refused with 413 and nothing is forwarded. A body with a
//! `Content-Encoding` (gzip, deflate, br, zstd, or a list of them) is decoded
//! for the inspector, bounded by [`MAX_DECODED_BODY_BYTES`] so that a small
//! compression bomb cannot exhaust memory; an encoding we do not know or a
//! body that does not decode is refused — the proxy never forwards what it
//! could not inspect. The original bytes are what is forwarded (unless the
//! inspector rewrites the body).

use std::io::Read;

use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_ENCODING;

/// The largest request body the proxy buffers (32 MiB). Past it: 413.
pub const MAX_REQUEST_BODY_BYTES: usize = 32 * 1024 * 1024;
/// The largest decoded body (after `Content-Encoding`) the proxy inspects
/// (64 MiB). Past it: 413.
pub const MAX_DECODED_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported Content-Encoding {0:?}")]
    Unsupported(String),
    #[error("the body is not valid {encoding}")]
    Corrupt {
        encoding: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the decoded body is larger than {MAX_DECODED_BODY_BYTES} bytes")]
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }
}

/// The codings listed in `Content-Encoding`, in the order they were applied.
fn codings(headers: &HeaderMap) -> Result<Vec<Coding>, DecodeError> {
    let mut codings = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        let text = value.to_str().map_err(|_| {
            DecodeError::Unsupported(String::from_utf8_lossy(value.as_bytes()).into_owned())
        })?;
        for token in text.split(',') {
            let token = token.trim().to_ascii_lowercase();
            let coding = match token.as_str() {
                "" | "identity" => continue,
                "gzip" | "x-gzip" => Coding::Gzip,
                "deflate" => Coding::Deflate,
                "br" => Coding::Brotli,
                "zstd" => Coding::Zstd,
                _ => return Err(DecodeError::Unsupported(token)),
            };
            codings.push(coding);
        }
    }
    Ok(codings)
}

/// Whether the headers announce any content coding.
pub fn is_encoded(headers: &HeaderMap) -> bool {
    headers.contains_key(CONTENT_ENCODING)
}

/// Undo every `Content-Encoding` of `body`. Blocking (CPU) work: callers on
/// an async task should run it with `spawn_blocking` for large bodies.
pub fn decode(headers: &HeaderMap, body: &Bytes) -> Result<Bytes, DecodeError> {
    let mut current = body.clone();
    for coding in codings(headers)?.into_iter().rev() {
        current = Bytes::from(decode_one(coding, &current)?);
    }
    Ok(current)
}

fn decode_one(coding: Coding, input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let corrupt = |source| DecodeError::Corrupt {
        encoding: coding.name(),
        source,
    };
    match coding {
        Coding::Gzip => {
            read_bounded(flate2::read::MultiGzDecoder::new(input)).map_err(corrupt_or(coding))
        }
        Coding::Deflate => {
            // HTTP's "deflate" is zlib-wrapped (RFC 9110), but some clients
            // send raw deflate: accept either, refuse what is neither. The
            // stream must be the whole body: bytes after its end would go
            // upstream unread (a second, raw deflate stream, say).
            let whole = |total_in: u64, output: Vec<u8>| {
                if total_in == input.len() as u64 {
                    Ok(output)
                } else {
                    Err(ReadError::Io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{} bytes after the end of the deflate stream",
                            input.len() as u64 - total_in.min(input.len() as u64)
                        ),
                    )))
                }
            };
            let zlib = {
                let mut decoder = flate2::bufread::ZlibDecoder::new(input);
                read_bounded(&mut decoder).and_then(|output| whole(decoder.total_in(), output))
            };
            match zlib {
                Err(ReadError::TooLarge) => Err(ReadError::TooLarge),
                Ok(output) => Ok(output),
                Err(ReadError::Io(_)) => {
                    let mut decoder = flate2::bufread::DeflateDecoder::new(input);
                    read_bounded(&mut decoder).and_then(|output| whole(decoder.total_in(), output))
                }
            }
            .map_err(corrupt_or(coding))
        }
        Coding::Brotli => {
            read_bounded(brotli::Decompressor::new(input, 4096)).map_err(corrupt_or(coding))
        }
        Coding::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(input).map_err(corrupt)?;
            read_bounded(decoder).map_err(corrupt_or(coding))
        }
    }
}

enum ReadError {
    Io(std::io::Error),
    TooLarge,
}

fn corrupt_or(coding: Coding) -> impl Fn(ReadError) -> DecodeError {
    move |error| match error {
        ReadError::TooLarge => DecodeError::TooLarge,
        ReadError::Io(source) => DecodeError::Corrupt {
            encoding: coding.name(),
            source,
        },
    }
}

fn read_bounded(reader: impl Read) -> Result<Vec<u8>, ReadError> {
    let mut output = Vec::new();
    let limit = u64::try_from(MAX_DECODED_BODY_BYTES).unwrap_or(u64::MAX);
    reader
        .take(limit + 1)
        .read_to_end(&mut output)
        .map_err(ReadError::Io)?;
    if output.len() > MAX_DECODED_BODY_BYTES {
        return Err(ReadError::TooLarge);
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use http::HeaderValue;

    use super::*;

    fn headers(encoding: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_str(encoding).unwrap());
        headers
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// A second stream, or anything, after the deflate stream's end would
    /// be forwarded unread: refused.
    #[test]
    fn bytes_after_a_deflate_stream_are_refused() {
        let compress = |body: &[u8]| {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(body).unwrap();
            encoder.finish().unwrap()
        };
        let raw = |body: &[u8]| {
            let mut encoder =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(body).unwrap();
            encoder.finish().unwrap()
        };
        let clean = compress(b"hello");
        assert_eq!(
            decode(&headers("deflate"), &Bytes::from(clean.clone())).unwrap(),
            "hello"
        );
        assert_eq!(
            decode(&headers("deflate"), &Bytes::from(raw(b"hello"))).unwrap(),
            "hello"
        );
        let mut smuggled = clean;
        smuggled.extend_from_slice(&raw(b"leak=the-canary"));
        assert!(matches!(
            decode(&headers("deflate"), &Bytes::from(smuggled)),
            Err(DecodeError::Corrupt { .. })
        ));
        let mut trailing = raw(b"hello");
        trailing.extend_from_slice(b" plain text");
        assert!(matches!(
            decode(&headers("deflate"), &Bytes::from(trailing)),
            Err(DecodeError::Corrupt { .. })
        ));
    }

    #[test]
    fn decodes_every_supported_coding_and_stacks() {
        let plain = b"secret=ghp_0123456789".as_slice();
        let zlib = {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(plain).unwrap();
            encoder.finish().unwrap()
        };
        let raw_deflate = {
            let mut encoder =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(plain).unwrap();
            encoder.finish().unwrap()
        };
        let brotli = {
            let mut output = Vec::new();
            let mut writer = brotli::CompressorWriter::new(&mut output, 4096, 5, 22);
            writer.write_all(plain).unwrap();
            drop(writer);
            output
        };
        let zstd = zstd::encode_all(plain, 3).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("gzip", gzip(plain)),
            ("x-gzip", gzip(plain)),
            ("deflate", zlib),
            ("deflate", raw_deflate),
            ("br", brotli),
            ("zstd", zstd),
            ("identity", plain.to_vec()),
            ("gzip, gzip", gzip(&gzip(plain))),
        ];
        for (encoding, body) in cases {
            let decoded = decode(&headers(encoding), &Bytes::from(body)).unwrap();
            assert_eq!(decoded.as_ref(), plain, "{encoding}");
        }
    }

    #[test]
    fn refuses_unknown_and_corrupt_bodies() {
        let error = decode(&headers("compress"), &Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unsupported Content-Encoding \"compress\""
        );
        let error = decode(&headers("gzip"), &Bytes::from_static(b"not gzip at all")).unwrap_err();
        assert_eq!(error.to_string(), "the body is not valid gzip");
        let error = decode(&headers("br"), &Bytes::from_static(b"\xff\xff\xff\xff")).unwrap_err();
        assert_eq!(error.to_string(), "the body is not valid br");
    }

    #[test]
    fn refuses_a_compression_bomb() {
        let zeros = vec![0u8; MAX_DECODED_BODY_BYTES + 1];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 1024 * 1024);
        let error = decode(&headers("gzip"), &Bytes::from(bomb)).unwrap_err();
        assert!(matches!(error, DecodeError::TooLarge), "{error}");
    }
}
