//! Many (key, RRset, RRSIG) checks at once, across threads.
//!
//! For cold-cache bursts. Whole jobs (checks, memo probe, math) are shared
//! out through an atomic cursor, one [`Scratch`] per thread and one memo
//! for all, when a batch has at least [`Limits::batch_parallel_min`] jobs;
//! smaller ones run on the caller's thread. Results come back in job order.
//!
//! # Limitations
//! Helper threads come from a pool the [`Verifier`] starts on its first
//! parallel batch (one thread per core but the caller's) and keeps; waking
//! them costs microseconds, so the threshold is low. A thread out of jobs
//! spins briefly for the others, so none of them sleeps at the end of a
//! batch and a burst of batches does not pay a wake-up per batch. Each
//! job names its key, so each spends at most one check; a KeyTrap budget
//! over several keys is [`Verifier::verify_with_keys`]'s.

use core::num::NonZeroUsize;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use anchorage_wire::proto::rr::Record;

use crate::error::VerifyError;
use crate::key::DnskeyVerifier;
use crate::rrsig::{Budget, Probe, Scratch, Verified, Verifier, as_rrsig, match_key};

/// One signature check of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The key the RRSIG names.
    pub key: &'a DnskeyVerifier,
    /// The records of the RRset.
    pub rrset: &'a [Record],
    /// The RRSIG record.
    pub rrsig: &'a Record,
}

thread_local! {
    /// Signed-data buffers of a pool thread, kept across batches.
    static HELPER_SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

type Outcome = Result<Verified, VerifyError>;

/// Rounds a thread out of jobs spins for the others: about 90 µs on an
/// idle core here (16 ns a round, 0.3 µs a yield), longer than one
/// RSA-2048, P-256 or Ed25519 check, the job a peer may still be on.
const SPIN_ROUNDS: u32 = 4096;
/// Spin rounds between two offers of the core to other threads.
const YIELD_EVERY: u32 = 64;

impl Verifier {
    /// Checks every job on up to `threads` threads (the caller's included);
    /// result `i` is job `i`'s. It blocks the calling thread until all are
    /// done: from async code call it on a blocking thread (e.g. tokio's
    /// `spawn_blocking`), and hold no lock across it.
    ///
    /// # Panics
    /// Only if a worker thread panicked; its panic is resumed here.
    pub fn verify_batch(
        &self,
        jobs: &[Job<'_>],
        now: SystemTime,
        threads: NonZeroUsize,
    ) -> Vec<Outcome> {
        let mut scratch = Scratch::new();
        // Every job, checks and memo probe included, goes to whichever
        // thread claims it next: a serial first pass over the checks would
        // cap the speed-up of the math.
        let helpers = if jobs.len() >= self.limits().batch_parallel_min.max(2) {
            (threads.get() - 1).min(jobs.len() - 1)
        } else {
            0
        };
        let cursor = AtomicUsize::new(0);
        // Threads still taking jobs; the caller's counts from the start.
        let working = AtomicUsize::new(1);
        let work = |scratch: &mut Scratch, out: &mut Vec<(usize, Outcome)>| {
            loop {
                let index = cursor.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(index) else { break };
                let outcome = as_rrsig(job.rrsig).and_then(|sig| {
                    match_key(job.key, sig.input())?;
                    match self.check_and_probe(job.key, job.rrset, job.rrsig, sig, now, scratch)? {
                        Probe::Hit(verified) => Ok(verified),
                        Probe::Miss(verified) => self.run_math(
                            job.key,
                            job.rrset,
                            sig,
                            verified,
                            &mut Budget::new(1),
                            scratch,
                        ),
                    }
                });
                out.push((index, outcome));
            }
        };
        let mut mine = Vec::with_capacity(jobs.len());
        let theirs: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
        // Inside any rayon pool (ours or a caller's) the batch stays on this
        // thread: waiting there would run other pool jobs on it.
        let nested = rayon::current_thread_index().is_some();
        match helpers
            .checked_sub(1)
            .filter(|_| !nested)
            .map(|_| self.pool())
        {
            None | Some(None) => work(&mut scratch, &mut mine),
            Some(Some(pool)) => {
                let helpers = helpers.min(pool.current_num_threads());
                // The caller's thread works too; the scope returns when
                // every helper has finished (a helper's panic is resumed).
                pool.in_place_scope(|s| {
                    for _ in 0..helpers {
                        s.spawn(|_| {
                            working.fetch_add(1, Ordering::AcqRel);
                            let mut out = Vec::new();
                            HELPER_SCRATCH.with_borrow_mut(|scratch| work(scratch, &mut out));
                            // A poisoned lock only means another helper
                            // panicked; that panic reaches the caller anyway.
                            theirs
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .append(&mut out);
                            working.fetch_sub(1, Ordering::AcqRel);
                            wait_for_peers(&working);
                        });
                    }
                    work(&mut scratch, &mut mine);
                    working.fetch_sub(1, Ordering::AcqRel);
                    wait_for_peers(&working);
                });
            }
        }
        let mut all = mine;
        all.append(&mut theirs.into_inner().unwrap_or_else(PoisonError::into_inner));
        // Invariant: the cursor hands every job index to exactly one
        // thread, all of which have joined, so sorting by index gives one
        // outcome per job in job order.
        all.sort_unstable_by_key(|(index, _)| *index);
        debug_assert_eq!(all.len(), jobs.len());
        all.into_iter().map(|(_, outcome)| outcome).collect()
    }
}

/// Spins while another thread of the batch is on its last job, for at
/// most [`SPIN_ROUNDS`] rounds, then leaves the rest to rayon's blocking
/// wait. Threads that leave together spare the caller a sleep on rayon's
/// latch and keep the helper awake for a next batch: each wake-up costs
/// about 20 µs on the 2-core VM the bench runs on, most of an RSA-2048 job.
/// Every [`YIELD_EVERY`] rounds the CPU is offered to other threads, so a
/// peer waiting for this very core (a loaded machine) can finish.
fn wait_for_peers(working: &AtomicUsize) {
    for round in 1..=SPIN_ROUNDS {
        if working.load(Ordering::Acquire) == 0 {
            return;
        }
        if round % YIELD_EVERY == 0 {
            std::thread::yield_now();
        } else {
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_out_of_jobs_gives_up_waiting_for_a_peer_that_never_finishes() {
        // A helper that panicked or never got a core must not hold the
        // batch here: rayon's join decides then.
        let working = AtomicUsize::new(1);
        wait_for_peers(&working);
        assert_eq!(working.load(Ordering::Acquire), 1);
    }
}
