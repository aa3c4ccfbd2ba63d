//! Text encodings of CSV exports. Many Chinese systems export GBK or
//! GB18030; `--encoding` transcodes such a file to UTF-8 once, into a scratch
//! file that the audit reads, while the recorded SHA-256 stays that of the
//! original bytes.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// The encoding of CSV input files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextEncoding {
    /// UTF-8 when the bytes are valid UTF-8, else GB18030 when they decode
    /// cleanly as that, else an error.
    #[default]
    Auto,
    Utf8,
    Gbk,
    Gb18030,
}

impl TextEncoding {
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Auto => "auto",
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Gbk => "GBK",
            TextEncoding::Gb18030 => "GB18030",
        }
    }

    /// `auto`, `utf-8` (`utf8`), `gbk` or `gb18030`, any case.
    pub fn parse(s: &str) -> Option<TextEncoding> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Some(TextEncoding::Auto),
            "utf-8" | "utf8" => Some(TextEncoding::Utf8),
            "gbk" => Some(TextEncoding::Gbk),
            "gb18030" => Some(TextEncoding::Gb18030),
            _ => None,
        }
    }

    fn encoding(self) -> &'static encoding_rs::Encoding {
        match self {
            TextEncoding::Auto | TextEncoding::Utf8 => encoding_rs::UTF_8,
            TextEncoding::Gbk => encoding_rs::GBK,
            TextEncoding::Gb18030 => encoding_rs::GB18030,
        }
    }
}

/// The encoding of each dataset's CSV files: one for all, and overrides
/// per dataset (`--encoding transactions=gbk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Encodings {
    pub all: TextEncoding,
    /// By position in `Dataset::ALL`.
    pub per_dataset: [Option<TextEncoding>; 4],
}

impl Encodings {
    pub fn of(&self, ds: crate::contract::Dataset) -> TextEncoding {
        let i = crate::contract::Dataset::ALL.iter().position(|d| *d == ds).unwrap_or(0);
        self.per_dataset.get(i).copied().flatten().unwrap_or(self.all)
    }

    pub fn set(&mut self, ds: crate::contract::Dataset, e: TextEncoding) {
        if let Some(i) = crate::contract::Dataset::ALL.iter().position(|d| *d == ds) {
            self.per_dataset[i] = Some(e);
        }
    }
}

/// What transcoding found.
#[derive(Debug, PartialEq, Eq)]
pub enum Transcoded {
    /// The original file's SHA-256.
    Done { sha256: String },
    /// The byte offset of the first sequence that is not valid in the encoding.
    Malformed { offset: u64 },
}

/// Decodes `src` from `enc` into UTF-8 at `dst`, hashing the original bytes.
pub fn transcode(src: &Path, dst: &Path, enc: TextEncoding) -> io::Result<Transcoded> {
    let mut input = File::open(src)?;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(dst)?);
    let mut decoder = enc.encoding().new_decoder_without_bom_handling();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut utf8 = vec![0u8; (1 << 20) * 3 + 16];
    let mut consumed: u64 = 0;
    loop {
        let n = input.read(&mut buf)?;
        let last = n == 0;
        hasher.update(&buf[..n]);
        let mut chunk = &buf[..n];
        loop {
            let (result, read, written) = decoder.decode_to_utf8_without_replacement(chunk, &mut utf8, last);
            out.write_all(&utf8[..written])?;
            consumed += read as u64;
            chunk = &chunk[read..];
            match result {
                encoding_rs::DecoderResult::InputEmpty => break,
                encoding_rs::DecoderResult::OutputFull => continue,
                encoding_rs::DecoderResult::Malformed(bad, after) => {
                    let offset = consumed.saturating_sub(u64::from(bad) + u64::from(after));
                    return Ok(Transcoded::Malformed { offset });
                }
            }
        }
        if last {
            break;
        }
    }
    out.flush()?;
    Ok(Transcoded::Done { sha256: super::sources::sha256_hex(&hasher.finalize()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_to_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("in.csv"), dir.path().join("out.csv"));
        // "method\n支付宝\n" in GBK.
        let gbk = b"method\n\xd6\xa7\xb8\xb6\xb1\xa6\n";
        std::fs::write(&src, gbk).unwrap();
        let r = transcode(&src, &dst, TextEncoding::Gbk).unwrap();
        assert_eq!(r, Transcoded::Done { sha256: crate::ingest::sources::sha256_bytes(gbk) });
        assert_eq!(std::fs::read_to_string(&dst).unwrap(), "method\n支付宝\n");
    }

    #[test]
    fn malformed_gbk_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("in.csv"), dir.path().join("out.csv"));
        // A lead byte followed by a byte that cannot trail it.
        std::fs::write(&src, b"ab\n\x81\x20\n").unwrap();
        assert_eq!(transcode(&src, &dst, TextEncoding::Gbk).unwrap(), Transcoded::Malformed { offset: 3 });
    }
}
