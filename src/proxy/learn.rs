//! Learn mode's shell (`--learn`, `--learn-file`): the [`Learner`] every serving thread shares,
//! fed each connection's record before it goes out, and the learn file rewritten atomically as
//! hosts are learned.
//!
//! What counts and what wins is the pure `rules::learn`; this module only holds the lock and
//! writes the file.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::record::ConnectionRecord;
use crate::rules::learn::{LearnedHost, Learner};
use crate::rules::Rules;

/// Learn mode's settings in [`super::ProxyConfig`].
#[derive(Clone, Debug)]
pub struct LearnConfig {
    /// Cancels after which a host is passed through (`--learn=N`, at least 1).
    pub threshold: u64,
    /// The learn file, rewritten (temporary file, rename) whenever a host is learned.
    pub file: Option<PathBuf>,
    /// The hosts read from the learn file at start.
    pub known: Vec<LearnedHost>,
}

/// The shared learner.
#[derive(Debug)]
pub(crate) struct LearnState {
    learner: Mutex<Learner>,
    file: Option<PathBuf>,
}

impl LearnState {
    pub(crate) fn new(config: &LearnConfig, rules: &Rules) -> Self {
        Self {
            learner: Mutex::new(Learner::new(
                config.threshold,
                rules.clone(),
                config.known.clone(),
            )),
            file: config.file.clone(),
        }
    }

    /// The reason a learned host's tunnel is relayed, if `host` is learned and no explicit rule
    /// matches it.
    pub(crate) fn passthrough_reason(&self, host: &str) -> Option<String> {
        crate::lock(&self.learner)
            .passthrough_for(host)
            .map(LearnedHost::reason)
    }

    /// Counts a finished connection; true when its cancel taught the learner its host (the file
    /// has then been rewritten, or the failure said on stderr: the proxy goes on either way).
    pub(crate) fn observe(&self, record: &ConnectionRecord) -> bool {
        let mut learner = crate::lock(&self.learner);
        if learner.observe(record).is_none() {
            return false;
        }
        if let Some(path) = &self.file {
            // Under the lock, so two hosts learned at once cannot write out of order.
            if let Err(e) = crate::files::replace(
                path,
                learner.file_text().as_bytes(),
                0o644,
                "write the learn file",
            ) {
                eprintln!("pin-proxy: warning: {e}");
            }
        }
        true
    }
}
