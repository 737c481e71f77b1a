//! The manifest: names of the hierarchy by what a validating resolver
//! should make of them, for tests and for dnsperf query files.

use std::fmt::Write as _;

/// What a validating resolver should answer for a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Category {
    /// Signed, with a chain of trust from the root: AD set.
    Secure,
    /// In a zone without a chain of trust: answered, AD clear.
    Insecure,
    /// Signed but broken: SERVFAIL from a validator.
    Bogus {
        /// Why, in the defect's name (e.g. `expired-rrsig`).
        reason: String,
    },
    /// The name does not exist, provably.
    Nxdomain,
    /// The name exists without the asked type, provably.
    Nodata,
    /// Answered from a wildcard.
    Wildcard,
    /// Answered through a CNAME (possibly across zones).
    Cname,
}

impl Category {
    /// The category's name in the manifest file.
    pub fn label(&self) -> &str {
        match self {
            Self::Secure => "secure",
            Self::Insecure => "insecure",
            Self::Bogus { .. } => "bogus",
            Self::Nxdomain => "nxdomain",
            Self::Nodata => "nodata",
            Self::Wildcard => "wildcard",
            Self::Cname => "cname",
        }
    }
}

/// One name to ask about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The query name, fully qualified.
    pub name: String,
    /// The query type's mnemonic (`A`, `TXT`...).
    pub qtype: &'static str,
    /// What a validator should make of it.
    pub category: Category,
}

/// Every categorised name of a hierarchy.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// The entries, in the order the builder made them.
    pub entries: Vec<Entry>,
}

/// Names in the hot set of the dnsperf query files.
pub const HOT_SET_SIZE: usize = 100;
/// Queries in the dnsperf "mix" file.
pub const MIX_SIZE: usize = 10_000;
/// Share of the mix, in percent, drawn from the hot set.
pub const MIX_HOT_PERCENT: usize = 80;

impl Manifest {
    /// Adds an entry.
    pub fn push(&mut self, name: impl Into<String>, qtype: &'static str, category: Category) {
        self.entries.push(Entry {
            name: name.into(),
            qtype,
            category,
        });
    }

    /// Entries of one category label (`secure`, `bogus`...).
    pub fn of(&self, label: &str) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(move |e| e.category.label() == label)
    }

    /// The manifest as text: `category name qtype [reason]`, one a line.
    pub fn to_text(&self) -> String {
        let mut out = String::from("; category name qtype [expected-bogus-reason]\n");
        for e in &self.entries {
            // Invariant: writing to a String cannot fail.
            let _ = match &e.category {
                Category::Bogus { reason } => {
                    writeln!(
                        out,
                        "{} {} {} {reason}",
                        e.category.label(),
                        e.name,
                        e.qtype
                    )
                }
                other => writeln!(out, "{} {} {}", other.label(), e.name, e.qtype),
            };
        }
        out
    }

    /// dnsperf query files: (hot, cold, mix). Hot repeats a few secure
    /// names; cold lists every distinct name once; mix draws
    /// [`MIX_HOT_PERCENT`]% from hot and the rest from cold.
    pub fn dnsperf_files(&self) -> (String, String, String) {
        let line = |e: &Entry| format!("{} {}\n", e.name, e.qtype);
        let hot: Vec<String> = self.of("secure").take(HOT_SET_SIZE).map(line).collect();
        let cold: Vec<String> = self.entries.iter().map(line).collect();
        let mut mix = String::new();
        for i in 0..MIX_SIZE {
            let source = if i % 100 < MIX_HOT_PERCENT && !hot.is_empty() {
                &hot[i % hot.len()]
            } else if cold.is_empty() {
                continue;
            } else {
                &cold[(i * 7919) % cold.len()]
            };
            mix.push_str(source);
        }
        (hot.concat(), cold.concat(), mix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_text_carries_the_bogus_reason() {
        let mut m = Manifest::default();
        m.push("www.a.test.", "A", Category::Secure);
        m.push(
            "www.b.test.",
            "A",
            Category::Bogus {
                reason: "expired-rrsig".into(),
            },
        );
        let text = m.to_text();
        assert!(text.contains("secure www.a.test. A\n"));
        assert!(text.contains("bogus www.b.test. A expired-rrsig\n"));
    }

    #[test]
    fn mix_is_mostly_hot_names() {
        let mut m = Manifest::default();
        m.push("hot.test.", "A", Category::Secure);
        m.push("cold.test.", "A", Category::Nxdomain);
        let (hot, cold, mix) = m.dnsperf_files();
        assert_eq!(hot, "hot.test. A\n");
        assert_eq!(cold.lines().count(), 2);
        let hot_lines = mix.lines().filter(|l| *l == "hot.test. A").count();
        assert!(hot_lines >= MIX_SIZE * MIX_HOT_PERCENT / 100, "{hot_lines}");
    }
}
