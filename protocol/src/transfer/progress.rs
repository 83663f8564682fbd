//! Progress of one transfer: bytes done of total, a smoothed rate and the time left. Pure: the caller passes
//! timestamps (`performance.now()` in the browser), so it is tested without a clock.

/// Rate samples closer together than this are merged, so bursts of small updates don't make the rate jitter.
pub const MIN_SAMPLE_MS: f64 = 250.0;
/// Time constant of the exponential smoothing of the rate: about how far back the estimate "remembers".
pub const SMOOTHING_MS: f64 = 3_000.0;

/// Bytes done of total, with a smoothed rate. Feed it `(now_ms, bytes_done)` whenever either changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    total: u64,
    done: u64,
    /// Smoothed bytes per second, once two samples far enough apart were seen.
    rate: Option<f64>,
    /// The last sample the rate was measured from.
    anchor: Option<(f64, u64)>,
}

impl Progress {
    pub fn new(total: u64) -> Self {
        Progress {
            total,
            done: 0,
            rate: None,
            anchor: None,
        }
    }

    /// Records that `done` bytes are done at time `now_ms`. Going backwards (a resume restarted from an earlier
    /// chunk, or a clock step) re-anchors the measurement instead of producing a negative rate.
    pub fn update(&mut self, now_ms: f64, done: u64) {
        let done = done.min(self.total);
        self.done = done;
        if !now_ms.is_finite() {
            return;
        }
        let Some((t0, b0)) = self.anchor else {
            self.anchor = Some((now_ms, done));
            return;
        };
        if done < b0 || now_ms < t0 {
            self.anchor = Some((now_ms, done));
            return;
        }
        let dt = now_ms - t0;
        if dt < MIN_SAMPLE_MS {
            return;
        }
        let instant = (done - b0) as f64 * 1000.0 / dt;
        let alpha = 1.0 - (-dt / SMOOTHING_MS).exp();
        self.rate = Some(match self.rate {
            None => instant,
            Some(r) => r + alpha * (instant - r),
        });
        self.anchor = Some((now_ms, done));
    }

    pub fn done(&self) -> u64 {
        self.done
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Fraction done, 0.0..=1.0 (an empty file is 1.0 done).
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.done as f64 / self.total as f64
        }
    }

    /// Smoothed rate in bytes per second; `None` until measured.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// Estimated seconds left; `Some(0.0)` when done, `None` while unknown or stalled.
    pub fn seconds_left(&self) -> Option<f64> {
        let left = self.total - self.done;
        if left == 0 {
            return Some(0.0);
        }
        match self.rate {
            Some(r) if r > 0.5 => Some(left as f64 / r),
            _ => None,
        }
    }
}

/// Formats a byte count for people, in SI units like file managers and the 200 MB limit: `512 bytes`, `1.5 kB`,
/// `15.2 MB`, `200 MB`.
pub fn format_bytes(bytes: u64) -> String {
    if bytes < 1000 {
        return if bytes == 1 {
            "1 byte".into()
        } else {
            format!("{bytes} bytes")
        };
    }
    let mut value = bytes as f64;
    let mut unit = "bytes";
    for next in ["kB", "MB", "GB", "TB"] {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// Formats a duration for people: `4 s`, `2 min 5 s`, `1 h 4 min`.
pub fn format_duration(seconds: f64) -> String {
    let s = if seconds.is_finite() && seconds > 0.0 {
        seconds.ceil() as u64
    } else {
        0
    };
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_and_eta() {
        let mut p = Progress::new(10_000_000);
        assert_eq!(p.rate(), None);
        assert_eq!(p.seconds_left(), None);
        // 1 MB/s, sampled every 100 ms.
        for i in 0..=50u64 {
            p.update(i as f64 * 100.0, i * 100_000);
        }
        let rate = p.rate().unwrap();
        assert!((rate - 1_000_000.0).abs() < 1.0, "{rate}");
        let left = p.seconds_left().unwrap();
        assert!((left - 5.0).abs() < 0.01, "{left}");
        assert!((p.fraction() - 0.5).abs() < 1e-9);
        p.update(6_000.0, 10_000_000);
        assert_eq!(p.seconds_left(), Some(0.0));
    }

    #[test]
    fn smoothing_follows_a_change_gradually() {
        let mut p = Progress::new(u64::MAX);
        let mut t = 0.0;
        let mut done = 0;
        for _ in 0..40 {
            t += 500.0;
            done += 500_000; // 1 MB/s
            p.update(t, done);
        }
        for _ in 0..2 {
            t += 500.0;
            done += 1_000_000; // 2 MB/s
            p.update(t, done);
        }
        let rate = p.rate().unwrap();
        assert!(rate > 1_100_000.0 && rate < 1_900_000.0, "{rate}");
        for _ in 0..60 {
            t += 500.0;
            done += 1_000_000;
            p.update(t, done);
        }
        assert!((p.rate().unwrap() - 2_000_000.0).abs() < 10_000.0);
    }

    #[test]
    fn backwards_and_odd_input() {
        let mut p = Progress::new(1000);
        p.update(0.0, 500);
        p.update(1000.0, 600);
        assert_eq!(p.rate(), Some(100.0));
        // A resume from an earlier point: no negative rate, the old estimate stays.
        p.update(2000.0, 100);
        assert_eq!(p.rate(), Some(100.0));
        assert_eq!(p.done(), 100);
        // Clock going backwards, NaN, and bytes past the total.
        p.update(500.0, 200);
        p.update(f64::NAN, 300);
        p.update(1500.0, 5000);
        assert_eq!(p.done(), 1000);
        assert!(p.rate().unwrap() > 0.0);
        // Stalled: no estimate rather than "forever".
        let mut p = Progress::new(1000);
        p.update(0.0, 0);
        p.update(1000.0, 0);
        assert_eq!(p.seconds_left(), None);
        assert_eq!(Progress::new(0).fraction(), 1.0);
    }

    #[test]
    fn human_formats() {
        assert_eq!(format_bytes(0), "0 bytes");
        assert_eq!(format_bytes(1), "1 byte");
        assert_eq!(format_bytes(999), "999 bytes");
        assert_eq!(format_bytes(1_500), "1.5 kB");
        assert_eq!(format_bytes(15_240_000), "15.2 MB");
        assert_eq!(format_bytes(200_000_000), "200 MB");
        assert_eq!(format_duration(0.2), "1 s");
        assert_eq!(format_duration(125.0), "2 min 5 s");
        assert_eq!(format_duration(3840.0), "1 h 4 min");
        assert_eq!(format_duration(f64::INFINITY), "0 s");
    }
}
