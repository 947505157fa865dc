//! `--keylog FILE`: TLS secrets in the SSLKEYLOGFILE format, so a capture opens in Wireshark.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Appends `LABEL CLIENT_RANDOM SECRET` lines (hex) to a file.
#[derive(Debug)]
pub(crate) struct KeyLogFile(Mutex<File>);

impl KeyLogFile {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let mut opts = std::fs::OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let file = opts
            .open(path)
            .map_err(|e| Error::file(path, "open the key log", e))?;
        #[cfg(unix)]
        {
            // `mode` applies to new files only: tighten an existing one too.
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::file(path, "protect the key log", e))?;
        }
        Ok(Self(Mutex::new(file)))
    }
}

impl rustls::KeyLog for KeyLogFile {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
        let mut file = crate::lock(&self.0);
        // A failed key-log write must not break the connection; the file is a debugging aid.
        let _ = file.write_all(line.as_bytes());
    }

    fn will_log(&self, _label: &str) -> bool {
        true
    }
}
