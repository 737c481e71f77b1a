//! Builds the whole signed tree from a seed: root, TLDs (NSEC, NSEC3,
//! NSEC3 opt-out, an IDN TLD), a hosting zone for glueless NS targets,
//! second-level zones of many shapes, and one zone per defect.
//!
//! The same seed and configuration give the same names, records and
//! manifest; Ed25519 keys are also the same, ECDSA signatures are not.

use std::net::Ipv4Addr;

use anchorage_wire::proto::dnssec::DigestType;
use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::rr::rdata::{A, NS, SOA};
use anchorage_wire::proto::rr::{Name, RData};
use ring::digest::{SHA256, digest};

use crate::content::{add_sld_content, sld_shape};
use crate::defects::{DEFECT_NSEC3_ITERATIONS, Defect, KEYTRAP_KEYS, damage_ds, damage_zone};
use crate::denial::Denial;
use crate::keys::{KeyAlgorithm, KeyError, KeyRole, ZoneKey};
use crate::manifest::Manifest;
use crate::signer::{KeyEntry, SignZoneError, SigningPlan, Validity, make_ds, sign_zone};
use crate::zone::{DEFAULT_TTL, Nsec3Params, Zone};

/// Servers hosting second-level zones (127.N.2.1 upward).
pub const DEFAULT_HOSTS: u8 = 8;
/// TTL of NS and glue in referrals and hints (two days, like the root's).
pub const DELEGATION_TTL: u32 = 172_800;
/// SOA minimum: negative-answer TTL (RFC 2308 §5).
pub const NEGATIVE_TTL: u32 = 300;
/// Most second-level zones one hierarchy may hold (addresses and names
/// are planned for this many).
pub const MAX_ZONES: usize = 100_000;

/// Where the servers of a hierarchy listen: 127.`net`.x.y on `port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPlan {
    /// Second octet of every server address; tests pick distinct ones.
    pub net: u8,
    /// UDP and TCP port of every server (53 needs privileges).
    pub port: u16,
}

impl AddressPlan {
    /// The root server's address (127.N.0.1).
    pub fn root(self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.net, 0, 1)
    }

    /// The address of TLD number `i`.
    pub fn tld(self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, self.net, 1, (i + 1) as u8)
    }

    /// The address of hosting server `k`.
    pub fn host(self, k: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.net, 2, k + 1)
    }

    /// The address of the server for defect number `i`.
    pub fn defect(self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, self.net, 3, (i + 1) as u8)
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct HierarchyConfig {
    /// Seed of every choice.
    pub seed: u64,
    /// Number of second-level zones besides the hosting and defect zones.
    pub zones: usize,
    /// Server addresses.
    pub addresses: AddressPlan,
    /// Validity of every signature (the defect zones shift it).
    pub validity: Validity,
    /// Whether to add one zone per [`Defect`].
    pub defects: bool,
}

/// A zone with where it is served and how it was signed.
#[derive(Debug)]
pub struct ServedZone {
    /// The zone, signed unless insecure.
    pub zone: Zone,
    /// The address of its server.
    pub server: Ipv4Addr,
    /// Its keys and signing parameters; `None` for an unsigned zone.
    pub plan: Option<SigningPlan>,
    /// The defect this zone demonstrates, if any.
    pub defect: Option<Defect>,
}

/// A built hierarchy.
#[derive(Debug)]
pub struct Hierarchy {
    /// The configuration it was built from.
    pub config: HierarchyConfig,
    /// The root first, then TLDs, then second-level zones.
    pub zones: Vec<ServedZone>,
    /// Categorised names.
    pub manifest: Manifest,
}

/// Why a hierarchy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A key could not be made.
    #[error("cannot make a key for {zone}")]
    Key {
        /// The zone.
        zone: String,
        /// The cause.
        #[source]
        source: KeyError,
    },
    /// A zone could not be signed.
    #[error("cannot sign {zone}")]
    Sign {
        /// The zone.
        zone: String,
        /// The cause.
        #[source]
        source: SignZoneError,
    },
    /// Too many zones asked for.
    #[error("{asked} zones asked for; at most {MAX_ZONES}")]
    TooManyZones {
        /// How many were asked for.
        asked: usize,
    },
    /// A generated name was invalid.
    #[error("generated name {name} is invalid")]
    BadName {
        /// The name.
        name: String,
    },
}

/// How a zone is signed.
#[derive(Debug, Clone)]
pub(crate) struct Signing {
    pub(crate) algorithm: KeyAlgorithm,
    pub(crate) split: bool,
    pub(crate) denial: Denial,
    pub(crate) digests: Vec<DigestType>,
}

/// One TLD of the fixed set.
struct TldSpec {
    label: &'static str,
    algorithm: KeyAlgorithm,
    split: bool,
    denial: fn() -> Denial,
    digests: &'static [DigestType],
}

const TLDS: [TldSpec; 5] = [
    TldSpec {
        label: "com",
        algorithm: KeyAlgorithm::EcdsaP256Sha256,
        split: true,
        denial: || Denial::Nsec,
        digests: &[DigestType::SHA256],
    },
    TldSpec {
        label: "net",
        algorithm: KeyAlgorithm::Ed25519,
        split: false,
        denial: || {
            Denial::Nsec3(Nsec3Params {
                iterations: 0,
                salt: vec![0xab, 0xcd],
                opt_out: false,
            })
        },
        digests: &[DigestType::SHA256, DigestType::SHA384],
    },
    TldSpec {
        label: "org",
        algorithm: KeyAlgorithm::RsaSha256,
        split: true,
        denial: || {
            Denial::Nsec3(Nsec3Params {
                iterations: 0,
                salt: Vec::new(),
                opt_out: true,
            })
        },
        digests: &[DigestType::SHA256],
    },
    TldSpec {
        label: "xn--j6w193g",
        algorithm: KeyAlgorithm::EcdsaP384Sha384,
        split: false,
        denial: || Denial::Nsec,
        digests: &[DigestType::SHA384],
    },
    TldSpec {
        label: "test",
        algorithm: KeyAlgorithm::Ed25519,
        split: true,
        denial: || Denial::Nsec,
        digests: &[DigestType::SHA1, DigestType::SHA256],
    },
];

/// The root's NS name; `anchorage.` itself is an empty non-terminal.
pub const ROOT_NS: &str = "ns.anchorage.";
/// The hosting zone whose names are the glueless NS targets.
pub const HOSTING_ZONE: &str = "hoster.net.";

/// A child to delegate to from its parent.
struct Delegation {
    name: Name,
    ns: Vec<(Name, Option<Ipv4Addr>)>,
    ds: Vec<anchorage_wire::proto::dnssec::rdata::DS>,
}

/// Builds a hierarchy; signing runs on every available core.
// The tree is built bottom-up in one pass; each block is one level.
#[allow(clippy::too_many_lines)]
pub fn build(config: HierarchyConfig) -> Result<Hierarchy, BuildError> {
    if config.zones > MAX_ZONES {
        return Err(BuildError::TooManyZones {
            asked: config.zones,
        });
    }
    let plan = config.addresses;
    let mut manifest = Manifest::default();
    let mut zones: Vec<ServedZone> = Vec::new();
    let mut tld_children: Vec<Vec<Delegation>> = TLDS.iter().map(|_| Vec::new()).collect();

    // Hosting zone, under net. (TLD 1), on host 0.
    let hosting = parse(HOSTING_ZONE)?;
    let mut hz = Zone::new(hosting.clone());
    add_soa(&mut hz)?;
    let ns1 = hosting
        .prepend_label("ns1")
        .map_err(|_| bad(HOSTING_ZONE))?;
    hz.add_rdata(&hosting, DELEGATION_TTL, RData::NS(NS(ns1.clone())));
    hz.add_rdata(&ns1, DELEGATION_TTL, RData::A(A::from(plan.host(0))));
    for k in 0..DEFAULT_HOSTS {
        let host = hosting
            .prepend_label(format!("ns{}", k + 1).as_str())
            .map_err(|_| bad(HOSTING_ZONE))?;
        if k > 0 {
            hz.add_rdata(&host, DELEGATION_TTL, RData::A(A::from(plan.host(k))));
        }
    }
    let signing = Signing {
        algorithm: KeyAlgorithm::Ed25519,
        split: false,
        denial: Denial::Nsec,
        digests: vec![DigestType::SHA256],
    };
    let hplan = make_plan(&hosting, &signing, config.seed, config.validity)?;
    tld_children[1].push(Delegation {
        name: hosting.clone(),
        ns: vec![(ns1, Some(plan.host(0)))],
        ds: ds_set(&hosting, &hplan, &signing.digests, None),
    });
    zones.push(ServedZone {
        zone: hz,
        server: plan.host(0),
        plan: Some(hplan),
        defect: None,
    });

    // Second-level zones.
    for i in 0..config.zones {
        let tld = i % TLDS.len();
        let shape = sld_shape(config.seed, i);
        let name = parse(&format!("z{i}.{}.", TLDS[tld].label))?;
        let host = (i % usize::from(DEFAULT_HOSTS)) as u8;
        let served = build_sld(&name, &shape, plan.host(host), &config, None, &mut manifest)?;
        tld_children[tld].push(delegation_for(
            &name, &served, &shape, &hosting, host, None,
        )?);
        zones.push(served);
    }
    if config.defects {
        for (d, defect) in Defect::ALL.iter().copied().enumerate() {
            let name = parse(&format!("d-{}.com.", defect.name()))?;
            let mut shape = sld_shape(config.seed, d);
            shape.signing = Some(defect_signing(defect));
            shape.glueless = false;
            let server = if defect.in_server() {
                plan.defect(d)
            } else {
                plan.host(0)
            };
            let served = build_sld(&name, &shape, server, &config, Some(defect), &mut manifest)?;
            let (label, qtype, category) = defect.probe();
            manifest.push(format!("{label}.{name}"), qtype, category);
            tld_children[0].push(delegation_for(
                &name,
                &served,
                &shape,
                &hosting,
                0,
                Some(defect),
            )?);
            zones.push(served);
        }
    }

    // TLDs, then the root.
    let root = Name::root();
    let mut root_children = Vec::new();
    let mut top = Vec::new();
    for (t, (spec, children)) in TLDS.iter().zip(tld_children).enumerate() {
        let name = parse(&format!("{}.", spec.label))?;
        let signing = Signing {
            algorithm: spec.algorithm,
            split: spec.split,
            denial: (spec.denial)(),
            digests: spec.digests.to_vec(),
        };
        let tplan = make_plan(&name, &signing, config.seed, config.validity)?;
        let ns = name.prepend_label("ns1").map_err(|_| bad(spec.label))?;
        let mut zone = Zone::new(name.clone());
        add_soa(&mut zone)?;
        zone.add_rdata(&name, DELEGATION_TTL, RData::NS(NS(ns.clone())));
        zone.add_rdata(&ns, DELEGATION_TTL, RData::A(A::from(plan.tld(t))));
        for child in children {
            add_delegation(&mut zone, child);
        }
        root_children.push(Delegation {
            name: name.clone(),
            ns: vec![(ns, Some(plan.tld(t)))],
            ds: ds_set(&name, &tplan, &signing.digests, None),
        });
        top.push(ServedZone {
            zone,
            server: plan.tld(t),
            plan: Some(tplan),
            defect: None,
        });
    }
    let signing = Signing {
        algorithm: KeyAlgorithm::Ed25519,
        split: true,
        denial: Denial::Nsec,
        digests: vec![DigestType::SHA256],
    };
    let rplan = make_plan(&root, &signing, config.seed, config.validity)?;
    let mut rzone = Zone::new(root.clone());
    add_soa(&mut rzone)?;
    let root_ns = parse(ROOT_NS)?;
    rzone.add_rdata(&root, DELEGATION_TTL, RData::NS(NS(root_ns.clone())));
    rzone.add_rdata(&root_ns, DELEGATION_TTL, RData::A(A::from(plan.root())));
    for child in root_children {
        add_delegation(&mut rzone, child);
    }
    let mut all = vec![ServedZone {
        zone: rzone,
        server: plan.root(),
        plan: Some(rplan),
        defect: None,
    }];
    all.extend(top);
    all.extend(zones);
    sign_all(&mut all)?;
    Ok(Hierarchy {
        config,
        zones: all,
        manifest,
    })
}

fn defect_signing(defect: Defect) -> Signing {
    let algorithm = match defect {
        Defect::UnsupportedAlgorithm => KeyAlgorithm::UnsupportedEd448,
        Defect::PrivateAlgorithm => KeyAlgorithm::PrivateDns,
        _ => KeyAlgorithm::EcdsaP256Sha256,
    };
    let denial = if defect == Defect::Nsec3Iterations {
        Denial::Nsec3(Nsec3Params {
            iterations: DEFECT_NSEC3_ITERATIONS,
            salt: vec![1, 2, 3, 4],
            opt_out: false,
        })
    } else {
        Denial::Nsec
    };
    Signing {
        algorithm,
        split: true,
        denial,
        digests: vec![DigestType::SHA256],
    }
}

fn build_sld(
    name: &Name,
    shape: &crate::content::Shape,
    server: Ipv4Addr,
    config: &HierarchyConfig,
    defect: Option<Defect>,
    manifest: &mut Manifest,
) -> Result<ServedZone, BuildError> {
    let mut zone = Zone::new(name.clone());
    add_soa(&mut zone)?;
    add_sld_content(&mut zone, shape, server, config, defect, manifest)?;
    let mut validity = config.validity;
    let span = validity.expiration.wrapping_sub(validity.inception);
    match defect {
        Some(Defect::ExpiredRrsig) => {
            validity = Validity {
                inception: validity.inception.wrapping_sub(2 * span),
                expiration: validity.inception.wrapping_sub(span),
            };
        }
        Some(Defect::NotYetValidRrsig) => {
            validity = Validity {
                inception: validity.expiration.wrapping_add(span),
                expiration: validity.expiration.wrapping_add(2 * span),
            };
        }
        _ => {}
    }
    let mut plan = match &shape.signing {
        Some(signing) => Some(make_plan(name, signing, config.seed, validity)?),
        None => None,
    };
    if defect == Some(Defect::DnskeySignedByZskOnly)
        && let Some(plan) = &mut plan
    {
        for entry in &mut plan.keys {
            entry.signs_keys = !entry.key.is_ksk();
        }
    }
    if defect == Some(Defect::KeyTrap)
        && let Some(plan) = &mut plan
    {
        add_colliding_keys(plan, name, config.seed);
    }
    Ok(ServedZone {
        zone,
        server,
        plan,
        defect,
    })
}

/// Publishes keys that share the ZSK's key tag and sign nothing, so the
/// ZSK's tag names [`KEYTRAP_KEYS`] keys (KeyTrap, CVE-2023-50387).
fn add_colliding_keys(plan: &mut SigningPlan, name: &Name, seed: u64) {
    let Some(zsk) = plan.keys.iter().find(|e| e.signs_zone) else {
        return;
    };
    let (flags, tag) = (zsk.key.flags(), zsk.key.key_tag());
    for i in 1..KEYTRAP_KEYS {
        // Indexes past the real keys' 0 and 1.
        let key = ZoneKey::colliding(flags, tag, key_seed(seed, name, 10 + i as u8));
        plan.keys.push(KeyEntry {
            key,
            published: true,
            signs_keys: false,
            signs_zone: false,
        });
    }
}

fn delegation_for(
    name: &Name,
    served: &ServedZone,
    shape: &crate::content::Shape,
    hosting: &Name,
    host: u8,
    defect: Option<Defect>,
) -> Result<Delegation, BuildError> {
    let ns = if shape.glueless {
        let target = hosting
            .prepend_label(format!("ns{}", host + 1).as_str())
            .map_err(|_| bad(HOSTING_ZONE))?;
        vec![(target, None)]
    } else {
        let target = name.prepend_label("ns1").map_err(|_| bad("ns1"))?;
        vec![(target, Some(served.server))]
    };
    let ds = match (&served.plan, &shape.signing) {
        (Some(plan), Some(signing)) => ds_set(name, plan, &signing.digests, defect),
        _ => Vec::new(),
    };
    Ok(Delegation {
        name: name.clone(),
        ns,
        ds,
    })
}

fn ds_set(
    owner: &Name,
    plan: &SigningPlan,
    digests: &[DigestType],
    defect: Option<Defect>,
) -> Vec<anchorage_wire::proto::dnssec::rdata::DS> {
    plan.keys
        .iter()
        .filter(|e| e.key.is_ksk())
        .flat_map(|e| digests.iter().map(|d| make_ds(owner, &e.key, *d)))
        .map(|ds| match defect {
            Some(d) => damage_ds(ds, d),
            None => ds,
        })
        .collect()
}

fn add_delegation(zone: &mut Zone, child: Delegation) {
    for (ns, glue) in &child.ns {
        zone.add_rdata(&child.name, DELEGATION_TTL, RData::NS(NS(ns.clone())));
        if let Some(addr) = glue
            && zone.origin().zone_of(ns)
        {
            zone.add_rdata(ns, DELEGATION_TTL, RData::A(A::from(*addr)));
        }
    }
    for ds in child.ds {
        zone.add_rdata(&child.name, DEFAULT_TTL, RData::DNSSEC(DNSSECRData::DS(ds)));
    }
}

fn add_soa(zone: &mut Zone) -> Result<(), BuildError> {
    let origin = zone.origin().clone();
    let mname = origin.prepend_label("ns1").map_err(|_| bad("ns1"))?;
    let rname = origin
        .prepend_label("hostmaster")
        .map_err(|_| bad("hostmaster"))?;
    let soa = SOA::new(mname, rname, 1, 3600, 600, 86_400, NEGATIVE_TTL);
    zone.add_rdata(&origin, DEFAULT_TTL, RData::SOA(soa));
    Ok(())
}

/// Makes the keys for a zone; Ed25519 keys depend only on seed and name.
pub(crate) fn make_plan(
    name: &Name,
    signing: &Signing,
    seed: u64,
    validity: Validity,
) -> Result<SigningPlan, BuildError> {
    let key = |role: KeyRole, index: u8| {
        ZoneKey::generate(signing.algorithm, role, key_seed(seed, name, index)).map_err(|source| {
            BuildError::Key {
                zone: name.to_string(),
                source,
            }
        })
    };
    let keys = if signing.split {
        vec![
            entry(key(KeyRole::Ksk, 0)?, true, false),
            entry(key(KeyRole::Zsk, 1)?, false, true),
        ]
    } else {
        vec![entry(key(KeyRole::Csk, 0)?, true, true)]
    };
    Ok(SigningPlan {
        keys,
        denial: signing.denial.clone(),
        validity,
    })
}

fn entry(key: ZoneKey, signs_keys: bool, signs_zone: bool) -> KeyEntry {
    KeyEntry {
        key,
        published: true,
        signs_keys,
        signs_zone,
    }
}

/// A key seed from the hierarchy seed, the zone and the key's index.
pub fn key_seed(seed: u64, name: &Name, index: u8) -> [u8; 32] {
    let mut input = seed.to_be_bytes().to_vec();
    input.extend_from_slice(name.to_lowercase().to_string().as_bytes());
    input.push(index);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &input).as_ref());
    out
}

/// Signs every zone that has a plan, spread over the available cores.
fn sign_all(zones: &mut [ServedZone]) -> Result<(), BuildError> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let chunk = zones.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = zones
            .chunks_mut(chunk)
            .map(|part| scope.spawn(move || part.iter_mut().try_for_each(sign_one)))
            .collect();
        handles
            .into_iter()
            // Invariant: sign_one does not panic; a panic is a bug to surface.
            .try_for_each(|h| h.join().expect("signing thread panicked"))
    })
}

fn sign_one(served: &mut ServedZone) -> Result<(), BuildError> {
    let Some(plan) = &served.plan else {
        return Ok(());
    };
    sign_zone(&mut served.zone, plan).map_err(|source| BuildError::Sign {
        zone: served.zone.origin().to_string(),
        source,
    })?;
    if let Some(defect) = served.defect {
        damage_zone(&mut served.zone, defect);
    }
    Ok(())
}

pub(crate) fn parse(s: &str) -> Result<Name, BuildError> {
    Name::from_ascii(s).map_err(|_| bad(s))
}

pub(crate) fn bad(s: &str) -> BuildError {
    BuildError::BadName { name: s.to_owned() }
}

/// The label of the TLD that second-level zone `i` sits under.
pub(crate) fn tld_label(i: usize) -> &'static str {
    TLDS[i % TLDS.len()].label
}
