//! Protocol bounds and configurable limits of the caches.

/// Largest TTL a record may carry; values with the top bit set count as
/// zero (RFC 2181 §8).
pub const MAX_TTL: u32 = 0x7FFF_FFFF;
/// TTL written into a stale answer (RFC 8767 §4 recommends 30 seconds).
pub const STALE_TTL: u32 = 30;
/// Longest DNS message, bounded by TCP's two-byte length (RFC 1035 §4.2.2).
pub const MAX_MESSAGE_LEN: usize = 65_535;
/// Longest time bogus data is kept, so a fixed zone recovers quickly
/// (RFC 9520 §3: cache failures for at least 1 s, at most 5 minutes).
pub const MAX_BOGUS_TTL: u32 = 300;

/// Default total byte budget of the answer cache.
pub const DEFAULT_ANSWER_BYTES: usize = 512 * 1024 * 1024;
/// Default byte budget of each of the other caches.
pub const DEFAULT_RECORD_BYTES: usize = 64 * 1024 * 1024;
/// Default number of shards per cache: a batched lookup holds up to 16
/// shard locks at once, so with 64 two threads met on a lock in most
/// batches; 256 keeps each shard's share of the default cache in megabytes.
pub const DEFAULT_SHARDS: usize = 256;
/// Default floor on cached TTLs, 0 = none (Unbound's `cache-min-ttl`).
pub const DEFAULT_MIN_TTL: u32 = 0;
/// Default ceiling on cached TTLs: one day, as Unbound's `cache-max-ttl`.
pub const DEFAULT_MAX_TTL: u32 = 86_400;
/// Default ceiling on negative TTLs (RFC 2308 §5 suggests 1 to 3 hours).
pub const DEFAULT_MAX_NEGATIVE_TTL: u32 = 3_600;
/// Default time expired answers are kept for serve-stale (RFC 8767 §5
/// suggests a maximum stale timer of 1 to 3 days).
pub const DEFAULT_MAX_STALE: u32 = 86_400;
/// Default time bogus data and "bogus until" key states are kept
/// (RFC 9520 §3, capped by [`MAX_BOGUS_TTL`]).
pub const DEFAULT_BOGUS_TTL: u32 = 60;

/// The tunable limits of the caches, built from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Total bytes the answer cache may hold (`cache-size`).
    pub answer_bytes: usize,
    /// Bytes each record cache (RRsets, negative, keys, NSEC) may hold.
    pub record_bytes: usize,
    /// Shards per cache.
    pub shards: usize,
    /// Smallest TTL a positive answer is kept for.
    pub min_ttl: u32,
    /// Largest TTL any entry is kept for.
    pub max_ttl: u32,
    /// Largest TTL a negative answer is kept for.
    pub max_negative_ttl: u32,
    /// How long past expiry an answer may still be served stale.
    pub max_stale: u32,
    /// How long bogus data is kept.
    pub bogus_ttl: u32,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            answer_bytes: DEFAULT_ANSWER_BYTES,
            record_bytes: DEFAULT_RECORD_BYTES,
            shards: DEFAULT_SHARDS,
            min_ttl: DEFAULT_MIN_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            max_negative_ttl: DEFAULT_MAX_NEGATIVE_TTL,
            max_stale: DEFAULT_MAX_STALE,
            bogus_ttl: DEFAULT_BOGUS_TTL,
        }
    }
}

/// Why a size setting such as `"512MiB"` was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// No digits before the unit.
    #[error("size {text:?} does not start with a number")]
    NoNumber {
        /// The setting as given.
        text: String,
    },
    /// A unit other than B, KiB, MiB, GiB (or k, m, g).
    #[error("size {text:?} has unknown unit {unit:?}")]
    Unit {
        /// The setting as given.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// The value does not fit in memory addresses.
    #[error("size {text:?} is too large")]
    Overflow {
        /// The setting as given.
        text: String,
    },
}

/// Parses a byte size such as `512MiB`, `64m` or `1048576`.
pub fn parse_size(text: &str) -> Result<usize, SizeError> {
    let trimmed = text.trim();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = trimmed.split_at(digits);
    let number: usize = number.parse().map_err(|_| SizeError::NoNumber {
        text: text.to_owned(),
    })?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => {
            return Err(SizeError::Unit {
                text: text.to_owned(),
                unit: other.to_owned(),
            });
        }
    };
    number
        .checked_mul(1usize << shift)
        .ok_or_else(|| SizeError::Overflow {
            text: text.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size(" 2 GiB "), Ok(2 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(matches!(parse_size("MiB"), Err(SizeError::NoNumber { .. })));
        assert!(matches!(
            parse_size("5 parsecs"),
            Err(SizeError::Unit { .. })
        ));
        assert!(matches!(
            parse_size("99999999999999999999g"),
            Err(SizeError::NoNumber { .. } | SizeError::Overflow { .. })
        ));
    }
}
