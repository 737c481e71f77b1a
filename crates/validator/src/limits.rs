//! The validator's bounds, each a named constant with its reason, gathered
//! into [`Limits`] built from configuration.

use std::time::Duration;

/// Highest NSEC3 iteration count we hash; above it the denial is insecure
/// with EDE 27 (RFC 9276 §3.2; 50 as BIND, Knot and PowerDNS use).
pub const DEFAULT_NSEC3_ITERATIONS: u16 = 50;
/// Signature checks (the crypto, memo hits free) one client query may
/// spend over its whole chain of trust (KeyTrap, CVE-2023-50387).
pub const DEFAULT_SIGNATURE_CHECKS_PER_QUERY: u32 = 32;
/// Signature checks spent on one RRset before it is bogus: the colliding
/// keys and signatures of a KeyTrap zone are tried at most this many
/// times (CVE-2023-50387).
pub const DEFAULT_KEYS_PER_RRSET: u32 = 8;
/// RRSIGs looked at for one RRset; more are ignored (CVE-2023-50387).
pub const DEFAULT_RRSIGS_PER_RRSET: usize = 8;
/// NSEC3 hashes one client query may compute (CVE-2023-50868).
pub const DEFAULT_NSEC3_HASHES_PER_QUERY: u32 = 64;
/// DS and DNSKEY fetches one client query may cause; a name has at most
/// 127 labels, and each zone cut costs two fetches.
pub const DEFAULT_FETCHES_PER_QUERY: u32 = 32;
/// Zones whose key state (trusted DNSKEYs, insecure, bogus) is kept.
pub const DEFAULT_KEY_CACHE_ZONES: usize = 10_000;
/// Seconds a bogus verdict is kept, so a broken zone is not re-validated
/// on every query (RFC 9520 §3.2: at least 1 s, at most 5 min).
pub const DEFAULT_BOGUS_TTL: u32 = 60;
/// Longest a key-cache entry is kept whatever its TTLs say (one day, as
/// Unbound's `cache-max-ttl`).
pub const MAX_KEY_TTL: u32 = 86_400;
/// Default lifetime of a negative trust anchor (RFC 7646 §2: hours to a
/// week; BIND's `nta-lifetime` default is one hour).
pub const DEFAULT_NTA_LIFETIME: Duration = Duration::from_hours(1);

/// The validator's tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// NSEC3 iterations above which a denial is insecure.
    pub nsec3_iterations: u16,
    /// Signature checks per client query.
    pub signature_checks: u32,
    /// Signature checks per RRset.
    pub keys_per_rrset: u32,
    /// RRSIGs looked at per RRset.
    pub rrsigs_per_rrset: usize,
    /// NSEC3 hashes per client query.
    pub nsec3_hashes: u32,
    /// DS and DNSKEY fetches per client query.
    pub fetches: u32,
    /// Zones in the key cache.
    pub key_cache_zones: usize,
    /// Seconds a bogus verdict is cached.
    pub bogus_ttl: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            nsec3_iterations: DEFAULT_NSEC3_ITERATIONS,
            signature_checks: DEFAULT_SIGNATURE_CHECKS_PER_QUERY,
            keys_per_rrset: DEFAULT_KEYS_PER_RRSET,
            rrsigs_per_rrset: DEFAULT_RRSIGS_PER_RRSET,
            nsec3_hashes: DEFAULT_NSEC3_HASHES_PER_QUERY,
            fetches: DEFAULT_FETCHES_PER_QUERY,
            key_cache_zones: DEFAULT_KEY_CACHE_ZONES,
            bogus_ttl: DEFAULT_BOGUS_TTL,
        }
    }
}
