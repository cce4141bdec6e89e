//! Velocity limits: how much may leave a wallet in 24 hours, how many vault unlocks a day,
//! and how many money requests a user may send per window. The numbers come from config;
//! the counting happens in the database, so several instances share one count.

use chrono::{DateTime, TimeDelta, Utc};

/// The caps the money path enforces atomically with the movement (`None`: no cap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VelocityLimits {
    /// Withdrawals plus transfers out over any rolling 24 hours, in minor units.
    pub outflow_24h_minor: Option<i64>,
    /// Vault unlocks per calendar day (UTC).
    pub unlocks_per_day: Option<i64>,
}

/// Which cap a refused operation hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Velocity {
    Outflow24h,
    UnlocksToday,
}

impl Velocity {
    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "outflow" => Some(Velocity::Outflow24h),
            "unlocks" => Some(Velocity::UnlocksToday),
            _ => None,
        }
    }
}

/// A fixed-window request budget per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestBudget {
    pub requests: i64,
    pub window_secs: i64,
}

impl RequestBudget {
    /// The start of the window `now` falls in (windows are aligned to the Unix epoch).
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        debug_assert!(self.window_secs > 0);
        let secs = now.timestamp();
        let start = secs - secs.rem_euclid(self.window_secs);
        DateTime::from_timestamp(start, 0).expect("a window start inside chrono's range")
    }

    /// Whole seconds until the window `now` falls in ends (at least 1, for `Retry-After`).
    pub fn retry_after_secs(&self, now: DateTime<Utc>) -> u64 {
        let end = self.window_start(now) + TimeDelta::seconds(self.window_secs);
        let left = (end - now).num_milliseconds();
        u64::try_from((left + 999) / 1000).unwrap_or(1).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_and_retry_after_counts_down() {
        let budget = RequestBudget { requests: 10, window_secs: 60 };
        let t = DateTime::parse_from_rfc3339("2026-11-21T10:03:24.500Z").unwrap().with_timezone(&Utc);
        assert_eq!(budget.window_start(t).to_rfc3339(), "2026-11-21T10:03:00+00:00");
        assert_eq!(budget.retry_after_secs(t), 36);
        let edge = DateTime::parse_from_rfc3339("2026-11-21T10:03:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(budget.retry_after_secs(edge), 60);
    }
}
