import ModelFool
import TestSupport
import Testing

/// Graph networks built from hand-written graph descriptions: values by hand, second-order
/// gradients through every smooth operator family, tensor names as layer names, and the one-line
/// refusals of broken graphs.
@Suite("Graph networks")
struct GraphNetworkTests {
  static func node(_ op: String, _ inputs: [String], _ output: String, _ attributes: [String: NodeAttribute] = [:]) -> GraphNodeSpec {
    GraphNodeSpec(name: output, op: op, inputs: inputs, outputs: [output], attributes: attributes)
  }

  static func spec(_ name: String, _ shape: [Int], trainable: Bool = true) -> GraphParameterSpec {
    GraphParameterSpec(name: name, shape: shape, isTrainable: trainable)
  }

  /// x [N, 2] -> MatMul W -> Add b -> LeakyRelu(0.5) -> Clip(-1, 100): by hand, x = [1, -2] gives
  /// [-15, 14] -> [-7.5, 14] -> [-1, 14] and x = [0, 0] gives [-10, 20] -> [-5, 20] -> [-1, 20].
  @Test func smallGraphGivesHandValues() throws {
    let definition = GraphDefinition(
      inputName: "x", inputShape: [2], outputName: "y",
      parameters: [Self.spec("W", [2, 2]), Self.spec("b", [2])], constants: [:],
      nodes: [
        Self.node("Constant", [], "lo", ["value_float": .float(-1)]),
        Self.node("Constant", [], "hi", ["value_float": .float(100)]),
        Self.node("Clip", ["leaky", "lo", "hi"], "y"),  // out of order on purpose: sorted when built
        Self.node("MatMul", ["x", "W"], "xw"),
        Self.node("Add", ["xw", "b"], "pre"),
        Self.node("LeakyRelu", ["pre"], "leaky", ["alpha": .float(0.5)]),
      ], opset: 13)
    let network = try GraphNetwork(
      definition: definition,
      values: ["W": Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), "b": Tensor([-10, 20])])
    let y = network(Tensor(shape: [2, 2], scalars: [1, -2, 0, 0]))
    #expect(y.shape == [2, 2])
    #expect(y.scalars == [-1, 14, -1, 20])
    #expect(network.namedParameters().map(\.name) == ["W", "b"])
    // Every float tensor is a layer named after it; its input is the tensor itself.
    let (_, captured) = try network.forward(Tensor(shape: [1, 2], scalars: [1, -2]), capturingInputsOf: ["leaky"])
    #expect(captured["leaky"]!.scalars == [-7.5, 14])
  }

  /// A CNN of smooth operators (Conv with bias, BatchNormalization, x * sigmoid(x), a dilated
  /// depthwise Conv, Concat, AveragePool without counting padding, Pad, GlobalAveragePool, a
  /// Shape/Gather/Unsqueeze/Concat/Reshape chain, Gemm).
  static let cnn = GraphDefinition(
    inputName: "image", inputShape: [2, 6, 6], outputName: "logits",
    parameters: [
      spec("w1", [3, 2, 3, 3]), spec("b1", [3]), spec("bn.scale", [3]), spec("bn.bias", [3]),
      spec("bn.mean", [3], trainable: false), spec("bn.var", [3], trainable: false), spec("w2", [3, 1, 3, 3]),
      spec("fc.w", [4, 6]), spec("fc.b", [4]),
    ],
    constants: [
      "pads": .ints(shape: [8], values: [0, 0, 1, 1, 0, 0, 1, 1]), "zero": .ints(shape: [], values: [0]),
      "axes0": .ints(shape: [1], values: [0]), "minus1": .ints(shape: [1], values: [-1]),
    ],
    nodes: [
      node("Conv", ["image", "w1", "b1"], "c1", ["pads": .ints([1, 1, 1, 1]), "kernel_shape": .ints([3, 3])]),
      node("BatchNormalization", ["c1", "bn.scale", "bn.bias", "bn.mean", "bn.var"], "bn", ["epsilon": .float(1e-5)]),
      node("Sigmoid", ["bn"], "gate"),
      node("Mul", ["bn", "gate"], "silu"),
      node("Conv", ["silu", "w2"], "dw", ["group": .int(3), "dilations": .ints([2, 2]), "pads": .ints([2, 2, 2, 2])]),
      node("Concat", ["silu", "dw"], "cat", ["axis": .int(1)]),
      node("AveragePool", ["cat"], "pool", ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
      node("Pad", ["pool", "pads"], "padded"),
      node("GlobalAveragePool", ["padded"], "gap"),
      node("Shape", ["image"], "shape"),
      node("Gather", ["shape", "zero"], "batch"),
      node("Unsqueeze", ["batch", "axes0"], "batch1"),
      node("Concat", ["batch1", "minus1"], "target", ["axis": .int(0)]),
      node("Reshape", ["gap", "target"], "flat"),
      node("Gemm", ["flat", "fc.w", "fc.b"], "logits", ["transB": .int(1)]),
    ], opset: 13)

  static let cnnValues: [String: Tensor] = [
    "w1": randomTensor([3, 2, 3, 3], seed: 1, low: -0.5, high: 0.5), "b1": randomTensor([3], seed: 2, low: -0.1, high: 0.1),
    "bn.scale": randomTensor([3], seed: 3, low: 0.5, high: 1.5), "bn.bias": randomTensor([3], seed: 4, low: -0.2, high: 0.2),
    "bn.mean": randomTensor([3], seed: 5, low: -0.1, high: 0.1), "bn.var": randomTensor([3], seed: 6, low: 0.5, high: 1.5),
    "w2": randomTensor([3, 1, 3, 3], seed: 7, low: -0.5, high: 0.5), "fc.w": randomTensor([4, 6], seed: 8, low: -1, high: 1),
    "fc.b": randomTensor([4], seed: 9, low: -0.1, high: 0.1),
  ]

  /// The same network written with engine ops directly.
  static func reference(_ x: Tensor, _ v: [String: Tensor]) -> Tensor {
    var h = Tensor.conv2d(x, v["w1"]!, geometry: ConvGeometry(kernel: (3, 3), padding: (1, 1))) + v["b1"]!.reshaped([1, 3, 1, 1])
    let scale = v["bn.scale"]! / (v["bn.var"]! + 1e-5).sqrt()
    h = (h - v["bn.mean"]!.reshaped([1, 3, 1, 1])) * scale.reshaped([1, 3, 1, 1]) + v["bn.bias"]!.reshaped([1, 3, 1, 1])
    h = h * h.sigmoid()
    let dw = Tensor.conv2d(h, v["w2"]!, geometry: ConvGeometry(kernel: (3, 3), padding: (2, 2), dilation: (2, 2)), groups: 3)
    let cat = Tensor.concatenate([h, dw], alongAxis: 1)
    // 3x3 windows, stride 2, padding 1 on 6x6: output 3x3; the counts of real pixels per window.
    let sums = Tensor.conv2d(cat, Tensor.ones([6, 1, 3, 3]), geometry: ConvGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1)), groups: 6)
    let counts = Tensor(shape: [1, 1, 3, 3], scalars: [4, 6, 6, 6, 9, 9, 6, 9, 9])
    let pooled = (sums / counts).padded(before: [0, 0, 1, 1], after: [0, 0, 1, 1])
    let flat = pooled.mean(alongAxes: [2, 3])
    return Tensor.matmul(flat, v["fc.w"]!, transposeB: true) + v["fc.b"]!
  }

  @Test func cnnMatchesEngineOpsForAnyBatch() throws {
    let network = try GraphNetwork(definition: Self.cnn, values: Self.cnnValues)
    for n in [1, 3] {
      let x = randomTensor([n, 2, 6, 6], seed: 20 + UInt64(n), low: 0, high: 1)
      let y = network(x)
      #expect(y.shape == [n, 4])
      #expect(relativeError(y, Self.reference(x, Self.cnnValues)) < 1e-5)
    }
    #expect(network.lastConvolutionOutput == "dw")
    #expect(network.trainableParameters().count == 7)
    #expect(network.children.map(\.name).prefix(3) == ["image", "c1", "bn"])
  }

  /// Hessian-vector products with respect to the input, through every operator of the CNN.
  @Test func secondOrderGradientThroughGraph() throws {
    let network = try GraphNetwork(definition: Self.cnn, values: Self.cnnValues)
    let x = randomTensor([2, 2, 6, 6], seed: 31, low: 0, high: 1)
    let check = checkSecondOrder(of: { (network($0[0]) * network($0[0])).sum() }, at: [x], epsilon: 1e-2)
    #expect(check.error < 2e-2, "analytic \(check.analytic[0].scalars.prefix(6)) numerical \(check.numerical[0].scalars.prefix(6))")
  }

  /// The weight gradient of a saliency loss (double backprop, as in every fooling loss) matches
  /// finite differences in the weights.
  @Test func weightGradientOfSaliencyLoss() throws {
    let network = try GraphNetwork(definition: Self.cnn, values: Self.cnnValues)
    let x = randomTensor([2, 2, 6, 6], seed: 41, low: 0, high: 1)
    let params = network.trainableParameters()
    func loss() -> Tensor {
      let input = x.variable()
      let logit = network(input).slice(axis: 1, 0..<1).sum()
      let saliency = gradients(of: logit, withRespectTo: [input], createGraph: true)[0]
      return (saliency * saliency).sum() * 100
    }
    let analytic = gradients(of: loss(), withRespectTo: params.map(\.value))
    let start = params.map(\.value)
    let numerical = numericalGradients(of: { ws in
      for (p, w) in zip(params, ws) { p.value = w }
      return loss()
    }, at: start, epsilon: 1e-2)
    for (p, w) in zip(params, start) { p.value = w }
    let error = zip(analytic, numerical).map { relativeError($0, $1, floor: 1e-3) }.max() ?? 0
    #expect(error < 3e-2)
    #expect(analytic[0].scalars.contains { Swift.abs($0) > 1e-4 })
  }

  /// Relu nodes follow `setActivation`: softplus(1) of [-1, 2] is [log(1 + e^-1), log(1 + e^2)].
  @Test func reluNodesSwitchToSoftplus() throws {
    let definition = GraphDefinition(
      inputName: "x", inputShape: [2], outputName: "y", parameters: [], constants: [:],
      nodes: [Self.node("Relu", ["x"], "y")], opset: 13)
    let network = try GraphNetwork(definition: definition)
    let x = Tensor(shape: [1, 2], scalars: [-1, 2])
    #expect(network(x).scalars == [0, 2])
    network.setActivation(.softplus(beta: 1))
    #expect(relativeError(network(x), Tensor(shape: [1, 2], scalars: [0.3132617, 2.1269280])) < 1e-5)
    #expect(relativeError(network.deepCopy()(x), network(x)) == 0)
    network.restoreActivations()
    #expect(network(x).scalars == [0, 2])
    #expect(network.children.map(\.name) == ["x", "y", "activation:y"])
  }

  static func refusal(_ nodes: [GraphNodeSpec], constants: [String: GraphConstant] = [:]) -> String {
    let definition = GraphDefinition(
      inputName: "x", inputShape: [4], outputName: "y", parameters: [spec("w", [3, 4])], constants: constants,
      nodes: nodes, opset: 13)
    do {
      _ = try GraphNetwork(definition: definition, values: [:])
      return "built"
    } catch let error as GraphError {
      #expect(!error.message.contains("\n"))
      return error.message
    } catch {
      return "\(error)"
    }
  }

  @Test func brokenGraphsAreRefusedWithOneLine() {
    #expect(Self.refusal([Self.node("Relu", ["b"], "a"), Self.node("Relu", ["a"], "b"), Self.node("Add", ["x", "b"], "y")])
      == "Relu node 'a' is on a cycle (the graph is not acyclic)")
    #expect(Self.refusal([Self.node("Add", ["x", "ghost"], "y")]) == "Add node 'y' reads tensor 'ghost', which no node produces")
    #expect(Self.refusal([Self.node("Relu", ["x"], "y"), Self.node("Sigmoid", ["x"], "y")]).contains("tensor 'y' is produced twice"))
    #expect(Self.refusal([Self.node("Einsum", ["x"], "y")]).hasPrefix("Einsum node 'y': operator 'Einsum' is not supported"))
    #expect(Self.refusal([Self.node("Relu", ["x"], "y", ["mystery": .int(1)])]) == "Relu node 'y': attribute 'mystery' is not supported")
    #expect(Self.refusal([Self.node("Gemm", ["x", "w"], "y")]) == "Gemm node 'y': inner dimensions differ: [1, 4] and [3, 4]")
    // A reshape to a fixed batch of 1 passes for one example and is caught for two.
    let fixed = Self.refusal(
      [Self.node("Reshape", ["x", "s"], "r"), Self.node("Gemm", ["r", "w"], "y", ["transB": .int(1)])],
      constants: ["s": .ints(shape: [2], values: [1, -1])])
    #expect(fixed.contains("for a batch of 2: export the model with a dynamic batch axis"), "\(fixed)")
    #expect(Self.refusal([Self.node("Relu", ["x"], "r")]) == "output 'y' is not produced by any node")
    // Names from a hostile file cannot break the line.
    let hostile = GraphNodeSpec(name: "n\nError: fake", op: "Erf", inputs: ["x"], outputs: ["y"])
    #expect(Self.refusal([hostile]).hasPrefix("Erf node 'n\\u{a}Error: fake': operator 'Erf'"))
    // Shape arithmetic stays small: a ConstantOfShape of 2^21 integers is refused, not allocated.
    #expect(Self.refusal(
      [Self.node("ConstantOfShape", ["big"], "c", ["value": .tensor(.ints(shape: [1], values: [1]))]), Self.node("Relu", ["x"], "y")],
      constants: ["big": .ints(shape: [1], values: [1 << 21])])
      == "ConstantOfShape node 'c': an integer tensor of shape [2097152] is too large for shape arithmetic")
  }
}
