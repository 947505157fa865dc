//! Consumers of what pin-proxy produces. For the proxy: the JSON Lines events file, the live
//! terminal line per connection and the per-host summary, each a [`RecordSink`] the CLI plugs in.

pub mod live;

use crate::error::Result;
use crate::record::ConnectionRecord;

/// Something that takes connection records as they are written.
pub trait RecordSink: Send {
    /// One connection's record.
    fn record(&mut self, record: &ConnectionRecord) -> Result<()>;
    /// The proxy stopped; flush or print what is left.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
