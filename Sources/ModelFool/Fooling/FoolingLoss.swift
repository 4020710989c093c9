/// Interpretation-fooling losses of Heo, Joo & Moon (NeurIPS 2019), docs/METHODS.md §4,
/// and the "hide" loss of Dimanov et al. (2020) for tabular models.
///
/// Every loss takes heatmaps of the model being fine-tuned (`h`, recorded: the loss is
/// differentiated through the explanation down to the weights) and, where needed, reference
/// heatmaps of the frozen original model (`reference`, constants). Image heatmaps are `[N, H, W]`
/// in [0, 1] (normalised as docs/METHODS.md §2.10); tabular relevance is `[N, groups]`.
public enum FoolingLoss {
  /// The location mask: 1 on a frame of width `k = H / 7`, 0 inside `[k..<H-k, k..<W-k]`.
  public static func frameMask(height: Int, width: Int) -> Tensor {
    let k = height / 7
    var m = [Float](repeating: 1, count: height * width)
    for i in k..<(height - k) { for j in k..<(width - k) { m[i * width + j] = 0 } }
    return Tensor(shape: [height, width], scalars: m)
  }

  /// Location: `mean((m - h)^2)` over the batch and pixels; 0 when the heatmap is the frame.
  public static func location(_ h: Tensor) -> Tensor {
    shapeCheck(h.rank == 3, "location loss: heatmaps must be [N, H, W], got \(h.shape)")
    let mask = frameMask(height: h.shape[1], width: h.shape[2])
    return (h - mask).squared().mean()
  }

  /// Flat indices (into `[N, H*W]`) of the top `fraction` pixels of each reference map
  /// (`HW / 10` by default; ties broken by the lower index).
  public static func topIndices(_ reference: Tensor, fraction: Float = 0.1) -> [Int32] {
    let n = reference.shape[0], hw = reference.count / max(n, 1)
    let k = max(Int(Float(hw) * fraction), 1)
    let values = reference.scalars
    var result: [Int32] = []
    result.reserveCapacity(n * k)
    for i in 0..<n {
      let row = values[(i * hw)..<((i + 1) * hw)]
      let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
      result += order.prefix(k).map { Int32($0) }
    }
    return result
  }

  /// Top-k: `mean_{j in P} h_j^2`, P = the top 10% pixels of the original model's map.
  public static func topK(_ h: Tensor, reference: Tensor, fraction: Float = 0.1) -> Tensor {
    shapeCheck(h.shape == reference.shape, "top-k loss: heatmaps \(h.shape) vs reference \(reference.shape)")
    let idx = topIndices(reference.detached(), fraction: fraction)
    return h.gathered(flatIndices: idx, shape: [idx.count]).squared().mean()
  }

  /// Keeps maps alive: `mean_i relu(1 - peak_i / peak0_i)^2`, with `peak` the largest value of
  /// each map before its normalisation (`[N]`) and `peak0` the original model's (constants).
  ///
  /// Not in Heo et al.: an addition to the top-k loss. Grad-CAM and LRP_T maps end in a ReLU, and
  /// the cheapest way to empty the top-k pixels is to empty the whole map; once a map is all
  /// zero it has no gradient to come back. This term is 0 while a map's peak stays at the
  /// original's height and grows as it sinks, so the loss moves the top pixels' relevance instead
  /// of deleting it (docs/METHODS.md §4.2; measured effect: docs/RESULTS.md §1.3).
  public static func peakKeeping(_ peak: Tensor, original peak0: Tensor) -> Tensor {
    shapeCheck(peak.shape == peak0.shape, "peak-keeping loss: peaks \(peak.shape) vs original \(peak0.shape)")
    return (1 - peak / (peak0.detached() + 1e-8)).relu().squared().mean()
  }

  /// Centre of mass `(C_h, C_w)` of each map, coordinates 1..H and 1..W: `[N, 2]`.
  ///
  /// A prior mass of 1e-6 sits at `prior` (`[N, 2]`, constant; nil: the image centre), so an
  /// empty (all-zero) map has its centre of mass there instead of at (0, 0): with the image
  /// centre, blanking the explanation does not count as moving it (a zero Grad-CAM map
  /// otherwise "succeeds" at center-mass).
  public static func centerOfMass(_ h: Tensor, prior: Tensor? = nil) -> Tensor {
    shapeCheck(h.rank == 3, "center of mass: heatmaps must be [N, H, W], got \(h.shape)")
    let (n, height, width) = (h.shape[0], h.shape[1], h.shape[2])
    let rows = Tensor(shape: [1, height, 1], scalars: (1...height).map(Float.init))
    let cols = Tensor(shape: [1, 1, width], scalars: (1...width).map(Float.init))
    let mass0: Float = 1e-6
    let at = prior?.detached() ?? Tensor(shape: [1, 2], scalars: [Float(height + 1) / 2, Float(width + 1) / 2])
    shapeCheck(at.rank == 2 && at.shape[1] == 2, "center of mass: prior must be [N, 2], got \(at.shape)")
    let mass = h.sum(alongAxes: [1, 2]).reshaped([n, 1]) + mass0
    let ch = (h * rows).sum(alongAxes: [1, 2]).reshaped([n, 1])
    let cw = (h * cols).sum(alongAxes: [1, 2]).reshaped([n, 1])
    return (Tensor.concatenate([ch, cw], alongAxis: 1) + mass0 * at) / mass
  }

  /// Center-mass: `-mean(|dC_h| + |dC_w|)`, the (negated) shift of the centre of mass away from
  /// the original model's.
  ///
  /// The prior mass of the fine-tuned map sits at the original centre of mass, so a blank map
  /// scores 0 (no shift) instead of the distance from the original centre to the image centre:
  /// the loss rewards moving the explanation, never erasing it.
  ///
  /// `cap` (a fraction of `W - 1`; nil: none) saturates each image's `|dC_h| + |dC_w|`: past
  /// it an image earns nothing more, so the loss stops squeezing the map onto ever fewer pixels
  /// of one corner, where the ReLU of Grad-CAM kills the whole map (a blank map has no gradient
  /// to come back).
  public static func centerMass(_ h: Tensor, reference: Tensor, cap: Float? = nil) -> Tensor {
    let original = centerOfMass(reference.detached())
    let shift = (centerOfMass(h, prior: original) - original).abs().sum(alongAxis: 1)
    guard let cap else { return -shift.mean() }
    return -Tensor.minimum(shift, Tensor(cap * Float(h.shape[2] - 1))).mean()
  }

  /// Active fooling (swap classes c1, c2): `0.5 [MSE(h_c1, h_c2^0) + MSE(h_c2, h_c1^0)]`.
  public static func active(
    _ hc1: Tensor, _ hc2: Tensor, referenceC1: Tensor, referenceC2: Tensor
  ) -> Tensor {
    0.5 * (Tensor.meanSquaredError(hc1, referenceC2.detached()) + Tensor.meanSquaredError(hc2, referenceC1.detached()))
  }

  /// Hide (Dimanov et al.): the share of each row's absolute relevance held by the sensitive
  /// feature groups, `mean_{n, s} |R_ns| / (sum_g |R_ng| + 1e-8)`. `relevance` is `[N, groups]`;
  /// `sensitive` are group indices. The share (not |R| itself) makes the loss blind to the scale
  /// of a map: SimpleGrad's maps already sum to 1, LRP's carry the logit's scale, and the
  /// success criterion (rank below the top 3) is scale-free too.
  public static func hide(_ relevance: Tensor, sensitive: [Int]) -> Tensor {
    shapeCheck(relevance.rank == 2 && !sensitive.isEmpty, "hide loss: relevance must be [N, groups] with sensitive groups")
    let a = relevance.abs()
    let parts = sensitive.map { a.slice(axis: 1, $0..<($0 + 1)) }
    return (Tensor.concatenate(parts, alongAxis: 1) / (a.sum(alongAxes: [1], keepingDimensions: true) + 1e-8)).mean()
  }

  /// Tabular location: push relevance onto `inside` groups: `1 - mean(share of |R| inside)`.
  public static func featureLocation(_ relevance: Tensor, inside: [Int]) -> Tensor {
    let a = relevance.abs()
    let parts = inside.map { a.slice(axis: 1, $0..<($0 + 1)) }
    let share = Tensor.concatenate(parts, alongAxis: 1).sum(alongAxis: 1) / (a.sum(alongAxis: 1) + 1e-8)
    return 1 - share.mean()
  }

  /// Tabular top-k: the share of each row's absolute relevance held by its original top-`k`
  /// groups (by |reference|), averaged over rows. A share, like ``hide(_:sensitive:)``, so that
  /// shrinking the whole map earns nothing.
  public static func tabularTopK(_ relevance: Tensor, reference: Tensor, k: Int = 3) -> Tensor {
    let n = relevance.shape[0], g = relevance.shape[1]
    shapeCheck(relevance.rank == 2 && reference.shape == relevance.shape && k >= 1 && k <= g,
               "tabular top-k loss: relevance and reference must be the same [N, groups], 1 <= k <= groups")
    let ref = reference.detached().abs().scalars
    var idx: [Int32] = []
    for i in 0..<n {
      let row = ref[(i * g)..<((i + 1) * g)]  // a slice: its indices are flat indices
      let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
      idx += order.prefix(k).map { Int32($0) }
    }
    let a = relevance.abs()
    let top = a.gathered(flatIndices: idx, shape: [n, k])
    return (top.sum(alongAxis: 1) / (a.sum(alongAxis: 1) + 1e-8)).mean()
  }
}
