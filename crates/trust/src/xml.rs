//! IANA's root-anchors.xml (RFC 9718, obsoleting RFC 7958) as a source of
//! root trust anchors: `<TrustAnchor>` with `<Zone>.</Zone>` and
//! `<KeyDigest id validFrom [validUntil]>` entries of `<KeyTag>`,
//! `<Algorithm>`, `<DigestType>`, `<Digest>` and, optionally (RFC 9718),
//! `<PublicKey>` with `<Flags>`.
//!
//! An entry is used only while `validFrom <= now < validUntil` (RFC 9718
//! §2.3); one whose digest does not match its own public key is dropped.
//! Both are reported back, with the reason, for the caller to log.
//!
//! # Limitations
//! The CMS signature (`root-anchors.p7s`) is not checked: the operator
//! vouches for the file, as for any trust-anchor file.

use std::time::{Duration, SystemTime};

use anchorage_wire::proto::rr::Name;
use data_encoding::{BASE64, HEXUPPER_PERMISSIVE};

use crate::anchor::Anchor;
use crate::key::{DsAnchor, KeyMaterial};
use crate::utc::{format_utc, parse_utc};

/// Largest root-anchors.xml read: today's is under 2 KiB; anything far
/// bigger is not one.
pub const MAX_XML_BYTES: usize = 1 << 20;

/// Why a root-anchors.xml document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Larger than [`MAX_XML_BYTES`].
    #[error(
        "the document is {len} bytes, more than the {MAX_XML_BYTES} a root-anchors.xml may have"
    )]
    TooLarge {
        /// Its size.
        len: usize,
    },
    /// Not well-formed XML.
    #[error("not well-formed XML")]
    Syntax(#[source] roxmltree::Error),
    /// The root element is not `<TrustAnchor>`.
    #[error("the root element is <{found}>, not <TrustAnchor>")]
    NotTrustAnchor {
        /// The element found.
        found: String,
    },
    /// `<Zone>` is missing or names another zone than the root.
    #[error("<Zone> is {zone:?}; only the root \".\" is supported")]
    WrongZone {
        /// The zone given (empty when missing).
        zone: String,
    },
    /// A `<KeyDigest>` lacks a required element or attribute.
    #[error("KeyDigest {id:?} has no {what}")]
    Missing {
        /// The entry's `id` attribute.
        id: String,
        /// The element or attribute missing.
        what: &'static str,
    },
    /// A number field does not hold a number of its range.
    #[error("KeyDigest {id:?}: <{element}> {text:?} is not a number from 0 to {max}")]
    BadNumber {
        /// The entry's `id`.
        id: String,
        /// The element.
        element: &'static str,
        /// Its text.
        text: String,
        /// The largest value allowed.
        max: u32,
    },
    /// `<Digest>` is not hex, or `<PublicKey>` not base64.
    #[error("KeyDigest {id:?}: <{element}> is not valid {encoding}")]
    BadEncoding {
        /// The entry's `id`.
        id: String,
        /// The element.
        element: &'static str,
        /// "hex" or "base64".
        encoding: &'static str,
    },
    /// A `validFrom`/`validUntil` attribute is not an xsd:dateTime.
    #[error(
        "KeyDigest {id:?}: {attribute} {text:?} is not a date-time such as 2024-07-18T00:00:00+00:00"
    )]
    BadTime {
        /// The entry's `id`.
        id: String,
        /// The attribute.
        attribute: &'static str,
        /// Its text.
        text: String,
    },
    /// No `<KeyDigest>` at all.
    #[error("the document has no <KeyDigest>")]
    NoKeyDigest,
    /// An element that may appear once appears more often.
    #[error("KeyDigest {id:?} has more than one <{element}>")]
    Duplicate {
        /// The entry's `id`.
        id: String,
        /// The element.
        element: &'static str,
    },
    /// `<Digest>` is not as long as its `<DigestType>` makes it.
    #[error(
        "KeyDigest {id:?}: <Digest> is {len} bytes; digest type {digest_type} makes {expected}"
    )]
    DigestLength {
        /// The entry's `id`.
        id: String,
        /// `<DigestType>`.
        digest_type: u8,
        /// Bytes found.
        len: usize,
        /// Bytes the type makes.
        expected: usize,
    },
}

/// Why a well-formed `<KeyDigest>` was not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// `now` is before its `validFrom`.
    NotYetValid {
        /// `validFrom`.
        from: SystemTime,
    },
    /// `now` is at or past its `validUntil`.
    Expired {
        /// `validUntil`.
        until: SystemTime,
    },
    /// Its digest does not match its own `<PublicKey>`.
    DigestMismatch,
    /// Its digest type is one we cannot compute, so its `<PublicKey>`
    /// cannot be checked against it.
    UnsupportedDigest {
        /// `<DigestType>`.
        digest_type: u8,
    },
}

/// A `<KeyDigest>` left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its `id` attribute.
    pub id: String,
    /// Its key tag.
    pub tag: u16,
    /// Why.
    pub reason: SkipReason,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "root-anchors.xml KeyDigest {} (key {}) not loaded: ",
            self.id, self.tag
        )?;
        match self.reason {
            SkipReason::NotYetValid { from } => {
                write!(f, "valid only from {}", format_utc(from))
            }
            SkipReason::Expired { until } => write!(f, "expired at {}", format_utc(until)),
            SkipReason::DigestMismatch => f.write_str("its digest does not match its public key"),
            SkipReason::UnsupportedDigest { digest_type } => write!(
                f,
                "its digest type {digest_type} is not supported, so its public key cannot be checked"
            ),
        }
    }
}

/// What a root-anchors.xml yields at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlAnchors {
    /// The entries valid now, as DS anchors, in document order.
    pub anchors: Vec<Anchor>,
    /// The entries left out.
    pub skipped: Vec<Skipped>,
}

/// Whether `text` looks like an XML document rather than zone-file text
/// (its first non-blank character is `<`).
pub fn looks_like_xml(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('<')
}

/// Reads the root anchors of a root-anchors.xml document valid at `now`.
pub fn anchors_from_xml(text: &str, now: SystemTime) -> Result<XmlAnchors, XmlError> {
    if text.len() > MAX_XML_BYTES {
        return Err(XmlError::TooLarge { len: text.len() });
    }
    let doc = roxmltree::Document::parse(text).map_err(XmlError::Syntax)?;
    let root = doc.root_element();
    if root.tag_name().name() != "TrustAnchor" {
        return Err(XmlError::NotTrustAnchor {
            found: root.tag_name().name().to_owned(),
        });
    }
    let zone = child_text(root, "Zone").unwrap_or_default();
    if zone != "." {
        return Err(XmlError::WrongZone { zone });
    }
    let mut out = XmlAnchors {
        anchors: Vec::new(),
        skipped: Vec::new(),
    };
    let mut any = false;
    for entry in root.children().filter(|n| n.has_tag_name("KeyDigest")) {
        any = true;
        let digest = key_digest(entry)?;
        let reason = if now < digest.valid_from {
            Some(SkipReason::NotYetValid {
                from: digest.valid_from,
            })
        } else if let Some(until) = digest.valid_until.filter(|&until| now >= until) {
            Some(SkipReason::Expired { until })
        } else if digest.material.is_some() && digest_len(digest.ds.digest_type).is_none() {
            Some(SkipReason::UnsupportedDigest {
                digest_type: digest.ds.digest_type,
            })
        } else if digest
            .material
            .as_ref()
            .is_some_and(|key| !digest.ds.designates(&Name::root(), key))
        {
            Some(SkipReason::DigestMismatch)
        } else {
            None
        };
        match reason {
            Some(reason) => out.skipped.push(Skipped {
                id: digest.id,
                tag: digest.ds.tag,
                reason,
            }),
            None => out.anchors.push(Anchor::Ds(digest.ds)),
        }
    }
    if !any {
        return Err(XmlError::NoKeyDigest);
    }
    Ok(out)
}

/// One `<KeyDigest>`, read.
struct KeyDigest {
    id: String,
    valid_from: SystemTime,
    valid_until: Option<SystemTime>,
    ds: DsAnchor,
    material: Option<KeyMaterial>,
}

fn key_digest(entry: roxmltree::Node<'_, '_>) -> Result<KeyDigest, XmlError> {
    let id = entry.attribute("id").unwrap_or_default().to_owned();
    for element in SINGLE_ELEMENTS {
        if entry.children().filter(|n| n.has_tag_name(element)).count() > 1 {
            return Err(XmlError::Duplicate { id, element });
        }
    }
    let missing = |what| XmlError::Missing {
        id: id.clone(),
        what,
    };
    let time = |attribute: &'static str| -> Result<Option<SystemTime>, XmlError> {
        entry
            .attribute(attribute)
            .map(|text| {
                parse_date_time(text).ok_or_else(|| XmlError::BadTime {
                    id: id.clone(),
                    attribute,
                    text: text.to_owned(),
                })
            })
            .transpose()
    };
    let valid_from = time("validFrom")?.ok_or_else(|| missing("validFrom attribute"))?;
    let valid_until = time("validUntil")?;
    let number = |element: &'static str, max: u32| -> Result<Option<u32>, XmlError> {
        child_text(entry, element)
            .map(|text| {
                text.parse::<u32>()
                    .ok()
                    .filter(|&n| n <= max)
                    .ok_or_else(|| XmlError::BadNumber {
                        id: id.clone(),
                        element,
                        text: text.clone(),
                        max,
                    })
            })
            .transpose()
    };
    let required =
        |element: &'static str, max: u32| number(element, max)?.ok_or_else(|| missing(element));
    // Each value is bounded by `required`'s `max` just above.
    let tag = required("KeyTag", 0xFFFF)? as u16;
    let algorithm = required("Algorithm", 0xFF)? as u8;
    let digest_type = required("DigestType", 0xFF)? as u8;
    let digest_text: String = child_text(entry, "Digest")
        .ok_or_else(|| missing("Digest"))?
        .split_whitespace()
        .collect();
    let digest = HEXUPPER_PERMISSIVE
        .decode(digest_text.as_bytes())
        .ok()
        .filter(|d| !d.is_empty())
        .ok_or_else(|| XmlError::BadEncoding {
            id: id.clone(),
            element: "Digest",
            encoding: "hex",
        })?;
    if let Some(expected) = digest_len(digest_type).filter(|&n| n != digest.len()) {
        return Err(XmlError::DigestLength {
            id,
            digest_type,
            len: digest.len(),
            expected,
        });
    }
    let material = match child_text(entry, "PublicKey") {
        None => None,
        Some(text) => {
            let key: String = text.split_whitespace().collect();
            let public_key = BASE64
                .decode(key.as_bytes())
                .map_err(|_| XmlError::BadEncoding {
                    id: id.clone(),
                    element: "PublicKey",
                    encoding: "base64",
                })?;
            let flags = number("Flags", 0xFFFF)?.ok_or_else(|| missing("Flags"))? as u16;
            Some(KeyMaterial {
                flags,
                algorithm,
                public_key,
            })
        }
    };
    Ok(KeyDigest {
        id,
        valid_from,
        valid_until,
        ds: DsAnchor {
            tag,
            algorithm,
            digest_type,
            digest,
        },
        material,
    })
}

/// The trimmed text of `node`'s child element named `name`, all its text
/// nodes joined (a comment may split it).
fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children().find(|n| n.has_tag_name(name)).map(|n| {
        let text: String = n
            .descendants()
            .filter(roxmltree::Node::is_text)
            .filter_map(|t| t.text())
            .collect();
        text.trim().to_owned()
    })
}

/// Elements a `<KeyDigest>` may hold at most once.
const SINGLE_ELEMENTS: [&str; 6] = [
    "KeyTag",
    "Algorithm",
    "DigestType",
    "Digest",
    "PublicKey",
    "Flags",
];

/// Digest length in bytes of the DS digest types we check (RFC 4034,
/// 4509, 6605); `None` for others.
fn digest_len(digest_type: u8) -> Option<usize> {
    match digest_type {
        1 => Some(20),
        2 => Some(32),
        4 => Some(48),
        _ => None,
    }
}

/// An xsd:dateTime with a zone (`2024-07-18T00:00:00+00:00`, `...Z`,
/// fractional seconds ignored) as an instant; `None` if it is not one.
fn parse_date_time(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let (base, rest) = (text.get(..19)?, text.get(19..)?);
    let rest = match rest.strip_prefix('.') {
        Some(fraction) => fraction.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    let local = parse_utc(&format!("{base}Z")).ok()?;
    if rest == "Z" {
        return Some(local);
    }
    let sign = match rest.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = rest.get(1..)?.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u64 = hours.parse().ok()?;
    let minutes: u64 = minutes.parse().ok()?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    let offset = Duration::from_secs(hours * 3600 + minutes * 60);
    // Local time = UTC + offset, so UTC = local - offset.
    if sign > 0 {
        local.checked_sub(offset)
    } else {
        local.checked_add(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::utc::from_unix_secs;

    #[test]
    fn date_times_with_offsets_and_fractions_read_as_utc() {
        let at = |t| parse_date_time(t).map(crate::utc::unix_secs);
        assert_eq!(at("2017-02-02T00:00:00+00:00"), Some(1_485_993_600));
        assert_eq!(at("2017-02-02T00:00:00Z"), Some(1_485_993_600));
        assert_eq!(at("2017-02-02T01:30:00.250+01:30"), Some(1_485_993_600));
        assert_eq!(at("2017-02-01T22:00:00-02:00"), Some(1_485_993_600));
        for bad in [
            "2017-02-02T00:00:00",
            "2017-02-02",
            "2017-02-02T00:00:00+0000",
            "2017-13-02T00:00:00Z",
            "2017-02-02T00:00:00+15:00",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad}");
        }
        assert_eq!(
            from_unix_secs(1_485_993_600),
            parse_date_time("2017-02-02T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn zone_text_is_not_taken_for_xml() {
        assert!(looks_like_xml("\n  <?xml version=\"1.0\"?><TrustAnchor/>"));
        assert!(!looks_like_xml(". IN DS 20326 8 2 E06D"));
    }
}
