/// Occlusion (Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional Networks") for
/// images, docs/METHODS.md §2.13.
///
/// Implementation note: a `p x p` patch slides over the image with stride `s` (the last row and
/// column of positions are moved to touch the far edges, so every pixel is covered); at each
/// position every channel inside the patch is replaced by the fill value and the drop of the
/// explained class's logit, `y_c(x) - y_c(x occluded)`, is recorded. A pixel's value is the mean
/// drop over the positions whose patch covers it. The occluded copies are fixed masks of `x`, so
/// the map is the constant `[K, H W]` averaging matrix applied to the drops: differentiable in the
/// weights (and in `x`).

/// Occlusion of image models.
public enum Occlusion {
  /// Top-left corners along one axis of length `n` for a patch of `p` and a stride of `s`: `0, s,
  /// 2s, ...` while the patch fits, plus `n - p` when the last one stops short of the edge.
  static func positions(length n: Int, patch p: Int, stride s: Int) -> [Int] {
    var r = Array(Swift.stride(from: 0, through: n - p, by: s))
    if let last = r.last, last != n - p { r.append(n - p) }
    return r
  }

  /// The raw occlusion map `[N, 1, H, W]` of the explained class of each image of `x`
  /// `[N, C, H, W]`, with the clean logits and the classes; patch, stride and fill from
  /// `options` (``ExplanationOptions/occlusionPatch``, ``ExplanationOptions/occlusionStride``,
  /// ``ExplanationOptions/occlusionFill``), copies evaluated in chunks of at most
  /// ``ExplanationOptions/chunkRows`` rows.
  /// - Throws: ``ExplanationError`` for a non-image input, a patch larger than the image or a
  ///   stride below 1, bad classes.
  public static func map(
    _ model: Model, _ x: Tensor, classes: [Int]?, options: ExplanationOptions = ExplanationOptions()
  ) throws -> (map: Tensor, logits: Tensor, classes: [Int]) {
    guard x.rank == 4 else { throw ExplanationError("occlusion explains images [N, C, H, W], got \(x.shape)") }
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let p = options.occlusionPatch ?? max(1, min(h, w) / 7), s = options.occlusionStride ?? max(1, p / 2)
    guard p >= 1, p <= min(h, w), s >= 1 else {
      throw ExplanationError("occlusion: patch \(p) must be within 1...\(min(h, w)) and stride \(s) at least 1", settings: ["occlusion"])
    }
    let rows = positions(length: h, patch: p, stride: s), cols = positions(length: w, patch: p, stride: s)
    let k = rows.count * cols.count
    var masks = [Float](repeating: 0, count: k * h * w)
    var cover = [Float](repeating: 0, count: h * w)
    for (a, i) in rows.enumerated() {
      for (b, j) in cols.enumerated() {
        let window = a * cols.count + b
        for y in i..<(i + p) {
          for col in j..<(j + p) {
            masks[window * h * w + y * w + col] = 1
            cover[y * w + col] += 1
          }
        }
      }
    }
    let logits = model(x)
    let chosen = try resolveClasses(classes, logits: logits, method: ExplanationMethod.occlusion.rawValue)
    let own = logits.gathered(rowIndices: chosen).reshaped([n, 1])
    let maskTensor = Tensor(shape: [k, 1, h, w], scalars: masks)
    let fill = Tensor(options.occlusionFill)
    let windowsPerPass = max(1, options.chunkRows / max(n, 1))
    var parts: [Tensor] = []
    for start in stride(from: 0, to: k, by: windowsPerPass) {
      let r = start..<min(k, start + windowsPerPass)
      let m = maskTensor.slice(axis: 0, r).reshaped([1, r.count, 1, h, w])
      let occluded = (x.reshaped([n, 1, c, h, w]) * (1 - m) + fill * m).reshaped([n * r.count, c, h, w])
      let labels = (0..<n).flatMap { [Int](repeating: chosen[$0], count: r.count) }
      parts.append(model(occluded).gathered(rowIndices: labels).reshaped([n, r.count]))
    }
    let scores = parts.count == 1 ? parts[0] : Tensor.concatenate(parts, alongAxis: 1)
    let drops = own - scores
    let average = (0..<(k * h * w)).map { masks[$0] / cover[$0 % (h * w)] }
    let map = Tensor.matmul(drops, Tensor(shape: [k, h * w], scalars: average)).reshaped([n, 1, h, w])
    return (map, logits, chosen)
  }

  /// The ``Explanation`` of occlusion (raw `[N, 1, H, W]`, heatmap its channel sum).
  static func explanation(_ model: Model, _ x: Tensor, classes: [Int]?, options: ExplanationOptions) throws -> Explanation {
    let r = try map(model, x, classes: classes, options: options)
    return Explanation(method: .occlusion, raw: r.map, heatmap: r.map, logits: r.logits, classes: r.classes, layer: nil)
  }
}
