//! Iterative resolution from the root (RFC 1034 §5.3.3), hardened against
//! a hostile internet.
//!
//! The decisions live in a sans-IO core: a [`walk::Walk`] answers one
//! question by returning [`walk::Action`]s ("send this question to that
//! server", "wait") and consuming [`walk::Exchange`]s (the reply, a
//! timeout...), several queries in flight at once when it looks up an NS
//! name's A and AAAA together. It reads no clock and opens no socket, so
//! tests drive it with recorded replies. What it learns about zone cuts
//! and servers goes into [`delegation::DelegationStore`] and
//! [`infra::ServerStore`], small traits that can move to the `cache`
//! crate later.
//!
//! The async shell is thin: [`transport::Transport`] sends over UDP or TCP
//! from a random port with a random ID and 0x20 case, and accepts only the
//! matching reply; [`recursor::Recursor`] drives walks, primes the root
//! (again when the root NS set expires), shares one walk among identical
//! questions in flight and one exchange among identical upstream queries
//! in flight, and lets a walk about to ask a server for a name already
//! being asked there wait for that reply, which may be the referral it
//! needs. Zones whose servers all failed are backed off (RFC 9520).
//!
//! # Limitations
//! Does not validate: it keeps RRSIGs, NSEC/NSEC3 and DS proofs with the
//! answer for the validator, which fetches keys through [`fetch::Fetch`].
//! Final answers are not cached here: the resolver's answer cache does
//! that. The RRsets of accepted replies are ([`rrsets::RrsetStore`]), so a
//! walk reaching a name another walk already resolved (a CNAME target, a
//! name under a DNAME, an NS name) does not ask again.

pub mod address;
pub mod answer;
pub mod config;
pub mod delegation;
pub mod error;
pub mod fetch;
pub mod hints;
pub mod infra;
pub mod recursor;
pub mod rrsets;
pub mod sanitize;
pub mod transport;
pub mod walk;

mod frame;

pub use answer::{Answer, CutProof, Question};
pub use config::{Config, Limits, QnameMinimisation};
pub use error::ResolveError;
pub use fetch::Fetch;
pub use hints::RootHints;
pub use recursor::Recursor;
pub use transport::Transport;
pub use walk::{Action, Exchange, Outgoing, QueryId, Walk};
