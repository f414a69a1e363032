//! Opt-in CPU-time measurement for the benches (`TRAILHOUND_BENCH_CPU=1`).
//!
//! Criterion measures wall-clock time, which on a shared 2-core machine (other builds running)
//! counts the time the bench thread waited for a core. This measures the on-CPU time of the
//! calling thread instead, from Linux's `/proc/thread-self/schedstat` (nanoseconds). Only
//! single-threaded work is measured right: time spent on other threads is not counted.
//! (Shared by the parse and detect benches; it lives in a subfolder so cargo does not take it
//! for a bench target.)

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// The environment variable that switches the benches to [`ThreadCpuTime`].
pub const ENV: &str = "TRAILHOUND_BENCH_CPU";

/// True when the benches should measure CPU time.
pub fn requested() -> bool {
    std::env::var_os(ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// On-CPU time of the calling thread, in nanoseconds.
pub struct ThreadCpuTime {
    /// Formats values as durations, like the wall-clock measurement.
    wall: WallTime,
}

impl ThreadCpuTime {
    /// The measurement.
    pub fn new() -> Self {
        Self { wall: WallTime }
    }
}

fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("TRAILHOUND_BENCH_CPU needs Linux /proc/thread-self/schedstat");
    stat.split_whitespace().next().and_then(|ns| ns.parse().ok()).expect("schedstat starts with the on-CPU nanoseconds")
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, ns: &u64) -> f64 {
        *ns as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}
