//! The networks: the compact ResNet-style CNN (default) and ResNet-50, with their optional
//! auxiliary and particle-count-map heads.

use super::meta::{Arch, NetConfig};
use tch::{Tensor, nn};

fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64) -> nn::Conv2D {
    nn::conv2d(p, cin, cout, k, nn::ConvConfig { stride, padding: k / 2, bias: false, ..Default::default() })
}

#[derive(Debug)]
struct Block {
    c1: nn::Conv2D,
    b1: nn::BatchNorm,
    c2: nn::Conv2D,
    b2: nn::BatchNorm,
    c3: Option<(nn::Conv2D, nn::BatchNorm)>,
    down: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Block {
    fn basic(p: &nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let down = (stride != 1 || cin != cout).then(|| (conv(p / "down", cin, cout, 1, stride), nn::batch_norm2d(p / "down_bn", cout, Default::default())));
        Self {
            c1: conv(p / "conv1", cin, cout, 3, stride),
            b1: nn::batch_norm2d(p / "bn1", cout, Default::default()),
            c2: conv(p / "conv2", cout, cout, 3, 1),
            b2: nn::batch_norm2d(p / "bn2", cout, Default::default()),
            c3: None,
            down,
        }
    }
    fn bottleneck(p: &nn::Path, cin: i64, width: i64, stride: i64) -> Self {
        let cout = width * 4;
        let down = (stride != 1 || cin != cout).then(|| (conv(p / "down", cin, cout, 1, stride), nn::batch_norm2d(p / "down_bn", cout, Default::default())));
        Self {
            c1: conv(p / "conv1", cin, width, 1, 1),
            b1: nn::batch_norm2d(p / "bn1", width, Default::default()),
            c2: conv(p / "conv2", width, width, 3, stride),
            b2: nn::batch_norm2d(p / "bn2", width, Default::default()),
            c3: Some((conv(p / "conv3", width, cout, 1, 1), nn::batch_norm2d(p / "bn3", cout, Default::default()))),
            down,
        }
    }
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut ys = xs.apply(&self.c1).apply_t(&self.b1, train).relu().apply(&self.c2).apply_t(&self.b2, train);
        if let Some((c3, b3)) = &self.c3 {
            ys = ys.relu().apply(c3).apply_t(b3, train);
        }
        let sc = match &self.down {
            Some((c, b)) => xs.apply(c).apply_t(b, train),
            None => xs.shallow_clone(),
        };
        (ys + sc).relu()
    }
}

/// The network.
#[derive(Debug)]
pub struct Net {
    /// Optional stride-1 convolution before the stem ([`NetConfig::full_res_stem`]).
    pre_stem: Option<(nn::Conv2D, nn::BatchNorm)>,
    stem: nn::Conv2D,
    /// [`NetConfig::space_to_depth`]: unshuffle 2x2 before the (then stride-1) stem.
    space_to_depth: bool,
    stem_bn: nn::BatchNorm,
    blocks: Vec<Block>,
    fc: nn::Linear,
    /// Auxiliary regression head ([`NetConfig::aux_targets`]), training only.
    aux: Option<nn::Linear>,
    /// Particle-count map head ([`NetConfig::particle_map_weight`]), training only: the
    /// index of the block it reads and its 1x1 convolution.
    count_map: Option<(usize, nn::Conv2D)>,
    dropout: f64,
}

/// What one forward pass gives: class logits `[n, K]`, the auxiliary head's standardised
/// target predictions `[n, len(aux_targets)]` and the particle-count map `[n, H/8, W/8]`,
/// each head only when the net has it.
#[derive(Debug)]
pub struct Heads {
    pub logits: Tensor,
    pub aux: Option<Tensor>,
    pub count_map: Option<Tensor>,
}

impl Net {
    /// Build under `p` (call `tch::manual_seed` first for reproducible initialisation).
    pub fn new(p: &nn::Path, cfg: &NetConfig) -> Self {
        let mut blocks = Vec::new();
        match cfg.arch {
            Arch::Compact => {
                let pre_stem = (cfg.full_res_stem > 0).then(|| {
                    (conv(p / "pre_stem", cfg.in_channels, cfg.full_res_stem, 3, 1), nn::batch_norm2d(p / "pre_stem_bn", cfg.full_res_stem, Default::default()))
                });
                let stem_in = if pre_stem.is_some() { cfg.full_res_stem } else { cfg.in_channels };
                let stem = if cfg.space_to_depth {
                    conv(p / "stem", 4 * stem_in, cfg.widths[0], 3, 1)
                } else {
                    conv(p / "stem", stem_in, cfg.widths[0], 3, cfg.stem_stride)
                };
                let mut cin = cfg.widths[0];
                for (s, &w) in cfg.widths.iter().enumerate() {
                    for b in 0..cfg.blocks_per_stage.max(1) {
                        let stride = if s > 0 && b == 0 { 2 } else { 1 };
                        blocks.push(Block::basic(&(p / format!("s{s}b{b}")), cin, w, stride));
                        cin = w;
                    }
                }
                Self {
                    pre_stem,
                    stem,
                    space_to_depth: cfg.space_to_depth,
                    stem_bn: nn::batch_norm2d(p / "stem_bn", cfg.widths[0], Default::default()),
                    blocks,
                    fc: nn::linear(p / "fc", cin, cfg.n_classes, Default::default()),
                    aux: aux_head(p, cin, cfg),
                    count_map: (cfg.particle_map_weight > 0.0).then(|| {
                        let stage = cfg.count_map_stage();
                        let last_block = (stage + 1) * cfg.blocks_per_stage.max(1) as usize - 1;
                        let cmap = nn::conv2d(p / "count_map", cfg.widths[stage], 1, 1, Default::default());
                        (last_block, cmap)
                    }),
                    dropout: cfg.dropout,
                }
            }
            Arch::Resnet50 => {
                let stem = conv(p / "stem", cfg.in_channels, 64, 3, cfg.stem_stride);
                let mut cin = 64;
                for (s, (&n, &w)) in [3i64, 4, 6, 3].iter().zip(&[64i64, 128, 256, 512]).enumerate() {
                    for b in 0..n {
                        let stride = if s > 0 && b == 0 { 2 } else { 1 };
                        blocks.push(Block::bottleneck(&(p / format!("s{s}b{b}")), cin, w, stride));
                        cin = w * 4;
                    }
                }
                Self {
                    pre_stem: None,
                    stem,
                    space_to_depth: false,
                    stem_bn: nn::batch_norm2d(p / "stem_bn", 64, Default::default()),
                    blocks,
                    fc: nn::linear(p / "fc", cin, cfg.n_classes, Default::default()),
                    aux: aux_head(p, cin, cfg),
                    count_map: None,
                    dropout: cfg.dropout,
                }
            }
        }
    }
}

fn aux_head(p: &nn::Path, cin: i64, cfg: &NetConfig) -> Option<nn::Linear> {
    (!cfg.aux_targets.is_empty()).then(|| nn::linear(p / "aux", cin, cfg.aux_targets.len() as i64, Default::default()))
}

impl Net {
    /// Pooled features `[n, C]` before dropout and the classifier, and the particle-count
    /// map `[n, H/8, W/8]` when `with_map` and the net has that head.
    fn features(&self, xs: &Tensor, train: bool, with_map: bool) -> (Tensor, Option<Tensor>) {
        let mut h = match &self.pre_stem {
            Some((c, b)) => xs.apply(c).apply_t(b, train).relu(),
            None => xs.shallow_clone(),
        };
        if self.space_to_depth {
            h = h.pixel_unshuffle(2);
        }
        h = h.apply(&self.stem).apply_t(&self.stem_bn, train).relu();
        let mut map = None;
        for (i, b) in self.blocks.iter().enumerate() {
            h = b.forward(&h, train);
            if let Some((at, head)) = self.count_map.as_ref().filter(|_| with_map)
                && *at == i
            {
                map = Some(h.apply(head).squeeze_dim(1));
            }
        }
        (h.adaptive_avg_pool2d([1, 1]).flatten(1, -1), map)
    }

    /// Every head's output for `xs` (see [`Heads`]); the map head runs only here, and only
    /// when `with_map` (callers that do not read `count_map` skip it).
    pub fn forward_heads(&self, xs: &Tensor, train: bool, with_map: bool) -> Heads {
        let (f, count_map) = self.features(xs, train, with_map);
        let aux = self.aux.as_ref().map(|a| f.apply(a));
        Heads { logits: f.dropout(self.dropout, train).apply(&self.fc), aux, count_map }
    }
}

impl nn::ModuleT for Net {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.features(xs, train, false).0.dropout(self.dropout, train).apply(&self.fc)
    }
}
