//! Negative trust anchors (RFC 7646): domains an operator declared
//! insecure for a while, so a broken zone does not fail its users.

use std::time::{Duration, SystemTime};

use anchorage_wire::proto::rr::Name;

/// One negative trust anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegativeTrustAnchor {
    /// The domain; it and every name below it are treated as insecure.
    pub domain: Name,
    /// When it stops applying; `None` keeps it until removed (RFC 7646 §2
    /// asks for a lifetime; the operator's choice).
    pub until: Option<SystemTime>,
}

/// A snapshot of the negative trust anchors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegativeTrustAnchors {
    anchors: Vec<NegativeTrustAnchor>,
}

impl NegativeTrustAnchors {
    /// No negative trust anchors.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds `domain` from `now` for `lifetime` (`None`: no end).
    #[must_use]
    pub fn with(mut self, domain: &Name, lifetime: Option<Duration>, now: SystemTime) -> Self {
        self.anchors.push(NegativeTrustAnchor {
            domain: domain.to_lowercase(),
            until: lifetime.map(|l| now + l),
        });
        self
    }

    /// Whether there are no anchors at all.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// The deepest anchor in force at `now` covering `name`.
    pub fn covering(&self, name: &Name, now: SystemTime) -> Option<&NegativeTrustAnchor> {
        self.anchors
            .iter()
            .filter(|a| a.until.is_none_or(|until| now < until))
            .filter(|a| a.domain.zone_of(name))
            .max_by_key(|a| a.domain.num_labels())
    }

    /// The anchors, expired ones included.
    pub fn iter(&self) -> impl Iterator<Item = &NegativeTrustAnchor> {
        self.anchors.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_nta_covers_its_domain_and_below_until_its_lifetime_ends() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let domain = Name::from_ascii("broken.example.").unwrap();
        let ntas = NegativeTrustAnchors::empty().with(&domain, Some(Duration::from_hours(1)), t0);
        let below = Name::from_ascii("WWW.broken.example.").unwrap();
        assert!(ntas.covering(&below, t0).is_some());
        assert!(
            ntas.covering(&domain, t0 + Duration::from_secs(3599))
                .is_some()
        );
        assert!(
            ntas.covering(&below, t0 + Duration::from_hours(1))
                .is_none()
        );
        assert!(
            ntas.covering(&Name::from_ascii("example.").unwrap(), t0)
                .is_none()
        );
    }

    #[test]
    fn an_nta_without_lifetime_stays() {
        let t0 = SystemTime::UNIX_EPOCH;
        let ntas = NegativeTrustAnchors::empty().with(&Name::from_ascii("a.").unwrap(), None, t0);
        let far = t0 + Duration::from_hours(10 * 365 * 24);
        assert!(
            ntas.covering(&Name::from_ascii("b.a.").unwrap(), far)
                .is_some()
        );
    }
}
