//! What a transfer is: its id, the announced file metadata, and the rules both sides check on them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{
    hash::parse_sha256_hex, CHUNK_SIZE, MAX_FILE_BYTES, MAX_FILE_NAME_CHARS, MAX_MIME_CHARS,
};
use crate::ProtocolError;

/// Identifies one transfer: 16 random bytes, chosen by the sender. In JSON it is 32 lowercase hex digits; in a
/// binary chunk frame it is the 16 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub [u8; 16]);

impl TransferId {
    /// Makes an id from 16 random bytes (getrandom in the browser), so this crate stays pure.
    pub fn from_random(random: [u8; 16]) -> Self {
        TransferId(random)
    }

    /// The 16 raw bytes, as carried in a chunk frame.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// 32 lowercase hex digits, as carried in JSON frames and used as a storage key.
    pub fn to_hex(&self) -> String {
        super::hash::hex(&self.0)
    }

    /// Parses 32 hex digits (either case).
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        let bytes = text.as_bytes();
        if bytes.len() != 32 {
            return Err(ProtocolError::Invalid(
                "the transfer id must be 32 hex digits".into(),
            ));
        }
        let mut out = [0u8; 16];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            match (hex_value(pair[0]), hex_value(pair[1])) {
                (Some(hi), Some(lo)) => out[i] = (hi << 4) | lo,
                _ => {
                    return Err(ProtocolError::Invalid(
                        "the transfer id must be 32 hex digits".into(),
                    ))
                }
            }
        }
        Ok(TransferId(out))
    }
}

pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransferId({})", self.to_hex())
    }
}

impl Serialize for TransferId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TransferId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        TransferId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What the sender announces about a file. Both sides validate it with [`FileMeta::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// The file's name: 1..=[`MAX_FILE_NAME_CHARS`] characters, no control characters, no `/` or `\`.
    /// The receiver still saves it under [`sanitize_file_name`] of this.
    pub name: String,
    /// Size in bytes, at most [`MAX_FILE_BYTES`]. Zero is allowed.
    pub size: u64,
    /// MIME type as the browser reported it (`""` when unknown). A hint only: never used to render the file.
    pub mime: String,
    /// SHA-256 of the whole content, 64 lowercase hex digits.
    pub sha256: String,
}

impl FileMeta {
    /// Builds the metadata for a file the user picked: sanitizes the name, drops a MIME type that breaks the
    /// rules (it is only a hint), and refuses files over [`MAX_FILE_BYTES`].
    pub fn for_upload(
        name: &str,
        size: u64,
        mime: &str,
        sha256: &[u8; 32],
    ) -> Result<Self, ProtocolError> {
        let name = sanitize_file_name(name);
        check_size(&name, size)?;
        let mime = mime.trim().to_ascii_lowercase();
        let mime = if validate_mime(&mime).is_ok() {
            mime
        } else {
            String::new()
        };
        let meta = FileMeta {
            name,
            size,
            mime,
            sha256: super::hash::hex(sha256),
        };
        meta.validate()?;
        Ok(meta)
    }

    /// Checks every rule; the error is a sentence for the user.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        validate_file_name(&self.name)?;
        check_size(&self.name, self.size)?;
        validate_mime(&self.mime)?;
        if self.sha256.len() != 64
            || !self
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ProtocolError::Invalid(
                "the file's SHA-256 must be 64 lowercase hex digits".into(),
            ));
        }
        debug_assert!(parse_sha256_hex(&self.sha256).is_ok());
        Ok(())
    }

    /// Number of chunks the content is cut into (0 for an empty file).
    pub fn chunk_count(&self) -> u32 {
        chunk_count(self.size)
    }

    /// Length of chunk `seq`: [`CHUNK_SIZE`] for all but the last, which carries the rest. 0 if out of range.
    pub fn chunk_len(&self, seq: u32) -> usize {
        let start = u64::from(seq) * CHUNK_SIZE as u64;
        if start >= self.size {
            return 0;
        }
        (self.size - start).min(CHUNK_SIZE as u64) as usize
    }

    /// Byte offset of chunk `seq` in the file.
    pub fn chunk_offset(seq: u32) -> u64 {
        u64::from(seq) * CHUNK_SIZE as u64
    }

    /// Bytes in chunks `0..seq` (clamped to the size).
    pub fn bytes_before(&self, seq: u32) -> u64 {
        Self::chunk_offset(seq).min(self.size)
    }
}

/// Number of chunks in a file of `size` bytes.
pub fn chunk_count(size: u64) -> u32 {
    // size <= MAX_FILE_BYTES after validation, so this fits easily; saturate for hostile input anyway.
    u32::try_from(size.div_ceil(CHUNK_SIZE as u64)).unwrap_or(u32::MAX)
}

/// Refuses files over [`MAX_FILE_BYTES`]. Call it as soon as the user picks a file, before hashing or sending.
pub fn check_size(name: &str, size: u64) -> Result<(), ProtocolError> {
    if size > MAX_FILE_BYTES {
        return Err(ProtocolError::Invalid(format!(
            "{name} is {}; files over {} can't be sent",
            super::progress::format_bytes(size),
            super::progress::format_bytes(MAX_FILE_BYTES)
        )));
    }
    Ok(())
}

/// Checks an announced file name. Absurd names are refused outright rather than silently repaired, so a peer
/// can't smuggle a path: the sender's [`FileMeta::for_upload`] sanitizes first, so honest names always pass.
pub fn validate_file_name(name: &str) -> Result<(), ProtocolError> {
    let chars = name.chars().count();
    if name.trim().is_empty() {
        return Err(ProtocolError::Invalid("the file name is empty".into()));
    }
    if chars > MAX_FILE_NAME_CHARS {
        return Err(ProtocolError::Invalid(format!(
            "the file name has {chars} characters, over the limit of {MAX_FILE_NAME_CHARS}"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ProtocolError::Invalid(
            "the file name contains control characters".into(),
        ));
    }
    if name.contains(['/', '\\']) {
        return Err(ProtocolError::Invalid(
            "the file name contains a path separator".into(),
        ));
    }
    Ok(())
}

fn validate_mime(mime: &str) -> Result<(), ProtocolError> {
    if mime.is_empty() {
        return Ok(());
    }
    if mime.len() > MAX_MIME_CHARS
        || !mime.bytes().all(|b| (b' '..=b'~').contains(&b))
        || !mime.contains('/')
    {
        return Err(ProtocolError::Invalid(
            "the file type is not a valid MIME type".into(),
        ));
    }
    Ok(())
}

/// Longest name [`sanitize_file_name`] returns, in UTF-8 bytes (every common file system allows 255).
pub const MAX_DOWNLOAD_NAME_BYTES: usize = 255;
/// Longest tail kept as "the extension" when a long name is cut.
const MAX_EXTENSION_BYTES: usize = 16;

/// Makes a name safe to save under, on any OS: path separators, control characters, bidi overrides (which can
/// disguise `exe` as `jpg`) and characters Windows forbids become `_`; leading dots and spaces go (no hidden
/// files, no `..`); trailing dots and spaces go (Windows drops them); Windows device names (`CON`, `nul.txt`,
/// `LPT1`...) get a `_` prefix; long names are cut to [`MAX_DOWNLOAD_NAME_BYTES`] keeping the extension. Never
/// returns an empty string.
pub fn sanitize_file_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_control()
                || matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
                || is_bidi_or_invisible(c)
            {
                '_'
            } else {
                c
            }
        })
        .collect();
    out = out
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .to_string();
    if out.is_empty() || out.chars().all(|c| c == '_') {
        return "file".into();
    }
    if is_windows_reserved(&out) {
        out.insert(0, '_');
    }
    if out.len() > MAX_DOWNLOAD_NAME_BYTES {
        out = cut_keeping_extension(&out, MAX_DOWNLOAD_NAME_BYTES);
    }
    out
}

fn is_bidi_or_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

fn is_windows_reserved(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end();
    let upper = stem.to_ascii_uppercase();
    matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || ((upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper.len() == 4
        && upper.as_bytes()[3].is_ascii_digit())
}

fn cut_keeping_extension(name: &str, max: usize) -> String {
    let ext = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION_BYTES => &name[dot..],
        _ => "",
    };
    let stem = &name[..name.len() - ext.len()];
    let mut end = max - ext.len();
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    let stem = stem[..end].trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    format!("{stem}{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(sanitize_file_name(input), expected, "input {input:?}");
    }

    #[test]
    fn sanitizes_names() {
        check("photo.jpg", "photo.jpg");
        check("../../etc/passwd", "_.._etc_passwd");
        check("..\\..\\boot.ini", "_.._boot.ini");
        check(".bashrc", "bashrc");
        check("...", "file");
        check("", "file");
        check("   ", "file");
        check("a\u{0}b\nc", "a_b_c");
        check("CON", "_CON");
        check("con.txt", "_con.txt");
        check("LPT1.tar.gz", "_LPT1.tar.gz");
        check("COM10.txt", "COM10.txt");
        check("console.log", "console.log");
        check("what?.txt", "what_.txt");
        check("trailing. . ", "trailing");
        check("evil\u{202E}gpj.exe", "evil_gpj.exe");
        check("résumé 2024.pdf", "résumé 2024.pdf");
        let long = format!("{}.tar.gz", "a".repeat(400));
        let cut = sanitize_file_name(&long);
        assert_eq!(cut.len(), MAX_DOWNLOAD_NAME_BYTES);
        assert!(cut.ends_with("a.gz"), "{cut}");
        // Multi-byte characters are never split.
        let cut = sanitize_file_name(&format!("{}.txt", "é".repeat(300)));
        assert!(cut.len() <= MAX_DOWNLOAD_NAME_BYTES && cut.ends_with("é.txt"));
        // A huge "extension" is not an extension.
        let cut = sanitize_file_name(&format!("x.{}", "b".repeat(400)));
        assert_eq!(cut.len(), MAX_DOWNLOAD_NAME_BYTES);
    }

    #[test]
    fn sanitized_names_always_validate() {
        for name in [
            "/",
            "\\\\",
            "a/b",
            "\u{7f}",
            "..",
            "x".repeat(1000).as_str(),
            "CON",
            "日本語.txt",
        ] {
            validate_file_name(&sanitize_file_name(name)).unwrap();
        }
    }

    #[test]
    fn name_rules() {
        assert!(validate_file_name("ok.txt").is_ok());
        assert!(validate_file_name("").is_err());
        assert!(validate_file_name(" ").is_err());
        assert!(validate_file_name("a/b").is_err());
        assert!(validate_file_name("a\\b").is_err());
        assert!(validate_file_name("a\u{1b}[31m").is_err());
        assert!(validate_file_name(&"é".repeat(MAX_FILE_NAME_CHARS)).is_ok());
        assert!(validate_file_name(&"é".repeat(MAX_FILE_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn transfer_id_hex() {
        let id = TransferId::from_random([0xAB; 16]);
        assert_eq!(id.to_hex(), "ab".repeat(16));
        assert_eq!(TransferId::parse(&id.to_hex()).unwrap(), id);
        assert_eq!(TransferId::parse(&"AB".repeat(16)).unwrap(), id);
        assert!(TransferId::parse("ab").is_err());
        assert!(TransferId::parse(&"zz".repeat(16)).is_err());
        assert!(TransferId::parse(&"é".repeat(16)).is_err());
    }

    #[test]
    fn meta_for_upload() {
        let meta = FileMeta::for_upload("../x.txt", 5, "Text/Plain", &[0; 32]).unwrap();
        assert_eq!(meta.name, "_x.txt");
        assert_eq!(meta.mime, "text/plain");
        let meta = FileMeta::for_upload("x", 0, "\u{1}bogus", &[0; 32]).unwrap();
        assert_eq!(meta.mime, "");
        let err = FileMeta::for_upload("big.iso", 250_300_000, "", &[0; 32]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "big.iso is 250 MB; files over 200 MB can't be sent"
        );
        assert!(FileMeta::for_upload("big.iso", MAX_FILE_BYTES + 1, "", &[0; 32]).is_err());
        assert!(FileMeta::for_upload("ok", MAX_FILE_BYTES, "", &[0; 32]).is_ok());
    }

    #[test]
    fn chunk_arithmetic() {
        let meta = |size| FileMeta {
            name: "f".into(),
            size,
            mime: String::new(),
            sha256: "0".repeat(64),
        };
        assert_eq!(meta(0).chunk_count(), 0);
        assert_eq!(meta(1).chunk_count(), 1);
        assert_eq!(meta(CHUNK_SIZE as u64).chunk_count(), 1);
        assert_eq!(meta(CHUNK_SIZE as u64 + 1).chunk_count(), 2);
        assert_eq!(meta(CHUNK_SIZE as u64 + 1).chunk_len(1), 1);
        assert_eq!(meta(CHUNK_SIZE as u64 + 1).chunk_len(2), 0);
        assert_eq!(meta(MAX_FILE_BYTES).chunk_count(), super::super::MAX_CHUNKS);
    }
}
