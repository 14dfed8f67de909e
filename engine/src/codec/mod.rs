//! Pure bytes ↔ struct codecs, one module per record of format-spec/. No I/O happens here,
//! so every decoder can be fuzzed on its own and rejects malformed input with
//! [`DecodeError`] instead of panicking.

pub mod pack;
pub mod tree;
pub mod version;

/// Why bytes could not be decoded. `what` names the record, `why` the broken rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: {why}")]
pub struct DecodeError {
    pub what: &'static str,
    pub why: String,
}

impl DecodeError {
    pub(crate) fn new(what: &'static str, why: impl Into<String>) -> Self {
        Self { what, why: why.into() }
    }
}

/// Largest decompressed blob (chunk or tree) any reader accepts. Chunks are at most the
/// chunker's maximum (256 KiB by default); trees of huge directories can be larger. A
/// header that declares more is refused before anything is allocated.
pub const MAX_BLOB_LEN: u32 = 64 << 20;

/// Decodes a postcard body that must fill `bytes` exactly.
pub fn postcard_exact<'a, T: serde::Deserialize<'a>>(what: &'static str, bytes: &'a [u8]) -> Result<T, DecodeError> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| DecodeError::new(what, e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::new(what, format!("{} trailing bytes", rest.len())));
    }
    Ok(value)
}

/// Splits off the leading format-version byte of a record and checks it.
pub(crate) fn versioned<'a>(what: &'static str, bytes: &'a [u8], expected: u8) -> Result<&'a [u8], DecodeError> {
    match bytes.split_first() {
        Some((&v, body)) if v == expected => Ok(body),
        Some((&v, _)) => {
            Err(DecodeError::new(what, format!("format version {v}, this pods reads version {expected}: upgrade pods")))
        }
        None => Err(DecodeError::new(what, "empty")),
    }
}
