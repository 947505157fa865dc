//! Files replaced atomically: a temporary file in the same directory, written, synced, given its
//! mode, then renamed over the old one. Readers see the old file or the new one, never half of
//! one. Used for every file pin-proxy rewrites in place: the pin cache, the learn file, a
//! reproduced suite.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Replaces `path` with `bytes`, mode `mode` (Unix); `action` names the step in an error
/// ("write the pin cache").
pub(crate) fn replace(path: &Path, bytes: &[u8], mode: u32, action: &'static str) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".pin-proxy-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::file(path, action, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::file(path, action, e))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::file(path, action, e))?;
    tmp.persist(path)
        .map_err(|e| Error::file(path, action, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_with_the_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.toml");
        std::fs::write(&path, "old").unwrap();
        replace(&path, b"new", 0o600, "write the state").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let err = replace(
            &dir.path().join("no/such/dir/x"),
            b"x",
            0o644,
            "write the state",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("write the state"), "{err}");
    }
}
