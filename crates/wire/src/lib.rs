//! The DNS wire for Anchorage: the workspace's only door to hickory-proto.
//!
//! Re-exports the hickory-proto types the other crates use (as [`proto`]),
//! and adds what a validating resolver needs on its hot paths without
//! allocating: an allocation-free view of stub queries ([`query`]), names
//! read into fixed buffers ([`name`]), reply building with EDNS, Extended
//! DNS Errors and truncation ([`response`]), and the DNSSEC canonical form
//! and signed data ([`canonical`]).

pub use hickory_proto as proto;

pub mod canonical;
pub mod fuzzing;
pub mod name;
pub mod query;
pub mod response;
pub mod text;

pub use canonical::{CanonicalError, SignedData, signed_data};
pub use name::{NameError, WireName};
pub use query::{Disposition, Edns, QueryError, QueryView};
pub use response::{Ede, EdeCode, ReplyOpt, Truncation};
