//! `mabtwin twin compare`: is one model's titer RMSE resolvably lower than another's on the
//! same windows? A paired bootstrap over whole batches of two `twin eval` predictions.csv files.

use super::*;

/// Is model A better than model B? Paired batch bootstrap of titer RMSE over the windows of
/// two `twin eval` reports of the same data (their predictions.csv). Any prediction column
/// can be compared: the network's (`titer_pred_g_per_l`, `titer_mc_mean_g_per_l`) or a
/// baseline's (`random_forest_titer_g_per_l`, …), so two networks, or a network and a
/// baseline of another report, can be compared.
#[derive(clap::Args, Debug)]
pub(crate) struct CompareArgs {
    /// Report folder of model A (written by `twin eval`), or its predictions.csv.
    #[arg(long)]
    pub(crate) a: PathBuf,
    /// Report folder of model B, or its predictions.csv: the same windows as A.
    #[arg(long)]
    pub(crate) b: PathBuf,
    /// Prediction column of A.
    #[arg(long, default_value = "titer_pred_g_per_l")]
    pub(crate) column_a: String,
    /// Prediction column of B.
    #[arg(long, default_value = "titer_pred_g_per_l")]
    pub(crate) column_b: String,
    /// Bootstrap draws (whole batches resampled with replacement).
    #[arg(long, default_value_t = 2000)]
    pub(crate) draws: usize,
    /// Seed of the draws.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

/// The columns of one predictions.csv that identify and score a window, and the chosen one.
struct Predictions {
    keys: Vec<(usize, String, String)>,
    truth: Vec<f64>,
    pred: Vec<f64>,
}

fn read_predictions(path: &Path, column: &str) -> Result<Predictions> {
    let file = if path.is_dir() { path.join("predictions.csv") } else { path.to_path_buf() };
    let mut r = csv::Reader::from_path(&file).with_context(|| format!("reading {} (a `twin eval` report folder or its predictions.csv)", file.display()))?;
    let head = r.headers().with_context(|| format!("{}: no header", file.display()))?.clone();
    let col = |name: &str| head.iter().position(|h| h == name);
    let (Some(ib), Some(it), Some(ig), Some(iy)) = (col("batch_id"), col("t_end_h"), col("target_t_h"), col("titer_true_g_per_l")) else {
        bail!("{}: not a `twin eval` predictions.csv (needs batch_id, t_end_h, target_t_h, titer_true_g_per_l)", file.display());
    };
    let Some(ip) = col(column) else {
        let titer: Vec<&str> = head.iter().filter(|h| h.contains("titer") && *h != "titer_true_g_per_l" && !h.contains("95")).collect();
        bail!("{}: no column `{column}`; titer prediction columns here: {}", file.display(), titer.join(", "));
    };
    let mut p = Predictions { keys: Vec::new(), truth: Vec::new(), pred: Vec::new() };
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", file.display(), i + 2))?;
        let num = |k: usize, what: &str| -> Result<f64> {
            let v: f64 = rec.get(k).unwrap_or("").trim().parse().map_err(|_| anyhow::anyhow!("{}: row {}: `{what}` is not a number", file.display(), i + 2))?;
            if v.is_finite() { Ok(v) } else { bail!("{}: row {}: `{what}` is not finite", file.display(), i + 2) }
        };
        let batch: usize = rec.get(ib).unwrap_or("").trim().parse().map_err(|_| anyhow::anyhow!("{}: row {}: batch_id is not a whole number", file.display(), i + 2))?;
        p.keys.push((batch, rec.get(it).unwrap_or("").to_owned(), rec.get(ig).unwrap_or("").to_owned()));
        p.truth.push(num(iy, "titer_true_g_per_l")?);
        p.pred.push(num(ip, column)?);
    }
    if p.pred.is_empty() {
        bail!("{}: no rows", file.display());
    }
    Ok(p)
}

pub(super) fn compare(a: CompareArgs) -> Result<ExitCode> {
    if !(1..=twin::metrics::MAX_BOOTSTRAP_DRAWS).contains(&a.draws) {
        bail!("--draws {} is out of range: 1 to {}", a.draws, twin::metrics::MAX_BOOTSTRAP_DRAWS);
    }
    let pa = read_predictions(&a.a, &a.column_a)?;
    let pb = read_predictions(&a.b, &a.column_b)?;
    if pa.keys.len() != pb.keys.len() {
        bail!("the two reports score different windows ({} and {} rows): evaluate both models on the same data", pa.keys.len(), pb.keys.len());
    }
    for (i, (ka, kb)) in pa.keys.iter().zip(&pb.keys).enumerate() {
        if ka != kb || (pa.truth[i] - pb.truth[i]).abs() > 1e-9 * pa.truth[i].abs().max(1.0) {
            bail!("the two reports score different windows: row {} is batch {} at {} h in A but batch {} at {} h in B (or its true titer differs)", i + 2, ka.0, ka.1, kb.0, kb.1);
        }
    }
    let group: Vec<usize> = pa.keys.iter().map(|k| k.0).collect();
    let r = twin::metrics::paired_rmse_bootstrap(&pa.truth, &pa.pred, &pb.pred, &group, a.draws, a.seed).ok_or_else(|| anyhow::anyhow!("nothing to compare"))?;
    let rm = |p: &[f64]| twin::metrics::rmse(&pa.truth, p);
    println!("A {} `{}`: titer RMSE {:.4} g/L", a.a.display(), a.column_a, rm(&pa.pred));
    println!("B {} `{}`: titer RMSE {:.4} g/L", a.b.display(), a.column_b, rm(&pb.pred));
    println!(
        "A − B: {:+.4} g/L, 95 % interval [{:+.4}, {:+.4}] (paired bootstrap of {} whole batches, {} draws, seed {}); A better in {:.1} % of draws: {}",
        r.diff,
        r.lo95,
        r.hi95,
        r.n_groups,
        r.n_draws,
        a.seed,
        100.0 * r.share_a_better,
        match r.verdict() {
            "better" => "A is better",
            "worse" => "A is worse",
            _ => "not resolved (these batches cannot tell A and B apart)",
        }
    );
    if let Some(out) = &a.out {
        write_json(
            out,
            &json!({
                "a": a.a.display().to_string(), "column_a": a.column_a, "rmse_a_g_per_l": rm(&pa.pred),
                "b": a.b.display().to_string(), "column_b": a.column_b, "rmse_b_g_per_l": rm(&pb.pred),
                "rmse_diff_g_per_l": r.diff, "lo95_g_per_l": r.lo95, "hi95_g_per_l": r.hi95,
                "share_a_better": r.share_a_better, "verdict_a": r.verdict(), "n_batches": r.n_groups, "n_windows": pa.pred.len(), "n_draws": r.n_draws, "seed": a.seed,
            }),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
