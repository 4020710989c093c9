import Foundation
import ModelFool
import ModelFoolTraining
import Testing

/// The pull toward the original weights (`finetune --anchor-weight`, L2-SP): value and gradient
/// hand-computed, and a model of other shapes (a widened one) refused.
@Suite("Weight anchor")
struct WeightAnchorTests {
  /// `w = ((1, 2), (-1))`, `w0 = ((0.5, 2.5), (1))`, `a = 0.1`:
  /// `A = 0.1 (0.25 + 0.25 + 4) = 0.45`, `dA/dw = 0.2 (w - w0) = ((0.1, -0.1), (-0.4))`.
  @Test func penaltyAndGradientAreHandComputed() throws {
    let anchor = WeightAnchor(anchor: [Tensor([0.5, 2.5]), Tensor(shape: [1, 1], scalars: [1])], weight: 0.1)
    let w = [Tensor([1, 2]).variable(), Tensor(shape: [1, 1], scalars: [-1]).variable()]
    let a = anchor.penalty(w)
    #expect(abs(a.scalar - 0.45) < 1e-6)
    let g = gradients(of: a, withRespectTo: w)
    #expect(g[0].shape == [2] && g[1].shape == [1, 1])
    #expect(abs(g[0].scalars[0] - 0.1) < 1e-6 && abs(g[0].scalars[1] + 0.1) < 1e-6)
    #expect(abs(g[1].scalars[0] + 0.4) < 1e-6)
    // At the anchor the pull is 0 with a zero gradient.
    let at = [Tensor([0.5, 2.5]).variable(), Tensor(shape: [1, 1], scalars: [1]).variable()]
    let zero = anchor.penalty(at)
    #expect(zero.scalar == 0)
    #expect(gradients(of: zero, withRespectTo: at).allSatisfy { $0.scalars.allSatisfy { $0 == 0 } })
  }

  /// The anchor is the original's trainable parameters; other shapes are refused.
  @Test func anchorTakesTheOriginalsParametersAndRefusesOtherShapes() throws {
    let net = Sequential([Dense(weight: Tensor(shape: [2, 3], scalars: [1, 2, 0, 0, 0, 0]), bias: Tensor([0.5, -1]))])
    let model = Model(network: net, architecture: "tiny", inputShape: [3])
    let shapes = model.trainableParameters().map(\.shape)
    let anchor = try WeightAnchor(original: model, shapes: shapes, weight: 2)
    #expect(anchor.anchor.map(\.scalars) == model.trainableParameters().map(\.value.scalars))
    #expect(anchor.penalty(model.trainableParameters().map(\.value)).scalar == 0)
    #expect { try WeightAnchor(original: model, shapes: [[2, 4], [2]], weight: 2) } throws: { "\($0)".contains("--widen") }
  }
}
