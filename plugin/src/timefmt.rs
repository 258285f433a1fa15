//! Times as the screens show them: UTC to the second, and how long ago or ahead.

use k8s_openapi::jiff::{Timestamp, tz::TimeZone};

/// `2026-12-03 06:35:12 UTC`.
pub fn utc(t: Timestamp) -> String {
    t.to_zoned(TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// `5m ago`, `in 89d`, `just now`: the coarsest unit that is at least 1.
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let secs = t.as_second() - now.as_second();
    let abs = secs.unsigned_abs();
    let amount = match abs {
        0..=4 => return "just now".into(),
        5..=119 => format!("{abs}s"),
        120..=7199 => format!("{}m", abs / 60),
        7200..=172_799 => format!("{}h", abs / 3600),
        _ => format!("{}d", abs / 86_400),
    };
    if secs < 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// `2026-12-03 06:35:12 UTC (5m ago)`.
pub fn when(t: Timestamp, now: Timestamp) -> String {
    format!("{} ({})", utc(t), relative(t, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_utc_with_their_distance() {
        let now: Timestamp = "2026-12-03T06:00:00Z".parse().unwrap();
        let t: Timestamp = "2026-12-03T05:55:00Z".parse().unwrap();
        assert_eq!(when(t, now), "2026-12-03 05:55:00 UTC (5m ago)");
        let later: Timestamp = "2027-03-02T06:00:00Z".parse().unwrap();
        assert_eq!(relative(later, now), "in 89d");
        assert_eq!(relative(now, now), "just now");
        let soon: Timestamp = "2026-12-03T06:00:30Z".parse().unwrap();
        assert_eq!(relative(soon, now), "in 30s");
        let hours: Timestamp = "2026-12-03T01:00:00Z".parse().unwrap();
        assert_eq!(relative(hours, now), "5h ago");
    }
}
