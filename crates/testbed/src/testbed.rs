//! A running hierarchy: every zone served on its loopback address, the
//! root hints and trust anchor, and the root KSK rollover steps of
//! RFC 5011 driven while serving.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::authority::Authority;
use crate::hierarchy::{Hierarchy, HierarchyConfig, key_seed};
use crate::keys::{FLAG_REVOKE, KeyRole, ZoneKey};
use crate::manifest::Manifest;
use crate::output::{root_hints_text, trust_anchor_text};
use crate::server::{
    Behaviour, Catalog, LoggedQuery, QueryLog, Running, ServeError, ServerSpec, SharedZone, spawn,
};
use crate::signer::{KeyEntry, SignZoneError, SigningPlan, Validity, sign_zone};

/// Worker threads of the server runtime by default.
pub const DEFAULT_SERVER_THREADS: usize = 2;

/// One step of a root KSK rollover (RFC 5011 §6; RFC 7583 §3.3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloverStep {
    /// Publish a new KSK, not yet signing.
    PublishNew,
    /// The new KSK signs the DNSKEY RRset too.
    DoubleSign,
    /// The old KSK stops signing; still published.
    StopOld,
    /// The old KSK is published with REVOKE set and signs the DNSKEY RRset.
    RevokeOld,
    /// The old KSK is removed.
    RemoveOld,
}

/// Why a rollover step failed.
#[derive(Debug, thiserror::Error)]
pub enum RolloverError {
    /// The step does not follow the previous one.
    #[error("rollover step {step:?} cannot follow {previous:?}")]
    OutOfOrder {
        /// The step asked for.
        step: RolloverStep,
        /// The last step done, if any.
        previous: Option<RolloverStep>,
    },
    /// The new key could not be made.
    #[error("cannot make the new root KSK")]
    Key(#[source] crate::keys::KeyError),
    /// Re-signing failed.
    #[error("cannot re-sign the root")]
    Sign(#[source] SignZoneError),
}

struct RootState {
    plan: SigningPlan,
    last: Option<RolloverStep>,
}

/// A hierarchy being served.
pub struct Testbed {
    config: HierarchyConfig,
    manifest: Manifest,
    root: SharedZone,
    root_state: Mutex<RootState>,
    queries: Arc<QueryLog>,
    running: Running,
}

impl std::fmt::Debug for Testbed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Testbed")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Testbed {
    /// Serves every zone of `hierarchy` on its address and the plan's port.
    pub fn start(hierarchy: Hierarchy) -> Result<Self, ServeError> {
        Self::start_with_threads(hierarchy, DEFAULT_SERVER_THREADS)
    }

    /// As [`Testbed::start`], with `threads` server worker threads.
    pub fn start_with_threads(hierarchy: Hierarchy, threads: usize) -> Result<Self, ServeError> {
        let Hierarchy {
            config,
            zones,
            manifest,
        } = hierarchy;
        let port = config.addresses.port;
        let mut catalogs: HashMap<Ipv4Addr, (Catalog, Behaviour)> = HashMap::new();
        let mut root = None;
        let mut root_plan = None;
        for (i, served) in zones.into_iter().enumerate() {
            let behaviour = Behaviour::for_defect(served.defect);
            let poison = behaviour == Behaviour::OutOfBailiwick;
            let shared: SharedZone = Arc::new(RwLock::new(Arc::new(Authority::with_poison(
                served.zone,
                poison,
            ))));
            if i == 0 {
                root = Some(shared.clone());
                root_plan = served.plan;
            }
            let entry = catalogs
                .entry(served.server)
                .or_insert_with(|| (Catalog::default(), behaviour));
            entry.0.insert(shared);
            if behaviour != Behaviour::Normal {
                entry.1 = behaviour;
            }
        }
        let queries = Arc::new(QueryLog::default());
        let specs = catalogs
            .into_iter()
            .map(|(addr, (catalog, behaviour))| ServerSpec {
                addr: SocketAddr::from((addr, port)),
                catalog: Arc::new(catalog),
                behaviour,
                log: Some(Arc::clone(&queries)),
            })
            .collect();
        let running = spawn(specs, threads)?;
        let root = root.unwrap_or_else(|| {
            Arc::new(RwLock::new(Arc::new(Authority::new(
                crate::zone::Zone::new(anchorage_wire::proto::rr::Name::root()),
            ))))
        });
        let plan = root_plan.unwrap_or(SigningPlan {
            keys: Vec::new(),
            denial: crate::denial::Denial::Nsec,
            validity: config.validity,
        });
        Ok(Self {
            config,
            manifest,
            root,
            root_state: Mutex::new(RootState { plan, last: None }),
            queries,
            running,
        })
    }

    /// The configuration the hierarchy was built from.
    pub fn config(&self) -> &HierarchyConfig {
        &self.config
    }

    /// The manifest of categorised names.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Starts (or stops) noting every question the servers get.
    pub fn record_queries(&self, on: bool) {
        self.queries.record(on);
    }

    /// The questions noted since [`Testbed::record_queries`] was turned on.
    pub fn queries(&self) -> Vec<LoggedQuery> {
        self.queries.queries()
    }

    /// The address the root zone is served on.
    pub fn root_server(&self) -> SocketAddr {
        SocketAddr::from((self.config.addresses.root(), self.config.addresses.port))
    }

    /// Root hints in zone-file text.
    pub fn root_hints(&self) -> String {
        root_hints_text(self.config.addresses.root())
    }

    /// The current root trust anchor (signing KSKs), DS and DNSKEY text.
    pub fn trust_anchor(&self) -> String {
        let state = self
            .root_state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        trust_anchor_text(&anchorage_wire::proto::rr::Name::root(), &state.plan)
    }

    /// Performs one rollover step on the root and re-signs it with
    /// `validity`; queries see the new root at once.
    pub fn roll_root(&self, step: RolloverStep, validity: Validity) -> Result<(), RolloverError> {
        let mut state = self
            .root_state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let expected = match step {
            RolloverStep::PublishNew => None,
            RolloverStep::DoubleSign => Some(RolloverStep::PublishNew),
            RolloverStep::StopOld => Some(RolloverStep::DoubleSign),
            RolloverStep::RevokeOld => Some(RolloverStep::StopOld),
            RolloverStep::RemoveOld => Some(RolloverStep::RevokeOld),
        };
        if state.last != expected {
            return Err(RolloverError::OutOfOrder {
                step,
                previous: state.last,
            });
        }
        let plan = &mut state.plan;
        let old = plan.keys.iter().position(|e| e.key.is_ksk());
        let new = plan.keys.iter().rposition(|e| e.key.is_ksk());
        match step {
            RolloverStep::PublishNew => {
                let algorithm = old.map_or(crate::keys::KeyAlgorithm::Ed25519, |i| {
                    plan.keys[i].key.algorithm()
                });
                let seed = key_seed(
                    self.config.seed,
                    &anchorage_wire::proto::rr::Name::root(),
                    100,
                );
                let key =
                    ZoneKey::generate(algorithm, KeyRole::Ksk, seed).map_err(RolloverError::Key)?;
                plan.keys.push(KeyEntry {
                    key,
                    published: true,
                    signs_keys: false,
                    signs_zone: false,
                });
            }
            RolloverStep::DoubleSign => {
                if let Some(i) = new {
                    plan.keys[i].signs_keys = true;
                }
            }
            RolloverStep::StopOld => {
                if let Some(i) = old {
                    plan.keys[i].signs_keys = false;
                }
            }
            RolloverStep::RevokeOld => {
                if let Some(i) = old {
                    let flags = plan.keys[i].key.flags() | FLAG_REVOKE;
                    plan.keys[i].key.set_flags(flags);
                    plan.keys[i].signs_keys = true;
                }
            }
            RolloverStep::RemoveOld => {
                if let Some(i) = old {
                    plan.keys.remove(i);
                }
            }
        }
        plan.validity = validity;
        let mut zone = self
            .root
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .zone()
            .clone();
        sign_zone(&mut zone, plan).map_err(RolloverError::Sign)?;
        // A new Authority: the replies prepared for the old root go with it.
        *self.root.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Authority::new(zone));
        state.last = Some(step);
        Ok(())
    }

    /// Stops every server.
    pub fn stop(self) {
        self.running.stop();
    }
}
