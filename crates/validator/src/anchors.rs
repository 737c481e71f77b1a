//! Trust anchors: a read-only snapshot of the DS and DNSKEY records the
//! validator starts its chains of trust from (RFC 4035 §4.4).
//!
//! Loaded from zone-file text like Unbound's `trust-anchor-file`; the
//! RFC 5011 tracker will build the same snapshot with
//! [`TrustAnchors::from_records`]. The validator holds an
//! `Arc<TrustAnchors>` that the caller swaps; nothing here changes once built.

use std::collections::BTreeMap;

use anchorage_wire::proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS};
use anchorage_wire::proto::rr::{Name, RData, Record, RecordType};
use anchorage_wire::text::{TextError, parse_records};

/// Why a trust-anchor source was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// The text is not zone-file text.
    #[error("trust anchor text does not parse")]
    Text(#[source] TextError),
    /// A record other than DS or DNSKEY.
    #[error("{owner} {rtype} is not a DS or DNSKEY record")]
    NotAnAnchor {
        /// Its owner.
        owner: Name,
        /// Its type.
        rtype: RecordType,
    },
}

/// The anchors of one zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneAnchors {
    /// DS records designating trusted keys.
    pub ds: Vec<DS>,
    /// Trusted keys themselves.
    pub dnskeys: Vec<DNSKEY>,
}

/// An immutable snapshot of the trust anchors, by zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustAnchors {
    zones: BTreeMap<Name, ZoneAnchors>,
}

impl TrustAnchors {
    /// No anchors: every answer is indeterminate.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Anchors from DS and DNSKEY records.
    pub fn from_records(records: impl IntoIterator<Item = Record>) -> Result<Self, AnchorError> {
        let mut zones: BTreeMap<Name, ZoneAnchors> = BTreeMap::new();
        for record in records {
            let zone = zones.entry(record.name.to_lowercase()).or_default();
            match record.data {
                RData::DNSSEC(DNSSECRData::DS(ds)) => zone.ds.push(ds),
                RData::DNSSEC(DNSSECRData::DNSKEY(key)) => zone.dnskeys.push(key),
                other => {
                    return Err(AnchorError::NotAnAnchor {
                        owner: record.name,
                        rtype: other.record_type(),
                    });
                }
            }
        }
        Ok(Self { zones })
    }

    /// Anchors from zone-file text holding DS and/or DNSKEY records.
    pub fn from_zone_text(text: &str) -> Result<Self, AnchorError> {
        Self::from_records(parse_records(text).map_err(AnchorError::Text)?)
    }

    /// The anchored zone closest above or at `name`, with its anchors.
    pub fn closest(&self, name: &Name) -> Option<(&Name, &ZoneAnchors)> {
        let mut at = name.to_lowercase();
        loop {
            if let Some(found) = self.zones.get_key_value(&at) {
                return Some(found);
            }
            if at.is_root() {
                return None;
            }
            at = at.base_name();
        }
    }

    /// Key tags of the keys anchored at `zone` (DS and DNSKEY anchors),
    /// ascending, without repeats: the trusted set RFC 8509 asks about.
    pub fn key_tags(&self, zone: &Name) -> Vec<u16> {
        let Some(anchors) = self.zones.get(&zone.to_lowercase()) else {
            return Vec::new();
        };
        let mut tags: Vec<u16> = anchors
            .ds
            .iter()
            .map(DS::key_tag)
            .chain(
                anchors
                    .dnskeys
                    .iter()
                    .filter_map(|key| key.calculate_key_tag().ok()),
            )
            .collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    /// The anchored zones.
    pub fn zones(&self) -> impl Iterator<Item = &Name> {
        self.zones.keys()
    }

    /// Whether there are no anchors.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_DS: &str = ". 3600 IN DS 20326 8 2 \
        E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n";

    #[test]
    fn ds_text_loads_as_a_root_anchor() {
        let anchors = TrustAnchors::from_zone_text(ROOT_DS).unwrap();
        let (zone, found) = anchors
            .closest(&Name::from_ascii("www.example.").unwrap())
            .unwrap();
        assert!(zone.is_root());
        assert_eq!(found.ds.len(), 1);
        assert_eq!(found.ds[0].key_tag(), 20326);
    }

    #[test]
    fn key_tags_cover_ds_and_dnskey_anchors() {
        let anchors = TrustAnchors::from_zone_text(ROOT_DS).unwrap();
        assert_eq!(anchors.key_tags(&Name::root()), vec![20326]);
        assert!(
            anchors
                .key_tags(&Name::from_ascii("example.").unwrap())
                .is_empty()
        );
    }

    #[test]
    fn the_deepest_anchor_wins() {
        let text = format!(
            "{ROOT_DS}example. 3600 IN DS 1 13 2 \
             0000000000000000000000000000000000000000000000000000000000000000\n"
        );
        let anchors = TrustAnchors::from_zone_text(&text).unwrap();
        let (zone, _) = anchors
            .closest(&Name::from_ascii("a.EXAMPLE.").unwrap())
            .unwrap();
        assert_eq!(zone, &Name::from_ascii("example.").unwrap());
        let (zone, _) = anchors
            .closest(&Name::from_ascii("example.org.").unwrap())
            .unwrap();
        assert!(zone.is_root());
    }

    #[test]
    fn records_other_than_ds_and_dnskey_are_refused() {
        let err = TrustAnchors::from_zone_text("example. 3600 IN A 192.0.2.1\n").unwrap_err();
        assert!(matches!(
            err,
            AnchorError::NotAnAnchor {
                rtype: RecordType::A,
                ..
            }
        ));
    }

    #[test]
    fn no_anchor_means_no_closest_zone() {
        assert!(TrustAnchors::empty().closest(&Name::root()).is_none());
    }
}
