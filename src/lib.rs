//! pin-proxy: an intercepting HTTPS proxy that tells, per connection and with evidence, whether
//! a client's certificate pinning works.
//!
//! The crate is a pure core with a thin I/O shell around it:
//! - [`record`]: the connection record and verdict vocabulary every layer shares;
//! - [`verdict`]: sans-IO classification of what happened on a connection;
//! - [`rules`]: host patterns to actions; [`pins`]: SPKI pins;
//! - [`pin_config`]: signed pin configs (JWS and Wultra), their keys and the rollback rule;
//! - [`ca`]: the local CA and the leaves it signs (files, no sockets);
//! - [`dn`]: distinguished names as RFC 4514 strings, for the subjects a test chain is given;
//! - [`proxy`]: the tokio/rustls/hyper shell that accepts connections and feeds the core;
//! - [`cli`]: argument parsing and dispatch, above everything.
//!
//! It does not resolve names for mapped test hosts, does not keep traffic bodies, and does not
//! ship a CA: each install generates its own.

pub mod access;
pub mod ca;
pub mod case_record;
pub mod cli;
pub mod client;
pub mod device;
pub mod dn;
pub mod duration;
pub mod error;
mod files;
pub mod logs;
pub mod origin;
pub mod pin_config;
pub mod pins;
pub mod proxy;
pub mod record;
pub mod report;
pub mod rules;
pub mod scenario;
mod tls;
pub mod trust;
pub mod verdict;

/// Locks a mutex, taking the data even if a panicking thread poisoned it: every mutex in this
/// crate guards data that a single assignment or push keeps consistent.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
