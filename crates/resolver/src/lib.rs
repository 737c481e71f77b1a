//! The resolution pipeline: a stub query in, a complete reply out.
//!
//! query → answer-cache hit (no allocation, no wait) → else the iterator
//! resolves from the root → the validator judges the answer (secure: AD;
//! bogus: SERVFAIL + EDE; CD=1: unvalidated) → reply built, its TTLs capped
//! by the validator (signature lifetimes, negative trust anchors) → stored in the
//! answer cache. RD=0
//! queries are answered from the cache only; ANY gets the RFC 8482 reply;
//! upstream failure serves a stale answer where one is kept (RFC 8767).
//! RFC 8509 root-key-sentinel names get SERVFAIL when the key tag's trust
//! disagrees with the label.
//!
//! # Limitations
//! Bogus answers are not cached here (the validator holds the bogus zone
//! state briefly, RFC 9520).

mod pipeline;
mod reply;
mod sentinel;

use core::future::Future;

use anchorage_wire::QueryView;

pub use pipeline::{Pipeline, PipelineConfig};
pub use reply::build_reply;

/// What the network front-end asks of the resolver.
pub trait Resolve: Send + Sync + 'static {
    /// Writes a complete reply to `query` into `reply` if it can be given
    /// without waiting (a cache hit, a local answer); returns false otherwise.
    fn answer_now(&self, query: &QueryView, reply: &mut Vec<u8>) -> bool;

    /// [`answer_now`](Self::answer_now) for a batch: `answered[i]` says
    /// whether `replies[i]` now holds the reply to `queries[i]` (else it is
    /// untouched). Works on the first `min` of the three lengths. The
    /// default asks one query at a time.
    fn answer_many_now(
        &self,
        queries: &[QueryView],
        replies: &mut [Vec<u8>],
        answered: &mut [bool],
    ) {
        for ((query, reply), answered) in queries.iter().zip(replies).zip(answered) {
            *answered = self.answer_now(query, reply);
        }
    }

    /// Resolves `query` and returns the complete reply message.
    fn resolve(&self, query: QueryView) -> impl Future<Output = Vec<u8>> + Send;
}
