//! DNSSEC validation for Anchorage: an answer is secure only when an
//! unbroken chain of signatures leads from a trust anchor to it.
//!
//! [`Validator::validate`] takes an iterator [`Answer`](anchorage_iterator::Answer),
//! fetches the DS and DNSKEY sets it needs through
//! [`Fetch`](anchorage_iterator::Fetch), and returns a [`Validated`]: the
//! status (secure, insecure, bogus, indeterminate) with its reason, the
//! reply it gets (SERVFAIL and an EDE when bogus, AD only when secure), the
//! TTL cap from the signatures, and the validated NSEC/NSEC3 ranges for
//! aggressive negative caching (RFC 8198).
//!
//! Signatures are checked by `anchorage-verify` against the injected clock;
//! trust anchors are a read-only [`TrustAnchors`] snapshot; what is learned
//! per zone goes to a [`KeyStore`]; negative trust anchors
//! ([`NegativeTrustAnchors`], RFC 7646) make their domains insecure; every
//! query spends from a [`QueryBudget`] of signature checks, NSEC3 hashes and
//! fetches (KeyTrap, CVE-2023-50387; CVE-2023-50868). [`Validator::stats`]
//! reads the cumulative counters ([`ValidatorStats`]) for exporters.
//!
//! # Limitations
//! Does not decide what to do with CD=1 (the pipeline skips validation),
//! does not store the aggressive-negative ranges (the cache does), and
//! awaits fetches itself instead of returning them as actions.

#![forbid(unsafe_code)]
// `Bogus` carries names and causes (up to ~200 bytes); it is the cold
// path, built at most a few times per query, so it is returned by value
// rather than boxed on every failure.
#![allow(clippy::result_large_err)]

pub mod anchors;
pub mod budget;
pub mod denial;
mod gate;
pub mod key_cache;
pub mod limits;
pub mod nta;
pub mod rrset;
pub mod status;
pub mod validator;

mod chain;

pub use anchors::{AnchorError, TrustAnchors, ZoneAnchors};
pub use budget::{BudgetKind, QueryBudget};
pub use denial::{DenialError, Proven};
pub use key_cache::{KeyCache, KeyStore, TrustedKeys, ZoneState};
pub use limits::Limits;
pub use nta::{NegativeTrustAnchor, NegativeTrustAnchors};
pub use status::{Bogus, Insecure, Security, Status};
pub use validator::{ProvenRange, Validated, Validator, ValidatorStats};
