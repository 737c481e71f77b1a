//! NSEC3 hashed owner names (RFC 5155 §5), without allocating.
//!
//! # Limitations
//! Only hash algorithm 1 (SHA-1) exists (RFC 5155 §11); others are refused.
//! The iteration cap is the caller's (RFC 9276 §3.2): above it the validator
//! treats the zone as insecure, so no hash is computed.

use anchorage_wire::name::MAX_NAME_LEN;
use anchorage_wire::proto::rr::Name;
use ring::digest;

/// NSEC3 hash algorithm SHA-1 (RFC 5155 §11).
pub const NSEC3_SHA1: u8 = 1;
/// Length of an NSEC3 SHA-1 hash.
pub const NSEC3_HASH_LEN: usize = 20;
/// Default iteration cap: RFC 9276 §3.2 asks validators to treat zones above
/// a limit as insecure; 150 matches Unbound and BIND since 2021.
pub const DEFAULT_NSEC3_ITERATIONS: u16 = 150;

/// Why an NSEC3 hash was not computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Nsec3Error {
    /// Hash algorithm other than SHA-1.
    #[error("NSEC3 hash algorithm {algorithm} is not implemented")]
    UnsupportedAlgorithm {
        /// The algorithm number.
        algorithm: u8,
    },
    /// More iterations than the caller allows (RFC 9276 §3.2).
    #[error("NSEC3 iterations {iterations} exceed the limit of {limit}")]
    TooManyIterations {
        /// Iterations asked for.
        iterations: u16,
        /// The caller's cap.
        limit: u16,
    },
}

/// An NSEC3 hashed owner name, binary.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nsec3Hash(pub [u8; NSEC3_HASH_LEN]);

impl core::fmt::Debug for Nsec3Hash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Hashes `name` as RFC 5155 §5 says: IH(salt, x, 0) = H(x || salt),
/// IH(salt, x, k) = H(IH(salt, x, k-1) || salt), x the canonical owner.
pub fn nsec3_hash(
    name: &Name,
    algorithm: u8,
    salt: &[u8],
    iterations: u16,
    max_iterations: u16,
) -> Result<Nsec3Hash, Nsec3Error> {
    // Invariant: a Name is at most 255 bytes, so the buffer never grows.
    let mut wire = [0u8; MAX_NAME_LEN];
    let len = canonical_into(name, &mut wire);
    nsec3_hash_wire(&wire[..len], algorithm, salt, iterations, max_iterations)
}

/// [`nsec3_hash`] of a name already in canonical (lower-case) wire form.
pub fn nsec3_hash_wire(
    canonical: &[u8],
    algorithm: u8,
    salt: &[u8],
    iterations: u16,
    max_iterations: u16,
) -> Result<Nsec3Hash, Nsec3Error> {
    if algorithm != NSEC3_SHA1 {
        return Err(Nsec3Error::UnsupportedAlgorithm { algorithm });
    }
    if iterations > max_iterations {
        return Err(Nsec3Error::TooManyIterations {
            iterations,
            limit: max_iterations,
        });
    }
    let sha1 = &digest::SHA1_FOR_LEGACY_USE_ONLY;
    let mut ctx = digest::Context::new(sha1);
    ctx.update(canonical);
    ctx.update(salt);
    let mut out = [0u8; NSEC3_HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    for _ in 0..iterations {
        let mut ctx = digest::Context::new(sha1);
        ctx.update(&out);
        ctx.update(salt);
        out.copy_from_slice(ctx.finish().as_ref());
    }
    Ok(Nsec3Hash(out))
}

/// Writes the canonical form of `name` into `out` without touching the heap.
fn canonical_into(name: &Name, out: &mut [u8; MAX_NAME_LEN]) -> usize {
    let mut len = 0;
    for label in name {
        out[len] = label.len() as u8;
        for (dst, src) in out[len + 1..=len + label.len()].iter_mut().zip(label) {
            *dst = src.to_ascii_lowercase();
        }
        len += 1 + label.len();
    }
    out[len] = 0;
    len + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterations_above_the_cap_are_refused_before_hashing() {
        let name = Name::from_ascii("example.").unwrap();
        assert_eq!(
            nsec3_hash(&name, NSEC3_SHA1, b"", 151, 150),
            Err(Nsec3Error::TooManyIterations {
                iterations: 151,
                limit: 150
            })
        );
        assert!(nsec3_hash(&name, NSEC3_SHA1, b"", 150, 150).is_ok());
    }

    #[test]
    fn unknown_hash_algorithm_is_refused() {
        let name = Name::from_ascii("example.").unwrap();
        assert_eq!(
            nsec3_hash(&name, 2, b"", 0, 150),
            Err(Nsec3Error::UnsupportedAlgorithm { algorithm: 2 })
        );
    }

    #[test]
    fn owner_case_does_not_change_the_hash() {
        let lower = Name::from_ascii("www.example.").unwrap();
        let upper = Name::from_ascii("WWW.Example.").unwrap();
        assert_eq!(
            nsec3_hash(&lower, 1, b"\xab", 3, 150),
            nsec3_hash(&upper, 1, b"\xab", 3, 150)
        );
    }
}
