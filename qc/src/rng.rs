//! Seeding: one `ChaCha8Rng` per image, seeded via SplitMix64 from (seed, day, view, index),
//! so results do not depend on thread count or order.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// One SplitMix64 step (Steele et al. 2014).
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mix a list of words into one 64-bit seed.
pub fn mix(words: &[u64]) -> u64 {
    words.iter().fold(0x6D61_6274_7769_6E00_u64, |acc, &w| splitmix64(acc ^ splitmix64(w)))
}

/// The RNG for one stream identified by `words` (e.g. `[seed, day, view, index]`).
pub fn stream(words: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(words))
}
