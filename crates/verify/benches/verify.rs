//! RRSIG verification per algorithm, all baselines in the same run:
//! (a) raw ring over pre-built signed bytes, the floor; (b) our API, signed
//! data assembly included, memo off; (c) hickory-proto's own verification;
//! (d) our API, memo hit; (e) our batch API on 2 threads, `BATCH` jobs.
//! `bench/verify.sh` prints the ratios.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::num::NonZeroUsize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anchorage_verify::{
    Budget, DnskeyVerifier, Job, Limits, Scratch, Verified, Verifier, VerifyError,
};
use anchorage_wire::proto::dnssec::Verifier as _;
use anchorage_wire::proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG, SigInput};
use anchorage_wire::proto::dnssec::{Algorithm, PublicKeyBuf};
use anchorage_wire::proto::rr::rdata::A;
use anchorage_wire::proto::rr::{DNSClass, Name, RData, Record, SerialNumber};
use anchorage_wire::{SignedData, signed_data};
use criterion::{Criterion, criterion_group};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

#[path = "../../../bench/control.rs"]
mod control;

/// Jobs per batch in (e); its time divided by this is the time per job.
const BATCH: usize = 32;
const INCEPTION: u32 = 1_700_000_000;
const EXPIRATION: u32 = INCEPTION + 30 * 86_400;
const NOW: u32 = INCEPTION + 86_400;

/// One algorithm's key, signed RRset and raw-ring closure inputs.
struct Case {
    label: &'static str,
    dnskey: DNSKEY,
    key: DnskeyVerifier,
    rrset: Vec<Record>,
    rrsig: Record,
    signed: Vec<u8>,
    sig: Vec<u8>,
    raw: Raw,
}

/// What raw ring needs, pre-split outside the timed loop.
enum Raw {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        params: &'static signature::RsaParameters,
    },
    Ring {
        algorithm: &'static dyn signature::VerificationAlgorithm,
        public: Vec<u8>,
    },
}

impl Raw {
    fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            Self::Rsa { n, e, params } => signature::RsaPublicKeyComponents { n, e }
                .verify(params, message, sig)
                .is_ok(),
            Self::Ring { algorithm, public } => {
                signature::UnparsedPublicKey::new(*algorithm, public)
                    .verify(message, sig)
                    .is_ok()
            }
        }
    }
}

fn owner() -> Name {
    Name::from_ascii("example.net.").unwrap()
}

/// A typical answer: `www.example.net. A` with two addresses.
fn rrset() -> Vec<Record> {
    [10, 11]
        .map(|n| {
            Record::from_rdata(
                Name::from_ascii("www.example.net.").unwrap(),
                300,
                RData::A(A(Ipv4Addr::new(192, 0, 2, n))),
            )
        })
        .to_vec()
}

fn case(
    label: &'static str,
    algorithm: u8,
    public: &[u8],
    raw: Raw,
    sign: &dyn Fn(&[u8]) -> Vec<u8>,
) -> Case {
    let dnskey = DNSKEY::with_flags(
        256,
        PublicKeyBuf::new(public.to_vec(), Algorithm::from_u8(algorithm)),
    );
    let key = DnskeyVerifier::new(&owner(), &dnskey);
    let rrset = rrset();
    let input = SigInput {
        type_covered: rrset[0].record_type(),
        algorithm: Algorithm::from_u8(algorithm),
        num_labels: 3,
        original_ttl: 300,
        sig_expiration: SerialNumber::new(EXPIRATION),
        sig_inception: SerialNumber::new(INCEPTION),
        key_tag: key.tag(),
        signer_name: owner(),
    };
    let mut buf = SignedData::new();
    let signed = signed_data(&input, &rrset, &mut buf).unwrap().to_vec();
    let sig = sign(&signed);
    let rrsig = Record::from_rdata(
        rrset[0].name.clone(),
        300,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig.clone()))),
    );
    Case {
        label,
        dnskey,
        key,
        rrset,
        rrsig,
        signed,
        sig,
        raw,
    }
}

/// RFC 3110 §2 public key from ring's (n, e).
fn rsa_case(label: &'static str, pkcs8: &[u8]) -> Case {
    let pair = RsaKeyPair::from_pkcs8(pkcs8).unwrap();
    let components: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
    let mut public = vec![u8::try_from(components.e.len()).unwrap()];
    public.extend_from_slice(&components.e);
    public.extend_from_slice(&components.n);
    let rng = SystemRandom::new();
    let raw = Raw::Rsa {
        n: components.n.clone(),
        e: components.e.clone(),
        params: &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
    };
    case(label, 8, &public, raw, &|msg| {
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
            .unwrap();
        sig
    })
}

fn ecdsa_case(
    label: &'static str,
    algorithm: u8,
    signing: &'static signature::EcdsaSigningAlgorithm,
    verifying: &'static signature::EcdsaVerificationAlgorithm,
) -> Case {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(signing, doc.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let raw = Raw::Ring {
        algorithm: verifying,
        public: point.clone(),
    };
    case(label, algorithm, &point[1..], raw, &|msg| {
        pair.sign(&rng, msg).unwrap().as_ref().to_vec()
    })
}

fn cases() -> Vec<Case> {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
    let pk8 = |file: &str| std::fs::read(format!("{data}{file}")).unwrap();
    let ed = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap();
    let ed_public = ed.public_key().as_ref().to_vec();
    vec![
        rsa_case("rsa2048", &pk8("rsa2048.pk8")),
        rsa_case("rsa4096", &pk8("rsa4096.pk8")),
        ecdsa_case(
            "p256",
            13,
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &signature::ECDSA_P256_SHA256_FIXED,
        ),
        ecdsa_case(
            "p384",
            14,
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &signature::ECDSA_P384_SHA384_FIXED,
        ),
        case(
            "ed25519",
            15,
            &ed_public,
            Raw::Ring {
                algorithm: &signature::ED25519,
                public: ed_public.clone(),
            },
            &|msg| ed.sign(msg).as_ref().to_vec(),
        ),
    ]
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(NOW))
}

/// A verifier without the memo: every check does the math (b, e).
fn memo_off() -> Verifier {
    Verifier::new(Limits {
        memo_entries: 0,
        ..Limits::default()
    })
}

impl Case {
    /// One check of the case's RRSIG through our public API.
    fn verify_with(&self, v: &Verifier, scratch: &mut Scratch) -> Result<Verified, VerifyError> {
        v.verify_rrset(
            &self.key,
            &self.rrset,
            &self.rrsig,
            now(),
            &mut Budget::new(1),
            scratch,
        )
    }

    /// (a): raw ring over the pre-built signed bytes.
    fn raw_check(&self) -> bool {
        self.raw
            .verify(black_box(&self.signed), black_box(&self.sig))
    }

    /// (c): hickory-proto's own verification of the case's RRSIG.
    fn hickory(&self) -> bool {
        let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &self.rrsig.data else {
            unreachable!()
        };
        self.dnskey
            .verify_rrsig(&self.rrset[0].name, DNSClass::IN, rrsig, self.rrset.iter())
            .is_ok()
    }

    /// [`BATCH`] jobs, each the case's RRSIG.
    fn jobs(&self) -> Vec<Job<'_>> {
        (0..BATCH)
            .map(|_| Job {
                key: &self.key,
                rrset: &self.rrset,
                rrsig: &self.rrsig,
            })
            .collect()
    }
}

fn verify(c: &mut Criterion) {
    let two = NonZeroUsize::new(2).unwrap();
    for case in cases() {
        let cold = memo_off();
        let warm = Verifier::default();
        let mut scratch = Scratch::new();
        let run = |v: &Verifier, scratch: &mut Scratch| case.verify_with(v, scratch);
        // Every contender must accept the signature, or the timings mean nothing.
        assert!(case.raw_check(), "{}", case.label);
        assert!(!run(&cold, &mut scratch).unwrap().memo_hit);
        assert!(!run(&warm, &mut scratch).unwrap().memo_hit);
        assert!(run(&warm, &mut scratch).unwrap().memo_hit);
        assert!(case.hickory(), "{}", case.label);
        let jobs = case.jobs();
        assert!(
            cold.verify_batch(&jobs, now(), two)
                .iter()
                .all(Result::is_ok)
        );

        let mut group = c.benchmark_group(format!("verify/{}", case.label));
        group.bench_function("a_ring", |b| b.iter(|| case.raw_check()));
        group.bench_function("b_ours_cold", |b| b.iter(|| run(&cold, &mut scratch)));
        group.bench_function("c_hickory", |b| b.iter(|| case.hickory()));
        group.bench_function("d_memo_hit", |b| b.iter(|| run(&warm, &mut scratch)));
        group.bench_function("e_batch2", |b| {
            b.iter(|| cold.verify_batch(black_box(&jobs), now(), two));
        });
        group.finish();
    }
}

/// Where spreading a batch over 2 threads starts to pay: `n` jobs, all
/// needing the math, on the caller's thread alone (`serial`) or spread
/// whatever their number (`two`). Sets `DEFAULT_BATCH_PARALLEL_MIN`.
fn batch_crossover(c: &mut Criterion) {
    let two = NonZeroUsize::new(2).unwrap();
    let limits = |batch_parallel_min| Limits {
        memo_entries: 0,
        batch_parallel_min,
        ..Limits::default()
    };
    let serial = Verifier::new(limits(usize::MAX));
    let spread = Verifier::new(limits(0));
    for case in cases()
        .into_iter()
        .filter(|c| ["rsa2048", "p256"].contains(&c.label))
    {
        let mut group = c.benchmark_group(format!("batch_n/{}", case.label));
        for n in [2, 3, 4, 6, 8] {
            let jobs: Vec<Job<'_>> = (0..n)
                .map(|_| Job {
                    key: &case.key,
                    rrset: &case.rrset,
                    rrsig: &case.rrsig,
                })
                .collect();
            group.bench_function(format!("serial/{n}"), |b| {
                b.iter(|| serial.verify_batch(black_box(&jobs), now(), two));
            });
            group.bench_function(format!("two/{n}"), |b| {
                b.iter(|| spread.verify_batch(black_box(&jobs), now(), two));
            });
        }
        group.finish();
    }
}

/// What a memo hit no longer does: assemble the signed data, digest it.
fn parts(c: &mut Criterion) {
    let rrset = rrset();
    let input = SigInput {
        type_covered: rrset[0].record_type(),
        algorithm: Algorithm::RSASHA256,
        num_labels: 3,
        original_ttl: 300,
        sig_expiration: SerialNumber::new(EXPIRATION),
        sig_inception: SerialNumber::new(INCEPTION),
        key_tag: 1,
        signer_name: owner(),
    };
    let mut buf = SignedData::new();
    let mut group = c.benchmark_group("parts");
    group.bench_function("signed_data_a_x2", |b| {
        b.iter(|| signed_data(black_box(&input), &rrset, &mut buf).map(<[u8]>::len));
    });
    let bytes = [0x5a_u8; 384];
    group.bench_function("sha256_384_bytes", |b| {
        b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(&bytes)));
    });
    group.finish();
}

/// Rounds in the paired measurement.
const PAIRED_ROUNDS: usize = 301;
/// Memo hits (d) timed in a round per check of the other contenders.
const MEMO_HITS_PER_CHECK: u32 = 8;

/// The ratios measured in rounds: each round times `BATCH` raw-ring
/// checks (a), `BATCH` of our single calls (b), `BATCH` of hickory's (c),
/// `BATCH` x [`MEMO_HITS_PER_CHECK`] memo hits (d),
/// one batch of `BATCH` on 2 threads (e), and the control (`bench/control.rs`)
/// as long as (b) on one thread and split over two (a parked thread woken
/// for the second half, as a batch wakes its pool thread), back to back in wall
/// time, in an order that rotates from round to round. Criterion measures
/// the contenders seconds apart, and this host's speed drifts by more than
/// the margins asked for between them; within a round it barely moves.
/// Prints, per algorithm, the median [min..max] of the per-round b/a, b/c,
/// b/d, e/b and the control's 2/1.
fn paired() {
    let two = NonZeroUsize::new(2).unwrap();
    println!(
        "paired rounds ({PAIRED_ROUNDS} rounds of {BATCH} checks per contender), memo off, wall time:"
    );
    // The control's second thread: parked between rounds and woken for
    // each, as the batch pool's thread is.
    let helper = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread");
    // Control steps per second on this thread, to size it like (b).
    let steps_per_s = {
        let start = std::time::Instant::now();
        black_box(control::control_steps(black_box(20_000_000), 1));
        20e6 / start.elapsed().as_secs_f64()
    };
    for case in cases() {
        let cold = memo_off();
        let mut scratch = Scratch::new();
        let jobs = case.jobs();
        let time = |f: &mut dyn FnMut() -> bool| {
            let start = std::time::Instant::now();
            for _ in 0..BATCH {
                assert!(black_box(f()));
            }
            start.elapsed().as_secs_f64()
        };
        let wall = |f: &dyn Fn()| {
            let start = std::time::Instant::now();
            f();
            start.elapsed().as_secs_f64()
        };
        let single = time(&mut || case.verify_with(&cold, &mut scratch).is_ok());
        let steps = control_steps_for(steps_per_s * single / 2.0);
        let warm = Verifier::default();
        let mut warm_scratch = Scratch::new();
        assert!(!case.verify_with(&warm, &mut warm_scratch).unwrap().memo_hit);
        let mut contenders: [Box<dyn FnMut() -> f64 + '_>; 7] = [
            Box::new(|| time(&mut || case.raw_check())),
            Box::new(|| time(&mut || case.verify_with(&cold, &mut scratch).is_ok())),
            Box::new(|| time(&mut || case.hickory())),
            Box::new(|| {
                wall(&|| {
                    let all = cold.verify_batch(black_box(&jobs), now(), two);
                    assert!(all.iter().all(Result::is_ok));
                })
            }),
            Box::new(|| {
                wall(&|| {
                    black_box(control::control_steps(2 * steps, 3));
                })
            }),
            Box::new(|| {
                wall(&|| {
                    helper.in_place_scope(|s| {
                        s.spawn(|_| {
                            black_box(control::control_steps(steps, 5));
                        });
                        black_box(control::control_steps(steps, 7));
                    });
                })
            }),
            // (d): memo hits, MEMO_HITS_PER_CHECK per check of the others,
            // so the round's timing is not lost in the clock's own cost.
            Box::new(|| {
                let mut all = 0.0;
                for _ in 0..MEMO_HITS_PER_CHECK {
                    all += time(&mut || {
                        case.verify_with(&warm, &mut warm_scratch)
                            .is_ok_and(|v| v.memo_hit)
                    });
                }
                all / f64::from(MEMO_HITS_PER_CHECK)
            }),
        ];
        contenders[3](); // starts the pool
        let ratios = rounds(&mut contenders);
        let [ba, bc, bd, eb, control] = ratios.map(median_spread);
        println!(
            "paired {:8} b/a {ba}  b/c {bc}  b/d {bd}  e/b {eb}  control 2/1 {control}",
            case.label
        );
    }
}

/// Runs the paired rounds over the contenders (a, b, c, e, control alone,
/// control split, d) and returns per round b/a, b/c, b/d, e/b and the
/// control's 2/1.
fn rounds(contenders: &mut [Box<dyn FnMut() -> f64 + '_>; 7]) -> [Vec<f64>; 5] {
    let mut ratios: [Vec<f64>; 5] = Default::default();
    for round in 0..PAIRED_ROUNDS {
        let mut t = [0.0; 7];
        for k in 0..t.len() {
            let which = (round + k) % t.len();
            t[which] = contenders[which]();
        }
        let [raw, ours, hickory, batch, alone, split, memo] = t;
        for (into, ratio) in ratios.iter_mut().zip([
            raw / ours,
            hickory / ours,
            ours / memo,
            ours / batch,
            alone / split,
        ]) {
            into.push(ratio);
        }
    }
    ratios
}

/// Steps of the control for `steps` (a positive count, as a float).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn control_steps_for(steps: f64) -> u64 {
    steps.max(1.0) as u64
}

/// "median [min..max]" of `xs`.
fn median_spread(xs: Vec<f64>) -> String {
    let (median, min, max) = control::median_min_max(xs);
    format!("{median:.3} [{min:.2}..{max:.2}]")
}

/// Runs one contender `n` times for an instruction counter (callgrind):
/// `--count <a|b|c|d> <alg> <n>`; `n = 0` gives the setup's own count.
fn count(args: &[String]) {
    let [contender, label, n] = args else {
        panic!("usage: --count <a|b|c|d> <alg> <n>");
    };
    let n: u64 = n.parse().expect("a count");
    let case = cases()
        .into_iter()
        .find(|c| c.label == label)
        .expect("an algorithm of the bench");
    let (cold, warm) = (memo_off(), Verifier::default());
    let mut scratch = Scratch::new();
    // Warm the scratch buffers and the memo outside the count's loop.
    assert!(case.verify_with(&cold, &mut scratch).is_ok());
    assert!(case.verify_with(&warm, &mut scratch).is_ok());
    for _ in 0..n {
        let ok = match contender.as_str() {
            "a" => case.raw_check(),
            "b" => case.verify_with(&cold, &mut scratch).is_ok(),
            "c" => case.hickory(),
            "d" => case.verify_with(&warm, &mut scratch).is_ok(),
            other => panic!("no contender {other}"),
        };
        assert!(black_box(ok));
    }
}

criterion_group!(benches, verify, batch_crossover, parts);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--count") {
        count(&args[at + 1..]);
        return;
    }
    // `--paired` (after `--`): the paired e/b measurement instead of criterion's.
    if std::env::args().any(|a| a == "--paired") {
        paired();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
