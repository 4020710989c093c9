import ModelFool
import TestSupport
import Testing

/// Second order: a scalar loss on a heatmap is differentiated with respect to the weights by
/// double backpropagation and compared with central finite differences.
///
/// The network uses softplus activations and weights with |w| >= 0.1: finite differences across a
/// ReLU mask flip (or across a sign change of a weight, which switches W+ / W- in the alpha-beta
/// rule) measure a jump, not a derivative, so such kinks are kept out of reach of the +-1e-3 steps.
@Suite struct ExplainSecondOrderTests {
  /// conv(1->2, 3x3) -> softplus -> conv(2->3, 3x3) ["2", the target] -> softplus -> GAP -> Dense(3->2).
  static func model() -> Model {
    let net = Sequential([
      Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 3, padding: 1), ActivationLayer(.softplus(beta: 1)),
      Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 3, padding: 1), ActivationLayer(.softplus(beta: 1)),
      GlobalAvgPool2D(), Dense(inputSize: 3, outputSize: 2),
    ])
    let model = Model(network: net, architecture: "smooth-cnn", inputShape: [1, 5, 5], targetLayer: "2")
    let params = model.trainableParameters()
    for (i, p) in params.enumerated() {
      p.value = randomTensor(p.shape, seed: 100 + UInt64(i), low: -0.8, high: 0.8, awayFromZero: 0.1)
    }
    // Positive classifier weights and biases: positive logits, so the LRP_T relevance is positive
    // everywhere and its post-processing ReLU sits away from its kink.
    params[4].value = randomTensor(params[4].shape, seed: 110, low: 0.1, high: 0.8)
    params[5].value = Tensor([1, 1.5])
    return model
  }

  /// Max relative error between d loss / d weights by double backprop and by central differences.
  func secondOrderError(_ method: ExplanationMethod) throws -> Float {
    let model = Self.model()
    let params = model.trainableParameters()
    let x = randomTensor([2, 1, 5, 5], seed: 7, low: 0, high: 1)
    let mix = randomTensor([2, 5, 5], seed: 8)
    let loss = { () -> Tensor in
      let h = try! explain(model, x, labels: [0, 1], method: method)
      return (h * mix).sum()
    }
    let analytic = gradients(of: loss(), withRespectTo: params.map(\.value))
    let numerical = numericalGradients(of: loss, withRespectTo: params, epsilon: 1e-3)
    // Every parameter matters, except the classifier bias for the gradient methods (a logit's
    // bias has no gradient with respect to the activations).
    #expect(analytic.dropLast().allSatisfy { $0.scalars.contains { $0 != 0 } })
    // Floor 1e-2: differences below ~1e-4 are Float32 finite-difference noise.
    return zip(analytic, numerical).map { relativeError($0, $1, floor: 1e-2) }.max()!
  }

  @Test(arguments: [ExplanationMethod.gradCAM, .lrpTarget, .simpleGradTarget])
  func weightGradientOfHeatmapLossMatchesFiniteDifferences(method: ExplanationMethod) throws {
    let error = try secondOrderError(method)
    #expect(error < 2e-2, "\(method): relative error \(error)")
  }

  /// Input side (Dombrowski et al.): the gradient of a loss on SimpleGrad with respect to the input.
  @Test func inputGradientOfSimpleGradLossMatchesFiniteDifferences() throws {
    let model = Self.model()
    let mix = randomTensor([1, 5, 5], seed: 9)
    let check = checkGradients(
      of: { xs in (try! explain(model, xs[0], labels: [1], method: .simpleGrad) * mix).sum() },
      at: [randomTensor([1, 1, 5, 5], seed: 10, low: 0, high: 1)], epsilon: 1e-3)
    #expect(check.error < 2e-2, "relative error \(check.error)")
  }
}
