//! When a 5-field cron schedule fires next, for the status screen.
//!
//! The CronJob the operator renders has no `timeZone`, so Kubernetes runs it in the
//! controller-manager's local time zone; this computes in UTC (what the local cluster and
//! nearly every managed control plane run in), and the screen says so.

use k8s_openapi::jiff::civil::{Date, DateTime};
use k8s_openapi::jiff::{Timestamp, tz::TimeZone};

/// One field: which values match.
#[derive(Debug, Clone)]
struct Field {
    allowed: Vec<bool>,
    /// The field was `*` or `?` (matters for the day-of-month/day-of-week rule).
    star: bool,
}

impl Field {
    fn has(&self, v: i32) -> bool {
        usize::try_from(v)
            .ok()
            .and_then(|i| self.allowed.get(i))
            .copied()
            .unwrap_or(false)
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(s: &str, names: &[&str], first_name: i32) -> Option<i32> {
    if let Ok(v) = s.parse() {
        return Some(v);
    }
    let up = s.to_ascii_uppercase();
    names
        .iter()
        .position(|n| *n == up)
        .and_then(|i| i32::try_from(i).ok())
        .map(|i| i + first_name)
}

/// Parse a field with values `min..=max` (`*`, `?`, `a`, `a-b`, `*/n`, `a-b/n`, `a/n`, lists).
fn field(s: &str, min: i32, max: i32, names: &[&str], first_name: i32) -> Result<Field, String> {
    let size = usize::try_from(max + 1).map_err(|_| "bad range".to_string())?;
    let mut allowed = vec![false; size];
    let bad = || format!("{s:?} is not a cron field for values {min}-{max}");
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (
                r,
                st.parse::<i32>().ok().filter(|n| *n > 0).ok_or_else(bad)?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, names, first_name).ok_or_else(bad)?,
                value(b, names, first_name).ok_or_else(bad)?,
            )
        } else {
            let v = value(range, names, first_name).ok_or_else(bad)?;
            // `a/n` runs from a to the end of the range.
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(bad());
        }
        let mut v = lo;
        while v <= hi {
            if let Some(slot) = usize::try_from(v).ok().and_then(|i| allowed.get_mut(i)) {
                *slot = true;
            }
            v += step;
        }
    }
    Ok(Field {
        allowed,
        star: s == "*" || s == "?",
    })
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    minute: Field,
    hour: Field,
    dom: Field,
    month: Field,
    dow: Field,
}

impl Schedule {
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let f: Vec<&str> = s.split_whitespace().collect();
        let [mi, h, dom, mo, dow] = f.as_slice() else {
            return Err(format!("{s:?} does not have 5 fields"));
        };
        let mut dow = field(dow, 0, 7, &DAYS, 0)?;
        // 7 is Sunday too.
        if dow.has(7) {
            dow.allowed[0] = true;
        }
        Ok(Schedule {
            minute: field(mi, 0, 59, &[], 0)?,
            hour: field(h, 0, 23, &[], 0)?,
            dom: field(dom, 1, 31, &[], 0)?,
            month: field(mo, 1, 12, &MONTHS, 1)?,
            dow,
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = self.dom.has(i32::from(d.day()));
        let dow = self.dow.has(i32::from(d.weekday().to_sunday_zero_offset()));
        // Classic cron (and Kubernetes' robfig/cron): when both day fields are restricted,
        // either one matching is enough.
        if self.dom.star || self.dow.star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first minute strictly after `now` (UTC) that the schedule fires, within five years.
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        let start = now.to_zoned(TimeZone::UTC).datetime();
        let mut t: DateTime = start
            .date()
            .at(start.hour(), start.minute(), 0, 0)
            .checked_add(k8s_openapi::jiff::Span::new().minutes(1))
            .ok()?;
        let limit = start
            .date()
            .checked_add(k8s_openapi::jiff::Span::new().years(5))
            .ok()?;
        while t.date() < limit {
            let d = t.date();
            if !self.month.has(i32::from(d.month())) {
                t = d
                    .first_of_month()
                    .checked_add(k8s_openapi::jiff::Span::new().months(1))
                    .ok()?
                    .at(0, 0, 0, 0);
                continue;
            }
            if !self.day_matches(d) {
                t = d.tomorrow().ok()?.at(0, 0, 0, 0);
                continue;
            }
            if !self.hour.has(i32::from(t.hour())) {
                t = d
                    .at(t.hour(), 0, 0, 0)
                    .checked_add(k8s_openapi::jiff::Span::new().hours(1))
                    .ok()?;
                continue;
            }
            if !self.minute.has(i32::from(t.minute())) {
                t = t
                    .checked_add(k8s_openapi::jiff::Span::new().minutes(1))
                    .ok()?;
                continue;
            }
            return t.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(s: &str, now: &str) -> String {
        let now: Timestamp = now.parse().unwrap();
        Schedule::parse(s)
            .unwrap()
            .next_after(now)
            .map(|t| t.to_string())
            .unwrap_or_else(|| "never".into())
    }

    #[test]
    fn the_default_schedule_fires_at_two_next() {
        assert_eq!(
            next("0 2 * * *", "2026-12-03T06:35:12Z"),
            "2026-12-04T02:00:00Z"
        );
        assert_eq!(
            next("0 2 * * *", "2026-12-03T01:59:59Z"),
            "2026-12-03T02:00:00Z"
        );
        // Strictly after: at 02:00 itself the next one is tomorrow's.
        assert_eq!(
            next("0 2 * * *", "2026-12-03T02:00:00Z"),
            "2026-12-04T02:00:00Z"
        );
    }

    #[test]
    fn every_minute_steps_lists_and_ranges() {
        assert_eq!(
            next("* * * * *", "2026-12-03T06:35:12Z"),
            "2026-12-03T06:36:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-12-03T06:35:12Z"),
            "2026-12-03T06:45:00Z"
        );
        assert_eq!(
            next("5,50 9-17 * * *", "2026-12-03T17:51:00Z"),
            "2026-12-04T09:05:00Z"
        );
        assert_eq!(
            next("30 3/6 * * *", "2026-12-03T04:00:00Z"),
            "2026-12-03T09:30:00Z"
        );
    }

    #[test]
    fn months_and_weekdays_by_name_and_number() {
        // 2026-12-03 is a Thursday.
        assert_eq!(
            next("0 0 * * MON", "2026-12-03T06:00:00Z"),
            "2026-12-07T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-12-03T06:00:00Z"),
            "2026-12-06T00:00:00Z"
        );
        assert_eq!(
            next("0 0 1 jan *", "2026-12-03T06:00:00Z"),
            "2027-01-01T00:00:00Z"
        );
        // Both day fields restricted: either matches (the 10th, or a Sunday first).
        assert_eq!(
            next("0 0 10 * 0", "2026-12-03T06:00:00Z"),
            "2026-12-06T00:00:00Z"
        );
    }

    #[test]
    fn impossible_and_malformed_schedules() {
        assert_eq!(next("0 0 30 2 *", "2026-12-03T06:00:00Z"), "never");
        for bad in [
            "0 2 * *",
            "61 * * * *",
            "* 24 * * *",
            "*/0 * * * *",
            "a b c d e",
            "5-1 * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
