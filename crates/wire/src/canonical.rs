//! DNSSEC canonical form and the data an RRSIG signs.
//!
//! Canonical names and RDATA per RFC 4034 §6.2 as corrected by RFC 6840 §5.1
//! (names inside NSEC RDATA keep their case, RRSIG signer names are
//! lower-cased) and RFC 3597 §7 (types defined later keep their case);
//! canonical RR order and duplicate removal per RFC 4034 §6.3; the signed
//! data of RFC 4035 §5.3.2, wildcard owner included.
//!
//! [`SignedData`] owns its buffers and reuses them, so building signed data
//! for an RRset allocates nothing once the buffers have grown.
//!
//! # Limitations
//! SVCB, HTTPS, ANAME and TSIG RDATA are encoded by hickory-proto, which
//! allocates while writing names; those types are rare in signed answers.
//! Types hickory-proto keeps as raw bytes (DNAME among them) must hold
//! uncompressed names, as RFC 3597 §4 and RFC 6672 §2.5 require on the wire.

use hickory_proto::dnssec::PublicKey;
use hickory_proto::dnssec::rdata::{DNSSECRData, SIG, SigInput};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use crate::name::MAX_NAME_LEN;

/// The DNSKEY protocol field, always 3 (RFC 4034 §2.1.2).
const DNSKEY_PROTOCOL: u8 = 3;

/// Largest RDATA an RR can carry (RFC 1035 §3.2.1: RDLENGTH is 16 bits).
pub const MAX_RDATA_LEN: usize = u16::MAX as usize;

/// Why the canonical form of an RRset could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// No records to sign or verify.
    #[error("empty RRset")]
    EmptyRrset,
    /// A record's owner, class or type differs from the RRset's.
    #[error("record {index} is not part of the RRset the signature covers")]
    NotInRrset {
        /// Position of the record in the input.
        index: usize,
    },
    /// The RRSIG labels field exceeds the owner's label count (RFC 4035 §5.3.1).
    #[error("RRSIG labels field {labels} exceeds the owner's {owner_labels} labels")]
    LabelsExceedOwner {
        /// The labels field.
        labels: u8,
        /// Labels of the owner, a leading `*` not counted.
        owner_labels: u8,
    },
    /// RDATA of this type could not be put in canonical form.
    #[error("RDATA of type {rtype} cannot be put in canonical form")]
    BadRdata {
        /// The record type.
        rtype: u16,
    },
    /// The canonical RDATA is longer than 65535 bytes.
    #[error("canonical RDATA of type {rtype} exceeds {MAX_RDATA_LEN} bytes")]
    RdataTooLong {
        /// The record type.
        rtype: u16,
    },
}

/// Most labels a name can have: 127 one-character labels and the root
/// fill 255 bytes.
const MAX_LABELS: usize = 127;

/// A name in canonical form (RFC 4034 §6.2) with where each label starts,
/// written by one walk over a hickory [`Name`]; compared with other names,
/// tested for ancestors and cut into suffixes without walking it again.
#[derive(Debug, Clone)]
pub struct CanonicalName {
    bytes: [u8; MAX_NAME_LEN],
    len: usize,
    starts: [u8; MAX_LABELS],
    labels: usize,
}

impl Default for CanonicalName {
    fn default() -> Self {
        Self {
            bytes: [0; MAX_NAME_LEN],
            len: 1,
            starts: [0; MAX_LABELS],
            labels: 0,
        }
    }
}

impl CanonicalName {
    /// The root name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes this `name` in canonical form; false (and the root) if `name`
    /// is longer than a wire name can be, which a decoded name never is.
    pub fn set(&mut self, name: &Name) -> bool {
        let (mut len, mut labels) = (0, 0);
        for label in name {
            let end = len + 1 + label.len();
            // The root byte must fit after the last label.
            if end >= MAX_NAME_LEN || labels == MAX_LABELS {
                *self = Self::default();
                return false;
            }
            // Invariant: `len` < 255 here, so it fits a byte.
            self.starts[labels] = len as u8;
            self.bytes[len] = label.len() as u8;
            for (dst, src) in self.bytes[len + 1..end].iter_mut().zip(label) {
                *dst = src.to_ascii_lowercase();
            }
            (len, labels) = (end, labels + 1);
        }
        self.bytes[len] = 0;
        (self.len, self.labels) = (len + 1, labels);
        true
    }

    /// The name in canonical wire form, root byte included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Labels, the root not counted.
    pub fn labels(&self) -> usize {
        self.labels
    }

    /// Labels as an RRSIG labels field counts them: a leading `*` not
    /// counted (RFC 4034 §3.1.3).
    pub fn rrsig_labels(&self) -> usize {
        self.labels - usize::from(self.labels > 0 && self.bytes[..2] == *b"\x01*")
    }

    /// The rightmost `n` labels and the root, if the name has `n` labels.
    pub fn suffix(&self, n: usize) -> Option<&[u8]> {
        let start = match n {
            0 => self.len - 1,
            n if n <= self.labels => usize::from(self.starts[self.labels - n]),
            _ => return None,
        };
        Some(&self.bytes[start..self.len])
    }

    /// Whether `name` is this name, ASCII case ignored (RFC 4343).
    pub fn eq_name(&self, name: &Name) -> bool {
        name_eq_canonical(name, self.as_bytes())
    }

    /// Whether this name is `ancestor` or below it; `ancestor` is a name
    /// in canonical form.
    pub fn is_at_or_below(&self, ancestor: &[u8]) -> bool {
        let Some(at) = self.len.checked_sub(ancestor.len()) else {
            return false;
        };
        let on_a_label = at + 1 == self.len
            || self.starts[..self.labels]
                .iter()
                .any(|&s| usize::from(s) == at);
        on_a_label && self.bytes[at..self.len] == *ancestor
    }
}

/// Reusable buffers holding the signed data of one RRset at a time.
#[derive(Debug, Default)]
pub struct SignedData {
    bytes: Vec<u8>,
    rrset: CanonicalRrset,
}

impl SignedData {
    /// Empty buffers; they grow to the largest RRset seen and stay.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes built by the last successful [`signed_data`] call.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// One RRset as an RRSIG covers it: the signed owner, the fixed fields and
/// the canonical RDATA in canonical order without duplicates (RFC 4034
/// §6.3, RFC 4035 §5.3.2), in reusable buffers. [`signed_data`] writes
/// from it; a caller comparing stored signed data reads the same parts.
#[derive(Debug)]
pub struct CanonicalRrset {
    owner: [u8; MAX_NAME_LEN],
    owner_len: usize,
    fixed: [u8; 8],
    rdata: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

impl Default for CanonicalRrset {
    fn default() -> Self {
        Self {
            owner: [0; MAX_NAME_LEN],
            owner_len: 0,
            fixed: [0; 8],
            rdata: Vec::new(),
            spans: Vec::new(),
        }
    }
}

impl CanonicalRrset {
    /// Empty buffers; they grow to the largest RRset seen and stay.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills the parts from `rrset` as `sig` covers it.
    ///
    /// `rrset` must hold the records of one RRset (same owner ignoring
    /// case, class, and type `sig.type_covered`), in any order; `owner` is
    /// the first record's name in canonical form. The owner is rebuilt as
    /// `*.` + the rightmost labels when the labels field says the RRset
    /// was expanded from a wildcard.
    pub fn fill<'r>(
        &mut self,
        sig: &SigInput,
        rrset: impl IntoIterator<Item = &'r Record>,
        owner: &CanonicalName,
    ) -> Result<(), CanonicalError> {
        self.rdata.clear();
        self.spans.clear();
        let mut records = rrset.into_iter();
        let first = records.next().ok_or(CanonicalError::EmptyRrset)?;
        let class = first.dns_class;
        self.owner_len = write_signed_owner(owner, sig.num_labels, &mut self.owner)?;
        self.fixed[0..2].copy_from_slice(&u16::from(sig.type_covered).to_be_bytes());
        self.fixed[2..4].copy_from_slice(&u16::from(class).to_be_bytes());
        self.fixed[4..8].copy_from_slice(&sig.original_ttl.to_be_bytes());

        for (index, record) in core::iter::once(first).chain(records).enumerate() {
            // The first record's name is the owner: not compared with itself.
            if record.record_type() != sig.type_covered
                || record.dns_class != class
                || (index > 0 && !owner.eq_name(&record.name))
            {
                return Err(CanonicalError::NotInRrset { index });
            }
            let start = self.rdata.len();
            write_canonical_rdata(&record.data, &mut self.rdata)?;
            if self.rdata.len() - start > MAX_RDATA_LEN {
                return Err(CanonicalError::RdataTooLong {
                    rtype: u16::from(sig.type_covered),
                });
            }
            // Invariant: total RDATA of an RRset is far below u32::MAX (each
            // RDATA is at most 64 KiB and a message holds at most 64 KiB).
            self.spans.push((start as u32, self.rdata.len() as u32));
        }
        let rdata = &self.rdata;
        let slice = |&(s, e): &(u32, u32)| &rdata[s as usize..e as usize];
        self.spans.sort_unstable_by(|a, b| slice(a).cmp(slice(b)));
        Ok(())
    }

    /// The owner name the signature covers, in canonical form.
    pub fn owner(&self) -> &[u8] {
        &self.owner[..self.owner_len]
    }

    /// TYPE, CLASS and original TTL: the fields after the owner of every
    /// signed record.
    pub fn fixed(&self) -> &[u8; 8] {
        &self.fixed
    }

    /// Each RDATA in canonical order, duplicates dropped.
    pub fn rdatas(&self) -> impl Iterator<Item = &[u8]> {
        let mut previous: Option<&[u8]> = None;
        self.spans
            .iter()
            .map(|&(s, e)| &self.rdata[s as usize..e as usize])
            .filter(move |data| {
                let fresh = previous != Some(*data);
                previous = Some(data);
                fresh
            })
    }

    /// Grows the buffers for `records` records of `rdata_len` RDATA bytes
    /// in all, so filling such an RRset later allocates nothing.
    pub fn reserve(&mut self, records: usize, rdata_len: usize) {
        self.rdata
            .reserve(rdata_len.saturating_sub(self.rdata.len()));
        self.spans.reserve(records.saturating_sub(self.spans.len()));
    }
}

/// Builds the data that `sig` signs over `rrset` (RFC 4035 §5.3.2) in `buf`.
///
/// `rrset` must hold the records of one RRset (same owner ignoring case,
/// class, and type `sig.type_covered`), in any order, duplicates allowed:
/// they are sorted into canonical order and duplicates dropped (RFC 4034
/// §6.3). The owner is rebuilt as `*.` + the rightmost labels when the
/// labels field says the RRset was expanded from a wildcard.
pub fn signed_data<'a, 'r>(
    sig: &SigInput,
    rrset: impl IntoIterator<Item = &'r Record>,
    buf: &'a mut SignedData,
) -> Result<&'a [u8], CanonicalError> {
    let mut records = rrset.into_iter();
    let first = records.next().ok_or(CanonicalError::EmptyRrset)?;
    let (mut owner, mut signer) = (CanonicalName::new(), CanonicalName::new());
    owner.set(&first.name);
    signer.set(&sig.signer_name);
    let rrset = core::iter::once(first).chain(records);
    signed_data_with(sig, signer.as_bytes(), &owner, rrset, buf)
}

/// As [`signed_data`], with the signer name and the first record's owner
/// name already in canonical form (`signer` equal to `sig.signer_name`
/// ignoring case: a caller that matched the key has it).
pub fn signed_data_with<'a, 'r>(
    sig: &SigInput,
    signer: &[u8],
    owner: &CanonicalName,
    rrset: impl IntoIterator<Item = &'r Record>,
    buf: &'a mut SignedData,
) -> Result<&'a [u8], CanonicalError> {
    let SignedData {
        bytes,
        rrset: parts,
    } = buf;
    bytes.clear();
    parts.fill(sig, rrset, owner)?;
    write_sig_fields(sig, bytes);
    bytes.extend_from_slice(signer);
    write_records(parts, bytes);
    Ok(bytes)
}

/// Appends each record of `parts` as signed data holds it.
fn write_records(parts: &CanonicalRrset, bytes: &mut Vec<u8>) {
    let (owner, fixed) = (parts.owner(), parts.fixed());
    for data in parts.rdatas() {
        bytes.extend_from_slice(owner);
        bytes.extend_from_slice(fixed);
        bytes.extend_from_slice(&(data.len() as u16).to_be_bytes());
        bytes.extend_from_slice(data);
    }
}

/// Appends the RRSIG RDATA fields before the signature (RFC 4034 §3.1),
/// signer name in canonical form: the head of every signed data block.
pub fn write_sig_prefix(sig: &SigInput, out: &mut Vec<u8>) {
    write_sig_fields(sig, out);
    write_canonical_name(&sig.signer_name, out);
}

/// Appends the RRSIG RDATA fields before the signer name.
pub fn write_sig_fields(sig: &SigInput, out: &mut Vec<u8>) {
    out.extend_from_slice(&u16::from(sig.type_covered).to_be_bytes());
    out.push(u8::from(sig.algorithm));
    out.push(sig.num_labels);
    out.extend_from_slice(&sig.original_ttl.to_be_bytes());
    out.extend_from_slice(&sig.sig_expiration.get().to_be_bytes());
    out.extend_from_slice(&sig.sig_inception.get().to_be_bytes());
    out.extend_from_slice(&sig.key_tag.to_be_bytes());
}

/// Appends `name` in canonical form: uncompressed, fully qualified, ASCII
/// lower case (RFC 4034 §6.2).
pub fn write_canonical_name(name: &Name, out: &mut Vec<u8>) {
    for label in name {
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
}

/// Appends `data` in canonical form (RFC 4034 §6.2, RFC 6840 §5.1).
pub fn write_canonical_rdata(data: &RData, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match data {
        // The commonest types, written directly: hickory's encoder costs
        // more than the copy itself on these small RDATAs.
        RData::A(a) => out.extend_from_slice(&a.0.octets()),
        RData::AAAA(a) => out.extend_from_slice(&a.0.octets()),
        RData::TXT(txt) => {
            for text in &txt.txt_data {
                write_character_string(text, out, RecordType::TXT)?;
            }
        }
        RData::DNSSEC(DNSSECRData::DS(ds)) => {
            out.extend_from_slice(&ds.key_tag().to_be_bytes());
            out.push(u8::from(ds.algorithm()));
            out.push(u8::from(ds.digest_type()));
            out.extend_from_slice(ds.digest());
        }
        RData::DNSSEC(DNSSECRData::DNSKEY(key)) => {
            out.extend_from_slice(&key.flags().to_be_bytes());
            out.push(DNSKEY_PROTOCOL);
            out.push(u8::from(key.public_key().algorithm()));
            out.extend_from_slice(key.public_key().public_bytes());
        }
        RData::CNAME(name) => write_canonical_name(&name.0, out),
        RData::NS(name) => write_canonical_name(&name.0, out),
        RData::PTR(name) => write_canonical_name(&name.0, out),
        RData::MX(mx) => {
            out.extend_from_slice(&mx.preference.to_be_bytes());
            write_canonical_name(&mx.exchange, out);
        }
        RData::SOA(soa) => {
            write_canonical_name(&soa.mname, out);
            write_canonical_name(&soa.rname, out);
            out.extend_from_slice(&soa.serial.to_be_bytes());
            out.extend_from_slice(&soa.refresh.to_be_bytes());
            out.extend_from_slice(&soa.retry.to_be_bytes());
            out.extend_from_slice(&soa.expire.to_be_bytes());
            out.extend_from_slice(&soa.minimum.to_be_bytes());
        }
        RData::SRV(srv) => {
            out.extend_from_slice(&srv.priority.to_be_bytes());
            out.extend_from_slice(&srv.weight.to_be_bytes());
            out.extend_from_slice(&srv.port.to_be_bytes());
            write_canonical_name(&srv.target, out);
        }
        RData::NAPTR(naptr) => {
            out.extend_from_slice(&naptr.order.to_be_bytes());
            out.extend_from_slice(&naptr.preference.to_be_bytes());
            for text in [&naptr.flags, &naptr.services, &naptr.regexp] {
                write_character_string(text, out, RecordType::NAPTR)?;
            }
            write_canonical_name(&naptr.replacement, out);
        }
        RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) => write_sig(rrsig, out),
        RData::DNSSEC(DNSSECRData::SIG(sig)) => write_sig(sig, out),
        RData::DNSSEC(DNSSECRData::NSEC(nsec)) => {
            // RFC 6840 §5.1: the next owner name keeps its case.
            write_name_as_is(nsec.next_domain_name(), out);
            write_type_bitmap(|| nsec.type_bit_maps(), out);
        }
        RData::Unknown { code, rdata } => write_raw_rdata(*code, &rdata.anything, out)?,
        RData::NULL(null) => out.extend_from_slice(&null.anything),
        RData::Update0(_) => {}
        other => {
            // Types without embedded names (or whose names keep their case,
            // RFC 3597 §7): hickory's encoder writes them as they are.
            let offset = out.len() as u32;
            let mut encoder = BinEncoder::with_offset(out, offset);
            encoder.set_canonical_form(true);
            other
                .emit(&mut encoder)
                .map_err(|_| CanonicalError::BadRdata {
                    rtype: u16::from(other.record_type()),
                })?;
        }
    }
    Ok(())
}

/// Writes the owner name a signature with `labels` in its labels field
/// covers into `out`, returning its length.
fn write_signed_owner(
    owner: &CanonicalName,
    labels: u8,
    out: &mut [u8; MAX_NAME_LEN],
) -> Result<usize, CanonicalError> {
    let owner_labels = owner.rrsig_labels();
    let exceeds = CanonicalError::LabelsExceedOwner {
        labels,
        // Invariant: at most 127 labels.
        owner_labels: owner_labels as u8,
    };
    let labels = usize::from(labels);
    if labels > owner_labels {
        return Err(exceeds);
    }
    if labels == owner_labels {
        let name = owner.as_bytes();
        out[..name.len()].copy_from_slice(name);
        return Ok(name.len());
    }
    // RFC 4035 §5.3.2: expanded from a wildcard; sign "*." + the rightmost
    // `labels` labels. Invariant: that is shorter than the owner by at
    // least one label of two bytes, so it fits.
    let suffix = owner.suffix(labels).ok_or(exceeds)?;
    out[..2].copy_from_slice(b"\x01*");
    out[2..2 + suffix.len()].copy_from_slice(suffix);
    Ok(2 + suffix.len())
}

fn write_sig(sig: &SIG, out: &mut Vec<u8>) {
    write_sig_prefix(sig.input(), out);
    out.extend_from_slice(sig.sig());
}

fn write_name_as_is(name: &Name, out: &mut Vec<u8>) {
    for label in name {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

fn write_character_string(
    text: &[u8],
    out: &mut Vec<u8>,
    rtype: RecordType,
) -> Result<(), CanonicalError> {
    let len = u8::try_from(text.len()).map_err(|_| CanonicalError::BadRdata {
        rtype: u16::from(rtype),
    })?;
    out.push(len);
    out.extend_from_slice(text);
    Ok(())
}

/// Type bitmap of NSEC/NSEC3 (RFC 4034 §4.1.2), built without allocating.
fn write_type_bitmap<I: Iterator<Item = RecordType>>(types: impl Fn() -> I, out: &mut Vec<u8>) {
    // Length in octets of each window's bitmap; 0 = window absent.
    let mut window_len = [0u8; 256];
    for t in types() {
        let code = u16::from(t);
        let w = usize::from(code >> 8);
        window_len[w] = window_len[w].max((code & 0xFF) as u8 / 8 + 1);
    }
    for (window, &len) in window_len.iter().enumerate() {
        if len == 0 {
            continue;
        }
        let mut bits = [0u8; 32];
        for t in types() {
            let code = u16::from(t);
            if usize::from(code >> 8) == window {
                let low = code & 0xFF;
                bits[usize::from(low / 8)] |= 0x80 >> (low % 8);
            }
        }
        out.push(window as u8);
        out.push(len);
        out.extend_from_slice(&bits[..usize::from(len)]);
    }
}

/// How the names sit in RDATA that hickory-proto keeps as raw bytes, for
/// the types RFC 4034 §6.2 lower-cases.
enum RawLayout {
    /// Copied as is.
    Opaque,
    /// `skip` fixed bytes, then `names` domain names, then the rest as is.
    Names { skip: usize, names: usize },
}

fn raw_layout(code: u16) -> RawLayout {
    match code {
        // MD, MF, MB, MG, MR, DNAME; NXT (name, then a bitmap).
        3 | 4 | 7 | 8 | 9 | 39 | 30 => RawLayout::Names { skip: 0, names: 1 },
        // MINFO, RP.
        14 | 17 => RawLayout::Names { skip: 0, names: 2 },
        // AFSDB, RT, KX.
        18 | 21 | 36 => RawLayout::Names { skip: 2, names: 1 },
        // PX.
        26 => RawLayout::Names { skip: 2, names: 2 },
        _ => RawLayout::Opaque,
    }
}

fn write_raw_rdata(code: RecordType, raw: &[u8], out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    let rtype = u16::from(code);
    let bad = CanonicalError::BadRdata { rtype };
    let (skip, names) = match (rtype, raw_layout(rtype)) {
        // A6 (RFC 2874 §3.1): prefix length, address suffix, prefix name.
        (38, _) => {
            let prefix_len = *raw.first().ok_or(bad)?;
            if prefix_len > 128 {
                return Err(bad);
            }
            let suffix = (128 - usize::from(prefix_len)).div_ceil(8);
            (1 + suffix, usize::from(prefix_len > 0))
        }
        (_, RawLayout::Opaque) => (0, 0),
        (_, RawLayout::Names { skip, names }) => (skip, names),
    };
    let fixed = raw.get(..skip).ok_or(bad)?;
    out.extend_from_slice(fixed);
    let mut pos = skip;
    for _ in 0..names {
        let end = uncompressed_name_end(raw, pos).ok_or(bad)?;
        let start = out.len();
        out.extend_from_slice(&raw[pos..end]);
        crate::name::lowercase_name_in_place(&mut out[start..]);
        pos = end;
    }
    out.extend_from_slice(&raw[pos..]);
    Ok(())
}

/// End of the uncompressed name at `pos`, or None if it is cut, too long,
/// or uses compression or an extended label type.
fn uncompressed_name_end(raw: &[u8], mut pos: usize) -> Option<usize> {
    let start = pos;
    loop {
        let len = usize::from(*raw.get(pos)?);
        if len > crate::name::MAX_LABEL_LEN {
            return None;
        }
        pos += 1 + len;
        if pos - start > MAX_NAME_LEN || pos > raw.len() {
            return None;
        }
        if len == 0 {
            return Some(pos);
        }
    }
}

/// Whether `name` equals `wire`, a name in canonical form, ASCII case
/// ignored (RFC 4343): one walk over `name`.
pub fn name_eq_canonical(name: &Name, mut wire: &[u8]) -> bool {
    for label in name {
        let Some((&len, tail)) = wire.split_first() else {
            return false;
        };
        match tail.split_at_checked(usize::from(len)) {
            Some((ours, tail)) if ours.eq_ignore_ascii_case(label) => wire = tail,
            _ => return false,
        }
    }
    wire == [0]
}
