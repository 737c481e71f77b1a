//! Telling the world which keys we trust: RFC 8145 key-tag queries and
//! RFC 8509 root-key-sentinel names. Pure functions; the resolver sends
//! the query and shapes the answer.

use std::fmt::Write as _;

use anchorage_wire::proto::rr::Name;

use crate::snapshot::TrustAnchors;

/// Prefix of the RFC 8145 §5.1 key-tag query label.
pub const KEY_TAG_PREFIX: &str = "_ta";
/// Most tags in one `_ta-` label: a label holds 63 octets (RFC 1035
/// §2.3.4), `_ta` takes 3 and each tag 5.
pub const MAX_SIGNALLED_TAGS: usize = 12;
/// Leftmost label prefix asking whether a tag is trusted (RFC 8509 §2).
pub const SENTINEL_IS_TA: &str = "root-key-sentinel-is-ta-";
/// Leftmost label prefix asking whether a tag is not trusted (RFC 8509 §2).
pub const SENTINEL_NOT_TA: &str = "root-key-sentinel-not-ta-";

/// The RFC 8145 §5.1 qname for `tags` under `zone`: `_ta-` and the tags as
/// four lower-case hex digits, ascending, joined by `-` (`_ta-4f66-9728.`).
/// `None` if there is no tag to send; only the lowest [`MAX_SIGNALLED_TAGS`] fit.
pub fn key_tag_qname(tags: &[u16], zone: &Name) -> Option<Name> {
    let mut sorted = tags.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.is_empty() {
        return None;
    }
    let mut label = String::from(KEY_TAG_PREFIX);
    for tag in sorted.iter().take(MAX_SIGNALLED_TAGS) {
        let _ = write!(label, "-{tag:04x}");
    }
    // Invariant: the label is ASCII and at most 3 + 12 * 5 = 63 octets.
    zone.prepend_label(label.as_str()).ok()
}

/// Which RFC 8509 question a qname asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentinelKind {
    /// `root-key-sentinel-is-ta-NNNNN`.
    IsTa,
    /// `root-key-sentinel-not-ta-NNNNN`.
    NotTa,
}

/// A sentinel query: what it asks and about which key tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sentinel {
    /// The question.
    pub kind: SentinelKind,
    /// The key tag asked about.
    pub tag: u16,
}

/// What the resolver does with a Secure answer to a sentinel query (RFC 8509 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum SentinelVerdict {
    /// Answer as usual.
    Answer,
    /// SERVFAIL with an empty answer section.
    ServFail,
}

/// The sentinel in `qname`'s leftmost label, if it holds one: the prefix
/// (any case) and exactly five decimal digits (RFC 8509 §2).
pub fn classify_sentinel(qname: &Name) -> Option<Sentinel> {
    let label = qname.iter().next()?;
    let label = std::str::from_utf8(label).ok()?.to_ascii_lowercase();
    let (kind, digits) = if let Some(rest) = label.strip_prefix(SENTINEL_IS_TA) {
        (SentinelKind::IsTa, rest)
    } else if let Some(rest) = label.strip_prefix(SENTINEL_NOT_TA) {
        (SentinelKind::NotTa, rest)
    } else {
        return None;
    };
    if digits.len() != 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let tag = digits.parse::<u16>().ok()?;
    Some(Sentinel { kind, tag })
}

/// RFC 8509 §3.2: `is-ta` of an untrusted tag, or `not-ta` of a trusted
/// one, fails; the caller applies this only to Secure A/AAAA answers with CD clear.
pub fn sentinel_verdict(sentinel: Sentinel, anchors: &TrustAnchors) -> SentinelVerdict {
    let trusted = anchors.is_trusted_tag(sentinel.tag);
    match (sentinel.kind, trusted) {
        (SentinelKind::IsTa, true) | (SentinelKind::NotTa, false) => SentinelVerdict::Answer,
        (SentinelKind::IsTa, false) | (SentinelKind::NotTa, true) => SentinelVerdict::ServFail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anchor::builtin_root_anchors;
    use crate::utc::from_unix_secs;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn both_root_keys_signal_as_ta_4f66_9728() {
        let q = key_tag_qname(&[38696, 20326, 38696], &Name::root()).unwrap();
        assert_eq!(q.to_ascii(), "_ta-4f66-9728.");
        let q = key_tag_qname(&[38696], &Name::root()).unwrap();
        assert_eq!(q.to_ascii(), "_ta-9728.");
        assert_eq!(key_tag_qname(&[], &Name::root()), None);
        let q = key_tag_qname(&[7], &Name::root()).unwrap();
        assert_eq!(q.to_ascii(), "_ta-0007.");
    }

    #[test]
    fn many_tags_still_fit_one_label() {
        let tags: Vec<u16> = (0..40).map(|i| 1000 + i).collect();
        let q = key_tag_qname(&tags, &Name::root()).unwrap();
        assert_eq!(q.iter().next().unwrap().len(), 63);
    }

    #[test]
    fn sentinel_labels_need_the_prefix_and_five_digits() {
        assert_eq!(
            classify_sentinel(&name("root-key-sentinel-is-ta-38696.example.")),
            Some(Sentinel {
                kind: SentinelKind::IsTa,
                tag: 38696
            })
        );
        assert_eq!(
            classify_sentinel(&name("ROOT-KEY-SENTINEL-NOT-TA-00042.example.")),
            Some(Sentinel {
                kind: SentinelKind::NotTa,
                tag: 42
            })
        );
        for not in [
            "root-key-sentinel-is-ta-3869.example.",
            "root-key-sentinel-is-ta-386960.example.",
            "root-key-sentinel-is-ta-99999.example.",
            "www.root-key-sentinel-is-ta-38696.example.",
            "root-key-sentinel-is-ta-3869x.example.",
        ] {
            assert_eq!(classify_sentinel(&name(not)), None, "{not}");
        }
    }

    #[test]
    fn sentinel_verdicts_follow_the_trusted_tags() {
        // Built-in anchors at 2026-10-11: 20326 and 38696.
        let anchors = TrustAnchors::from_static(
            &Name::root(),
            &builtin_root_anchors(from_unix_secs(1_791_676_800)),
        );
        let ask = |kind, tag| sentinel_verdict(Sentinel { kind, tag }, &anchors);
        assert_eq!(ask(SentinelKind::IsTa, 38696), SentinelVerdict::Answer);
        assert_eq!(ask(SentinelKind::NotTa, 38696), SentinelVerdict::ServFail);
        assert_eq!(ask(SentinelKind::IsTa, 19036), SentinelVerdict::ServFail);
        assert_eq!(ask(SentinelKind::NotTa, 19036), SentinelVerdict::Answer);
    }
}
