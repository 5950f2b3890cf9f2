//! How fast the server's core is while the bench runs. Throughput and CPU time per request
//! scale with the machine, and a shared virtual machine's speed drifts with its neighbours'
//! load (the same build's point read has measured 4,100 to 5,700/s on one machine within an
//! hour), so each run times a fixed workload on the server's core before and after its
//! scenarios: two runs compare only as far as these figures agree.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    hint::black_box,
    time::{Duration, Instant},
};

/// Timings of the workload per figure; the median is reported.
const ROUNDS: usize = 5;

/// Values sorted and hashed per round: tens of milliseconds on a current server core.
const VALUES: usize = 1 << 22;

/// Milliseconds the fixed workload takes on core 0, the server's (median of [`ROUNDS`]).
pub fn core_ms() -> f64 {
    let timing = std::thread::spawn(|| {
        core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
        let mut rounds: Vec<Duration> = (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                black_box(workload());
                started.elapsed()
            })
            .collect();
        rounds.sort();
        rounds[ROUNDS / 2]
    })
    .join();
    timing.map_or(f64::NAN, |median| median.as_secs_f64() * 1000.0)
}

/// Sorts four million pseudo-random integers and hashes them: branches, memory and arithmetic,
/// as a server's work is, and the same on every run.
fn workload() -> u64 {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut values: Vec<u64> = (0..VALUES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        })
        .collect();
    values.sort_unstable();
    let mut hasher = DefaultHasher::new();
    values.hash(&mut hasher);
    hasher.finish()
}
