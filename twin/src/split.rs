//! Splits by batch, never by window: every window of a batch lands in the same split.

use crate::error::{Result, TwinError};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Batch indices (into the dataset's batch list) of the three splits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

fn counts(n: usize, val_frac: f64, test_frac: f64) -> Result<(usize, usize)> {
    if !(0.0..1.0).contains(&val_frac) || !(0.0..1.0).contains(&test_frac) || val_frac + test_frac >= 1.0 {
        return Err(TwinError::Invalid(format!("split fractions val {val_frac}, test {test_frac}")));
    }
    let nv = ((n as f64 * val_frac).round() as usize).max(1);
    let nt = ((n as f64 * test_frac).round() as usize).max(usize::from(test_frac > 0.0));
    if nv + nt >= n {
        return Err(TwinError::Data(format!("{n} batches are too few for a train/validation/test split")));
    }
    Ok((nv, nt))
}

/// Shuffle the `n` batches with `seed` and cut validation and test fractions.
pub fn random_split(n: usize, val_frac: f64, test_frac: f64, seed: u64) -> Result<Split> {
    let (nv, nt) = counts(n, val_frac, test_frac)?;
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let test = idx[..nt].to_vec();
    let val = idx[nt..nt + nv].to_vec();
    let mut train = idx[nt + nv..].to_vec();
    train.sort_unstable();
    let (mut test, mut val) = (test, val);
    test.sort_unstable();
    val.sort_unstable();
    Ok(Split { train, val, test })
}

/// Leave one group out: every batch whose `groups` entry equals `held_out` is the test set;
/// the rest is shuffled into training and validation (`val_frac` of it).
pub fn leave_group_out(groups: &[String], held_out: &str, val_frac: f64, seed: u64) -> Result<Split> {
    let test: Vec<usize> = (0..groups.len()).filter(|&i| groups[i] == held_out).collect();
    let mut rest: Vec<usize> = (0..groups.len()).filter(|&i| groups[i] != held_out).collect();
    if test.is_empty() {
        return Err(TwinError::Data(format!("no batch in group `{held_out}`")));
    }
    let (nv, _) = counts(rest.len(), val_frac, 0.0)?;
    rest.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut val = rest[..nv].to_vec();
    let mut train = rest[nv..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    Ok(Split { train, val, test })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn no_batch_is_in_two_splits_and_all_are_used() {
        let s = random_split(50, 0.15, 0.15, 3).expect("split");
        let (a, b, c): (BTreeSet<_>, BTreeSet<_>, BTreeSet<_>) = (s.train.iter().collect(), s.val.iter().collect(), s.test.iter().collect());
        assert!(a.is_disjoint(&b) && a.is_disjoint(&c) && b.is_disjoint(&c));
        assert_eq!(a.len() + b.len() + c.len(), 50);
        assert_eq!((s.val.len(), s.test.len()), (8, 8));
        assert_eq!(s, random_split(50, 0.15, 0.15, 3).expect("split"));
        assert_ne!(s, random_split(50, 0.15, 0.15, 4).expect("split"));
        assert!(random_split(2, 0.3, 0.3, 1).is_err());
    }

    #[test]
    fn leave_one_group_out_holds_out_exactly_that_group() {
        let g: Vec<String> = (0..20).map(|i| ["A", "B", "C", "D"][i % 4].to_string()).collect();
        let s = leave_group_out(&g, "C", 0.2, 1).expect("split");
        assert!(s.test.iter().all(|&i| g[i] == "C"));
        assert_eq!(s.test.len(), 5);
        assert!(s.train.iter().chain(&s.val).all(|&i| g[i] != "C"));
        assert_eq!(s.train.len() + s.val.len(), 15);
        assert!(leave_group_out(&g, "Z", 0.2, 1).is_err());
    }
}
