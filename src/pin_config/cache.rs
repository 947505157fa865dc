//! The reference client's pin cache (`--pins-cache FILE`): the last config it accepted, kept as
//! the signed document it was served, so that it is verified again whenever it is used. Written
//! atomically (a temporary file in the same directory, then a rename) and with mode 0600.
//!
//! A cache that cannot be read is reported, never fatal: the client then has no cache.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::serve::Format;
use crate::error::{Error, Result};

/// Schema of the cache file.
pub const SCHEMA: u32 = 1;

/// What the cache file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cached {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// The document's format.
    #[serde(with = "format_name")]
    pub format: Format,
    /// The signed document as it was served (a compact JWS, or Wultra's JSON).
    pub document: String,
    /// Where it was fetched from.
    pub url: String,
    /// When, Unix seconds.
    pub fetched_at: u64,
    /// The content version it carries (when the format has one).
    pub version: Option<u64>,
}

/// Reads the cache: `Ok(None)` when there is none yet, `Err` (in words) when the file cannot be
/// read or is not a cache.
pub fn load(path: &Path) -> std::result::Result<Option<Cached>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read the pin cache {}: {e}", path.display())),
    };
    let cached: Cached = serde_json::from_str(&text)
        .map_err(|e| format!("the pin cache {} is not a pin cache: {e}", path.display()))?;
    if cached.schema != SCHEMA {
        return Err(format!(
            "the pin cache {} has schema {}, this pin-proxy reads {SCHEMA}",
            path.display(),
            cached.schema
        ));
    }
    Ok(Some(cached))
}

/// Writes the cache atomically with mode 0600: readers see the old file or the new one, never
/// half of one.
pub fn store(path: &Path, cached: &Cached) -> Result<()> {
    let mut text = serde_json::to_string_pretty(cached)
        .map_err(|e| Error::runtime(format!("cannot encode the pin cache: {e}")))?;
    text.push('\n');
    crate::files::replace(path, text.as_bytes(), 0o600, "write the pin cache")
}

mod format_name {
    use super::Format;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(f: &Format, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(f.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        match String::deserialize(d)?.as_str() {
            "jws" => Ok(Format::Jws),
            "wultra" => Ok(Format::Wultra),
            other => Err(serde::de::Error::custom(format!(
                "unknown format {other:?} (jws or wultra)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_atomic_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        assert_eq!(load(&path), Ok(None));
        let cached = Cached {
            schema: SCHEMA,
            format: Format::Jws,
            document: "a.b.c".into(),
            url: "http://pins.test/pins".into(),
            fetched_at: 1,
            version: Some(3),
        };
        store(&path, &cached).unwrap();
        store(&path, &cached).unwrap();
        assert_eq!(load(&path), Ok(Some(cached)));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "{\"schema\": 1").unwrap();
        assert!(load(&path).unwrap_err().contains("is not a pin cache"));
    }
}
