//! Latencies and statuses of one run, and the RESULT line they print.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Stats {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

impl Stats {
    pub fn record(&mut self, started: Instant, status: Option<u16>) {
        self.latencies_us.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        match status {
            Some(s) => *self.statuses.entry(s).or_default() += 1,
            None => self.errors += 1,
        }
    }

    pub fn merge(&mut self, other: Stats) {
        self.latencies_us.extend(other.latencies_us);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.errors += other.errors;
    }

    fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
    }

    pub fn report(&mut self, label: &str, elapsed: Duration) {
        self.latencies_us.sort_unstable();
        let n = self.latencies_us.len();
        let rps = n as f64 / elapsed.as_secs_f64();
        let (p50, p90, p99) = (
            Self::percentile_ms(&self.latencies_us, 50.0),
            Self::percentile_ms(&self.latencies_us, 90.0),
            Self::percentile_ms(&self.latencies_us, 99.0),
        );
        let max = self.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0;
        let statuses: Vec<String> = self.statuses.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        println!("{label}: {n} requests in {:.1}s", elapsed.as_secs_f64());
        println!("  requests/s {rps:.0}   p50 {p50:.2} ms   p90 {p90:.2} ms   p99 {p99:.2} ms   max {max:.2} ms");
        println!("  statuses {}   transport errors {}", statuses.join(" "), self.errors);
        println!(
            "RESULT label={label} requests={n} rps={rps:.1} p50_ms={p50:.3} p90_ms={p90:.3} p99_ms={p99:.3} max_ms={max:.3} errors={} non2xx={}",
            self.errors,
            self.statuses.iter().filter(|(k, _)| !(200..300).contains(*k)).map(|(_, v)| v).sum::<u64>()
        );
    }
}
