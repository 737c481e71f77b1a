//! The two-thread control of the benches' paired modes: arithmetic on
//! registers only, no memory, nothing shared between threads. Timed one
//! thread against two in the same rounds as the code under test, it shows
//! what this host gives two threads that cannot get in each other's way,
//! the ceiling for any 2-thread figure measured beside it. Also how the
//! paired modes sum up their rounds. Included by the cache and verify
//! benches with `#[path]`.

/// Runs `steps` steps of the control loop; returns its result, to be
/// passed to `black_box` so no step is optimised away.
pub fn control_steps(steps: u64, seed: u64) -> [u64; 6] {
    let mut x = [seed | 1, seed ^ 2, seed ^ 3, seed ^ 4, seed ^ 5, seed ^ 6];
    for i in 0..steps {
        x[0] = x[0].wrapping_mul(3).wrapping_add(i);
        x[1] ^= (x[1] << 1) ^ i;
        x[2] = x[2].wrapping_add(x[0] ^ x[1]);
        x[3] = x[3].wrapping_mul(5).wrapping_add(x[2]);
        x[4] = x[4].wrapping_add(x[3] >> 3);
        x[5] ^= x[4].wrapping_add(i);
    }
    x
}

/// Median, smallest and largest of `xs` (not empty): a paired mode's
/// summary of its per-round ratios.
pub fn median_min_max(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}
