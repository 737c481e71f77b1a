//! One shard of the aggressive store: the zones it holds, their ranges and
//! SOAs, one LRU order over all of them, and what they cost.

use std::collections::{BTreeMap, HashMap};
use std::mem::size_of;
use std::sync::Arc;

use anchorage_wire::proto::rr::{Name, RecordType};

use super::nsec::{self, NsecRange, NsecRanges};
use super::nsec3::{self, Nsec3Hasher, Nsec3Params, Nsec3Range};
use super::{AggressiveAnswer, AggressiveError, Found, HashedName, Nsec3Ranges, Proof};
use crate::Timestamp;
use crate::memory::{ShardCounters, TooLarge, block_bytes, worst_case_buckets};

/// Where one stored record set lives inside its zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SlotKey {
    /// An NSEC range, by owner.
    Nsec(Arc<Name>),
    /// An NSEC3 range, by chain and owner hash.
    Nsec3(Arc<Nsec3Params>, HashedName),
    /// The zone's SOA.
    Soa,
}

/// An entry of the LRU order: which record set, and what it was charged.
struct Slot {
    zone: Arc<Name>,
    key: SlotKey,
    bytes: usize,
}

/// A zone's SOA with its RRSIGs.
struct StoredSoa {
    proof: Proof,
    expires: Timestamp,
    tick: u64,
}

/// Everything held for one zone.
#[derive(Default)]
pub(crate) struct Zone {
    nsec: NsecRanges,
    nsec3: BTreeMap<Arc<Nsec3Params>, Nsec3Ranges>,
    soa: Option<StoredSoa>,
}

impl Zone {
    fn is_empty(&self) -> bool {
        self.nsec.is_empty() && self.nsec3.is_empty() && self.soa.is_none()
    }

    /// The proof, expiry and LRU tick of a stored record set.
    fn get(&self, key: &SlotKey) -> Option<(&Proof, Timestamp, u64)> {
        match key {
            SlotKey::Nsec(owner) => self
                .nsec
                .get(owner.as_ref())
                .map(|r| (&r.proof, r.expires, r.tick)),
            SlotKey::Nsec3(params, hash) => self
                .nsec3
                .get(params.as_ref())?
                .get(hash)
                .map(|r| (&r.proof, r.expires, r.tick)),
            SlotKey::Soa => self.soa.as_ref().map(|s| (&s.proof, s.expires, s.tick)),
        }
    }

    fn tick_mut(&mut self, key: &SlotKey) -> Option<&mut u64> {
        match key {
            SlotKey::Nsec(owner) => self.nsec.get_mut(owner.as_ref()).map(|r| &mut r.tick),
            SlotKey::Nsec3(params, hash) => self
                .nsec3
                .get_mut(params.as_ref())?
                .get_mut(hash)
                .map(|r| &mut r.tick),
            SlotKey::Soa => self.soa.as_mut().map(|s| &mut s.tick),
        }
    }

    /// Removes a record set, returning its LRU tick.
    fn remove(&mut self, key: &SlotKey) -> Option<u64> {
        match key {
            SlotKey::Nsec(owner) => self.nsec.remove(owner.as_ref()).map(|r| r.tick),
            SlotKey::Nsec3(params, hash) => {
                let chain = self.nsec3.get_mut(params.as_ref())?;
                let tick = chain.remove(hash).map(|r| r.tick);
                if chain.is_empty() {
                    self.nsec3.remove(params.as_ref());
                }
                tick
            }
            SlotKey::Soa => self.soa.take().map(|s| s.tick),
        }
    }
}

/// Worst-case heap bytes per entry of a `BTreeMap<K, V>`: std's nodes hold
/// 11 slots and at least 5 entries (B = 6) except the root, and internal
/// nodes add 12 edges; all of it is charged to the 5.
fn btree_entry_bytes<K, V>() -> usize {
    let node = block_bytes(
        11 * (size_of::<K>() + size_of::<V>()) + 12 * size_of::<usize>() + 2 * size_of::<usize>(),
    );
    node.div_ceil(5)
}

/// Heap bytes a `Name` owns: its label bytes spill past 32 inline bytes,
/// its label ends past 24, each into a vector of at most 256 bytes.
pub(crate) fn name_heap(name: &Name) -> usize {
    let label_bytes = name.len().saturating_sub(usize::from(name.num_labels()));
    let data = if label_bytes > 32 {
        block_bytes(256)
    } else {
        0
    };
    let ends = if name.num_labels() > 24 {
        block_bytes(256)
    } else {
        0
    };
    data + ends
}

/// Heap bytes of an `Arc<Name>`: its block and what the name owns.
fn arc_name_bytes(name: &Name) -> usize {
    block_bytes(size_of::<Name>() + 2 * size_of::<usize>()) + name_heap(name)
}

/// One shard: zones, LRU order, byte count.
pub(crate) struct Shard {
    zones: HashMap<Arc<Name>, Zone>,
    /// Every stored record set by the tick of its last use, oldest first.
    lru: BTreeMap<u64, Slot>,
    tick: u64,
    /// Bytes of the record sets and their LRU slots.
    entry_bytes: usize,
    /// Most zones held at once, for the table charge.
    zones_high_water: usize,
    budget: usize,
    pub(crate) counters: ShardCounters,
}

impl Shard {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            zones: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            entry_bytes: 0,
            zones_high_water: 0,
            budget,
            counters: ShardCounters::default(),
        }
    }

    /// Bytes held: record sets, LRU slots, zone table and zone names.
    pub(crate) fn bytes(&self) -> usize {
        self.entry_bytes + Self::zone_table_bytes(self.zones_high_water)
    }

    /// Heap bytes of a zone table that has held `zones` zones, each with a
    /// spilled name, and of each zone's first B-tree nodes.
    fn zone_table_bytes(zones: usize) -> usize {
        if zones == 0 {
            return 0;
        }
        let buckets = worst_case_buckets(zones);
        // The zone's name in its `Arc`, and a first, mostly empty node in
        // each of its maps.
        let per_zone = block_bytes(size_of::<Name>() + 16 + 256)
            + 5 * btree_entry_bytes::<Arc<Name>, Box<NsecRange>>()
            + 5 * btree_entry_bytes::<Arc<Nsec3Params>, Nsec3Ranges>();
        block_bytes(buckets * (size_of::<(Arc<Name>, Zone)>() + 1) + 16) + zones * per_zone
    }

    /// Record sets held.
    pub(crate) fn len(&self) -> usize {
        self.lru.len()
    }

    /// Whether anything is held for `zone`.
    pub(crate) fn holds(&self, zone: &Name) -> bool {
        self.zones.contains_key(zone)
    }

    pub(crate) fn insert_nsec(
        &mut self,
        zone: Name,
        owner: Name,
        range: NsecRange,
    ) -> Result<(), AggressiveError> {
        let bytes = btree_entry_bytes::<Arc<Name>, Box<NsecRange>>()
            + arc_name_bytes(&owner)
            + range.heap_bytes();
        let owner = Arc::new(owner);
        let key = SlotKey::Nsec(Arc::clone(&owner));
        self.store(zone, key, bytes, |z, tick| {
            let mut range = Box::new(range);
            range.tick = tick;
            z.nsec.insert(owner, range);
        })
    }

    pub(crate) fn insert_nsec3(
        &mut self,
        zone: Name,
        params: Nsec3Params,
        range: Nsec3Range,
    ) -> Result<(), AggressiveError> {
        let bytes = btree_entry_bytes::<HashedName, Box<Nsec3Range>>() + range.heap_bytes();
        // A chain costs its map entry, its `Arc` and a first node, charged
        // to each of its ranges, as any of them may be its last.
        let chain_bytes = btree_entry_bytes::<Arc<Nsec3Params>, Nsec3Ranges>()
            + block_bytes(size_of::<Nsec3Params>() + 16)
            + params.heap_bytes()
            + 5 * btree_entry_bytes::<HashedName, Box<Nsec3Range>>();
        let params = self
            .zones
            .get(&zone)
            .and_then(|z| z.nsec3.get_key_value(&params))
            .map_or_else(|| Arc::new(params), |(p, _)| Arc::clone(p));
        let key = SlotKey::Nsec3(Arc::clone(&params), range.owner);
        self.store(zone, key, bytes + chain_bytes, |z, tick| {
            let mut range = Box::new(range);
            range.tick = tick;
            z.nsec3
                .entry(params)
                .or_default()
                .insert(range.owner, range);
        })
    }

    pub(crate) fn insert_soa(
        &mut self,
        zone: Name,
        proof: Proof,
        expires: Timestamp,
    ) -> Result<(), AggressiveError> {
        let bytes = block_bytes(size_of::<StoredSoa>()) + proof.heap_bytes();
        self.store(zone, SlotKey::Soa, bytes, |z, tick| {
            z.soa = Some(StoredSoa {
                proof,
                expires,
                tick,
            });
        })
    }

    /// Replaces whatever `key` held in `zone` with what `put` stores,
    /// evicting least recently used record sets until it fits.
    fn store(
        &mut self,
        zone: Name,
        key: SlotKey,
        bytes: usize,
        put: impl FnOnce(&mut Zone, u64),
    ) -> Result<(), AggressiveError> {
        self.remove(&zone, &key);
        let charge = bytes + btree_entry_bytes::<u64, Slot>();
        let zones_after = self.zones_high_water.max(self.zones.len() + 1);
        let needed = charge + Self::zone_table_bytes(1);
        if needed > self.budget {
            return Err(TooLarge {
                needed,
                budget: self.budget,
            }
            .into());
        }
        while self.entry_bytes + charge + Self::zone_table_bytes(zones_after) > self.budget {
            let Some((_, oldest)) = self.lru.pop_first() else {
                break;
            };
            self.drop_slot(&oldest);
            self.counters.evictions += 1;
        }
        if self.entry_bytes + charge + Self::zone_table_bytes(zones_after) > self.budget {
            return Err(TooLarge {
                needed,
                budget: self.budget,
            }
            .into());
        }
        self.tick += 1;
        let tick = self.tick;
        let zone = match self.zones.get_key_value(&zone) {
            Some((held, _)) => Arc::clone(held),
            None => Arc::new(zone),
        };
        put(self.zones.entry(Arc::clone(&zone)).or_default(), tick);
        self.zones_high_water = self.zones_high_water.max(self.zones.len());
        self.entry_bytes += charge;
        self.lru.insert(
            tick,
            Slot {
                zone,
                key,
                bytes: charge,
            },
        );
        self.counters.inserts += 1;
        Ok(())
    }

    /// Takes a popped LRU slot's record set out of its zone.
    fn drop_slot(&mut self, slot: &Slot) {
        if let Some(z) = self.zones.get_mut(&slot.zone) {
            z.remove(&slot.key);
            if z.is_empty() {
                self.zones.remove(slot.zone.as_ref());
            }
        }
        self.entry_bytes -= slot.bytes;
    }

    /// Removes the record set under `key` in `zone`, if any.
    fn remove(&mut self, zone: &Name, key: &SlotKey) -> bool {
        let Some(tick) = self.zones.get_mut(zone).and_then(|z| z.remove(key)) else {
            return false;
        };
        if let Some(slot) = self.lru.remove(&tick) {
            self.entry_bytes -= slot.bytes;
        }
        if self.zones.get(zone).is_some_and(Zone::is_empty) {
            self.zones.remove(zone);
        }
        true
    }

    /// Builds a denial of `qname`/`qtype` from `zone`'s ranges; drops the
    /// expired ones it meets.
    pub(crate) fn lookup(
        &mut self,
        zone: &Name,
        qname: &Name,
        qtype: RecordType,
        hasher: &dyn Nsec3Hasher,
        now: Timestamp,
    ) -> Option<AggressiveAnswer> {
        let mut expired = Vec::new();
        let found = {
            let z = self.zones.get(zone)?;
            let mut found = nsec::find(zone, &z.nsec, qname, qtype, now, &mut expired);
            for (params, ranges) in &z.nsec3 {
                if found.is_some() {
                    break;
                }
                found = nsec3::find(
                    zone,
                    params,
                    ranges,
                    qname,
                    qtype,
                    hasher,
                    now,
                    &mut expired,
                );
            }
            found
        };
        for key in &expired {
            if self.remove(zone, key) {
                self.counters.expirations += 1;
            }
        }
        let found = found?;
        let answer = self.build(zone, &found, now)?;
        for key in found.used.iter().chain([&SlotKey::Soa]) {
            self.touch(zone, key);
        }
        Some(answer)
    }

    /// Decodes the records of a denial and its zone's SOA.
    fn build(&self, zone: &Name, found: &Found, now: Timestamp) -> Option<AggressiveAnswer> {
        let z = self.zones.get(zone)?;
        let left = |expires: Timestamp| u32::try_from(expires.since(now)).unwrap_or(u32::MAX);
        let mut ttl = u32::MAX;
        for key in &found.used {
            ttl = ttl.min(left(z.get(key)?.1));
        }
        let mut proofs = Vec::new();
        for key in &found.used {
            z.get(key)?.0.decode_into(ttl, &mut proofs)?;
        }
        let mut soa = Vec::new();
        if let Some(s) = &z.soa
            && s.expires > now
        {
            ttl = ttl.min(left(s.expires));
            s.proof.decode_into(ttl, &mut soa)?;
            for r in &mut proofs {
                r.ttl = r.ttl.min(ttl);
            }
        }
        Some(AggressiveAnswer {
            denial: found.denial,
            zone: zone.clone(),
            ttl,
            soa,
            proofs,
        })
    }

    /// Moves a record set to the most recent end of the LRU order.
    fn touch(&mut self, zone: &Name, key: &SlotKey) {
        self.tick += 1;
        let new = self.tick;
        let Some(tick) = self.zones.get_mut(zone).and_then(|z| z.tick_mut(key)) else {
            return;
        };
        let old = std::mem::replace(tick, new);
        if let Some(slot) = self.lru.remove(&old) {
            self.lru.insert(new, slot);
        }
    }
}
