//! The one error type of the CLI and the exit-code table it maps to.
//!
//! Every fallible operation in pin-proxy ends in an [`Error`]; `main` prints it as one line and
//! exits with [`Error::exit_code`]. The codes are documented constants in [`exit`] and in the
//! README's table: CI scripts depend on them, so they never change meaning.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Exit codes shared by every subcommand (the README has the same table).
pub mod exit {
    /// Everything went as expected.
    pub const OK: i32 = 0;
    /// An expectation failed: a scenario case, a gate, a check.
    pub const EXPECTATION_FAILED: i32 = 1;
    /// Usage error or invalid input (a flag, a file's content).
    pub const INVALID_INPUT: i32 = 2;
    /// A snapshot differs from the checked-in one.
    pub const SNAPSHOT_DRIFT: i32 = 3;
    /// A runtime error: I/O, a port in use, a client command that cannot start.
    pub const RUNTIME: i32 = 4;
    /// First code of the range reserved for the reference client's outcomes (10 and up).
    pub const REFERENCE_CLIENT_BASE: i32 = 10;
    /// `client`: the verified path has none of the host's pins.
    pub const PIN_MISMATCH: i32 = 10;
    /// `client`: trust evaluation refused the chain (including a wrong host name).
    pub const TRUST_FAILURE: i32 = 11;
    /// `client`: pinning is configured but not for this host, and it fails closed.
    pub const NO_PINS: i32 = 12;
    /// `client`: the pin configuration was rejected and no usable cache was left.
    pub const PIN_CONFIG_REJECTED: i32 = 13;
    /// `client`: connecting, the proxy, the TLS handshake or the request failed, or it timed out.
    pub const NETWORK: i32 = 14;
}

/// What went wrong, with enough context to act on it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The user gave something that cannot work: a bad flag value, a malformed file.
    /// `source` names where it came from (a flag, or `file:line`).
    Input {
        /// Where the bad input came from, e.g. `--profile` or `rules.toml:3`.
        source: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file could not be read or written.
    File {
        /// The file in question.
        path: PathBuf,
        /// What we were doing with it, e.g. "read the CA certificate".
        action: &'static str,
        /// The underlying error.
        error: io::Error,
    },
    /// Anything else that failed at run time (a socket, a TLS setup, a spawned process).
    Runtime {
        /// What failed, in words a user can act on.
        message: String,
    },
}

impl Error {
    /// An invalid-input error.
    pub fn input(source: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Input {
            source: source.into(),
            message: message.into(),
        }
    }

    /// A file error.
    pub fn file(path: &Path, action: &'static str, error: io::Error) -> Self {
        Self::File {
            path: path.to_path_buf(),
            action,
            error,
        }
    }

    /// A runtime error.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self::Runtime {
            message: message.into(),
        }
    }

    /// The process exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Input { .. } => exit::INVALID_INPUT,
            // A file the user pointed us at that does not exist, or is not text where text is
            // expected, is their input being wrong.
            Self::File { error, .. }
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::InvalidData
                ) =>
            {
                exit::INVALID_INPUT
            }
            Self::File { .. } | Self::Runtime { .. } => exit::RUNTIME,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input { source, message } => write!(f, "{source}: {message}"),
            Self::File {
                path,
                action,
                error,
            } => write!(f, "cannot {action} {}: {error}", path.display()),
            Self::Runtime { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::File { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
