import Foundation

/// LIME for images (Ribeiro et al. 2016), as the `lime` package's `LimeImageExplainer` does it,
/// with SLIC superpixels (``SLIC``) instead of its quickshift default; docs/METHODS.md §2.12.
///
/// Implementation note: the players are the superpixels of each image. `S` interpretable samples
/// `z` in {0, 1}^M are drawn once per seed (sample 0 all ones, the others uniform bits, as
/// `lime`'s `randint(0, 2)`); sample `z` shows the superpixels with `z_g = 1` and fills the others
/// (their mean colour, or a fixed value). Weights `sqrt(exp(-d^2 / 0.25^2))`, `d` the cosine
/// distance of `z` to all-ones (1 for the empty sample); coefficients of the weighted ridge
/// regression with intercept (alpha 1, ``LIME/ridgeMap(z:weights:samples:players:)``) of the
/// explained output on `z`. The masks and fills are constants of the clean image, so the
/// coefficients are a fixed linear map of the model's outputs: differentiable in the weights.
public enum ImageLIME {
  /// The superpixel coefficients spread over their pixels (`[N, 1, H, W]`) of the explained class
  /// of each image of `x` (`[N, C, H, W]`, C = 1 or 3, values in [0, 1]), with the clean logits,
  /// the classes and each image's segmentation.
  ///
  /// - Parameters:
  ///   - design: the samples `z` (`[S, M]`, 0 or 1, row 0 all ones) per image, for a reference
  ///     check; nil: drawn with `options.seed`, ``BlackBoxOptions/limeImageSamples`` rows.
  public static func map(
    _ model: Model, _ x: Tensor, classes: [Int]?, options: ExplanationOptions = ExplanationOptions(),
    design: [[Double]]? = nil
  ) throws -> (map: Tensor, logits: Tensor, classes: [Int], segments: [[Int32]], coefficients: [[Float]]) {
    let method = ExplanationMethod.lime
    guard x.rank == 4, x.shape[1] == 1 || x.shape[1] == 3 else {
      throw ExplanationError("lime explains tabular rows [N, D] or images [N, 1 or 3, H, W], got \(x.shape)")
    }
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let wanted = options.limeSegments ?? min(50, max(1, h * w / 16))
    let s = options.blackBox.limeImageSamples
    guard wanted >= 1, wanted <= h * w, s >= 2 else {
      throw ExplanationError("lime: needs 1...\(h * w) segments and at least 2 samples, got \(wanted) and \(s)", settings: ["lime"])
    }
    let logits = model(x)
    let chosen = try resolveClasses(classes, logits: logits, method: method.rawValue)
    let pixels = x.detached().scalars
    var generator = SeededGenerator(seed: options.seed)
    var maps: [Tensor] = [], segmentations: [[Int32]] = [], coefficients: [[Float]] = []
    for i in 0..<n {
      let image = Array(pixels[(i * c * h * w)..<((i + 1) * c * h * w)])
      let (labels, m) = SLIC.segment(image, channels: c, height: h, width: w, segments: wanted)
      var z: [Double]
      if let design {
        guard design.count == n, design[i].count % m == 0, design[i].count / m >= 2 else {
          throw ExplanationError("lime: the design of image \(i) must be [S, \(m)] with S >= 2")
        }
        z = design[i]
      } else {
        z = [Double](repeating: 1, count: s * m)
        for j in m..<(s * m) { z[j] = Double(generator.next() & 1) }
      }
      let samples = z.count / m
      // Hidden superpixels take their mean colour (or the fill) in every channel.
      var fill = [Float](repeating: options.limeFill ?? 0, count: c * h * w)
      if options.limeFill == nil {
        var sums = [Double](repeating: 0, count: m * c), counts = [Double](repeating: 0, count: m)
        for p in 0..<(h * w) {
          let g = Int(labels[p])
          counts[g] += 1
          for ch in 0..<c { sums[g * c + ch] += Double(image[ch * h * w + p]) }
        }
        for p in 0..<(h * w) { for ch in 0..<c { fill[ch * h * w + p] = Float(sums[Int(labels[p]) * c + ch] / counts[Int(labels[p])]) } }
      }
      // The masked copies, evaluated in chunks.
      let clean = x.slice(axis: 0, i..<(i + 1))
      let fillTensor = Tensor(shape: [1, c, h, w], scalars: fill)
      var outputs: [Tensor] = []
      let perPass = max(1, options.blackBox.rowsPerPass / max(h * w, 1))
      for start in stride(from: 0, to: samples, by: perPass) {
        let r = start..<min(samples, start + perPass)
        var mask = [Float](repeating: 0, count: r.count * h * w)
        for (k, j) in r.enumerated() { for p in 0..<(h * w) { mask[k * h * w + p] = Float(z[j * m + Int(labels[p])]) } }
        let shown = Tensor(shape: [r.count, 1, h, w], scalars: mask)
        let copies = clean * shown + fillTensor * (1 - shown)
        outputs.append(explainedOutput(model, copies, classes: [Int](repeating: chosen[i], count: r.count), output: options.blackBox.output))
      }
      let y = outputs.count == 1 ? outputs[0] : Tensor.concatenate(outputs, alongAxis: 0)
      let ridge = Self.ridge(design: z, players: m).map(Float.init)
      let values = Tensor.matmul(y.reshaped([1, samples]), Tensor(shape: [samples, m], scalars: ridge))  // [1, M]
      var spread = [Float](repeating: 0, count: m * h * w)
      for p in 0..<(h * w) { spread[Int(labels[p]) * h * w + p] = 1 }
      maps.append(Tensor.matmul(values, Tensor(shape: [m, h * w], scalars: spread)).reshaped([1, 1, h, w]))
      segmentations.append(labels)
      coefficients.append(values.detached().scalars)
    }
    let map = maps.count == 1 ? maps[0] : Tensor.concatenate(maps, alongAxis: 0)
    return (map, logits, chosen, segmentations, coefficients)
  }

  /// The `[S, M]` map from the explained outputs of the samples `z` (`[S, M]`, row-major) to
  /// the `M` coefficients (`coefficients = map^T y`): the image kernel's weights (cosine distance
  /// to all-ones, width 0.25) in LIME's weighted ridge regression.
  public static func ridge(design z: [Double], players m: Int) -> [Double] {
    let samples = z.count / m
    let weights = (0..<samples).map { j -> Double in
      let ones = (0..<m).reduce(0.0) { $0 + z[j * m + $1] }
      let distance = ones == 0 ? 1 : 1 - ones / (ones.squareRoot() * Double(m).squareRoot())
      return exp(-distance * distance / (0.25 * 0.25)).squareRoot()
    }
    return LIME.ridgeMap(z: z, weights: weights, samples: samples, players: m)
  }

  /// The ``Explanation`` of image LIME (raw `[N, 1, H, W]`, heatmap its channel sum).
  static func explanation(_ model: Model, _ x: Tensor, classes: [Int]?, options: ExplanationOptions) throws -> Explanation {
    let r = try map(model, x, classes: classes, options: options)
    return Explanation(method: .lime, raw: r.map, heatmap: r.map, logits: r.logits, classes: r.classes, layer: nil)
  }
}
