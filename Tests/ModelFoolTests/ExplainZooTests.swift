import ModelFool
import TestSupport
import Testing

/// LRP through the zoo's real structures (residual blocks, DenseNet concatenation and transitions,
/// depthwise convolutions), at 32x32 with random weights.
@Suite struct ExplainZooTests {
  /// With every bias and BatchNorm shift zero and epsilon -> 0, each rule conserves relevance:
  /// convs (epsilon), BatchNorm (pass-through), max/average/global pools, the positive-part residual
  /// split (after the block's ReLU, `f + s > 0` wherever relevance arrives) and the DenseNet channel
  /// split. So the input relevance sums to the explained logit.
  @Test(arguments: ["resnet18", "densenet121"])
  func lrpConservesThroughZooModel(architecture: String) throws {
    let model = try ModelZoo.build(architecture: architecture, options: ["classes": "3", "size": "32"])
    model.setTraining(false)
    for (name, p) in model.namedParameters() where name.hasSuffix("bias") { p.value = Tensor.zeros(p.shape) }
    let (sums, logits, shape) = try lrpRelevanceSums(model)
    #expect(shape == [2, 3, 32, 32])
    #expect(closeness(sums, logits, rtol: 1e-3, atol: 1e-5) <= 1, "\(sums.scalars) vs \(logits.scalars)")
  }

  /// EfficientNet-Lite0 (depthwise convs, ReLU6, residual blocks without a final activation, TF
  /// "same" padding): Heo's LRP_T at the default target layer has the shape of `_conv_head`'s input
  /// (320 channels, 1x1 at 32x32) and finite values, and Grad-CAM there is in [0, 1] with max 1.
  @Test func efficientNetTargetLayerExplanations() throws {
    let model = try ModelZoo.build(architecture: "efficientnet-lite0", options: ["classes": "3", "size": "64"])
    model.setTraining(false)
    let x = randomTensor([1, 3, 64, 64], seed: 2, low: 0, high: 1)
    let e = try explanation(model, x, labels: [1], method: .lrpTarget)
    #expect(e.raw.shape == [1, 320, 2, 2])
    #expect(e.raw.scalars.allSatisfy(\.isFinite) && e.raw.scalars.contains { $0 != 0 })
    let cam = try explain(model, x, labels: [1], method: .gradCAM)
    #expect(cam.shape == [1, 2, 2] && cam.scalars.min()! >= 0 && abs(cam.scalars.max()! - 1) < 1e-4)
  }
}
