//! The two captures' clocks: B's clock minus A's (offset) and how fast it
//! moves (drift), from the raw differences `m = t_B - t_A` of matched
//! segments.
//!
//! In a direction where A sees segments first, `m = offset + delay`; in the
//! other, `m = offset - delay`, delays being positive. So in any stretch of
//! time the offset lies between the largest `m` of the lower direction and
//! the smallest of the upper one (NTP's bound on the offset from the
//! minimum delays): its middle is the estimate, its half-width the
//! uncertainty, and it assumes the smallest delays are equal both ways.
//! Per time bin the same bound gives one point; a least-squares line over
//! the bins gives the drift. Memory: at most [`MAX_BINS`] bins (they widen
//! as the capture gets longer).

use super::record::Direction;

/// Bins kept at most; past it the bin width doubles.
pub(crate) const MAX_BINS: usize = 4096;

/// The extremes of `m` in one time bin, per direction.
#[derive(Clone, Copy, Debug)]
struct Bin {
    /// Smallest and largest m of c2s, s2c.
    lo: [i64; 2],
    hi: [i64; 2],
    n: [u64; 2],
}

impl Default for Bin {
    fn default() -> Bin {
        Bin {
            lo: [i64::MAX; 2],
            hi: [i64::MIN; 2],
            n: [0; 2],
        }
    }
}

impl Bin {
    fn merge(&mut self, o: &Bin) {
        for d in 0..2 {
            self.lo[d] = self.lo[d].min(o.lo[d]);
            self.hi[d] = self.hi[d].max(o.hi[d]);
            self.n[d] += o.n[d];
        }
    }

    /// The offset interval this bin allows: (low, high), when both
    /// directions were seen and the upper one is clear.
    fn bound(&self) -> Option<(i64, i64)> {
        if self.n[0] == 0 || self.n[1] == 0 {
            return None;
        }
        // c2s upper (A upstream for c2s) or s2c upper.
        if self.lo[0] >= self.hi[1] {
            Some((self.hi[1], self.lo[0]))
        } else if self.lo[1] >= self.hi[0] {
            Some((self.hi[0], self.lo[1]))
        } else {
            // Overlap: jitter or a moving clock inside the bin; the
            // medians of the extremes are the best guess.
            let a = (self.lo[0] + self.hi[1]) / 2;
            let b = (self.lo[1] + self.hi[0]) / 2;
            Some((a.min(b), a.max(b)))
        }
    }
}

/// Gathers matched segments' clock differences, in bins of A's time.
#[derive(Debug)]
pub(crate) struct ClockFit {
    width_ns: i64,
    bins: std::collections::BTreeMap<i64, Bin>,
}

impl Default for ClockFit {
    fn default() -> ClockFit {
        ClockFit {
            width_ns: 1_000_000_000,
            bins: Default::default(),
        }
    }
}

/// The clock model: `B's time - A's time = offset + drift * (t_A - t0)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Clock {
    /// A's time the offset is given at, ns.
    pub t0_ns: i64,
    /// B minus A at `t0_ns`, ns.
    pub offset_ns: f64,
    /// Drift, ns per ns.
    pub drift: f64,
    /// Offset uncertainty, ns, when both directions bound it.
    pub offset_uncertainty_ns: Option<f64>,
    /// Drift's standard error, ns per ns.
    pub drift_uncertainty: Option<f64>,
    /// Smallest one-way delay, ns, when both directions bound it.
    pub path_delay_ns: Option<f64>,
}

impl Clock {
    /// A clock that differs by a fixed offset.
    pub(crate) fn fixed(offset_ns: i64) -> Clock {
        Clock {
            offset_ns: offset_ns as f64,
            ..Clock::default()
        }
    }

    /// B's clock minus A's at A's time `t_a`, ns.
    pub(crate) fn offset_at(&self, t_a: i64) -> i64 {
        (self.offset_ns + self.drift * (t_a - self.t0_ns) as f64).round() as i64
    }

    /// A B timestamp on A's clock.
    pub(crate) fn to_a(self, t_b: i64) -> i64 {
        // The drift is parts per million: the offset at t_b is as good as at t_a.
        t_b - self.offset_at(t_b - self.offset_ns as i64)
    }
}

impl ClockFit {
    /// One matched segment: A saw it at `t_a`, and `m = t_B - t_A`.
    pub(crate) fn add(&mut self, dir: Direction, t_a: i64, m: i64) {
        let d = match dir {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        };
        let bin = self.bins.entry(t_a.div_euclid(self.width_ns)).or_default();
        bin.lo[d] = bin.lo[d].min(m);
        bin.hi[d] = bin.hi[d].max(m);
        bin.n[d] += 1;
        if self.bins.len() > MAX_BINS {
            self.width_ns *= 2;
            let old = std::mem::take(&mut self.bins);
            for (k, b) in old {
                self.bins.entry(k.div_euclid(2)).or_default().merge(&b);
            }
        }
    }

    /// The clock the gathered differences give; None without any.
    pub(crate) fn fit(&self) -> Option<Clock> {
        let first = *self.bins.keys().next()?;
        let t0 = first * self.width_ns;
        let mid = |k: i64| (k - first) as f64 * self.width_ns as f64 + self.width_ns as f64 / 2.0;
        let points: Vec<(f64, f64, f64)> = self
            .bins
            .iter()
            .filter_map(|(&k, b)| {
                let (lo, hi) = b.bound()?;
                Some((
                    mid(k),
                    (lo as f64 + hi as f64) / 2.0,
                    (hi - lo) as f64 / 2.0,
                ))
            })
            .collect();
        if points.is_empty() {
            // One direction only: the smallest difference, which still
            // holds that direction's delay.
            let smallest = self
                .bins
                .values()
                .flat_map(|b| (0..2).filter(|&d| b.n[d] > 0).map(|d| b.lo[d]))
                .min()?;
            return Some(Clock {
                t0_ns: t0,
                offset_ns: smallest as f64,
                ..Clock::default()
            });
        }
        let n = points.len() as f64;
        let path = points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
        let (slope, intercept, slope_se, spread) = if points.len() >= 2 {
            let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
            let my = points.iter().map(|p| p.1).sum::<f64>() / n;
            let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
            let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
            let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
            let intercept = my - slope * mx;
            let rss: f64 = points
                .iter()
                .map(|p| (p.1 - intercept - slope * p.0).powi(2))
                .sum();
            let se = (points.len() >= 3 && sxx > 0.0).then(|| (rss / (n - 2.0) / sxx).sqrt());
            (slope, intercept, se, (rss / n).sqrt())
        } else {
            (0.0, points[0].1, None, 0.0)
        };
        // The intercept is at the first bin's start.
        Some(Clock {
            t0_ns: t0,
            offset_ns: intercept,
            drift: slope,
            offset_uncertainty_ns: Some(path.max(spread)),
            drift_uncertainty: slope_se,
            path_delay_ns: Some(path),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_lies_between_the_directions_minimum_delays() {
        let mut f = ClockFit::default();
        // B is 5 s ahead; delay 2 ms from A to B (c2s), 3 ms back.
        for i in 0..10 {
            let t = i * 100_000_000;
            f.add(Direction::ClientToServer, t, 5_000_000_000 + 2_000_000 + i);
            f.add(Direction::ServerToClient, t, 5_000_000_000 - 3_000_000 - i);
        }
        let c = f.fit().unwrap();
        // The bound is [5 s - 3 ms, 5 s + 2 ms]: middle 5 s - 0.5 ms.
        assert_eq!(c.offset_ns.round() as i64, 5_000_000_000 - 500_000);
        assert_eq!(c.offset_uncertainty_ns, Some(2_500_000.0));
        assert_eq!(c.drift, 0.0);
    }

    #[test]
    fn drift_is_the_slope_over_bins() {
        let mut f = ClockFit::default();
        // 100 ppm: 100 µs per second.
        for s in 0..20i64 {
            let t = s * 1_000_000_000 + 500_000_000;
            let off = 1_000 + s * 100_000;
            f.add(Direction::ClientToServer, t, off + 1_000);
            f.add(Direction::ServerToClient, t, off - 1_000);
        }
        let c = f.fit().unwrap();
        assert!((c.drift * 1e6 - 100.0).abs() < 1e-6, "{}", c.drift * 1e6);
        // At t = 0, half a second before the first bin's middle.
        assert!(
            (c.offset_ns - (1_000.0 - 50_000.0)).abs() < 1.0,
            "{}",
            c.offset_ns
        );
        assert!(c.drift_uncertainty.unwrap() < 1e-9);
    }
}
