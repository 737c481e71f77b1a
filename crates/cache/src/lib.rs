//! The caches of Anchorage: bounded, sharded, with a wire-speed hit path.
//!
//! - [`AnswerCache`]: whole replies in wire form; a hit is a copy and a few
//!   patched fields, no parsing and no allocation ([`answer`]).
//! - [`RrsetCache`]: RRsets with RRSIGs, trust rank (RFC 2181 §5.4.1) and
//!   security status, for the iterator and validator ([`rrset`]).
//! - [`NegativeCache`]: NXDOMAIN and NODATA with SOA and proofs, RFC 2308
//!   TTLs ([`negative`]).
//! - [`AggressiveCache`]: validated NSEC/NSEC3 ranges per zone, answering
//!   NXDOMAIN and NODATA for names never asked (RFC 8198, [`aggressive`]).
//! - memory accounting and the sharded LRU under the record caches
//!   ([`memory`]).
//!
//! Nothing here reads a clock: every call that depends on time takes `now`
//! as a [`Timestamp`].

pub mod aggressive;
pub mod answer;
pub mod limits;
pub mod memory;
pub mod negative;
pub mod rrset;
pub mod stats;

pub use aggressive::{
    AggressiveAnswer, AggressiveCache, AggressiveError, Nsec3Hasher, VerifyHasher,
};
pub use answer::{AnswerCache, InsertError, LOOKUP_BATCH, Lookup, StalePolicy};
pub use limits::{CacheLimits, parse_size};
pub use negative::{Denial, NegativeAnswer, NegativeCache, NegativeError};
pub use rrset::{CachedRrset, Rank, RrsetCache, RrsetError, RrsetInsert};
pub use stats::CacheStats;

/// A point in time, in whole seconds on the caller's monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// This time plus `secs` seconds.
    #[must_use]
    pub fn plus(self, secs: u32) -> Self {
        Self(self.0.saturating_add(u64::from(secs)))
    }

    /// Seconds from `earlier` to this time, zero if `earlier` is later.
    pub fn since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// What DNSSEC validation concluded about cached data (RFC 4035 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    /// Not validated yet.
    Unchecked,
    /// Validated from a trust anchor.
    Secure,
    /// Provably unsigned.
    Insecure,
    /// Validation failed; kept only briefly (RFC 9520 §3).
    Bogus,
    /// Validation could not decide.
    Indeterminate,
}
