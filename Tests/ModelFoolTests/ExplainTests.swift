import Foundation
import ModelFool
import TestSupport
import Testing

/// Explanations: identities (gradient of a linear model, Grad-CAM = CAM, IG completeness),
/// post-processing values, beta smoothing and error messages.
@Suite struct ExplainTests {
  /// `y = x W^T + b` with `W = [[1, -2, 3, 0.5], [0, 4, -1, 2], [-3, 1, 1, 1]]`.
  static func linearModel() -> Model {
    let w = Tensor(shape: [3, 4], scalars: [1, -2, 3, 0.5, 0, 4, -1, 2, -3, 1, 1, 1])
    return Model(
      network: Sequential([Dense(weight: w, bias: Tensor([0.1, -0.2, 0.3]))]), architecture: "linear", inputShape: [4])
  }

  @Test func gradientOfLinearModelIsWeightRow() throws {
    let model = Self.linearModel()
    let x = Tensor(shape: [2, 4], scalars: [0.5, 1, -1, 2, 1, 1, 1, 1])
    let w = model.namedParameters()[0].parameter.value.scalars
    let g = try logitGradient(model, at: x, classes: [2, 1])
    #expect(g.gradient.scalars == Array(w[8..<12]) + Array(w[4..<8]))
    let gxi = try explanation(model, x, labels: [2, 1], method: .gradTimesInput)
    #expect(gxi.raw.scalars == [-1.5, 1, -1, 2, 0, 4, -1, 2])
    // Grad x Input heatmap: |x * w_c| / sum: row 0 = [1.5, 1, 1, 2] / 5.5.
    #expect(closeness(gxi.heatmap.slice(axis: 0, 0..<1), Tensor(shape: [1, 4], scalars: [1.5 / 5.5, 1 / 5.5, 1 / 5.5, 2 / 5.5])) <= 1)
    // SimpleGrad: |w_c| / sum |w_c|: row 1 = [0, 4, 1, 2] / 7.
    let sg = try explain(model, x, labels: [2, 1], method: .simpleGrad)
    #expect(closeness(sg.slice(axis: 0, 1..<2), Tensor(shape: [1, 4], scalars: [0, 4 / 7, 1 / 7, 2 / 7])) <= 1)
  }

  @Test func integratedGradientsAndSmoothGradOnLinearModel() throws {
    let model = Self.linearModel()
    let x = Tensor(shape: [2, 4], scalars: [0.5, 1, -1, 2, 1, 1, 1, 1])
    var o = ExplanationOptions()
    o.postProcess = false
    // The gradient is constant, so IG (zero baseline) is exactly x * w_c (completeness) and
    // SmoothGrad is exactly |w_c| whatever the noise; chunking (1 row per pass) changes nothing.
    for rows in [1, 256] {
      o.chunkRows = rows
      let ig = try explain(model, x, labels: [0, 2], method: .integratedGradients, options: o)
      #expect(closeness(ig, Tensor(shape: [2, 4], scalars: [0.5, -2, -3, 1, -3, 1, 1, 1])) <= 1)
      let smooth = try explain(model, x, labels: [0, 2], method: .smoothGrad, options: o)
      #expect(closeness(smooth, Tensor(shape: [2, 4], scalars: [1, 2, 3, 0.5, 3, 1, 1, 1])) <= 1)
    }
  }

  /// conv(1->4, 3x3) -> ReLU -> GAP ("2") -> Dense(4->3): Grad-CAM at "2" equals
  /// CAM `ReLU(sum_k W[c, k] A_k) / max` (the gradient weights are `W[c, k] / (H W)`).
  @Test func gradCAMEqualsCAMOnGlobalAveragePoolHead() throws {
    let dense = Dense(weight: randomTensor([3, 4], seed: 2), bias: Tensor([0.1, 0.2, -0.3]))
    let net = Sequential([
      Conv2D(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, seed: 1), ActivationLayer(.relu),
      GlobalAvgPool2D(), dense,
    ])
    let model = Model(network: net, architecture: "cam", inputShape: [1, 6, 6], targetLayer: "2")
    let x = randomTensor([2, 1, 6, 6], seed: 3, low: 0, high: 1)
    let labels = [1, 2]
    let cam = try explain(model, x, labels: labels, method: .gradCAM)
    let a = try model.forward(x, capturingInputsOf: ["2"]).captured["2"]!.scalars
    let w = dense.weight.value.scalars
    var expected = [Float](repeating: 0, count: 2 * 36)
    for n in 0..<2 {
      for p in 0..<36 {
        var s: Float = 0
        for k in 0..<4 { s += w[labels[n] * 4 + k] * a[(n * 4 + k) * 36 + p] }
        expected[n * 36 + p] = max(s, 0)
      }
      let m = expected[(n * 36)..<(n * 36 + 36)].max()!
      #expect(m > 0)
      for p in 0..<36 { expected[n * 36 + p] /= m + 1e-8 }
    }
    #expect(cam.shape == [2, 6, 6])
    #expect(closeness(cam, Tensor(shape: [2, 6, 6], scalars: expected), rtol: 1e-4, atol: 1e-5) <= 1)
  }

  @Test func heatmapPostProcessingValues() {
    let h = Tensor(shape: [2, 1, 3], scalars: [1, 3, 2, -1, -1, -1])
    #expect(closeness(Heatmap.minMax(h), Tensor(shape: [2, 1, 3], scalars: [0, 1, 0.5, 0, 0, 0])) <= 1)
    #expect(closeness(Heatmap.divideByMax(h.slice(axis: 0, 0..<1)), Tensor(shape: [1, 1, 3], scalars: [1 / 3, 1, 2 / 3])) <= 1)
    #expect(closeness(Heatmap.sumNormalize(h.slice(axis: 0, 0..<1)), Tensor(shape: [1, 1, 3], scalars: [1 / 6, 0.5, 1 / 3])) <= 1)
    let c = Heatmap.channelSum(Tensor(shape: [1, 2, 1, 2], scalars: [1, 2, 10, 20]))
    #expect(c.shape == [1, 1, 2] && c.scalars == [11, 22])
    let spans = try! FeatureSpan.parse(
      json: #"[{"name":"age","start":0,"width":1,"categories":[],"isSensitive":true},{"name":"job","start":1,"width":2,"categories":["a","b"],"isSensitive":false}]"#)
    #expect(spans.map(\.name) == ["age", "job"] && spans[0].isSensitive && spans[1].width == 2)
    // Row 0 has category "a", row 1 category "b": only the present category's column counts.
    let g = Heatmap.sumPerFeature(
      Tensor(shape: [2, 3], scalars: [0.5, 2, -3, 0.25, 2, -3]), features: spans,
      inputs: Tensor(shape: [2, 3], scalars: [0, 1, 0, -1.5, 0, 1]))
    #expect(g.scalars == [0.5, 2, 0.25, -3])
  }

  @Test func betaSmoothingSwitchesAndRestoresActivations() throws {
    let relu = ActivationLayer(.relu)
    let net = Sequential([Dense(weight: Tensor(shape: [2, 2], scalars: [1, -1, 2, 1])), relu, Dense(weight: Tensor(shape: [1, 2], scalars: [1, 1]))])
    let model = Model(network: net, architecture: "tiny", inputShape: [2])
    let x = Tensor(shape: [1, 2], scalars: [1, 2])  // pre-activations [-1, 4]
    var o = ExplanationOptions()
    o.postProcess = false
    let plain = try explain(model, x, labels: [0], method: .simpleGrad, options: o)
    o.beta = 1
    let smooth = try explain(model, x, labels: [0], method: .simpleGrad, options: o)
    #expect(relu.activation == .relu)
    // ReLU: d/dx = row 2 of W1 = [2, 1]. Softplus(1): sigmoid(-1) [1, -1] + sigmoid(4) [2, 1].
    #expect(plain.scalars == [2, 1])
    let s1 = Float(1 / (1 + exp(1.0))), s2 = Float(1 / (1 + exp(-4.0)))
    #expect(closeness(smooth, Tensor(shape: [1, 2], scalars: [abs(s1 + 2 * s2), abs(-s1 + s2)])) <= 1)
  }

  @Test func clearErrors() throws {
    let mlp = try ModelZoo.build(architecture: "mlp", options: ["inputs": "5"])
    let x = Tensor.zeros([2, 5])
    #expect {
      try explain(mlp, x, labels: [0, 1], method: .gradCAM)
    } throws: { e in
      let m = "\(e)"
      return m.contains("gradcam needs a spatial layer") && m.contains("'mlp'") && m.contains("has none")
    }
    #expect { try explain(mlp, x, labels: [0, 1], method: .simpleGradTarget) } throws: { "\($0)".contains("spatial layer") }
    let cnn = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "2,2,2"])
    var o = ExplanationOptions()
    o.layer = "features.77"
    #expect {
      try explain(cnn, Tensor.zeros([1, 1, 28, 28]), labels: [0], method: .gradCAM, options: o)
    } throws: { e in
      "\(e)".hasPrefix("gradcam: no layer named 'features.77'") && "\(e)".contains("digits-cnn")
    }
    o.layer = "pool"
    #expect { try explain(cnn, Tensor.zeros([1, 1, 28, 28]), labels: [0, 1], method: .gradCAM, options: o) } throws: {
      "\($0)" == "gradient: 2 labels for a batch of 1 examples"
    }
    #expect { try ExplanationMethod(parsing: "cam") } throws: {
      "\($0)" == "unknown explanation method 'cam' (valid: simplegrad_t, simplegrad, gradxinput, gradcam, lrp_t, lrp, smoothgrad, ig, kernelshap, lime, occlusion)"
    }
    #expect(try ExplanationMethod(parsing: "LRP-T") == .lrpTarget)
  }
}
