//! RFC 8509 root-key-sentinel: a Secure A or AAAA answer whose leftmost
//! QNAME label is `root-key-sentinel-is-ta-NNNNN` or
//! `root-key-sentinel-not-ta-NNNNN` becomes SERVFAIL when the key tag's
//! trust disagrees with the label (§3.2).
//!
//! The trusted set is the validator's current root anchors (the RFC 5011
//! Valid and Missing keys, or the static anchors). Such answers are never
//! cached, so a change of the trusted set shows at once.

use anchorage_trust::signal::{
    SENTINEL_IS_TA, SENTINEL_NOT_TA, Sentinel, SentinelKind, classify_sentinel,
};
use anchorage_validator::TrustAnchors;
use anchorage_wire::QueryView;
use anchorage_wire::proto::rr::Name;

/// QTYPE A (RFC 1035 §3.2.2).
const QTYPE_A: u16 = 1;
/// QTYPE AAAA (RFC 3596 §2.1).
const QTYPE_AAAA: u16 = 28;
/// Decimal digits of the key tag in a sentinel label (RFC 8509 §2).
const TAG_DIGITS: usize = 5;

/// The sentinel `query` carries if RFC 8509 §3.1 applies to its type and
/// name (A or AAAA, CD clear, sentinel leftmost label); validation status
/// is the caller's part.
pub(crate) fn sentinel_of(query: &QueryView, qname: &Name) -> Option<Sentinel> {
    let qtype = query.qtype();
    if (qtype != QTYPE_A && qtype != QTYPE_AAAA) || query.checking_disabled() {
        return None;
    }
    // Only a label of a sentinel's length is parsed (which allocates):
    // most misses end here.
    let len = qname.iter().next()?.len();
    if len != SENTINEL_IS_TA.len() + TAG_DIGITS && len != SENTINEL_NOT_TA.len() + TAG_DIGITS {
        return None;
    }
    classify_sentinel(qname)
}

/// Whether a Secure answer to `sentinel` must become SERVFAIL (RFC 8509
/// §3.2): `is-ta` of a tag not trusted for the root, or `not-ta` of one that is.
pub(crate) fn fails(sentinel: Sentinel, anchors: &TrustAnchors) -> bool {
    let trusted = anchors
        .key_tags(&Name::root())
        .binary_search(&sentinel.tag)
        .is_ok();
    match sentinel.kind {
        SentinelKind::IsTa => !trusted,
        SentinelKind::NotTa => trusted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_DS: &str = ". 3600 IN DS 20326 8 2 \
        E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n";

    #[test]
    fn is_ta_fails_for_an_untrusted_tag_and_not_ta_for_a_trusted_one() {
        let anchors = TrustAnchors::from_zone_text(ROOT_DS).unwrap();
        let ask = |kind, tag| fails(Sentinel { kind, tag }, &anchors);
        assert!(!ask(SentinelKind::IsTa, 20326));
        assert!(ask(SentinelKind::IsTa, 38696));
        assert!(ask(SentinelKind::NotTa, 20326));
        assert!(!ask(SentinelKind::NotTa, 38696));
        // No root anchor at all: nothing is trusted.
        let none = TrustAnchors::empty();
        assert!(fails(
            Sentinel {
                kind: SentinelKind::IsTa,
                tag: 20326
            },
            &none
        ));
    }
}
