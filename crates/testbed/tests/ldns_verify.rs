//! Every exported zone of a hierarchy passes `ldns-verify-zone`, an
//! independent validator (Debian ldnsutils), and every zone-data defect
//! fails it.

use std::path::Path;
use std::process::Command;

use anchorage_testbed::defects::Defect;
use anchorage_testbed::hierarchy::{AddressPlan, HierarchyConfig, build};
use anchorage_testbed::output::{write_outputs, zone_file_name};
use anchorage_testbed::signer::Validity;

/// Signature validity around a fixed instant the test also hands to ldns.
const NOW: u32 = 1_800_000_000;

fn verify(path: &Path) -> (bool, String) {
    // -t: check signatures as of NOW, not the wall clock.
    let out = Command::new("ldns-verify-zone")
        .arg("-t")
        .arg(ldns_time(NOW))
        .arg(path)
        .output()
        .expect("ldns-verify-zone must be installed: run deploy/install-test-deps.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `YYYYMMDDhhmmss` in UTC, the form `ldns-verify-zone -t` takes.
fn ldns_time(unix: u32) -> String {
    let days = i64::from(unix / 86_400);
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// What ldns-verify-zone says about each zone-data defect.
fn ldns_complaint(defect: Defect) -> &'static str {
    match defect {
        Defect::BadSignature => "Bogus DNSSEC signature for www.",
        Defect::ExpiredRrsig => "signature has expired",
        Defect::NotYetValidRrsig => "signature not incepted yet",
        Defect::MissingRrsigs => "no signatures for www.",
        Defect::MissingDenial => "NSEC",
        other => panic!("{other:?} is not a zone-data defect"),
    }
}

#[test]
fn ldns_time_formats_utc() {
    assert_eq!(ldns_time(1_800_000_000), "20270115080000");
}

#[test]
fn every_signed_zone_passes_ldns_verify_zone_and_zone_defects_fail_it() {
    let dir = std::env::temp_dir().join(format!("testbed-ldns-{}", std::process::id()));
    let hierarchy = build(HierarchyConfig {
        seed: 7,
        zones: 20,
        addresses: AddressPlan {
            net: 90,
            port: 5300,
        },
        validity: Validity::around(NOW, 86_400, 30 * 86_400),
        defects: true,
    })
    .unwrap();
    let paths = write_outputs(&hierarchy, &dir).unwrap();
    let mut checked = 0;
    let mut passed_algorithms = std::collections::BTreeSet::new();
    for served in &hierarchy.zones {
        if served.plan.is_none() {
            continue;
        }
        let path = paths.zones.join(zone_file_name(served.zone.origin()));
        let (ok, text) = verify(&path);
        match served.defect {
            Some(defect) if defect.in_zone_data() => {
                assert!(!ok, "{defect:?} zone passed ldns-verify-zone:\n{text}");
                let expected = ldns_complaint(defect);
                assert!(
                    text.contains(expected),
                    "{defect:?}: wanted {expected:?} in\n{text}"
                );
            }
            Some(Defect::PrivateAlgorithm) => {
                assert!(!ok, "ldns-verify-zone checked a private algorithm:\n{text}");
                assert!(text.contains("Unknown cryptographic algorithm"), "{text}");
            }
            // ldns (OpenSSL 3) implements Ed448 and finds the random
            // signatures bogus; only a validator without Ed448 calls the
            // zone insecure.
            Some(Defect::UnsupportedAlgorithm) => {
                assert!(!ok, "random Ed448 signatures passed:\n{text}");
                assert!(text.contains("Bogus DNSSEC signature"), "{text}");
            }
            _ => {
                assert!(ok, "{} failed:\n{text}", served.zone.origin());
                if let Some(plan) = &served.plan {
                    passed_algorithms.extend(plan.keys.iter().map(|e| e.key.algorithm().number()));
                }
            }
        }
        checked += 1;
    }
    assert!(checked > 20, "{checked}");
    // RSASHA1 (5) and RSASHA1-NSEC3-SHA1 (7) come from the `rsa` crate,
    // the rest from ring: every one of them passes.
    for algorithm in [5, 7, 8, 10, 13, 14, 15] {
        assert!(
            passed_algorithms.contains(&algorithm),
            "no zone of algorithm {algorithm} passed"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
