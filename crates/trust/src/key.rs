//! One tracked key: its identity, its RFC 5011 state (§4) and its timers.
//!
//! Keys are matched by algorithm and public key with the REVOKE bit masked,
//! never by key tag: the tag changes when the key is revoked (RFC 5011 §2.1)
//! and tags collide.

use std::time::SystemTime;

use anchorage_verify::DnskeyVerifier;
use anchorage_verify::key::FLAG_REVOKE;
use anchorage_wire::proto::dnssec::rdata::{DNSKEY, DS};
use anchorage_wire::proto::dnssec::{Algorithm, DigestType, PublicKey, PublicKeyBuf};
use anchorage_wire::proto::rr::Name;
use ring::digest;

/// RFC 5011 §4 key states. Discriminants are pinned: the state file names
/// them, and a test pins their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[must_use]
pub enum KeyState {
    /// Not known (RFC 5011 §4); a key dropped from AddPend returns here.
    Start = 0,
    /// Seen in a valid update; waiting out the add hold-down.
    AddPend = 1,
    /// Trusted and in the set.
    Valid = 2,
    /// Trusted, but absent from the last valid update.
    Missing = 3,
    /// Revoked by a self-signature; never trusted again.
    Revoked = 4,
    /// Forgotten after the remove hold-down; never re-added.
    Removed = 5,
}

impl KeyState {
    /// Whether a key in this state is a trust anchor (RFC 5011 §4.2; RFC 8509 §2.2).
    pub fn is_trusted(self) -> bool {
        matches!(self, Self::Valid | Self::Missing)
    }

    /// The state's name as written in the state file and the listing.
    pub fn name(self) -> &'static str {
        match self {
            Self::Start => "Start",
            Self::AddPend => "AddPend",
            Self::Valid => "Valid",
            Self::Missing => "Missing",
            Self::Revoked => "Revoked",
            Self::Removed => "Removed",
        }
    }

    /// The state named `name`, as [`KeyState::name`] writes it.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Start,
            Self::AddPend,
            Self::Valid,
            Self::Missing,
            Self::Revoked,
            Self::Removed,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

impl core::fmt::Display for KeyState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// What moved a key from one state to another (RFC 5011 §4 event names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A new SEP key in a valid update (NewKey).
    NewKey,
    /// Add hold-down over, seen often enough, still present (AddTime).
    AddTime,
    /// Absent from a valid update (KeyRem).
    KeyRem,
    /// Back in a valid update while Missing (KeyPres).
    KeyPres,
    /// Seen with REVOKE and a verifying self-signature (RevBit).
    RevBit,
    /// Revoked and absent for the remove hold-down (RemTime).
    RemTime,
    /// Missing longer than the keep-missing policy while another key is Valid.
    MissingTooLong,
    /// Every key that introduced this AddPend key was revoked (RFC 5011 §2.2).
    IntroducerRevoked,
    /// A configured or built-in anchor absent from the state was added.
    Configured,
}

/// One state change of one key, for the log and the simulation timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Key tag without the REVOKE bit.
    pub tag: u16,
    /// DNSSEC algorithm number.
    pub algorithm: u8,
    /// State before.
    pub from: KeyState,
    /// State after.
    pub to: KeyState,
    /// The event.
    pub event: Event,
    /// When it happened (the injected clock).
    pub at: SystemTime,
}

impl core::fmt::Display for Transition {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "key {} (algorithm {}): {} -> {} ({:?})",
            self.tag, self.algorithm, self.from, self.to, self.event
        )
    }
}

/// A DNSKEY's identity: flags with REVOKE cleared, algorithm, public key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyMaterial {
    /// Flags with the REVOKE bit cleared.
    pub flags: u16,
    /// DNSSEC algorithm number.
    pub algorithm: u8,
    /// The public key field.
    pub public_key: Vec<u8>,
}

impl KeyMaterial {
    /// The material of `key`, REVOKE masked.
    pub fn from_dnskey(key: &DNSKEY) -> Self {
        let public = key.public_key();
        Self {
            flags: key.flags() & !FLAG_REVOKE,
            algorithm: u8::from(public.algorithm()),
            public_key: public.public_bytes().to_vec(),
        }
    }

    /// The key as DNSKEY RDATA, REVOKE clear.
    pub fn dnskey(&self) -> DNSKEY {
        DNSKEY::with_flags(
            self.flags,
            PublicKeyBuf::new(self.public_key.clone(), Algorithm::from_u8(self.algorithm)),
        )
    }

    /// Whether `key` is this key, revoked or not.
    pub fn matches(&self, key: &DNSKEY) -> bool {
        let public = key.public_key();
        self.algorithm == u8::from(public.algorithm())
            && self.public_key == public.public_bytes()
            && self.flags == key.flags() & !FLAG_REVOKE
    }

    /// A verifier for this key under `owner`, with REVOKE set if `revoked`.
    pub fn verifier(&self, owner: &Name, revoked: bool) -> DnskeyVerifier {
        let flags = if revoked {
            self.flags | FLAG_REVOKE
        } else {
            self.flags
        };
        DnskeyVerifier::from_parts(owner, flags, self.algorithm, &self.public_key)
    }

    /// The key tag without REVOKE (RFC 4034 Appendix B).
    pub fn tag(&self) -> u16 {
        anchorage_verify::key_tag(&self.rdata(false))
    }

    /// The key tag with REVOKE set (RFC 5011 §2.1; 20326 becomes 20454).
    pub fn revoked_tag(&self) -> u16 {
        anchorage_verify::key_tag(&self.rdata(true))
    }

    /// A short stable name of the material (first 8 bytes of SHA-256 over
    /// algorithm and public key), unique where tags may collide.
    pub fn id(&self) -> KeyId {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&[self.algorithm]);
        ctx.update(&self.public_key);
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&ctx.finish().as_ref()[..8]);
        KeyId(u64::from_be_bytes(bytes))
    }

    fn rdata(&self, revoked: bool) -> Vec<u8> {
        let flags = if revoked {
            self.flags | FLAG_REVOKE
        } else {
            self.flags
        };
        let mut rdata = Vec::with_capacity(4 + self.public_key.len());
        rdata.extend_from_slice(&flags.to_be_bytes());
        rdata.push(anchorage_verify::key::DNSKEY_PROTOCOL);
        rdata.push(self.algorithm);
        rdata.extend_from_slice(&self.public_key);
        rdata
    }
}

/// A key's short identity, printed as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub u64);

impl core::fmt::Display for KeyId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A DS-form anchor: designates a key by digest (RFC 4034 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsAnchor {
    /// Key tag of the designated key.
    pub tag: u16,
    /// Its algorithm.
    pub algorithm: u8,
    /// Digest type (2: SHA-256).
    pub digest_type: u8,
    /// The digest.
    pub digest: Vec<u8>,
}

impl DsAnchor {
    /// The anchor as DS RDATA.
    pub fn ds(&self) -> DS {
        DS::new(
            self.tag,
            Algorithm::from_u8(self.algorithm),
            DigestType::from(self.digest_type),
            self.digest.clone(),
        )
    }

    /// Whether this DS designates `key` (REVOKE masked, so a DS still names its revoked key).
    pub fn designates(&self, owner: &Name, material: &KeyMaterial) -> bool {
        let key = material.verifier(owner, false);
        anchorage_verify::match_ds_fields(
            self.tag,
            self.algorithm,
            self.digest_type,
            &self.digest,
            &key,
        )
        .is_ok()
    }
}

/// A key the tracker follows, with what RFC 5011 needs to remember of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedKey {
    /// The key, once seen as a DNSKEY; `None` for a DS anchor not yet matched.
    pub material: Option<KeyMaterial>,
    /// The DS it was configured as, if any.
    pub ds: Option<DsAnchor>,
    /// Its state.
    pub state: KeyState,
    /// First validated sighting (or configuration, for a DNSKEY anchor).
    pub first_seen: Option<SystemTime>,
    /// Last state change.
    pub last_change: SystemTime,
    /// Validated sightings while AddPend.
    pub pending_count: u32,
    /// When the add hold-down ends (AddPend only).
    pub add_due: Option<SystemTime>,
    /// Since when it has been absent from valid updates (Missing, Revoked).
    pub absent_since: Option<SystemTime>,
    /// Keys that signed the update that introduced it (AddPend only; RFC 5011 §2.2).
    pub introduced_by: Vec<KeyId>,
}

impl TrackedKey {
    /// A trusted anchor configured at `now`.
    pub fn anchor(material: Option<KeyMaterial>, ds: Option<DsAnchor>, now: SystemTime) -> Self {
        Self {
            first_seen: material.as_ref().map(|_| now),
            material,
            ds,
            state: KeyState::Valid,
            last_change: now,
            pending_count: 0,
            add_due: None,
            absent_since: None,
            introduced_by: Vec::new(),
        }
    }

    /// Key tag without REVOKE: from the key, else from its DS.
    pub fn tag(&self) -> u16 {
        match (&self.material, &self.ds) {
            (Some(m), _) => m.tag(),
            (None, Some(ds)) => ds.tag,
            (None, None) => 0,
        }
    }

    /// The algorithm: from the key, else from its DS.
    pub fn algorithm(&self) -> u8 {
        match (&self.material, &self.ds) {
            (Some(m), _) => m.algorithm,
            (None, Some(ds)) => ds.algorithm,
            (None, None) => 0,
        }
    }

    /// Whether this is the key `material`, or a DS anchor designating it.
    pub fn is(&self, owner: &Name, material: &KeyMaterial) -> bool {
        match (&self.material, &self.ds) {
            (Some(m), _) => m == material,
            (None, Some(ds)) => ds.designates(owner, material),
            (None, None) => false,
        }
    }

    /// Moves to `to` at `at` by `event`, and reports it.
    pub(crate) fn set_state(&mut self, to: KeyState, event: Event, at: SystemTime) -> Transition {
        let from = self.state;
        self.state = to;
        self.last_change = at;
        if to != KeyState::AddPend {
            self.add_due = None;
            self.pending_count = 0;
            self.introduced_by.clear();
        }
        Transition {
            tag: self.tag(),
            algorithm: self.algorithm(),
            from,
            to,
            event,
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every state, in discriminant order.
    const STATES: [KeyState; 6] = [
        KeyState::Start,
        KeyState::AddPend,
        KeyState::Valid,
        KeyState::Missing,
        KeyState::Revoked,
        KeyState::Removed,
    ];

    #[test]
    fn state_discriminants_keep_their_order() {
        for (i, s) in STATES.into_iter().enumerate() {
            assert_eq!(s as usize, i);
            assert_eq!(KeyState::from_name(s.name()), Some(s));
        }
        assert_eq!(KeyState::from_name("valid"), None);
    }

    #[test]
    fn only_valid_and_missing_are_trusted() {
        let trusted: Vec<_> = STATES.into_iter().filter(|s| s.is_trusted()).collect();
        assert_eq!(trusted, [KeyState::Valid, KeyState::Missing]);
    }
}
