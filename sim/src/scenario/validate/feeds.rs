//! The `[[feeds]]` checks: times, kind-specific fields, and the projected harvest volume.

use super::*;

impl Checker<'_> {
    pub(super) fn check_feeds(&mut self, s: &Scenario, duration_d: Option<f64>) {
        let note = if self.feeds_written {
            ""
        } else {
            " (default feed plan; write [[feeds]] to change it)"
        };
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, feed) in s.feeds.iter().enumerate() {
            let p = format!("feeds[{i}]");
            if feed.name.trim().is_empty() {
                self.error(&format!("{p}.name"), format!("{p}.name must not be empty"));
            } else if let Some(j) = names.get(feed.name.as_str()) {
                self.cross_error(
                    &format!("{p}.name"),
                    format!(
                        "{p}.name = \"{}\" duplicates feeds[{j}].name (feed names must be unique)",
                        feed.name
                    ),
                );
            } else {
                names.insert(feed.name.as_str(), i);
            }
            let start_ok =
                self.time_in_run(&format!("{p}.start_d"), feed.start_d, duration_d, note);
            let end_ok = self.time_in_run(&format!("{p}.end_d"), feed.end_d, duration_d, note);
            if start_ok && end_ok && feed.end_d < feed.start_d {
                self.cross_error(
                    &format!("{p}.end_d"),
                    format!(
                        "{p}.end_d = {} is before {p}.start_d = {}{note}",
                        num(feed.end_d),
                        num(feed.start_d)
                    ),
                );
            }
            self.check_feed_fields(&p, feed);
        }
    }

    pub(super) fn check_feed_fields(&mut self, p: &str, feed: &Feed) {
        use limits as lim;
        let kind = feed_kind_str(feed.kind);
        let fields: [(&str, Option<f64>); 7] = [
            ("volume_pct_of_initial", feed.volume_pct_of_initial),
            ("glucose_mm", feed.glucose_mm),
            ("glutamine_mm", feed.glutamine_mm),
            ("osmolality_mosm_per_kg", feed.osmolality_mosm_per_kg),
            ("glucose_g_per_l_per_d", feed.glucose_g_per_l_per_d),
            ("stock_glucose_g_per_l", feed.stock_glucose_g_per_l),
            ("target_glucose_g_per_l", feed.target_glucose_g_per_l),
        ];
        let has = |name: &str| fields.iter().any(|(n, v)| *n == name && v.is_some());
        let (required, forbidden): (&[&str], &[&str]) = match feed.kind {
            FeedKind::Bolus => (
                &["volume_pct_of_initial"],
                &[
                    "glucose_g_per_l_per_d",
                    "stock_glucose_g_per_l",
                    "target_glucose_g_per_l",
                ],
            ),
            FeedKind::Continuous => {
                let by_volume = feed.volume_pct_of_initial.is_some();
                let by_dose = feed.glucose_g_per_l_per_d.is_some();
                if by_volume && by_dose {
                    self.cross_error(
                        p,
                        format!(
                            "{p} (kind = \"continuous\") gives both volume_pct_of_initial and glucose_g_per_l_per_d; give one"
                        ),
                    );
                    (&[], &["target_glucose_g_per_l"])
                } else if by_volume {
                    if !(has("glucose_mm") || has("glutamine_mm") || has("osmolality_mosm_per_kg"))
                    {
                        self.cross_error(
                            p,
                            format!(
                                "{p} (kind = \"continuous\") with volume_pct_of_initial needs its composition: glucose_mm, glutamine_mm or osmolality_mosm_per_kg"
                            ),
                        );
                    }
                    (&[], &["stock_glucose_g_per_l", "target_glucose_g_per_l"])
                } else if by_dose {
                    (
                        &["stock_glucose_g_per_l"],
                        &["glucose_mm", "glutamine_mm", "target_glucose_g_per_l"],
                    )
                } else {
                    self.cross_error(
                        p,
                        format!(
                            "{p} (kind = \"continuous\") needs either volume_pct_of_initial (% of the initial volume per day, with glucose_mm/glutamine_mm) or glucose_g_per_l_per_d with stock_glucose_g_per_l"
                        ),
                    );
                    (&[], &["target_glucose_g_per_l"])
                }
            }
            FeedKind::BolusToTarget => (
                &["target_glucose_g_per_l", "stock_glucose_g_per_l"],
                &[
                    "volume_pct_of_initial",
                    "glucose_mm",
                    "glutamine_mm",
                    "osmolality_mosm_per_kg",
                    "glucose_g_per_l_per_d",
                ],
            ),
        };
        for name in required {
            if !has(name) {
                self.cross_error(
                    &format!("{p}.{name}"),
                    format!("{p} (kind = \"{kind}\") needs {name}"),
                );
            }
        }
        for name in forbidden {
            if has(name) {
                self.not_for_kind(p, name, kind);
            }
        }

        let volume_unit = if feed.kind == FeedKind::Continuous {
            " % of initial volume per day"
        } else {
            " % of initial volume"
        };
        self.opt_range(
            &format!("{p}.volume_pct_of_initial"),
            feed.volume_pct_of_initial,
            lim::FEED_VOLUME_PCT,
            None,
            volume_unit,
        );
        self.opt_range(
            &format!("{p}.glucose_mm"),
            feed.glucose_mm,
            lim::GLUCOSE_MM,
            None,
            unit::MM,
        );
        self.opt_range(
            &format!("{p}.glutamine_mm"),
            feed.glutamine_mm,
            lim::GLUTAMINE_MM,
            None,
            unit::MM,
        );
        self.opt_range(
            &format!("{p}.osmolality_mosm_per_kg"),
            feed.osmolality_mosm_per_kg,
            lim::OSMOLALITY_MOSM,
            None,
            unit::MOSM,
        );
        self.opt_range(
            &format!("{p}.glucose_g_per_l_per_d"),
            feed.glucose_g_per_l_per_d,
            lim::GLUCOSE_G_PER_L_PER_D,
            Some(lim::GLUCOSE_G_PER_L_PER_D_VALID),
            unit::G_PER_L_PER_D,
        );
        if let Some(v) = feed.stock_glucose_g_per_l {
            self.positive(
                &format!("{p}.stock_glucose_g_per_l"),
                v,
                lim::STOCK_GLUCOSE_G_PER_L,
                unit::G_PER_L,
            );
        }
        if let Some(v) = feed.target_glucose_g_per_l {
            self.positive(
                &format!("{p}.target_glucose_g_per_l"),
                v,
                lim::TARGET_GLUCOSE_G_PER_L,
                unit::G_PER_L,
            );
        }
        if feed.kind != FeedKind::Continuous {
            self.positive(
                &format!("{p}.every_d"),
                feed.every_d,
                limits::DURATION_D.1,
                unit::DAYS,
            );
        } else {
            self.finite(&format!("{p}.every_d"), feed.every_d);
        }
    }


    /// Harvest volume estimate: initial fill + bolus and continuous feed volumes (per-litre
    /// glucose doses taken on the nominal volume); base, samples and bolus-to-target
    /// additions are left out.
    pub(super) fn check_projected_volume(&mut self, s: &Scenario) {
        use limits as lim;
        let v_nom = s.vessel.nominal_volume_l;
        if !(v_nom.is_finite() && v_nom > 0.0) {
            return;
        }
        // Feeds with bad times or fields would make the estimate noise; they are reported.
        let feed_errors = self.found.iter().any(|f| {
            f.diag.is_error() && (f.diag.path.starts_with("feeds") || f.diag.path == "duration_d")
        });
        if feed_errors {
            return;
        }
        let v0 = lim::INITIAL_FILL_FRACTION * v_nom;
        let mut fed_l = 0.0;
        for feed in &s.feeds {
            let days = feed.end_d - feed.start_d;
            if !days.is_finite() || days < 0.0 {
                continue;
            }
            let added = match feed.kind {
                FeedKind::Bolus => match feed.volume_pct_of_initial {
                    Some(pct) if feed.every_d.is_finite() && feed.every_d > 0.0 => {
                        let n_additions = (days / feed.every_d + 1e-9).floor() + 1.0;
                        pct / 100.0 * v0 * n_additions
                    }
                    _ => 0.0,
                },
                FeedKind::Continuous => {
                    let by_volume = feed
                        .volume_pct_of_initial
                        .map_or(0.0, |pct| pct / 100.0 * v0 * days);
                    let by_dose = match (feed.glucose_g_per_l_per_d, feed.stock_glucose_g_per_l) {
                        (Some(rate), Some(stock)) if stock > 0.0 => rate * v_nom / stock * days,
                        _ => 0.0,
                    };
                    by_volume + by_dose
                }
                FeedKind::BolusToTarget => 0.0,
            };
            if added.is_finite() && added > 0.0 {
                fed_l += added;
            }
        }
        let projected_l = v0 + fed_l;
        let max_l = lim::MAX_FILL_FACTOR * v_nom;
        if projected_l > max_l {
            let path = if self.feeds_written && !s.feeds.is_empty() {
                "feeds"
            } else {
                "vessel.nominal_volume_l"
            };
            self.cross_error(
                path,
                format!(
                    "projected harvest volume ≈ {projected_l:.1} L exceeds 1.1 × vessel.nominal_volume_l = {max_l:.1} L \
                     (estimate: initial fill {v0:.1} L = 0.58 × nominal, plus {fed_l:.1} L of feeds; base and samples ignored)"
                ),
            );
        }
    }
}

fn feed_kind_str(kind: FeedKind) -> &'static str {
    match kind {
        FeedKind::Bolus => "bolus",
        FeedKind::Continuous => "continuous",
        FeedKind::BolusToTarget => "bolus_to_target",
    }
}
