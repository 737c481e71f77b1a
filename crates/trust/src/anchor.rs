//! Trust anchors: the IANA root KSKs compiled in, and anchors read from
//! zone-file text (DS or DNSKEY records).
//!
//! # Limitations
//! root-anchors.xml is read by [`crate::xml`]; the built-in table is
//! copied from that file (ROLLOVER.md §1) and pinned by tests.

use std::time::SystemTime;

use anchorage_verify::key::FLAG_ZONE;
use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::rr::{Name, RData};
use anchorage_wire::text::{TextError, parse_records};
use data_encoding::HEXUPPER;

use crate::key::{DsAnchor, KeyMaterial};
use crate::utc::from_unix_secs;

/// TTL given to anchor records written without one; anchors have no TTL
/// in use, the value only lets the zone-file reader accept them.
pub const ANCHOR_TEXT_TTL: u32 = 172_800;

/// One `<KeyDigest>` of IANA's root-anchors.xml (RFC 9718 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinAnchor {
    /// The common name, e.g. `KSK-2024`.
    pub name: &'static str,
    /// The `id` attribute in root-anchors.xml.
    pub id: &'static str,
    /// Key tag.
    pub tag: u16,
    /// DNSSEC algorithm (8: RSA/SHA-256).
    pub algorithm: u8,
    /// DS digest type (2: SHA-256).
    pub digest_type: u8,
    /// Digest, upper-case hex.
    pub digest: &'static str,
    /// `validFrom`, seconds since 1970.
    pub valid_from: u64,
    /// `validUntil`, seconds since 1970, if set.
    pub valid_until: Option<u64>,
}

impl BuiltinAnchor {
    /// Whether the entry may be used at `now`: `validFrom <= now < validUntil` (RFC 9718 §2).
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        now >= from_unix_secs(self.valid_from)
            && self
                .valid_until
                .is_none_or(|until| now < from_unix_secs(until))
    }

    /// The anchor as a DS.
    pub fn ds(&self) -> DsAnchor {
        DsAnchor {
            tag: self.tag,
            algorithm: self.algorithm,
            digest_type: self.digest_type,
            // Invariant: the table's digests are hex; `builtin_digests_are_hex` pins it.
            digest: HEXUPPER.decode(self.digest.as_bytes()).unwrap_or_default(),
        }
    }
}

/// The root anchors Anchorage trusts out of the box: KSK-2017 and KSK-2024,
/// both seeded so a fresh install after the 2026-10-11 roll is secure at once
/// (root-anchors.xml; ROLLOVER.md §1).
pub const BUILTIN_ROOT_ANCHORS: [BuiltinAnchor; 2] = [
    BuiltinAnchor {
        name: "KSK-2017",
        id: "Klajeyz",
        tag: 20326,
        algorithm: 8,
        digest_type: 2,
        digest: "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
        // 2017-02-02T00:00:00Z
        valid_from: 1_485_993_600,
        valid_until: None,
    },
    BuiltinAnchor {
        name: "KSK-2024",
        id: "Kmydidr",
        tag: 38696,
        algorithm: 8,
        digest_type: 2,
        digest: "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
        // 2024-07-18T00:00:00Z
        valid_from: 1_721_260_800,
        valid_until: None,
    },
];

/// A configured trust anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// Designates a key by digest.
    Ds(DsAnchor),
    /// The key itself.
    Dnskey(KeyMaterial),
}

impl Anchor {
    /// Key tag of the anchored key.
    pub fn tag(&self) -> u16 {
        match self {
            Self::Ds(ds) => ds.tag,
            Self::Dnskey(m) => m.tag(),
        }
    }
}

/// The built-in root anchors valid at `now`, as DS.
pub fn builtin_root_anchors(now: SystemTime) -> Vec<Anchor> {
    BUILTIN_ROOT_ANCHORS
        .iter()
        .filter(|a| a.is_valid_at(now))
        .map(|a| Anchor::Ds(a.ds()))
        .collect()
}

/// Why anchor text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// The text is not zone-file text.
    #[error("anchor text does not parse")]
    Text(#[source] TextError),
    /// A record is neither DS nor DNSKEY.
    #[error("record {index} is of type {rtype}; anchors are DS or DNSKEY")]
    WrongType {
        /// 0-based index among the records.
        index: usize,
        /// Its type.
        rtype: String,
    },
    /// A record is owned by another name than the trust point.
    #[error("record {index} is owned by {owner}, not the trust point {zone}")]
    WrongOwner {
        /// 0-based index among the records.
        index: usize,
        /// Its owner.
        owner: String,
        /// The trust point.
        zone: String,
    },
    /// A DNSKEY without the Zone flag can verify nothing (RFC 4034 §2.1.1).
    #[error("DNSKEY {tag} is not a zone key")]
    NotZoneKey {
        /// Its tag.
        tag: u16,
    },
    /// The text holds no anchor.
    #[error("no DS or DNSKEY record for {zone}")]
    Empty {
        /// The trust point.
        zone: String,
    },
}

/// Reads DS and DNSKEY anchors for `zone` from zone-file text; RRSIGs
/// are skipped, so a saved signed set loads as a plain seed.
pub fn anchors_from_text(text: &str, zone: &Name) -> Result<Vec<Anchor>, AnchorError> {
    // Anchor files usually omit the TTL (`. IN DS ...`), which the zone-file
    // reader requires; a default TTL makes them parse. Lines keep their numbers.
    let with_ttl = format!("$TTL {ANCHOR_TEXT_TTL}\n{text}");
    let records = parse_records(&with_ttl).map_err(|mut e| {
        e.line = e.line.saturating_sub(1);
        AnchorError::Text(e)
    })?;
    let mut anchors = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let anchor = match &record.data {
            RData::DNSSEC(DNSSECRData::DS(ds)) => Anchor::Ds(DsAnchor {
                tag: ds.key_tag(),
                algorithm: u8::from(ds.algorithm()),
                digest_type: u8::from(ds.digest_type()),
                digest: ds.digest().to_vec(),
            }),
            RData::DNSSEC(DNSSECRData::DNSKEY(key)) => {
                let material = KeyMaterial::from_dnskey(key);
                if material.flags & FLAG_ZONE == 0 {
                    return Err(AnchorError::NotZoneKey {
                        tag: material.tag(),
                    });
                }
                Anchor::Dnskey(material)
            }
            RData::DNSSEC(DNSSECRData::RRSIG(_)) => continue,
            _ => {
                return Err(AnchorError::WrongType {
                    index,
                    rtype: record.record_type().to_string(),
                });
            }
        };
        if record.name != *zone {
            return Err(AnchorError::WrongOwner {
                index,
                owner: record.name.to_string(),
                zone: zone.to_string(),
            });
        }
        anchors.push(anchor);
    }
    if anchors.is_empty() {
        return Err(AnchorError::Empty {
            zone: zone.to_string(),
        });
    }
    Ok(anchors)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KSK_2017: &str = ". IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=";
    const KSK_2024: &str = ". IN DNSKEY 257 3 8 AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHbGiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+siFUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTvoB+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZyvaBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc=";

    fn material(text: &str) -> KeyMaterial {
        match anchors_from_text(text, &Name::root()).unwrap().remove(0) {
            Anchor::Dnskey(m) => m,
            Anchor::Ds(_) => panic!("expected a DNSKEY"),
        }
    }

    #[test]
    fn builtin_digests_are_hex() {
        for a in BUILTIN_ROOT_ANCHORS {
            assert_eq!(a.ds().digest.len(), 32, "{}", a.name);
        }
    }

    #[test]
    fn builtin_digests_match_the_real_ksk_2017_and_ksk_2024() {
        let root = Name::root();
        for (builtin, text) in BUILTIN_ROOT_ANCHORS.iter().zip([KSK_2017, KSK_2024]) {
            let key = material(text);
            assert_eq!(key.tag(), builtin.tag, "{}", builtin.name);
            assert!(builtin.ds().designates(&root, &key), "{}", builtin.name);
        }
        // And not each other's.
        assert!(
            !BUILTIN_ROOT_ANCHORS[0]
                .ds()
                .designates(&root, &material(KSK_2024))
        );
    }

    #[test]
    fn revoked_tags_are_the_published_ones() {
        assert_eq!(material(KSK_2017).revoked_tag(), 20454);
        assert_eq!(material(KSK_2024).revoked_tag(), 38824);
    }

    #[test]
    fn builtins_honour_valid_from() {
        // 2020-01-01: KSK-2024 not yet valid.
        let tags: Vec<u16> = builtin_root_anchors(from_unix_secs(1_577_836_800))
            .iter()
            .map(Anchor::tag)
            .collect();
        assert_eq!(tags, [20326]);
        // 2026-10-11: both.
        let tags: Vec<u16> = builtin_root_anchors(from_unix_secs(1_791_676_800))
            .iter()
            .map(Anchor::tag)
            .collect();
        assert_eq!(tags, [20326, 38696]);
    }

    #[test]
    fn text_anchors_accept_ds_and_dnskey_and_skip_rrsigs() {
        let text = format!(
            ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n{KSK_2024}\n"
        );
        let anchors = anchors_from_text(&text, &Name::root()).unwrap();
        assert_eq!(anchors.len(), 2);
        assert!(matches!(&anchors[0], Anchor::Ds(ds) if ds.tag == 20326));
        assert!(matches!(&anchors[1], Anchor::Dnskey(m) if m.tag() == 38696));
    }

    #[test]
    fn text_anchors_refuse_other_types_owners_and_emptiness() {
        let root = Name::root();
        assert!(matches!(
            anchors_from_text("example. IN A 192.0.2.1\n", &root),
            Err(AnchorError::WrongType { index: 0, .. })
        ));
        assert!(matches!(
            anchors_from_text(&KSK_2017.replacen('.', "example.", 1), &root),
            Err(AnchorError::WrongOwner { .. })
        ));
        assert!(matches!(
            anchors_from_text("; nothing\n", &root),
            Err(AnchorError::Empty { .. })
        ));
        assert!(matches!(
            anchors_from_text(". IN DS nonsense\n", &root),
            Err(AnchorError::Text(_))
        ));
    }
}
