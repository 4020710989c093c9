/// Post-processing of raw explanation maps into heatmaps, as in docs/METHODS.md §2.10. Every
/// function works per example (axis 0 is the batch), is built from differentiable tensor ops and
/// can therefore sit inside a fooling loss or a metric.
public enum Heatmap {
  /// Sum over the channel axis: `[N, C, H, W] -> [N, H, W]`; maps of any other rank (tabular
  /// `[N, D]`, already reduced `[N, H, W]`) are returned unchanged.
  public static func channelSum(_ map: Tensor) -> Tensor {
    map.rank == 4 ? map.sum(alongAxis: 1) : map
  }

  /// `(h - min) / (max - min + epsilon)` per example, min and max over all non-batch axes.
  /// The epsilon keeps a constant map finite (it becomes 0).
  public static func minMax(_ map: Tensor, epsilon: Float = 1e-8) -> Tensor {
    let flat = map.reshaped([map.shape[0], -1])
    let lo = flat.min(alongAxes: [1], keepingDimensions: true)
    let hi = flat.max(alongAxes: [1], keepingDimensions: true)
    return ((flat - lo) / (hi - lo + epsilon)).reshaped(map.shape)
  }

  /// `h / (max + epsilon)` per example (Grad-CAM's normalisation, epsilon 1e-8).
  public static func divideByMax(_ map: Tensor, epsilon: Float = 1e-8) -> Tensor {
    let flat = map.reshaped([map.shape[0], -1])
    return (flat / (flat.max(alongAxes: [1], keepingDimensions: true) + epsilon)).reshaped(map.shape)
  }

  /// `h / (sum h + epsilon)` per example (Dombrowski et al.'s normalisation of non-negative maps).
  public static func sumNormalize(_ map: Tensor, epsilon: Float = 1e-12) -> Tensor {
    let flat = map.reshaped([map.shape[0], -1])
    return (flat / (flat.sum(alongAxes: [1], keepingDimensions: true) + epsilon)).reshaped(map.shape)
  }

  /// The post-processing (docs/METHODS.md §2.10) of a raw map of `method` (as returned in
  /// ``Explanation/raw``):
  ///
  /// | method | post-processing |
  /// |---|---|
  /// | simplegrad_t | channel sum, min-max |
  /// | simplegrad, smoothgrad | channel sum, sum-normalise (raw is already `|grad|`) |
  /// | gradxinput, ig | abs, channel sum, sum-normalise |
  /// | gradcam | divide by max (+1e-8) |
  /// | lrp_t | channel sum, ReLU, min-max |
  /// | lrp | channel sum |
  /// | kernelshap, lime | none (signed values, tabular) |
  /// | occlusion | channel sum of `[N, 1, H, W]` (signed) |
  ///
  /// Output: `[N, h, w]` for images, `[N, D]` for tabular inputs.
  public static func postProcess(_ raw: Tensor, method: ExplanationMethod) -> Tensor {
    switch method {
    case .simpleGradTarget: minMax(channelSum(raw))
    case .simpleGrad, .smoothGrad: sumNormalize(channelSum(raw))
    case .gradTimesInput, .integratedGradients: sumNormalize(channelSum(raw.abs()))
    case .gradCAM: divideByMax(raw)
    case .lrpTarget: minMax(channelSum(raw).relu())
    case .lrp, .kernelSHAP, .lime, .occlusion: channelSum(raw)
    }
  }

  /// The positive share of each map's channel sum, `[N]`: `sum relu(r) / (sum |r| + 1e-8)` with
  /// `r` the channel sum of `raw` (`[N, C, H, W]` or `[N, H, W]`). An LRP_T map is the ReLU of
  /// that sum, so it is blank exactly when the share is 0; the share does not change with the
  /// scale of the relevance.
  public static func positiveShare(_ raw: Tensor) -> Tensor {
    let r = channelSum(raw).reshaped([raw.shape[0], -1])
    return r.relu().sum(alongAxis: 1) / (r.abs().sum(alongAxis: 1) + 1e-8)
  }

  /// The largest value of each image's map before the final normalisation, `[N]`: the CAM before
  /// dividing by its max (Grad-CAM), the ReLU of the channel sum (LRP_T), else the largest value of
  /// the raw map.
  public static func peak(_ raw: Tensor, method: ExplanationMethod) -> Tensor {
    let positive = method == .lrpTarget ? channelSum(raw).relu() : raw
    return positive.reshaped([raw.shape[0], -1]).max(alongAxes: [1])
  }

  /// Per-feature relevance of a tabular map `[N, D]` of the rows `inputs` `[N, D]`: the sum over
  /// each feature's columns, `[N, G]` in the order of `features`. A numeric feature has one
  /// column; a one-hot categorical feature counts only the columns of the categories present in
  /// the row. Grad x Input, IG and LRP give absent categories no relevance anyway (their input is
  /// 0); SimpleGrad and SmoothGrad would otherwise add the gradients of every absent category, so
  /// a feature's relevance would grow with its number of categories (Adult's native-country, 41
  /// columns, would top every row whatever the model). The presence mask is a constant and the
  /// sum a matrix product with a 0/1 `[D, G]` membership matrix, so it is differentiable in `map`.
  public static func sumPerFeature(_ map: Tensor, features: [FeatureSpan], inputs: Tensor) -> Tensor {
    precondition(map.rank == 2, "shape error: sumPerFeature needs a tabular map [N, D], got \(map.shape)")
    precondition(inputs.shape == map.shape, "shape error: sumPerFeature: inputs \(inputs.shape) for map \(map.shape)")
    let n = map.shape[0], d = map.shape[1]
    var m = [Float](repeating: 0, count: d * features.count)
    var categorical = [Bool](repeating: false, count: d)
    for (g, f) in features.enumerated() {
      precondition(f.start >= 0 && f.start + f.width <= d, "sumPerFeature: feature '\(f.name)' columns \(f.start)..<\(f.start + f.width) outside 0..<\(d)")
      for c in f.start..<(f.start + f.width) {
        m[c * features.count + g] = 1
        categorical[c] = !f.categories.isEmpty
      }
    }
    let x = inputs.scalars
    let present = (0..<(n * d)).map { i -> Float in categorical[i % d] && x[i] == 0 ? 0 : 1 }
    return Tensor.matmul(map * Tensor(shape: [n, d], scalars: present), Tensor(shape: [d, features.count], scalars: m))
  }
}
