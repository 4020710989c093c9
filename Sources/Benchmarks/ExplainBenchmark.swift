import ModelFool

/// Timing of explanation methods against the training pass they are built on, for
/// `modelfool bench explain`: SimpleGrad, Grad-CAM, LRP and target-layer LRP on one batch, with and
/// without the graph kept for a second derivative (the fine-tuning case).
public enum ExplainBenchmark {
  /// The timed (method, graph kept) pairs, in report order.
  public static let variants: [(method: ExplanationMethod, keepsGraph: Bool)] = [
    (.simpleGrad, false), (.gradCAM, false), (.gradCAM, true), (.lrp, false), (.lrp, true), (.lrpTarget, true),
  ]

  /// One timed explanation method.
  public struct Row: Sendable {
    public var method: ExplanationMethod
    public var keepsGraph: Bool
    /// Median milliseconds of explaining the batch.
    public var milliseconds: Double
    /// `gradcam_ms`, `lrp_graph_ms`, ...: the key of this row in the JSON report.
    public var key: String { "\(method.rawValue)\(keepsGraph ? "_graph" : "")_ms" }
  }

  /// Median milliseconds (over `repeats` after a warm-up) of a cross-entropy forward+backward pass
  /// of `model` on `x` (NCHW or `[N, features]`) with `labels`, and of every entry of ``variants``
  /// explaining the same batch for its labels. `model` should be in evaluation mode.
  public static func times(
    _ model: Model, x: Tensor, labels: [Int], repeats: Int = 10
  ) throws -> (forwardBackward: Double, rows: [Row]) {
    let parameters = model.trainableParameters().map(\.value)
    let base = KernelBenchmark.medianSeconds(repeats: repeats) {
      let loss = Tensor.crossEntropy(logits: model(x), labels: labels)
      _ = gradients(of: loss, withRespectTo: parameters)
    }
    var rows: [Row] = []
    var failure: Error?
    for (method, keepsGraph) in variants {
      var options = ExplanationOptions()
      options.createGraph = keepsGraph
      let t = KernelBenchmark.medianSeconds(repeats: repeats) {
        do { _ = try explain(model, x, labels: labels, method: method, options: options) } catch { failure = error }
      }
      if let failure { throw failure }
      rows.append(Row(method: method, keepsGraph: keepsGraph, milliseconds: t * 1000))
    }
    return (base * 1000, rows)
  }
}
