import Foundation
import ModelFool

/// The pull of a fine-tuning toward its starting weights (L2-SP, Li et al. 2018;
/// ``FineTuneOptions/anchorWeight``, docs/METHODS.md §3):
///
///     A(w) = a * sum_p sum_i (w_pi - w0_pi)^2
///
/// over the trainable parameters `p`, with `w0` the original's (constant) values. Its gradient is
/// `2 a (w - w0)`: it keeps the fine-tuned function near the original's everywhere, also off the
/// rows any other term sees.
public struct WeightAnchor {
  /// `w0`, one constant per trainable parameter.
  public let anchor: [Tensor]
  /// `a`.
  public let weight: Float

  /// The anchor at `original`'s trainable parameters, for a model whose trainable parameters have
  /// the shapes `shapes` (in `trainableParameters()` order).
  ///
  /// - Throws: ``TrainingError`` when the shapes differ from the original's (a widened model).
  public init(original: Model, shapes: [[Int]], weight: Float) throws {
    let values = original.trainableParameters().map { $0.value.detached() }
    guard values.map(\.shape) == shapes else {
      throw TrainingError("the pull toward the original weights needs the original's parameter shapes (not with --widen)", settings: ["anchorWeight", "widen"])
    }
    self.init(anchor: values, weight: weight)
  }

  /// The anchor at the constants `anchor`.
  public init(anchor: [Tensor], weight: Float) {
    self.anchor = anchor.map { $0.detached() }
    self.weight = weight
  }

  /// `A(w)` for the current values `weights` (graph leaves, in the order of ``anchor``).
  public func penalty(_ weights: [Tensor]) -> Tensor {
    precondition(weights.count == anchor.count, "one value per anchored parameter")
    var total = Tensor(0)
    for (w, w0) in zip(weights, anchor) { total = total + (w - w0).squared().sum() }
    return weight * total
  }
}
