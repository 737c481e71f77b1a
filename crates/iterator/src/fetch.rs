//! The door the validator uses to ask for DNSKEY and DS sets, so the
//! iterator never depends on the validator.

use std::future::Future;
use std::sync::Arc;

use anchorage_wire::proto::rr::{Name, RecordType};

use crate::answer::{Answer, Question};
use crate::error::ResolveError;
use crate::recursor::Recursor;

/// Fetches an RRset (with its RRSIGs and proofs) by name and type.
pub trait Fetch: Send + Sync {
    /// Resolves `name`/`rtype`.
    fn fetch(
        &self,
        name: Name,
        rtype: RecordType,
    ) -> impl Future<Output = Result<Arc<Answer>, ResolveError>> + Send;
}

impl Fetch for Recursor {
    fn fetch(
        &self,
        name: Name,
        rtype: RecordType,
    ) -> impl Future<Output = Result<Arc<Answer>, ResolveError>> + Send {
        self.resolve(Question::new(name, rtype))
    }
}
