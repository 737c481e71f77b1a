//! Anchorage's signature-verification core: pure, synchronous, no I/O.
//!
//! Answers three questions for the validator: does this key sign this
//! RRset ([`Verifier::verify_rrset`], RFC 4035 §5.3), does this DS
//! designate this DNSKEY ([`match_ds`], RFC 4034 §5), and what is this
//! name's NSEC3 hash ([`nsec3_hash`], RFC 5155 §5). Keys are decoded once
//! ([`DnskeyVerifier`]); signed data is built in reusable buffers
//! ([`Scratch`]); successful checks are memoised in a bounded table, so the
//! same RRset under the same signature is never verified twice; bursts go
//! through [`Verifier::verify_batch`] on several threads.
//!
//! # Limitations
//! No trust decisions: whether a key is trusted, and what an
//! [`Unsupported`] result means (insecure, RFC 4035 §5.2), is the
//! validator's. The crypto backend is AWS-LC (the default `aws-lc`
//! feature), or ring 0.17 without it ([`backend`] says why and what differs).

pub mod algorithm;
mod backend;
pub mod batch;
pub mod ds;
pub mod error;
pub mod key;
pub mod memo;
pub mod nsec3;
pub mod rrsig;
pub mod signed;

pub use batch::Job;
pub use ds::{DsDigest, DsError, ds_digest, match_ds, match_ds_fields};
pub use error::{KeyError, Unsupported, VerifyError};
pub use key::{DnskeyVerifier, key_tag};
pub use nsec3::{Nsec3Error, Nsec3Hash, nsec3_hash, nsec3_hash_wire};
pub use rrsig::{Budget, KeyMatch, Limits, Scratch, Verified, Verifier};
