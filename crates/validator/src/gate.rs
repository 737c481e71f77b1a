//! One chain step per zone at a time.
//!
//! On a cold cache many answers from one zone arrive together, and each
//! would fetch and check that zone's DS and DNSKEY sets itself before the
//! first result reaches the key store. A validation about to work out a
//! zone's state first passes that zone's gate; whoever waited behind it
//! looks in the key store again and usually finds the answer there.
//!
//! A validation holds at most one gate at a time, so gates cannot deadlock;
//! a gate is forgotten when nobody holds or waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use anchorage_wire::proto::rr::Name;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The zones whose state some validation is working out now.
#[derive(Debug, Default)]
pub(crate) struct ZoneGates {
    zones: Mutex<HashMap<Name, Gate>>,
}

/// One zone's gate.
#[derive(Debug, Default)]
struct Gate {
    lock: Arc<AsyncMutex<()>>,
    /// Validations holding or waiting for it.
    users: usize,
}

/// Passage through one zone's gate; dropping it lets the next one in.
#[derive(Debug)]
pub(crate) struct Passage<'g> {
    gates: &'g ZoneGates,
    zone: Name,
    guard: Option<OwnedMutexGuard<()>>,
}

impl ZoneGates {
    /// Waits until no other validation is working on `zone` (lower case).
    pub(crate) async fn pass(&self, zone: &Name) -> Passage<'_> {
        let gate = {
            let mut zones = self.zones.lock().unwrap_or_else(PoisonError::into_inner);
            let gate = zones.entry(zone.clone()).or_default();
            gate.users += 1;
            Arc::clone(&gate.lock)
        };
        // Made before waiting so that a validation dropped while it waits
        // still gives its place back.
        let mut passage = Passage {
            gates: self,
            zone: zone.clone(),
            guard: None,
        };
        passage.guard = Some(gate.lock_owned().await);
        passage
    }

    /// How many zones have a gate now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.zones
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Passage<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut zones = self
            .gates
            .zones
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(gate) = zones.get_mut(&self.zone) {
            gate.users -= 1;
            if gate.users == 0 {
                zones.remove(&self.zone);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[tokio::test]
    async fn one_validation_per_zone_at_a_time_other_zones_free() {
        let gates = ZoneGates::default();
        let (a, b) = (name("a.test."), name("b.test."));
        let held = gates.pass(&a).await;
        let other_zone = tokio::time::timeout(Duration::from_secs(5), gates.pass(&b));
        assert!(other_zone.await.is_ok(), "another zone's gate is open");
        // Held: this wait can only end by the timeout.
        let same_zone = tokio::time::timeout(Duration::from_millis(50), gates.pass(&a));
        assert!(same_zone.await.is_err(), "the held zone's gate waits");
        drop(held);
        let again = tokio::time::timeout(Duration::from_secs(5), gates.pass(&a));
        assert!(again.await.is_ok(), "released gate lets the next in");
    }

    #[tokio::test]
    async fn gates_are_forgotten_when_unused_even_after_a_waiter_gives_up() {
        let gates = ZoneGates::default();
        let a = name("a.test.");
        let held = gates.pass(&a).await;
        let waiter = tokio::time::timeout(Duration::from_millis(20), gates.pass(&a));
        assert!(waiter.await.is_err());
        assert_eq!(gates.len(), 1);
        drop(held);
        assert_eq!(gates.len(), 0, "no gate left behind");
    }
}
