//! IANA's root-anchors.xml as a trust-anchor source: the real document
//! (KSK-2010, KSK-2017 and KSK-2024 entries, tests/data/root-anchors.xml)
//! yields the built-in anchors, honours validFrom/validUntil on the
//! injected clock, checks each digest against its public key, and
//! refuses malformed documents with the reason.

use std::time::SystemTime;

use anchorage_trust::builtin_root_anchors;
use anchorage_trust::utc::parse_utc;
use anchorage_trust::xml::{SkipReason, XmlError, anchors_from_xml, looks_like_xml};

const REAL: &str = include_str!("data/root-anchors.xml");

fn at(text: &str) -> SystemTime {
    parse_utc(text).unwrap()
}

fn tags(anchors: &[anchorage_trust::Anchor]) -> Vec<u16> {
    anchors.iter().map(anchorage_trust::Anchor::tag).collect()
}

#[test]
fn the_real_document_yields_the_built_in_anchors() {
    assert!(looks_like_xml(REAL));
    for now in [
        "2026-12-02T00:00:00Z",
        "2024-07-18T00:00:00Z",
        "2020-01-01T00:00:00Z",
    ] {
        let now = at(now);
        let read = anchors_from_xml(REAL, now).unwrap();
        assert_eq!(read.anchors, builtin_root_anchors(now));
    }
    let read = anchors_from_xml(REAL, at("2026-12-02T00:00:00Z")).unwrap();
    assert_eq!(tags(&read.anchors), vec![20326, 38696]);
    assert_eq!(read.skipped.len(), 1);
    assert_eq!(read.skipped[0].id, "Kjqmt7v");
    assert_eq!(read.skipped[0].tag, 19036);
    assert_eq!(
        read.skipped[0].reason,
        SkipReason::Expired {
            until: at("2019-01-11T00:00:00Z")
        }
    );
    assert_eq!(
        read.skipped[0].to_string(),
        "root-anchors.xml KeyDigest Kjqmt7v (key 19036) not loaded: expired at 2019-01-11T00:00:00Z"
    );
}

#[test]
fn entries_outside_their_window_are_left_out() {
    // Before KSK-2024's validFrom: KSK-2017 only; the instant itself counts.
    let read = anchors_from_xml(REAL, at("2024-07-17T23:59:59Z")).unwrap();
    assert_eq!(tags(&read.anchors), vec![20326]);
    assert!(read.skipped.iter().any(|s| s.tag == 38696
        && s.reason
            == SkipReason::NotYetValid {
                from: at("2024-07-18T00:00:00Z")
            }));
    assert_eq!(
        tags(
            &anchors_from_xml(REAL, at("2024-07-18T00:00:00Z"))
                .unwrap()
                .anchors
        ),
        vec![20326, 38696]
    );
    // In 2015 only KSK-2010 was valid; at its validUntil it is not.
    let read = anchors_from_xml(REAL, at("2015-06-01T00:00:00Z")).unwrap();
    assert_eq!(tags(&read.anchors), vec![19036]);
    let read = anchors_from_xml(REAL, at("2019-01-11T00:00:00Z")).unwrap();
    assert_eq!(tags(&read.anchors), vec![20326]);
}

#[test]
fn a_digest_that_does_not_match_its_public_key_is_dropped() {
    let tampered = REAL.replacen(
        "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
        "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B17",
        1,
    );
    let read = anchors_from_xml(&tampered, at("2026-12-02T00:00:00Z")).unwrap();
    assert_eq!(tags(&read.anchors), vec![20326]);
    assert!(
        read.skipped
            .iter()
            .any(|s| s.tag == 38696 && s.reason == SkipReason::DigestMismatch)
    );
}

#[test]
fn malformed_documents_are_refused_with_the_reason() {
    let now = at("2026-12-02T00:00:00Z");
    let cut = &REAL[..REAL.len() / 2];
    assert!(matches!(
        anchors_from_xml(cut, now),
        Err(XmlError::Syntax(_))
    ));
    let err = anchors_from_xml("<Anchors><Zone>.</Zone></Anchors>", now).unwrap_err();
    assert_eq!(
        err,
        XmlError::NotTrustAnchor {
            found: "Anchors".to_owned()
        }
    );
    let other_zone = REAL.replace("<Zone>.</Zone>", "<Zone>example.</Zone>");
    assert!(matches!(
        anchors_from_xml(&other_zone, now),
        Err(XmlError::WrongZone { zone }) if zone == "example."
    ));
    let no_digest = REAL.replacen(
        "<Digest>E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D</Digest>",
        "",
        1,
    );
    let err = anchors_from_xml(&no_digest, now).unwrap_err();
    assert_eq!(err.to_string(), "KeyDigest \"Klajeyz\" has no Digest");
    let big_tag = REAL.replacen("<KeyTag>20326</KeyTag>", "<KeyTag>70000</KeyTag>", 1);
    assert!(matches!(
        anchors_from_xml(&big_tag, now),
        Err(XmlError::BadNumber {
            element: "KeyTag",
            ..
        })
    ));
    let bad_time = REAL.replacen("2017-02-02T00:00:00+00:00", "2 Feb 2017", 1);
    assert!(matches!(
        anchors_from_xml(&bad_time, now),
        Err(XmlError::BadTime {
            attribute: "validFrom",
            ..
        })
    ));
    let empty = "<TrustAnchor><Zone>.</Zone></TrustAnchor>";
    assert_eq!(anchors_from_xml(empty, now), Err(XmlError::NoKeyDigest));
}

#[test]
fn digests_of_the_wrong_length_or_given_twice_are_refused_and_comments_do_not_split_them() {
    const KSK2017: &str = "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";
    let now = at("2026-12-02T00:00:00Z");
    let short = REAL.replacen(KSK2017, &KSK2017[..62], 1);
    assert!(matches!(
        anchors_from_xml(&short, now),
        Err(XmlError::DigestLength {
            digest_type: 2,
            len: 31,
            expected: 32,
            ..
        })
    ));
    let twice = REAL.replacen(
        &format!("<Digest>{KSK2017}</Digest>"),
        &format!("<Digest>{KSK2017}</Digest><Digest>{KSK2017}</Digest>"),
        1,
    );
    assert!(matches!(
        anchors_from_xml(&twice, now),
        Err(XmlError::Duplicate {
            element: "Digest",
            ..
        })
    ));
    let commented = REAL.replacen(
        KSK2017,
        &format!("{}<!-- split -->{}", &KSK2017[..30], &KSK2017[30..]),
        1,
    );
    let read = anchors_from_xml(&commented, now).unwrap();
    assert_eq!(
        tags(&read.anchors),
        tags(&anchors_from_xml(REAL, now).unwrap().anchors)
    );
}
