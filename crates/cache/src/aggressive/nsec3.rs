//! NSEC3 ranges and the denials they prove (RFC 5155 §8.4–8.7, RFC 8198
//! §5.2): hashed owner to next hashed owner, per chain parameters.
//!
//! Opt-out ranges may hide unsigned delegations, so they never prove a
//! name absent (RFC 5155 §6, RFC 8198 §5.2); a match is still a match.

use std::mem::size_of;
use std::sync::Arc;

use anchorage_verify::nsec3::{DEFAULT_NSEC3_ITERATIONS, nsec3_hash};
use anchorage_wire::proto::dnssec::rdata::NSEC3;
use anchorage_wire::proto::rr::{Name, Record, RecordType};
use data_encoding::BASE32HEX_NOPAD;

use super::store::SlotKey;
use super::{AggressiveError, Found, MAX_NSEC3_HASHES_PER_LOOKUP, Nsec3Ranges, Proof, TypeList};
use crate::Timestamp;
use crate::negative::Denial;

pub use anchorage_verify::nsec3::NSEC3_HASH_LEN;

/// An NSEC3 hashed owner name (RFC 5155 §3.1.7), binary.
pub type HashedName = [u8; NSEC3_HASH_LEN];

/// The parameters that name one NSEC3 chain of a zone (RFC 5155 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nsec3Params {
    /// Hash algorithm number.
    pub algorithm: u8,
    /// Extra hash iterations.
    pub iterations: u16,
    /// Salt.
    pub salt: Box<[u8]>,
}

impl Nsec3Params {
    /// Heap bytes the salt owns.
    pub(crate) fn heap_bytes(&self) -> usize {
        crate::memory::block_bytes(self.salt.len())
    }
}

/// Hashes names for NSEC3 lookups; the resolver's validator decides which
/// algorithms and iteration counts it accepts.
pub trait Nsec3Hasher {
    /// The hash of `name` under `params`, `None` if it is refused
    /// (unknown algorithm, too many iterations: RFC 9276 §3.2).
    fn hash(&self, name: &Name, params: &Nsec3Params) -> Option<HashedName>;
}

impl<F: Fn(&Name, &Nsec3Params) -> Option<HashedName>> Nsec3Hasher for F {
    fn hash(&self, name: &Name, params: &Nsec3Params) -> Option<HashedName> {
        self(name, params)
    }
}

/// [`Nsec3Hasher`] with `anchorage-verify`'s SHA-1 and an iteration cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyHasher {
    /// Highest iteration count hashed (RFC 9276 §3.2).
    pub max_iterations: u16,
}

impl Default for VerifyHasher {
    fn default() -> Self {
        Self {
            max_iterations: DEFAULT_NSEC3_ITERATIONS,
        }
    }
}

impl Nsec3Hasher for VerifyHasher {
    fn hash(&self, name: &Name, params: &Nsec3Params) -> Option<HashedName> {
        nsec3_hash(
            name,
            params.algorithm,
            &params.salt,
            params.iterations,
            self.max_iterations,
        )
        .ok()
        .map(|h| h.0)
    }
}

/// A validated NSEC3: hashed owner to next hashed owner.
pub(crate) struct Nsec3Range {
    pub(crate) owner: HashedName,
    next: HashedName,
    types: TypeList,
    opt_out: bool,
    pub(crate) proof: Proof,
    pub(crate) expires: Timestamp,
    pub(crate) tick: u64,
}

impl Nsec3Range {
    /// Heap bytes the range owns, its box included.
    pub(crate) fn heap_bytes(&self) -> usize {
        crate::memory::block_bytes(size_of::<Self>())
            + self.types.heap_bytes()
            + self.proof.heap_bytes()
    }

    /// Whether the range covers `hash`, the last range of the chain
    /// wrapping round to the first (RFC 5155 §3.1.7).
    fn covers(&self, hash: &HashedName) -> bool {
        if self.owner < self.next {
            self.owner < *hash && *hash < self.next
        } else {
            self.owner < *hash || *hash < self.next
        }
    }
}

/// Checks an NSEC3 of `zone` and builds its chain key and range.
pub(crate) fn parse(
    zone: &Name,
    record: &Record,
    nsec3: &NSEC3,
    proof: Proof,
    expires: Timestamp,
) -> Result<(Nsec3Params, Nsec3Range), AggressiveError> {
    let owner = owner_hash(&record.name, zone).ok_or_else(|| AggressiveError::Nsec3Owner {
        owner: Box::new(record.name.clone()),
    })?;
    let next_bytes = nsec3.next_hashed_owner_name();
    let next: HashedName = next_bytes
        .try_into()
        .map_err(|_| AggressiveError::HashLength {
            len: next_bytes.len(),
        })?;
    let params = Nsec3Params {
        algorithm: u8::from(nsec3.hash_algorithm()),
        iterations: nsec3.iterations(),
        salt: nsec3.salt().into(),
    };
    let range = Nsec3Range {
        owner,
        next,
        types: TypeList::new(nsec3.type_bit_maps()),
        opt_out: nsec3.opt_out(),
        proof,
        expires,
        tick: 0,
    };
    Ok((params, range))
}

/// The hash in the first label of an NSEC3 owned directly below `zone`.
fn owner_hash(owner: &Name, zone: &Name) -> Option<HashedName> {
    if owner.num_labels() != zone.num_labels() + 1 || !zone.zone_of(owner) {
        return None;
    }
    let label = owner.iter().next()?.to_ascii_uppercase();
    BASE32HEX_NOPAD.decode(&label).ok()?.try_into().ok()
}

/// One chain's view of a lookup: its ranges, the hasher and the hash budget.
struct Chain<'a> {
    params: &'a Arc<Nsec3Params>,
    ranges: &'a Nsec3Ranges,
    hasher: &'a dyn Nsec3Hasher,
    hashes_left: usize,
    now: Timestamp,
    expired: &'a mut Vec<SlotKey>,
}

impl<'a> Chain<'a> {
    fn hash(&mut self, name: &Name) -> Option<HashedName> {
        self.hashes_left = self.hashes_left.checked_sub(1)?;
        self.hasher.hash(name, self.params)
    }

    fn fresh(&mut self, range: Option<&'a Nsec3Range>) -> Option<&'a Nsec3Range> {
        let range = range?;
        if range.expires > self.now {
            return Some(range);
        }
        self.expired
            .push(SlotKey::Nsec3(Arc::clone(self.params), range.owner));
        None
    }

    fn matching(&mut self, hash: &HashedName) -> Option<&'a Nsec3Range> {
        let range = self.ranges.get(hash).map(Box::as_ref);
        self.fresh(range)
    }

    /// The fresh range covering `hash` that may prove absence: not opt-out.
    fn denying(&mut self, hash: &HashedName) -> Option<&'a Nsec3Range> {
        let before = self
            .ranges
            .range(..*hash)
            .next_back()
            .or_else(|| self.ranges.last_key_value())
            .map(|(_, r)| r.as_ref());
        self.fresh(before).filter(|r| r.covers(hash) && !r.opt_out)
    }

    fn key(&self, range: &Nsec3Range) -> SlotKey {
        SlotKey::Nsec3(Arc::clone(self.params), range.owner)
    }
}

/// What one NSEC3 chain of `zone` proves about `qname`/`qtype`, if anything.
#[allow(clippy::too_many_arguments)] // the chain, the question, the clock and the hasher
pub(crate) fn find(
    zone: &Name,
    params: &Arc<Nsec3Params>,
    ranges: &Nsec3Ranges,
    qname: &Name,
    qtype: RecordType,
    hasher: &dyn Nsec3Hasher,
    now: Timestamp,
    expired: &mut Vec<SlotKey>,
) -> Option<Found> {
    if ranges.is_empty() {
        return None;
    }
    let mut chain = Chain {
        params,
        ranges,
        hasher,
        hashes_left: MAX_NSEC3_HASHES_PER_LOOKUP,
        now,
        expired,
    };
    let qhash = chain.hash(qname)?;
    if let Some(range) = chain.matching(&qhash) {
        // RFC 5155 §8.5 (and §8.6 for DS at a delegation).
        return range
            .types
            .proves_nodata(qtype)
            .then(|| Found::new(Denial::NoData, [chain.key(range)]));
    }
    // Closest encloser proof (RFC 5155 §8.3): the deepest ancestor that
    // matches, and a cover for the name one label below it.
    let mut next_closer = (qname.clone(), qhash);
    let (encloser, encloser_range) = loop {
        if next_closer.0.num_labels() <= zone.num_labels() {
            return None;
        }
        let candidate = next_closer.0.base_name();
        let hash = chain.hash(&candidate)?;
        if let Some(range) = chain.matching(&hash) {
            break (candidate, range);
        }
        next_closer = (candidate, hash);
    };
    // A cut or DNAME at the encloser: the name is another zone's.
    if encloser_range.types.is_cut() {
        return None;
    }
    let next_cover = chain.denying(&next_closer.1)?;
    let wildcard = super::nsec::wildcard_of(&encloser)?;
    let wild_hash = chain.hash(&wildcard)?;
    let used = [chain.key(encloser_range), chain.key(next_cover)];
    if let Some(wild) = chain.matching(&wild_hash) {
        // RFC 5155 §8.7: the wildcard exists but lacks the type.
        let [a, b] = used;
        return wild
            .types
            .proves_nodata(qtype)
            .then(|| Found::new(Denial::NoData, [a, b, chain.key(wild)]));
    }
    let wild_cover = chain.denying(&wild_hash)?;
    let [a, b] = used;
    Some(Found::new(Denial::NxDomain, [a, b, chain.key(wild_cover)]))
}
