//! Validation against the testbed: every manifest category, the defect
//! zones' verdicts and EDEs, the KeyTrap budget, NTAs, the key cache and
//! the injected clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use anchorage_validator::limits::DEFAULT_KEYS_PER_RRSET;
use anchorage_validator::{
    Bogus, BudgetKind, Insecure, Limits, NegativeTrustAnchors, Security, TrustAnchors, Validator,
};
use anchorage_wire::EdeCode;
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::{Name, RecordType};
use common::{check, now, recursor, resolve, testbed, testbed_at, validator};

fn rtype(mnemonic: &str) -> RecordType {
    mnemonic.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_names_get_ad_and_insecure_names_get_noerror_without_ad() {
    let bed = testbed(230, 27, false);
    let r = recursor(&bed).await;
    let v = validator(&bed, Limits::default());
    let mut seen = [0usize; 2];
    for entry in bed
        .manifest()
        .of("secure")
        .chain(bed.manifest().of("insecure"))
    {
        let (answer, validated) = check(&v, &r, &entry.name, rtype(entry.qtype), now()).await;
        let secure = entry.category.label() == "secure";
        let want = if secure {
            Security::Secure
        } else {
            Security::Insecure
        };
        assert_eq!(
            validated.status.security(),
            want,
            "{} {}: {:?}",
            entry.name,
            entry.qtype,
            validated.status
        );
        assert_eq!(validated.rcode(answer.rcode), ResponseCode::NoError);
        assert_eq!(validated.authentic_data(true), secure);
        assert_eq!(validated.ede(), None, "{}", entry.name);
        seen[usize::from(!secure)] += 1;
    }
    assert!(seen[0] >= 60 && seen[1] >= 8, "{seen:?}");
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsec_and_nsec3_denials_wildcards_and_cnames_are_proven() {
    let bed = testbed(231, 10, false);
    let r = recursor(&bed).await;
    let v = validator(&bed, Limits::default());
    let mut checked = 0;
    for label in ["nxdomain", "nodata", "wildcard", "cname"] {
        for entry in bed.manifest().of(label) {
            let (answer, validated) = check(&v, &r, &entry.name, rtype(entry.qtype), now()).await;
            // An alias may lead into an insecure zone; every other entry is secure.
            let ok = validated.status.security() == Security::Secure
                || (label == "cname" && validated.status.security() == Security::Insecure);
            assert!(
                ok,
                "{label} {} {}: {:?}",
                entry.name, entry.qtype, validated.status
            );
            if label == "nxdomain" {
                assert_eq!(validated.rcode(answer.rcode), ResponseCode::NXDomain);
            }
            if matches!(label, "nxdomain" | "nodata") {
                assert!(
                    !validated.denials.is_empty(),
                    "{}: no range for RFC 8198",
                    entry.name
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked}");
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_nodata_and_ds_nodata_at_an_insecure_delegation_are_secure() {
    let bed = testbed(232, 10, false);
    let r = recursor(&bed).await;
    let v = validator(&bed, Limits::default());
    // z0.com: NSEC; z1.net: NSEC3.
    for zone in ["z0.com.", "z1.net."] {
        let (answer, validated) =
            check(&v, &r, &format!("x7.wild.{zone}"), RecordType::MX, now()).await;
        assert!(answer.is_nodata(), "{zone}");
        assert_eq!(
            validated.status,
            anchorage_validator::Status::Secure,
            "{zone}"
        );
    }
    // z8 is unsigned: its parent proves there is no DS, with NSEC.
    let (answer, validated) = check(&v, &r, "z8.xn--j6w193g.", RecordType::DS, now()).await;
    assert!(answer.is_nodata());
    assert_eq!(validated.status, anchorage_validator::Status::Secure);
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cname_from_a_secure_zone_into_an_insecure_one_is_insecure() {
    let bed = testbed(233, 10, false);
    let r = recursor(&bed).await;
    let v = validator(&bed, Limits::default());
    // alias.z7 points at www.z8, an unsigned zone.
    let (answer, validated) = check(&v, &r, "alias.z7.org.", RecordType::A, now()).await;
    assert_eq!(answer.records_of(RecordType::CNAME).count(), 1);
    assert!(
        matches!(
            validated.status,
            anchorage_validator::Status::Insecure(Insecure::NoDs { .. })
        ),
        "{:?}",
        validated.status
    );
    assert!(!validated.authentic_data(true));
    // alias.z8 (unsigned) points into the signed z9.
    let (_, validated) = check(&v, &r, "alias.z8.xn--j6w193g.", RecordType::A, now()).await;
    assert_eq!(validated.status.security(), Security::Insecure);
    bed.stop();
}

/// The EDE each defect's probe must carry.
fn expected(reason: &str) -> Option<(Security, Option<EdeCode>)> {
    Some(match reason {
        "bad-signature" | "dnskey-signed-by-zsk-only" | "keytrap" => {
            (Security::Bogus, Some(EdeCode::DnssecBogus))
        }
        "expired-rrsig" => (Security::Bogus, Some(EdeCode::SignatureExpired)),
        "not-yet-valid-rrsig" => (Security::Bogus, Some(EdeCode::SignatureNotYetValid)),
        "ds-mismatch" => (Security::Bogus, Some(EdeCode::DnskeyMissing)),
        "missing-rrsigs" => (Security::Bogus, Some(EdeCode::RrsigsMissing)),
        "missing-denial" => (Security::Bogus, Some(EdeCode::NsecMissing)),
        _ => return None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_defect_zone_gives_its_manifest_verdict_and_ede() {
    let bed = testbed(234, 2, true);
    let r = recursor(&bed).await;
    let v = validator(&bed, Limits::default());
    let mut checked = 0;
    for entry in bed
        .manifest()
        .entries
        .iter()
        .filter(|e| e.name.contains(".d-"))
    {
        let qtype = rtype(entry.qtype);
        let reason = entry
            .name
            .split(".d-")
            .nth(1)
            .and_then(|z| z.strip_suffix(".com."))
            .unwrap();
        let Ok(answer) = resolve(&r, &entry.name, qtype).await else {
            // Server defects (lame, unresponsive, spoofing, CNAME loop) end
            // in the iterator: SERVFAIL before validation.
            assert_eq!(entry.category.label(), "bogus", "{}", entry.name);
            continue;
        };
        let validated = common::bounded(v.validate(&answer, &r, now())).await;
        let ede = validated.ede().map(|(code, _)| code);
        match (entry.category.label(), reason) {
            ("insecure", "unsupported-algorithm" | "private-algorithm") => {
                assert_eq!(
                    ede,
                    Some(EdeCode::UnsupportedDnskeyAlgorithm),
                    "{}",
                    entry.name
                );
            }
            ("insecure", "unsupported-digest") => {
                assert_eq!(
                    ede,
                    Some(EdeCode::UnsupportedDsDigestType),
                    "{}",
                    entry.name
                );
            }
            ("insecure", "nsec3-500-iterations") => {
                assert_eq!(
                    ede,
                    Some(EdeCode::UnsupportedNsec3Iterations),
                    "{}",
                    entry.name
                );
            }
            ("insecure", _) => panic!("unexpected insecure probe {}", entry.name),
            ("secure", _) => {
                assert_eq!(
                    validated.status.security(),
                    Security::Secure,
                    "{}",
                    entry.name
                );
                continue;
            }
            (_, reason) => {
                let Some((security, code)) = expected(reason) else {
                    // Out-of-bailiwick poison is scrubbed by the iterator; what
                    // is left must still validate.
                    assert_ne!(
                        validated.status.security(),
                        Security::Indeterminate,
                        "{}",
                        entry.name
                    );
                    continue;
                };
                assert_eq!(
                    validated.status.security(),
                    security,
                    "{}: {:?}",
                    entry.name,
                    validated.status
                );
                assert_eq!(ede, code, "{}: {:?}", entry.name, validated.status);
                assert_eq!(validated.rcode(answer.rcode), ResponseCode::ServFail);
                assert!(!validated.authentic_data(true));
            }
        }
        if entry.category.label() == "insecure" {
            assert_eq!(
                validated.status.security(),
                Security::Insecure,
                "{}",
                entry.name
            );
            assert_eq!(validated.rcode(answer.rcode), answer.rcode);
        }
        checked += 1;
    }
    assert!(checked >= 12, "{checked}");
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keytrap_zone_stays_within_the_per_rrset_budget() {
    let bed = testbed(235, 1, true);
    let r = recursor(&bed).await;
    let v = validator(&bed, Limits::default());
    // Warm the chain: the apex MX is signed normally.
    let (_, warm) = check(&v, &r, "d-keytrap.com.", RecordType::MX, now()).await;
    assert_eq!(warm.status, anchorage_validator::Status::Secure);
    let (_, trapped) = check(&v, &r, "www.d-keytrap.com.", RecordType::A, now()).await;
    assert_eq!(
        trapped.status,
        anchorage_validator::Status::Bogus(Bogus::Budget {
            kind: BudgetKind::ChecksPerRrset,
            limit: DEFAULT_KEYS_PER_RRSET,
        })
    );
    assert_eq!(trapped.signature_checks, DEFAULT_KEYS_PER_RRSET);
    assert_eq!(
        trapped.fetches, 0,
        "the zone's keys came from the key cache"
    );
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_trust_anchor_makes_a_bogus_zone_insecure_until_it_expires() {
    let bed = testbed(236, 1, true);
    let r = recursor(&bed).await;
    let v = validator(&bed, Limits::default());
    let zone = Name::from_ascii("d-bad-signature.com.").unwrap();
    let ntas = NegativeTrustAnchors::empty().with(&zone, Some(Duration::from_hours(1)), now());
    v.set_negative_anchors(Arc::new(ntas));
    let (answer, validated) = check(&v, &r, "www.d-bad-signature.com.", RecordType::A, now()).await;
    assert!(matches!(
        validated.status,
        anchorage_validator::Status::Insecure(Insecure::NegativeTrustAnchor { .. })
    ));
    assert_eq!(validated.rcode(answer.rcode), ResponseCode::NoError);
    assert!(!validated.authentic_data(true));
    let later = now() + Duration::from_hours(1);
    let validated = common::bounded(v.validate(&answer, &r, later)).await;
    assert_eq!(validated.status.security(), Security::Bogus);
    let stats = v.stats();
    assert_eq!((stats.insecure, stats.bogus, stats.secure), (1, 1, 0));
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_cache_spares_fetches_and_signatures_expire_on_the_injected_clock() {
    let bed = testbed(237, 3, false);
    let r = recursor(&bed).await;
    let v = validator(&bed, Limits::default());
    let (answer, first) = check(&v, &r, "www.z0.com.", RecordType::A, now()).await;
    assert_eq!(first.status, anchorage_validator::Status::Secure);
    assert!(first.fetches >= 3, "{}", first.fetches);
    let again = common::bounded(v.validate(&answer, &r, now())).await;
    assert_eq!(again.status, anchorage_validator::Status::Secure);
    assert_eq!(again.fetches, 0);
    assert_eq!(again.signature_checks, 0, "memo hits are free");
    assert!(
        again.memo_hits >= 1,
        "the answer's RRSIG came from the memo"
    );
    let stats = v.stats();
    assert_eq!((stats.validations, stats.secure, stats.bogus), (2, 2, 0));
    assert_eq!(
        stats.signature_checks,
        u64::from(first.signature_checks),
        "{stats:?}"
    );
    assert_eq!(
        stats.memo_hits,
        u64::from(first.memo_hits + again.memo_hits)
    );
    assert_eq!(stats.fetches, u64::from(first.fetches));
    assert!(stats.verify_nanos > 0);
    // Two days on, every signature of the testbed has expired.
    let fresh = validator(&bed, Limits::default());
    let late = now() + Duration::from_hours(48);
    let expired = common::bounded(fresh.validate(&answer, &r, late)).await;
    assert_eq!(
        expired.ede().map(|(c, _)| c),
        Some(EdeCode::SignatureExpired),
        "{:?}",
        expired.status
    );
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_under_a_signed_dname_are_secure_cold_and_from_the_cached_dname() {
    let bed = testbed(240, 3, false);
    let r = recursor(&bed).await;
    let v = validator(&bed, Limits::default());
    // The first learns the DNAME upstream; the second is answered from it.
    for name in ["ns1.dname.z0.com.", "ns2.dname.z0.com."] {
        let (answer, validated) = check(&v, &r, name, RecordType::A, now()).await;
        assert!(
            answer
                .answers
                .iter()
                .any(|r| r.record_type() == RecordType::DNAME),
            "{name}: {:?}",
            answer.answers
        );
        assert_eq!(
            validated.status,
            anchorage_validator::Status::Secure,
            "{name}"
        );
        assert_eq!(validated.rcode(answer.rcode), ResponseCode::NoError);
    }
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_validations_of_one_zone_fetch_its_chain_once() {
    let bed = testbed(239, 3, false);
    let r = recursor(&bed).await;
    let answer = resolve(&r, "www.z0.com.", RecordType::A).await.unwrap();
    // What one validation alone fetches for this chain.
    let alone =
        common::bounded(validator(&bed, Limits::default()).validate(&answer, &r, now())).await;
    assert!(alone.fetches >= 3, "{}", alone.fetches);
    // Twenty at once, on a cold key cache: they wait for each other's
    // work instead of each fetching and checking the same keys.
    let v = Arc::new(validator(&bed, Limits::default()));
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (v, r, answer) = (Arc::clone(&v), r.clone(), Arc::clone(&answer));
        all.spawn(async move { v.validate(&answer, &r, now()).await.status });
    }
    let statuses = common::bounded(all.join_all()).await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == anchorage_validator::Status::Secure)
    );
    assert_eq!(
        v.stats().fetches,
        u64::from(alone.fetches),
        "{:?}",
        v.stats()
    );
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_anchor_answers_are_indeterminate() {
    let bed = testbed(238, 1, false);
    let r = recursor(&bed).await;
    let v = anchorage_validator::Validator::new(
        Arc::new(anchorage_validator::TrustAnchors::empty()),
        Limits::default(),
    );
    let (_, validated) = check(&v, &r, "www.z0.com.", RecordType::A, now()).await;
    assert_eq!(validated.status, anchorage_validator::Status::Indeterminate);
    assert!(!validated.authentic_data(true));
    assert_eq!(validated.fetches, 0);
    bed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_link_mid_chain_is_proven_by_its_own_replys_nsec() {
    // New tests use 127.43.x.x (port 15463).
    let bed = testbed_at(
        anchorage_testbed::AddressPlan {
            net: 43,
            port: 15463,
        },
        4,
        false,
    );
    let r = recursor(&bed).await;
    let v = validator(&bed, Limits::default());
    let mut checked = 0;
    for entry in bed.manifest().of("cname") {
        if !entry.name.contains(".wcname.") {
            continue;
        }
        // host.wcname.zN CNAME (from *.wcname.zN) www.zN+1: two zones, two replies.
        let (answer, validated) = check(&v, &r, &entry.name, RecordType::A, now()).await;
        assert_eq!(
            validated.status,
            anchorage_validator::Status::Secure,
            "{}",
            entry.name
        );
        assert!(answer.records_of(RecordType::A).next().is_some());
        assert!(
            !answer.link_proofs.is_empty(),
            "{}: the first reply's NSEC/NSEC3 is kept",
            entry.name
        );
        // Without the link's proof, or with it unsigned, the expansion is unproven.
        let mut stripped = (*answer).clone();
        stripped.link_proofs.clear();
        let unproven = common::bounded(v.validate(&stripped, &r, now())).await;
        assert!(
            matches!(
                unproven.status,
                anchorage_validator::Status::Bogus(Bogus::NsecMissing { .. })
            ),
            "{}: {:?}",
            entry.name,
            unproven.status
        );
        let mut unsigned = (*answer).clone();
        unsigned
            .link_proofs
            .retain(|r| r.record_type() != RecordType::RRSIG);
        let unsigned = common::bounded(v.validate(&unsigned, &r, now())).await;
        assert_eq!(
            unsigned.status.security(),
            Security::Bogus,
            "{}",
            entry.name
        );
        // A negative trust anchor over the target's zone makes the chain insecure.
        let target = answer
            .records_of(RecordType::CNAME)
            .find_map(|r| match &r.data {
                anchorage_wire::proto::rr::RData::CNAME(c) => Some(c.0.base_name()),
                _ => None,
            })
            .unwrap();
        let ntas = NegativeTrustAnchors::empty().with(&target, None, now());
        let with_nta = Validator::new(
            Arc::new(TrustAnchors::from_zone_text(&bed.trust_anchor()).unwrap()),
            Limits::default(),
        );
        with_nta.set_negative_anchors(Arc::new(ntas));
        let insecure = common::bounded(with_nta.validate(&answer, &r, now())).await;
        assert!(
            matches!(
                insecure.status,
                anchorage_validator::Status::Insecure(Insecure::NegativeTrustAnchor { .. })
            ),
            "{} -> {target}: {:?}",
            entry.name,
            insecure.status
        );
        checked += 1;
    }
    assert_eq!(checked, 4, "every zone's wildcard CNAME checked");
    bed.stop();
}
