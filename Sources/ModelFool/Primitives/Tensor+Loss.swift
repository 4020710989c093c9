/// Losses, written as compositions of primitives.
extension Tensor {
  /// Mean cross-entropy of `[N, C]` logits against integer labels.
  public static func crossEntropy(logits: Tensor, labels: [Int]) -> Tensor {
    shapeCheck(
      logits.rank == 2 && logits.shape[0] == labels.count,
      "crossEntropy: logits \(logits.shape) for \(labels.count) labels")
    return -logits.logSoftmax(alongAxis: 1).gathered(rowIndices: labels).mean()
  }

  /// Mean squared error between two tensors of the same shape.
  public static func meanSquaredError(_ a: Tensor, _ b: Tensor) -> Tensor {
    shapeCheck(a.shape == b.shape, "meanSquaredError: shapes differ: \(a.shape) vs \(b.shape)")
    return (a - b).squared().mean()
  }
}
