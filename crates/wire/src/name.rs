//! Domain names read straight from wire bytes into fixed buffers.
//!
//! Reads possibly-compressed names (RFC 1035 §4.1.4) with every length and
//! pointer checked, into a [`WireName`] that lives on the stack, so the query
//! path never touches the heap.
//!
//! # Limitations
//! Only the label types of RFC 1035 are accepted; extended label types
//! (RFC 6891 §5, RFC 2673 bit-string labels) are rejected, as every current
//! resolver does.

use core::fmt;

/// Longest domain name in wire form, root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest single label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Most compression pointers followed in one name; a 255-byte name has at
/// most 127 labels, so more hops can only be a loop or a pointer chain built
/// to burn CPU.
pub const MAX_POINTER_HOPS: usize = 127;

/// Why a name in a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The message ends inside the name.
    #[error("name at offset {offset} runs past the end of the message")]
    Truncated {
        /// Offset at which more bytes were needed.
        offset: usize,
    },
    /// A label length byte uses a reserved or extended label type.
    #[error("label type {byte:#04x} at offset {offset} is not supported")]
    LabelType {
        /// The length byte.
        byte: u8,
        /// Where it stands.
        offset: usize,
    },
    /// The expanded name is longer than 255 bytes.
    #[error("name is longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    /// A compression pointer does not point strictly backwards.
    #[error("compression pointer at offset {offset} points forward to {target}")]
    ForwardPointer {
        /// Offset of the pointer.
        offset: usize,
        /// Where it points.
        target: usize,
    },
    /// More compression pointers than any legitimate name needs.
    #[error("more than {MAX_POINTER_HOPS} compression pointers in one name")]
    TooManyPointers,
}

/// Capacity of a [`WireName`] buffer: one byte over the longest name, so
/// names can be copied and lower-cased eight bytes at a time.
const NAME_BUF: usize = MAX_NAME_LEN + 1;

/// A fully qualified domain name in uncompressed wire form, held inline.
#[derive(Clone, Copy)]
pub struct WireName {
    bytes: [u8; NAME_BUF],
    len: u8,
    labels: u8,
}

impl WireName {
    /// The root name `.`.
    pub const ROOT: Self = Self {
        bytes: [0; NAME_BUF],
        len: 1,
        labels: 0,
    };

    /// The name in uncompressed wire form, ending with the root label.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Number of labels, not counting the root label.
    pub fn label_count(&self) -> u8 {
        self.labels
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.len == 1
    }

    /// The labels from the leftmost to the rightmost, root excluded.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            rest: self.as_bytes(),
        }
    }

    /// This name with ASCII upper case folded to lower case.
    #[must_use]
    pub fn to_lowercase(&self) -> Self {
        let mut out = Self::ROOT;
        out.set_lowercase_of(self);
        out
    }

    /// Overwrites this name with `other` folded to lower case, copying only
    /// the bytes in use.
    pub fn set_lowercase_of(&mut self, other: &Self) {
        let words = usize::from(other.len).div_ceil(8).min(NAME_BUF / 8);
        let (src, _) = other.bytes.as_chunks::<8>();
        let (dst, _) = self.bytes.as_chunks_mut::<8>();
        for i in 0..words {
            dst[i] = lowercase_word(u64::from_le_bytes(src[i])).to_le_bytes();
        }
        self.len = other.len;
        self.labels = other.labels;
    }

    /// Whether both names are equal ignoring ASCII case (RFC 4343).
    pub fn eq_ignore_case(&self, other: &Self) -> bool {
        self.as_bytes().eq_ignore_ascii_case(other.as_bytes())
    }

    /// Builds a name from uncompressed wire bytes, checking every length.
    pub fn from_wire(wire: &[u8]) -> Result<Self, NameError> {
        let (name, end) = read_name(wire, 0)?;
        if end == wire.len() {
            Ok(name)
        } else {
            Err(NameError::Truncated { offset: end })
        }
    }
}

impl PartialEq for WireName {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for WireName {}

impl fmt::Debug for WireName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WireName({self})")
    }
}

impl fmt::Display for WireName {
    /// Presentation format (RFC 1035 §5.1), with `\DDD` escapes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            for &b in label {
                match b {
                    b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                        write!(f, "\\{}", char::from(b))?;
                    }
                    0x21..=0x7e => write!(f, "{}", char::from(b))?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

/// Iterator over the labels of a [`WireName`].
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        // Invariant: `rest` is a valid uncompressed name (checked on build).
        let (&len, tail) = self.rest.split_first()?;
        if len == 0 {
            return None;
        }
        let (label, rest) = tail.split_at(usize::from(len));
        self.rest = rest;
        Some(label)
    }
}

/// Reads the name at `pos` in `msg`, following compression pointers.
///
/// Returns the name and the offset just past it in the uncompressed stream
/// (after the first pointer, if any). Pointers must point strictly before
/// the pointer itself, which rules out loops; the hop count is capped too.
pub fn read_name(msg: &[u8], pos: usize) -> Result<(WireName, usize), NameError> {
    let mut name = WireName::ROOT;
    let end = read_name_into(msg, pos, &mut name)?;
    Ok((name, end))
}

/// Like [`read_name`], but writes into `name` in place: the hot path reuses
/// one buffer instead of moving 257-byte values around.
pub fn read_name_into(msg: &[u8], pos: usize, name: &mut WireName) -> Result<usize, NameError> {
    // Fast path: an uncompressed name (every query's question) is validated
    // label by label, then copied in one piece.
    if let Some((end, labels)) = scan_uncompressed(msg, pos) {
        let len = end - pos;
        copy_words(&msg[pos..end], &mut name.bytes);
        name.len = len as u8;
        name.labels = labels;
        return Ok(end);
    }
    let mut out = 0usize;
    let mut labels = 0u8;
    let mut cursor = pos;
    let mut end = None;
    let mut hops = 0;
    loop {
        let Some(&byte) = msg.get(cursor) else {
            return Err(NameError::Truncated { offset: cursor });
        };
        match byte & 0xC0 {
            0x00 => {
                let len = usize::from(byte);
                if out + 1 + len > MAX_NAME_LEN {
                    return Err(NameError::TooLong);
                }
                let Some(label) = msg.get(cursor + 1..cursor + 1 + len) else {
                    return Err(NameError::Truncated { offset: msg.len() });
                };
                name.bytes[out] = byte;
                name.bytes[out + 1..out + 1 + len].copy_from_slice(label);
                out += 1 + len;
                cursor += 1 + len;
                if len == 0 {
                    name.len = out as u8;
                    name.labels = labels;
                    return Ok(end.unwrap_or(cursor));
                }
                labels += 1;
            }
            0xC0 => {
                let Some(&low) = msg.get(cursor + 1) else {
                    return Err(NameError::Truncated { offset: cursor + 1 });
                };
                let target = usize::from(u16::from_be_bytes([byte & 0x3F, low]));
                if target >= cursor {
                    return Err(NameError::ForwardPointer {
                        offset: cursor,
                        target,
                    });
                }
                hops += 1;
                if hops > MAX_POINTER_HOPS {
                    return Err(NameError::TooManyPointers);
                }
                end.get_or_insert(cursor + 2);
                cursor = target;
            }
            _ => {
                return Err(NameError::LabelType {
                    byte,
                    offset: cursor,
                });
            }
        }
    }
}

/// Copies `src` (at most 255 bytes) to the front of `dst` in 8-byte words;
/// bytes of `dst` past `src.len()` may change.
fn copy_words(src: &[u8], dst: &mut [u8; NAME_BUF]) {
    let (words, tail) = src.as_chunks::<8>();
    let (out, _) = dst.as_chunks_mut::<8>();
    for (d, s) in out.iter_mut().zip(words) {
        *d = *s;
    }
    // Invariant: src.len() <= 255, so the tail word ends at most at byte 256.
    let at = words.len() * 8;
    for (i, &b) in tail.iter().enumerate() {
        dst[at + i] = b;
    }
}

/// End offset and label count of a valid uncompressed name at `pos`, or
/// None if it is compressed or invalid (the slow path then says why).
fn scan_uncompressed(msg: &[u8], pos: usize) -> Option<(usize, u8)> {
    let mut cursor = pos;
    let mut labels = 0u8;
    loop {
        let len = usize::from(*msg.get(cursor)?);
        if len > MAX_LABEL_LEN {
            return None;
        }
        cursor += 1 + len;
        if cursor - pos > MAX_NAME_LEN || cursor > msg.len() {
            return None;
        }
        if len == 0 {
            return Some((cursor, labels));
        }
        labels += 1;
    }
}

/// Returns the offset just past the name at `pos`, without following pointers.
///
/// Checks label lengths and types against the message bounds; used to walk
/// over records whose names the caller does not need.
pub fn skip_name(msg: &[u8], pos: usize) -> Result<usize, NameError> {
    let mut cursor = pos;
    let mut total = 0usize;
    loop {
        let Some(&byte) = msg.get(cursor) else {
            return Err(NameError::Truncated { offset: cursor });
        };
        match byte & 0xC0 {
            0x00 => {
                let len = usize::from(byte);
                total += 1 + len;
                if total > MAX_NAME_LEN {
                    return Err(NameError::TooLong);
                }
                cursor += 1 + len;
                if cursor > msg.len() {
                    return Err(NameError::Truncated { offset: msg.len() });
                }
                if len == 0 {
                    return Ok(cursor);
                }
            }
            0xC0 => {
                if cursor + 2 > msg.len() {
                    return Err(NameError::Truncated { offset: cursor + 1 });
                }
                return Ok(cursor + 2);
            }
            _ => {
                return Err(NameError::LabelType {
                    byte,
                    offset: cursor,
                });
            }
        }
    }
}

/// Lower-cases the ASCII letters of an uncompressed wire name in place.
///
/// Length bytes are at most 63, below `A` (65), so the whole buffer can be
/// folded at once, eight bytes at a time.
pub fn lowercase_name_in_place(wire: &mut [u8]) {
    let (words, tail) = wire.as_chunks_mut::<8>();
    for word in words {
        *word = lowercase_word(u64::from_le_bytes(*word)).to_le_bytes();
    }
    tail.make_ascii_lowercase();
}

/// ASCII lower-casing of eight bytes at once (SWAR): adds 0x20 to each
/// byte in `A..=Z`, leaves every other byte, high-bit ones included, alone.
fn lowercase_word(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = x & LOW7;
    let at_least_a = low7 + 0x3f3f_3f3f_3f3f_3f3f; // high bit set when >= 'A'
    let above_z = low7 + 0x2525_2525_2525_2525; // high bit set when > 'Z'
    let upper = at_least_a & !above_z & !x & HIGH;
    x | (upper >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_name_and_counts_labels() {
        let msg = b"\x03www\x07Example\x03com\x00";
        let (name, end) = read_name(msg, 0).unwrap();
        assert_eq!(end, msg.len());
        assert_eq!(name.label_count(), 3);
        assert_eq!(name.to_string(), "www.Example.com.");
        assert_eq!(name.to_lowercase().to_string(), "www.example.com.");
        assert_eq!(
            name.labels().collect::<Vec<_>>(),
            [&b"www"[..], b"Example", b"com"]
        );
    }

    #[test]
    fn follows_backward_pointer_and_reports_end_after_pointer() {
        let mut msg = b"\x07example\x03com\x00".to_vec();
        let start = msg.len();
        msg.extend_from_slice(b"\x03www\xC0\x00");
        let (name, end) = read_name(&msg, start).unwrap();
        assert_eq!(name.to_string(), "www.example.com.");
        assert_eq!(end, msg.len());
    }

    #[test]
    fn rejects_pointer_loops_and_forward_pointers() {
        // Points at itself.
        assert_eq!(
            read_name(b"\xC0\x00", 0).unwrap_err(),
            NameError::ForwardPointer {
                offset: 0,
                target: 0
            }
        );
        // Points forward.
        assert!(matches!(
            read_name(b"\xC0\x02\x00", 0),
            Err(NameError::ForwardPointer { .. })
        ));
    }

    #[test]
    fn rejects_names_over_255_bytes() {
        let mut msg = Vec::new();
        for _ in 0..5 {
            msg.push(63);
            msg.extend_from_slice(&[b'a'; 63]);
        }
        msg.push(0);
        assert_eq!(read_name(&msg, 0).unwrap_err(), NameError::TooLong);
        assert_eq!(skip_name(&msg, 0).unwrap_err(), NameError::TooLong);
    }

    #[test]
    fn longest_legal_name_is_accepted() {
        // 3 labels of 63 + one of 61 = 4*1 + 250 + 1 root = 255 bytes.
        let mut msg = Vec::new();
        for len in [63u8, 63, 63, 61] {
            msg.push(len);
            msg.extend(std::iter::repeat_n(b'x', usize::from(len)));
        }
        msg.push(0);
        assert_eq!(msg.len(), MAX_NAME_LEN);
        let (name, _) = read_name(&msg, 0).unwrap();
        assert_eq!(name.as_bytes(), &msg[..]);
        assert_eq!(skip_name(&msg, 0).unwrap(), msg.len());
    }

    #[test]
    fn rejects_extended_label_types_and_truncation() {
        assert!(matches!(
            read_name(b"\x41abc", 0),
            Err(NameError::LabelType { byte: 0x41, .. })
        ));
        assert!(matches!(
            read_name(b"\x05ab", 0),
            Err(NameError::Truncated { .. })
        ));
        assert!(matches!(
            read_name(b"\x03abc", 0),
            Err(NameError::Truncated { .. })
        ));
        assert!(matches!(
            skip_name(b"\x05ab", 0),
            Err(NameError::Truncated { .. })
        ));
    }

    #[test]
    fn lowercasing_touches_only_ascii_capitals() {
        let mut all: Vec<u8> = (0..=255u8).collect();
        lowercase_name_in_place(&mut all);
        for (i, &b) in all.iter().enumerate() {
            let original = i as u8;
            assert_eq!(b, original.to_ascii_lowercase(), "byte {original:#04x}");
        }
        // Every alignment of a short name.
        for start in 0..8 {
            let mut buf = vec![b'Q'; start];
            buf.extend_from_slice(b"\x03WwW\x07ExAmPlE\x00");
            lowercase_name_in_place(&mut buf[start..]);
            assert_eq!(&buf[start..], b"\x03www\x07example\x00");
        }
    }

    #[test]
    fn display_escapes_special_bytes() {
        let name = WireName::from_wire(b"\x03a.b\x02\x00z\x00").unwrap();
        assert_eq!(name.to_string(), "a\\.b.\\000z.");
        assert_eq!(WireName::ROOT.to_string(), ".");
    }
}
