//! What the validator knows per zone: its trusted DNSKEYs, or that it is
//! insecure, or bogus, each until a TTL runs out on the injected clock.
//!
//! Behind the small [`KeyStore`] trait so the store can move to the
//! `cache` crate; [`KeyCache`] is a bounded LRU in memory.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use anchorage_verify::DnskeyVerifier;
use anchorage_wire::proto::rr::Name;
use lru::LruCache;

use crate::limits::MAX_KEY_TTL;
use crate::status::{Bogus, Insecure};

/// A zone's DNSKEY RRset, validated from a trust anchor, decoded once.
#[derive(Debug)]
pub struct TrustedKeys {
    /// The zone (lower case).
    pub zone: Name,
    /// Every DNSKEY of the validated RRset.
    pub keys: Vec<DnskeyVerifier>,
}

/// What validation established about a zone.
#[derive(Debug, Clone)]
pub enum ZoneState {
    /// Its DNSKEYs are trusted.
    Secure(Arc<TrustedKeys>),
    /// It is provably insecure, and so is everything below it.
    Insecure(Insecure),
    /// Its chain of trust is broken.
    Bogus(Bogus),
}

/// Where zone states are kept between queries.
pub trait KeyStore: Send + Sync {
    /// The state of exactly `zone`, if known and not expired at `now`.
    fn get(&self, zone: &Name, now: SystemTime) -> Option<ZoneState>;
    /// Records `state` for `zone` for `ttl` seconds from `now`.
    fn put(&self, zone: &Name, state: ZoneState, ttl: u32, now: SystemTime);
    /// Forgets everything (after the trust anchors change).
    fn clear(&self);
}

/// A bounded in-memory [`KeyStore`], least recently used out first.
#[derive(Debug)]
pub struct KeyCache {
    entries: Mutex<LruCache<Name, (ZoneState, SystemTime)>>,
}

impl KeyCache {
    /// A cache of at most `zones` zones (at least one).
    pub fn new(zones: usize) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(zones).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    /// Zones held, expired ones included until they are looked up.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Name, (ZoneState, SystemTime)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KeyStore for KeyCache {
    fn get(&self, zone: &Name, now: SystemTime) -> Option<ZoneState> {
        let key = zone.to_lowercase();
        let mut entries = self.lock();
        match entries.get(&key) {
            Some((state, until)) if now < *until => Some(state.clone()),
            Some(_) => {
                entries.pop(&key);
                None
            }
            None => None,
        }
    }

    fn put(&self, zone: &Name, state: ZoneState, ttl: u32, now: SystemTime) {
        if ttl == 0 {
            return;
        }
        let until = now + Duration::from_secs(u64::from(ttl.min(MAX_KEY_TTL)));
        self.lock().put(zone.to_lowercase(), (state, until));
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insecure(zone: &str) -> ZoneState {
        ZoneState::Insecure(Insecure::NoDs {
            zone: Name::from_ascii(zone).unwrap(),
        })
    }

    #[test]
    fn entries_expire_on_the_injected_clock() {
        let cache = KeyCache::new(4);
        let zone = Name::from_ascii("Example.").unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        cache.put(&zone, insecure("example."), 60, t0);
        assert!(
            cache
                .get(
                    &Name::from_ascii("example.").unwrap(),
                    t0 + Duration::from_secs(59)
                )
                .is_some()
        );
        assert!(cache.get(&zone, t0 + Duration::from_mins(1)).is_none());
        assert!(cache.is_empty(), "an expired entry is dropped when seen");
    }

    #[test]
    fn the_cache_holds_at_most_its_bound() {
        let cache = KeyCache::new(2);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for zone in ["a.", "b.", "c."] {
            cache.put(&Name::from_ascii(zone).unwrap(), insecure(zone), 60, t0);
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&Name::from_ascii("a.").unwrap(), t0).is_none());
    }

    #[test]
    fn ttl_is_capped() {
        let cache = KeyCache::new(2);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let zone = Name::from_ascii("a.").unwrap();
        cache.put(&zone, insecure("a."), u32::MAX, t0);
        let later = t0 + Duration::from_secs(u64::from(MAX_KEY_TTL));
        assert!(cache.get(&zone, later).is_none());
    }
}
