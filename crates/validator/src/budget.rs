//! What one client query may spend on validation: signature checks
//! (KeyTrap, CVE-2023-50387), NSEC3 hashes (CVE-2023-50868) and DS/DNSKEY
//! fetches. Over budget the answer is bogus: SERVFAIL with an EDE, never
//! unbounded CPU.

use anchorage_verify::Budget;

use crate::limits::Limits;

/// Which per-query budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetKind {
    /// Signature checks.
    SignatureChecks,
    /// Signature checks for one RRset.
    ChecksPerRrset,
    /// NSEC3 hash computations.
    Nsec3Hashes,
    /// DS and DNSKEY fetches.
    Fetches,
}

impl core::fmt::Display for BudgetKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::SignatureChecks => "signature checks",
            Self::ChecksPerRrset => "signature checks for one RRset",
            Self::Nsec3Hashes => "NSEC3 hashes",
            Self::Fetches => "DS and DNSKEY fetches",
        })
    }
}

/// The budgets of one client query.
#[derive(Debug, Clone)]
pub struct QueryBudget {
    /// Signature checks, spent by `verify`.
    pub signatures: Budget,
    nsec3_limit: u32,
    nsec3_spent: u32,
    fetch_limit: u32,
    fetches: u32,
    /// Signature checks answered by the verifier's memo (free).
    pub(crate) memo_hits: u32,
    /// Nanoseconds spent in signature verification, memo probes included.
    pub(crate) verify_nanos: u64,
}

impl QueryBudget {
    /// Fresh budgets from `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            signatures: Budget::new(limits.signature_checks),
            nsec3_limit: limits.nsec3_hashes,
            nsec3_spent: 0,
            fetch_limit: limits.fetches,
            fetches: 0,
            memo_hits: 0,
            verify_nanos: 0,
        }
    }

    /// Takes one NSEC3 hash from the budget; `Err(limit)` when spent.
    pub fn spend_nsec3_hash(&mut self) -> Result<(), u32> {
        if self.nsec3_spent >= self.nsec3_limit {
            return Err(self.nsec3_limit);
        }
        self.nsec3_spent += 1;
        Ok(())
    }

    /// Takes one fetch from the budget; `Err(limit)` when spent.
    pub fn spend_fetch(&mut self) -> Result<(), u32> {
        if self.fetches >= self.fetch_limit {
            return Err(self.fetch_limit);
        }
        self.fetches += 1;
        Ok(())
    }

    /// NSEC3 hashes computed so far.
    pub fn nsec3_hashes(&self) -> u32 {
        self.nsec3_spent
    }

    /// Fetches made so far.
    pub fn fetches(&self) -> u32 {
        self.fetches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsec3_and_fetch_budgets_refuse_past_their_limits() {
        let limits = Limits {
            nsec3_hashes: 2,
            fetches: 1,
            ..Limits::default()
        };
        let mut budget = QueryBudget::new(&limits);
        assert_eq!(budget.spend_nsec3_hash(), Ok(()));
        assert_eq!(budget.spend_nsec3_hash(), Ok(()));
        assert_eq!(budget.spend_nsec3_hash(), Err(2));
        assert_eq!(budget.nsec3_hashes(), 2);
        assert_eq!(budget.spend_fetch(), Ok(()));
        assert_eq!(budget.spend_fetch(), Err(1));
    }
}
