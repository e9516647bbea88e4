//! Smooth clamps and the cardinal temperature and pH models (spec §2.2).

/// Smooth clamp of `x` to `[lo, hi]`: C¹, equal to the clamp outside a band of width `w`
/// around each edge.
pub fn smooth_clamp(x: f64, lo: f64, hi: f64, w: f64) -> f64 {
    smooth_max(lo, smooth_min(x, hi, w), w)
}

fn smooth_max(a: f64, b: f64, w: f64) -> f64 {
    let d = b - a;
    if d >= w {
        b
    } else if d <= -w {
        a
    } else {
        // quadratic blend on (−w, w): C¹ at both ends.
        a + (d + w).powi(2) / (4.0 * w)
    }
}

fn smooth_min(a: f64, b: f64, w: f64) -> f64 {
    -smooth_max(-a, -b, w)
}

pub(super) fn pos(x: f64) -> f64 {
    x.max(0.0)
}

/// Cardinal temperature model with inflection (Rosso 1993): 1 at `t_opt`, 0 outside
/// (`t_min`, `t_max`).
pub fn ctmi(t: f64, t_min: f64, t_opt: f64, t_max: f64) -> f64 {
    if t <= t_min || t >= t_max {
        return 0.0;
    }
    let num = (t - t_max) * (t - t_min).powi(2);
    let den = (t_opt - t_min) * ((t_opt - t_min) * (t - t_opt) - (t_opt - t_max) * (t_opt + t_min - 2.0 * t));
    (num / den).clamp(0.0, 1.0)
}

/// Cardinal pH model (Rosso 1995).
pub fn cpm(ph: f64, a: f64, o: f64, b: f64) -> f64 {
    if ph <= a || ph >= b {
        return 0.0;
    }
    let n = (ph - a) * (ph - b);
    (n / (n - (ph - o).powi(2))).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modifiers_match_the_spec_table() {
        let f = |t| ctmi(t, 28.0, 37.0, 41.0);
        for (t, want) in [(30.0, 0.11), (32.0, 0.39), (33.0, 0.56), (36.8, 1.00), (39.0, 0.79)] {
            assert!((f(t) - want).abs() < 0.012, "fT({t}) = {}", f(t));
        }
        for (ph, want) in [(6.8, 0.80), (6.9, 0.90), (7.0, 0.96)] {
            let v = cpm(ph, 6.36, 7.15, 7.94);
            assert!((v - want).abs() < 0.012, "fpH({ph}) = {v}");
        }
        assert_eq!(ctmi(27.0, 28.0, 37.0, 41.0), 0.0);
        assert_eq!(cpm(8.0, 6.36, 7.15, 7.94), 0.0);
    }

    #[test]
    fn smooth_clamp_is_a_clamp_away_from_edges_and_continuous() {
        assert_eq!(smooth_clamp(0.5, 0.0, 1.0, 0.01), 0.5);
        assert_eq!(smooth_clamp(-1.0, 0.0, 1.0, 0.01), 0.0);
        assert_eq!(smooth_clamp(2.0, 0.0, 1.0, 0.01), 1.0);
        let mut prev = smooth_clamp(-0.1, 0.0, 1.0, 0.01);
        for i in 1..=1200 {
            let x = -0.1 + i as f64 * 0.001;
            let v = smooth_clamp(x, 0.0, 1.0, 0.01);
            assert!(v >= prev - 1e-15 && (v - prev).abs() <= 0.0010001, "x {x}");
            prev = v;
        }
    }
}
