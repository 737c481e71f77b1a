//! A DNSSEC-signed DNS hierarchy served on loopback, with defects on demand.
//!
//! Builds a root, TLDs and many second-level zones from a seed
//! ([`hierarchy`]), signs them on ring ([`signer`], [`denial`]), exports
//! them as master files with root hints, trust anchor and a manifest
//! ([`output`]), and serves them from authoritative servers on
//! 127.0.0.0/8 ([`server`]), so resolvers can be tested with no internet.
//! Replies are answered once ([`answer`]), kept in wire form per zone
//! ([`authority`], [`reply`]) and copied per query. [`cold`] is the
//! shared setup of the cold-cache examples of other crates.

pub mod answer;
pub mod authority;
pub mod cold;
pub mod content;
pub mod defects;
pub mod denial;
pub mod hierarchy;
pub mod keys;
pub mod manifest;
pub mod output;
pub mod reply;
pub mod server;
pub mod signer;
pub mod testbed;
pub mod zone;

pub use hierarchy::{AddressPlan, Hierarchy, HierarchyConfig, build};
pub use signer::Validity;
pub use testbed::{RolloverStep, Testbed};
