import Foundation
import ModelFool
import TestSupport
import Testing

/// Element-wise closeness for layer tests.
private func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5) -> Bool {
  a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
}

@Suite("Layers")
struct LayersTests {
  @Test func denseOnTinyInput() {
    let d = Dense(
      weight: Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]), bias: Tensor([0.5, -1, 0]))
    let y = d(Tensor(shape: [2, 2], scalars: [1, 1, 2, -1]))
    #expect(y.shape == [2, 3])
    #expect(y.scalars == [3.5, 6, 11, 0.5, 1, 4])
    #expect(d.namedParameters().map(\.name) == ["weight", "bias"])
  }

  @Test func conv2DWithKnownKernel() {
    let c = Conv2D(inputChannels: 1, outputChannels: 1, kernelSize: 2)
    c.weight.value = Tensor(shape: [1, 1, 2, 2], scalars: [1, 0, 0, -1])
    c.bias!.value = Tensor([1])
    let y = c(Tensor(shape: [1, 1, 3, 3], scalars: (1...9).map(Float.init)))
    #expect(y.shape == [1, 1, 2, 2])
    #expect(y.scalars == [-3, -3, -3, -3])  // x[i,j] - x[i+1,j+1] + 1
  }

  @Test func tensorFlowSamePaddingIsAsymmetricAtStrideTwo() {
    let ones = Tensor.ones([1, 1, 4, 4])
    let same = Conv2D(inputChannels: 1, outputChannels: 1, kernelSize: 3, stride: 2, padding: .same, bias: false)
    same.weight.value = Tensor.ones([1, 1, 3, 3])
    #expect(same(ones).scalars == [9, 6, 6, 4])  // extra row/column at bottom/right
    let sym = Conv2D(inputChannels: 1, outputChannels: 1, kernelSize: 3, stride: 2, padding: 1, bias: false)
    sym.weight.value = Tensor.ones([1, 1, 3, 3])
    #expect(sym(ones).scalars == [4, 6, 6, 9])
    let g = same.geometry(inputHeight: 5, inputWidth: 5)
    let pads: [Int] = [g.padTop, g.padBottom, g.padLeft, g.padRight]
    #expect(pads == [1, 1, 1, 1])
  }

  @Test func depthwiseConvolutionKeepsChannelsApart() {
    let c = Conv2D(inputChannels: 2, outputChannels: 2, kernelSize: 1, groups: 2, bias: false)
    c.weight.value = Tensor(shape: [2, 1, 1, 1], scalars: [2, -3])
    let y = c(Tensor(shape: [1, 2, 1, 2], scalars: [1, 2, 3, 4]))
    #expect(y.scalars == [2, 4, -9, -12])
  }

  @Test func batchNormTrainingVersusEvaluation() {
    let bn = BatchNorm1D(channels: 1)
    let x = Tensor(shape: [4, 1], scalars: [1, 2, 3, 4])
    let train = bn(x)
    let s = (Float(1.25) + 1e-5).squareRoot()
    #expect(close(train.scalars, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]))
    // running = 0.9 * init + 0.1 * batch (unbiased variance 5/3)
    #expect(close(bn.runningMean.value.scalars, [0.25]))
    #expect(close(bn.runningVariance.value.scalars, [0.9 + 0.1 * 5 / 3]))
    #expect(bn.batchesTracked.value.scalar == 1)
    bn.setTraining(false)
    let eval = bn(x)
    let rs = (Float(0.9 + 0.1 * 5 / 3) + 1e-5).squareRoot()
    #expect(close(eval.scalars, [0.75 / rs, 1.75 / rs, 2.75 / rs, 3.75 / rs]))
    #expect(close(bn.runningMean.value.scalars, [0.25]))  // frozen in evaluation mode
    #expect(bn.namedParameters().map(\.name) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
    #expect(bn.trainableParameters().count == 2)
  }

  @Test func batchNorm2DNormalisesPerChannel() {
    let bn = BatchNorm2D(channels: 2)
    bn.weight.value = Tensor([2, 1])
    bn.bias.value = Tensor([0, 10])
    // channel 0: values 0, 2 (two images, 1x1); channel 1: 5, 5
    let y = bn(Tensor(shape: [2, 2, 1, 1], scalars: [0, 5, 2, 5]))
    let s = (Float(1) + 1e-5).squareRoot()
    #expect(close(y.scalars, [-2 / s, 10, 2 / s, 10]))
  }

  @Test func maxPoolTiesGoToTheFirstMaximum() {
    let x = Tensor(shape: [1, 1, 2, 4], scalars: [1, 3, 2, 0, 3, 0, 1, 2]).variable()
    let y = MaxPool2D(kernelSize: 2)(x)
    #expect(y.scalars == [3, 2])
    let g = gradients(of: y.sum(), withRespectTo: [x])[0]
    #expect(g.scalars == [0, 1, 1, 0, 0, 0, 0, 0])
  }

  @Test func poolingLayers() {
    let x = Tensor(shape: [1, 1, 3, 3], scalars: (1...9).map(Float.init))
    #expect(AdaptiveAvgPool2D(outputHeight: 2, outputWidth: 2)(x).scalars == [3, 4, 6, 7])
    #expect(GlobalAvgPool2D()(x).scalars == [5])
    #expect(AvgPool2D(kernelSize: 2, stride: 1)(x).scalars == [3, 4, 6, 7])
    #expect(Flatten()(x).shape == [1, 9])
    #expect(MaxPool2D(kernelSize: 2, padding: .same)(x).scalars == [5, 6, 8, 9])
  }

  @Test func residualAddsBodyAndShortcut() {
    let body = Dense(weight: Tensor(shape: [2, 2], scalars: [1, 0, 0, -3]))
    let r = Residual(body: [("fc", body)], post: ("relu", ActivationLayer(.relu)))
    let y = r(Tensor(shape: [1, 2], scalars: [2, 1]))
    #expect(y.scalars == [4, 0])  // relu([2 + 2, -3 + 1])
    #expect(r.bodyOutput(Tensor(shape: [1, 2], scalars: [2, 1])).scalars == [2, -3])
    let proj = Residual(
      body: [("fc", body)], shortcut: ("downsample", Dense(weight: Tensor(shape: [2, 2], scalars: [0, 1, 1, 0]))))
    #expect(proj(Tensor(shape: [1, 2], scalars: [2, 1])).scalars == [3, -1])
    #expect(proj.namedParameters().map(\.name) == ["fc.weight", "downsample.weight"])
  }

  /// The sum and its ReLU run as one op (the bits of the two ops, at a size the pool splits);
  /// a tap on the ReLU or a ReLU switched to softplus takes the layer path.
  @Test func residualSumAndReLURunAsOne() throws {
    let (a, b) = (randomTensor([2, 8, 48, 48], seed: 1, low: -1, high: 1), randomTensor([2, 8, 48, 48], seed: 2, low: -1, high: 1))
    #expect(Tensor.sumReLU(a, b).scalars == (a + b).relu().scalars)
    let relu = ActivationLayer(.relu)
    let r = Residual(body: [("id", ActivationLayer(.identity))], shortcut: ("neg", ActivationLayer(.identity)), post: ("relu", relu))
    #expect(r(a).scalars == (a + a).relu().scalars)
    let (y, captured) = try r.forward(a, capturingOutputsOf: ["relu"])
    #expect(try #require(captured["relu"]).scalars == y.scalars)
    relu.activation = .softplus(beta: 2)
    #expect(r(a).scalars == (a + a).softplus(beta: 2).scalars)
  }

  @Test func denseNetLayerConcatenatesInputFirst() throws {
    let l = DenseLayer(inputChannels: 3, growthRate: 2, bottleneckFactor: 2, seed: 1)
    l.setTraining(false)
    let x = uniformInput([1, 3, 4, 4])
    let y = l(x)
    #expect(y.shape == [1, 5, 4, 4])
    #expect(y.slice(axis: 1, 0..<3).scalars == x.scalars)
    #expect(l.namedParameters().filter { $0.parameter.isTrainable }.map(\.name)
      == ["norm1.weight", "norm1.bias", "conv1.weight", "norm2.weight", "norm2.bias", "conv2.weight"])
    let conv2Shape = try l.parameter(named: "conv2.weight").shape
    #expect(conv2Shape == [2, 4, 3, 3])
    let block = DenseNetBlocks.denseBlock(layers: 2, inputChannels: 3, growthRate: 2)
    block.setTraining(false)
    #expect(block(x).shape == [1, 7, 4, 4])
  }

  @Test func sequentialNamesAreHierarchical() throws {
    let features = Sequential {
      Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 3, padding: 1)
      ActivationLayer(.relu)
      MaxPool2D(kernelSize: 2)
      Conv2D(inputChannels: 2, outputChannels: 4, kernelSize: 3, padding: 1)
      for _ in 0..<2 { ActivationLayer(.relu) }
    }
    let net = Sequential {
      ("features", features)
      ("pool", GlobalAvgPool2D())
      ("classifier", Dense(inputSize: 4, outputSize: 3))
    }
    #expect(net.namedParameters().map(\.name) == [
      "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias", "classifier.weight",
      "classifier.bias",
    ])
    #expect(net.namedLayers().map(\.name) == [
      "", "features", "features.0", "features.1", "features.2", "features.3", "features.4", "features.5", "pool",
      "classifier",
    ])
    #expect(try net.layer(named: "features.3") === features.entries[3].layer)
    #expect(net.parameterCount == 2 * 9 + 2 + 4 * 18 + 4 + 12 + 3)
    #expect(net(Tensor.zeros([2, 1, 8, 8])).shape == [2, 3])
  }

  @Test func unknownLayerNamesGiveClearErrors() throws {
    let net = Sequential(named: [("features", Sequential([Dense(inputSize: 2, outputSize: 2)])), ("head", Flatten())])
    #expect(throws: LayerError("no layer named 'features.1' (closest: features.0, features, head, \"\" (root))")) {
      try net.layer(named: "features.1")
    }
    do {
      _ = try net.forward(Tensor.zeros([1, 2]), capturingInputsOf: ["hed"])
      Issue.record("expected an error")
    } catch let e as LayerError {
      #expect(e.message.hasPrefix("no layer named 'hed' (closest: head"))
    }
    #expect(throws: LayerError.self) { try net.parameter(named: "features.0.wieght") }
  }

  @Test func captureOfNamedLayerInputEqualsManualComputation() throws {
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "4,6,8", "seed": "3"])
    model.setTraining(false)
    let x = uniformInput([2, 1, 28, 28])
    let result = try model.forward(x, capturingInputsOf: ["pool"])
    let out = result.output
    let a = result.captured["pool"] ?? Tensor(0)
    let features = try model.layer(named: "features")
    let manual = features(x)
    #expect(a.shape == [2, 8, 7, 7])
    #expect(a.scalars == manual.scalars)
    #expect(out.scalars == model(x).scalars)
    // GAP + dense head: d logit_c / dA[c', h, w] = W[c, c'] / 49 (the CAM identity).
    let g = gradients(of: out.slice(axis: 1, 3..<4).sum(), withRespectTo: [a])[0]
    let w = try model.parameter(named: "classifier.weight").value.scalars
    var expected: [Float] = []
    for _ in 0..<2 {
      for c in 0..<8 { expected += [Float](repeating: w[3 * 8 + c] / 49, count: 49) }
    }
    #expect(close(g.scalars, expected))
    // Outputs can be captured too, and a replaced input changes the result.
    let outs = try model.forward(x, capturingOutputsOf: ["features.6"]).captured
    #expect(outs["features.6"]?.shape == [2, 8, 7, 7])
    let zeroed = try model.forward(x, replacingInputOf: "classifier", with: { (t: Tensor) in t * 0 })
    let bias = try model.parameter(named: "classifier.bias").value.scalars
    #expect(zeroed.scalars == bias + bias)
  }

  @Test func activationSwitchChangesOutputsButNotWeights() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "5", "hidden": "8,8", "seed": "1"])
    let x = normalInput([4, 5])
    let before = model(x).scalars
    let weights = model.namedParameters().map { $0.parameter.value.scalars }
    model.setActivation(.softplus(beta: 2))
    let smooth = model(x).scalars
    #expect(smooth != before)
    #expect(model.namedParameters().map { $0.parameter.value.scalars } == weights)
    #expect((try model.layer(named: "1") as! ActivationLayer).activation == .softplus(beta: 2))
    model.setActivation(.relu)
    #expect(model(x).scalars == before)
    // ReLU6 layers stay unless asked.
    let net = Sequential([ActivationLayer(.relu6), ActivationLayer(.relu), ActivationLayer(.sigmoid)])
    net.setActivation(.softplus(beta: 5))
    #expect(net.layers.map { ($0 as! ActivationLayer).activation } == [.relu6, .softplus(beta: 5), .sigmoid])
    net.setActivation(.softplus(beta: 5), includingReLU6: true)
    #expect((net.layers[0] as! ActivationLayer).activation == .smoothReLU6(beta: 5))
    net.restoreActivations()
    #expect(net.layers.map { ($0 as! ActivationLayer).activation } == [.relu6, .relu, .sigmoid])
  }

  @Test func deepCopyIsIndependent() throws {
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "2,2,2"])
    model.setTraining(false)
    let copy = model.deepCopy()
    let x = uniformInput([1, 1, 28, 28])
    #expect(copy(x).scalars == model(x).scalars)
    #expect(copy.namedParameters().map(\.name) == model.namedParameters().map(\.name))
    #expect(copy.targetLayer == "features.6" && copy.architecture == "digits-cnn")
    let p = try copy.parameter(named: "classifier.bias")
    p.value = p.value + 1
    #expect(copy(x).scalars != model(x).scalars)
    #expect(try model.parameter(named: "classifier.bias").value.scalars != p.value.scalars)
    copy.setTraining(true)
    #expect((try model.layer(named: "features.0")) !== (try copy.layer(named: "features.0")))
    let bnModel = Sequential([BatchNorm(channels: 1)])
    let bnCopy = bnModel.deepCopy()
    _ = bnCopy(Tensor(shape: [2, 1], scalars: [0, 4]))
    #expect((bnModel.layers[0] as! BatchNorm).runningMean.value.scalars == [0])
    #expect((bnCopy.layers[0] as! BatchNorm).runningMean.value.scalars == [0.2])
  }

  @Test func parametersStayGraphLeaves() throws {
    let d = Dense(weight: Tensor(shape: [1, 2], scalars: [1, 2]), bias: Tensor([0]))
    let x = Tensor(shape: [1, 2], scalars: [3, 4])
    var g = gradients(of: d(x).sum(), withRespectTo: d.trainableParameters().map(\.value))
    #expect(g[0].scalars == [3, 4] && g[1].scalars == [1])
    withoutRecording { d.weight.value = d.weight.value - g[0] }  // an SGD step
    #expect(d.weight.value.scalars == [-2, -2])
    g = gradients(of: (d(x) * d(x)).sum(), withRespectTo: [d.weight.value])
    let expected: [Float] = [2 * -14 * 3, 2 * -14 * 4]
    #expect(g[0].scalars == expected)
    #expect(throws: LayerError("w: expected shape [1, 2], got [2]")) { try d.weight.load(Tensor([1, 2]), name: "w") }
  }

  @Test func dropoutScalesInTrainingAndIsIdentityInEvaluation() {
    let drop = Dropout(rate: 0.25, seed: 7)
    let x = Tensor.ones([1000])
    let y = drop(x).scalars
    #expect(y.allSatisfy { $0 == 0 || abs($0 - 4 / 3) < 1e-6 })
    let zeros = y.filter { $0 == 0 }.count
    #expect(zeros > 200 && zeros < 300)
    #expect(drop(x).scalars != y)  // the mask changes between calls
    drop.setTraining(false)
    #expect(drop(x).scalars == x.scalars)
  }

  @Test func normalizeIsPerChannel() {
    let n = Normalize(mean: [1, 2], standardDeviation: [2, 4])
    #expect(n(Tensor(shape: [1, 2, 1, 2], scalars: [3, 5, 6, 10])).scalars == [1, 2, 1, 2])
  }
}

/// Fixed uniform [0, 1) test input.
func uniformInput(_ shape: [Int], seed: UInt64 = 42) -> Tensor {
  var g = SeededGenerator(seed: seed)
  return Tensor.randomUniform(shape, using: &g)
}

/// Fixed standard-normal test input.
func normalInput(_ shape: [Int], seed: UInt64 = 42) -> Tensor {
  var g = SeededGenerator(seed: seed)
  return Tensor.randomNormal(shape, using: &g)
}

@Suite("Smooth ReLU6")
struct SmoothReLU6Tests {
  @Test func valuesAndSwitch() throws {
    let x = Tensor([-2, 0, 3, 6, 9])
    // softplus_b(x) - softplus_b(x - 6) with b = 50 is within log(2)/50 of ReLU6 everywhere.
    let y = Activation.smoothReLU6(beta: 50)(x).scalars
    for (a, b) in zip(y, [Float](arrayLiteral: 0, 0, 3, 6, 6)) { #expect(abs(a - b) <= 0.0139) }
    // At 0 and 6 the value is exactly log(2)/b off (minus the other term's tiny share).
    #expect(abs(y[1] - Float(0.6931472 / 50)) < 1e-5)
    let net = Sequential([Dense(weight: Tensor(shape: [1, 1], scalars: [1])), ActivationLayer(.relu6)])
    net.setActivation(.softplus(beta: 2))
    #expect(net(Tensor(shape: [1, 1], scalars: [3])).scalar == 3)  // ReLU6 untouched by default
    net.setActivation(.softplus(beta: 2), includingReLU6: true)
    let smooth = net(Tensor(shape: [1, 1], scalars: [3])).scalar
    let expected = (log1p(exp(6.0)) - log1p(exp(-6.0))) / 2
    #expect(abs(Double(smooth) - expected) < 1e-5)
    net.restoreActivations()
    #expect(net(Tensor(shape: [1, 1], scalars: [7])).scalar == 6)
  }
}
