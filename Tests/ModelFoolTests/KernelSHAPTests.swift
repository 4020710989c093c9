import Foundation
import ModelFool
import TestSupport
import Testing

/// KernelSHAP: exact enumeration against brute-force Shapley values in Float64, efficiency, the
/// linear-model identity, gradients to the weights (first and second order), and the `shap`
/// package's KernelExplainer (Tests/Fixtures/make_blackbox_fixtures.py).
@Suite struct KernelSHAPTests {
  /// Players: a (column 0), k (one-hot, columns 1-3), b (4), c (5).
  static let groups = """
    [{"name": "a", "start": 0, "width": 1}, {"name": "k", "start": 1, "width": 3, "categories": ["p", "q", "r"]},
     {"name": "b", "start": 4, "width": 1}, {"name": "c", "start": 5, "width": 1}]
    """

  /// Dense(6 -> 5) -> softplus -> Dense(5 -> 3), seeded weights.
  static func model() -> Model {
    let net = Sequential([
      Dense(weight: randomTensor([5, 6], seed: 1), bias: randomTensor([5], seed: 2, low: -0.3, high: 0.3)),
      ActivationLayer(.softplus(beta: 1)),
      Dense(weight: randomTensor([3, 5], seed: 3, low: -1.5, high: 1.5), bias: randomTensor([3], seed: 4, low: -0.3, high: 0.3)),
    ])
    return Model(network: net, architecture: "mlp", inputShape: [6], featureGroupsJSON: groups)
  }

  /// Background rows with valid one-hot columns.
  static let background = Tensor(shape: [4, 6], scalars: [
    0.5, 1, 0, 0, -1.0, 0.3,
    -0.7, 0, 1, 0, 0.2, -1.1,
    1.2, 0, 0, 1, 0.9, 0.4,
    0.1, 0, 1, 0, -0.4, 0.8,
  ])
  static let rows = Tensor(shape: [2, 6], scalars: [
    -1.3, 0, 0, 1, 0.7, -0.6,
    0.9, 1, 0, 0, -1.5, 1.4,
  ])

  static func options(output: ExplainedOutput = .probability) -> ExplanationOptions {
    var o = ExplanationOptions()
    o.blackBox.background = background
    o.blackBox.output = output
    return o
  }

  /// Forward pass of `model` (two Dense layers around softplus or ReLU) in Float64: the explained
  /// output of class `c` for one row.
  static func output(_ model: Model, _ x: [Double], class c: Int, output: ExplainedOutput, relu: Bool = false) -> Double {
    let p = model.trainableParameters().map { $0.value.scalars.map(Double.init) }
    let (w1, b1, w2, b2) = (p[0], p[1], p[2], p[3])
    let h = b1.count, d = x.count, k = b2.count
    let hidden = (0..<h).map { j -> Double in
      let z = b1[j] + (0..<d).reduce(0) { $0 + w1[j * d + $1] * x[$1] }
      return relu ? max(z, 0) : log1p(exp(-abs(z))) + max(z, 0)
    }
    let logits = (0..<k).map { i in b2[i] + (0..<h).reduce(0) { $0 + w2[i * h + $1] * hidden[$1] } }
    if output == .logit { return logits[c] }
    let top = logits.max()!
    let e = logits.map { exp($0 - top) }
    return e[c] / e.reduce(0, +)
  }

  /// Shapley values by their definition, `sum_S |S|! (M - |S| - 1)! / M! (v(S + i) - v(S))`,
  /// with `v(S) = mean_b f(x_S, b_rest)`, all in Float64.
  static func bruteForce(_ model: Model, row: [Double], background: [[Double]], players: [Range<Int>], class c: Int,
                         output: ExplainedOutput, relu: Bool = false) -> [Double] {
    let m = players.count
    func value(_ code: Int) -> Double {
      background.reduce(0) { acc, b in
        var z = b
        for (g, cols) in players.enumerated() where code >> g & 1 == 1 { for j in cols { z[j] = row[j] } }
        return acc + Self.output(model, z, class: c, output: output, relu: relu)
      } / Double(background.count)
    }
    func factorial(_ n: Int) -> Double { n < 2 ? 1 : (2...n).reduce(1) { $0 * Double($1) } }
    return (0..<m).map { i in
      (0..<(1 << m)).filter { $0 >> i & 1 == 0 }.reduce(0) { acc, code in
        let s = code.nonzeroBitCount
        return acc + factorial(s) * factorial(m - s - 1) / factorial(m) * (value(code | 1 << i) - value(code))
      }
    }
  }

  static func rowsOf(_ t: Tensor) -> [[Double]] {
    let d = t.shape[1]
    return (0..<t.shape[0]).map { r in (0..<d).map { Double(t.scalars[r * d + $0]) } }
  }

  @Test(arguments: [ExplainedOutput.probability, .logit])
  func exactEnumerationEqualsBruteForceShapleyValues(output: ExplainedOutput) throws {
    let model = Self.model()
    let r = try KernelSHAP.values(model, Self.rows, classes: [2, 0], options: Self.options(output: output))
    #expect(r.values.shape == [2, 4])
    let players = [0..<1, 1..<4, 4..<5, 5..<6]
    let expected = zip(Self.rowsOf(Self.rows), [2, 0]).flatMap { row, c in
      Self.bruteForce(model, row: row, background: Self.rowsOf(Self.background), players: players, class: c, output: output)
    }
    #expect(closeness(r.values, Tensor(shape: [2, 4], scalars: expected.map(Float.init)), rtol: 1e-4, atol: 1e-6) <= 1,
            "\(r.values.scalars) vs \(expected)")
    // The raw map puts each value on its column (the one-hot player on the present category),
    // and the per-feature sum reads them back.
    let e = try explanation(model, Self.rows, labels: [2, 0], method: .kernelSHAP, options: Self.options(output: output))
    let spans = try FeatureSpan.features(of: model)
    #expect(Heatmap.sumPerFeature(e.raw, features: spans, inputs: Self.rows).scalars == r.values.scalars)
    #expect(e.raw.scalars[1] == 0 && e.raw.scalars[2] == 0 && e.raw.scalars[3] == r.values.scalars[1])
  }

  /// Efficiency: `sum_i phi_i = f(x) - mean_b f(b)`, exact and sampled designs alike (the
  /// empty and the full coalition are constraints).
  @Test(arguments: [12, 2])
  func valuesSumToOutputMinusBackgroundMean(exactLimit: Int) throws {
    let model = Self.model()
    var o = Self.options()
    o.blackBox.exactPlayerLimit = exactLimit
    o.blackBox.coalitions = 64
    let r = try KernelSHAP.values(model, Self.rows, classes: nil, options: o)
    let bg = Self.rowsOf(Self.background)
    for (n, row) in Self.rowsOf(Self.rows).enumerated() {
      let c = r.classes[n]
      let fx = Self.output(model, row, class: c, output: .probability)
      let mean = bg.reduce(0) { $0 + Self.output(model, $1, class: c, output: .probability) } / Double(bg.count)
      let sum = (0..<4).reduce(0.0) { $0 + Double(r.values.scalars[n * 4 + $1]) }
      #expect(abs(sum - (fx - mean)) < 1e-6, "row \(n): sum \(sum) vs \(fx - mean)")
    }
  }

  /// For a linear logit `f(x) = w . x + b`, `phi_g = sum_{j in g} w_j (x_j - mean_b b_j)`, with
  /// every design (each coalition's value is additive).
  @Test(arguments: [12, 2])
  func linearModelIdentity(exactLimit: Int) throws {
    let w = randomTensor([2, 6], seed: 21)
    let model = Model(
      network: Sequential([Dense(weight: w, bias: Tensor([0.3, -0.2]))]), architecture: "linear", inputShape: [6],
      featureGroupsJSON: Self.groups)
    var o = Self.options(output: .logit)
    o.blackBox.exactPlayerLimit = exactLimit
    o.blackBox.coalitions = 32
    let r = try KernelSHAP.values(model, Self.rows, classes: [1, 0], options: o)
    let bg = Self.rowsOf(Self.background), x = Self.rowsOf(Self.rows), ws = w.scalars.map(Double.init)
    let mean = (0..<6).map { j in bg.reduce(0) { $0 + $1[j] } / Double(bg.count) }
    var expected: [Float] = []
    for (n, c) in [1, 0].enumerated() {
      for cols in [0..<1, 1..<4, 4..<5, 5..<6] {
        expected.append(Float(cols.reduce(0.0) { $0 + ws[c * 6 + $1] * (x[n][$1] - mean[$1]) }))
      }
    }
    #expect(closeness(r.values, Tensor(shape: [2, 4], scalars: expected), rtol: 1e-5, atol: 1e-6) <= 1)
  }

  /// The values are differentiable in the weights: the gradient of `sum phi * mix` by the engine
  /// against central differences, and a Hessian-vector product (double backprop through the
  /// values) against differences of gradients.
  @Test func gradientsReachTheWeights() throws {
    let model = Self.model()
    let params = model.trainableParameters()
    let mix = randomTensor([2, 4], seed: 31)
    let loss = { () -> Tensor in (try! KernelSHAP.values(model, Self.rows, classes: [2, 0], options: Self.options()).values * mix).sum() }
    let analytic = gradients(of: loss(), withRespectTo: params.map(\.value))
    let numerical = numericalGradients(of: loss, withRespectTo: params, epsilon: 1e-3)
    #expect(analytic.allSatisfy { $0.scalars.contains { $0 != 0 } })
    let error = zip(analytic, numerical).map { relativeError($0, $1, floor: 1e-3) }.max()!
    #expect(error < 2e-2, "relative error \(error)")
    let second = checkSecondOrder(
      of: { xs in (try! KernelSHAP.values(model, xs[0], classes: [2, 0], options: Self.options()).values * mix).sum() },
      at: [Self.rows], epsilon: 1e-3)
    #expect(second.error < 2e-2, "second order: relative error \(second.error)")
  }

  struct Reference: Decodable {
    struct Net: Decodable { var w1: [[Double]], b1: [Double], w2: [[Double]], b2: [Double] }
    var model: Net
    var background: [[Double]]
    var rows: [[Double]]
    var classes: [Int]
    var values: [[Double]]
  }

  static func fixture(_ name: String) throws -> Data {
    try Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures").appendingPathComponent(name))
  }

  static func tensor(_ rows: [[Double]]) -> Tensor {
    Tensor(shape: [rows.count, rows[0].count], scalars: rows.flatMap { $0.map(Float.init) })
  }

  /// The `shap` package's KernelExplainer on the same ReLU MLP and background, every coalition:
  /// within relative 1e-4.
  @Test func matchesShapKernelExplainer() throws {
    let ref = try JSONDecoder().decode(Reference.self, from: Self.fixture("kernelshap_reference.json"))
    let net = Sequential([
      Dense(weight: Self.tensor(ref.model.w1), bias: Self.tensor([ref.model.b1]).reshaped([-1])),
      ActivationLayer(.relu),
      Dense(weight: Self.tensor(ref.model.w2), bias: Self.tensor([ref.model.b2]).reshaped([-1])),
    ])
    let d = ref.rows[0].count
    let model = Model(network: net, architecture: "mlp", inputShape: [d])
    var o = ExplanationOptions()
    o.blackBox.background = Self.tensor(ref.background)
    let expected = Self.tensor(ref.values)
    for graph in [true, false] {
      o.createGraph = graph
      let r = try KernelSHAP.values(model, Self.tensor(ref.rows), classes: ref.classes, options: o)
      #expect(relativeError(r.values, expected) < 1e-4, "graph \(graph): \(r.values.scalars) vs \(expected.scalars)")
      #expect(closeness(r.values, expected, rtol: 1e-4, atol: 1e-6) <= 1)
    }
  }

  /// Without a graph each distinct perturbed row is evaluated once: on rows and background rows
  /// that share columns (and a repeated background row), in passes of 7 rows (blocks split and
  /// flushed), exact and sampled designs, the values equal brute-force Shapley values (exact) and
  /// the graph path's (both), and efficiency holds.
  @Test(arguments: [12, 2])
  func withoutAGraphEachDistinctRowOnce(exactLimit: Int) throws {
    let model = Self.model()
    let rows = Tensor(shape: [3, 6], scalars: [
      -1.3, 0, 0, 1, 0.7, -0.6,
      0.9, 1, 0, 0, -1.5, 1.4,
      -1.3, 0, 1, 0, 0.7, 1.4,
    ])
    let background = Tensor(shape: [5, 6], scalars: Self.background.scalars + Array(Self.background.scalars[6..<12]))
    var graph = Self.options()
    graph.blackBox.background = background
    graph.blackBox.exactPlayerLimit = exactLimit
    graph.blackBox.coalitions = 64
    var plain = graph
    plain.createGraph = false
    plain.blackBox.rowsPerPass = 7
    let classes = [2, 0, 1]
    let a = try KernelSHAP.values(model, rows, classes: classes, options: plain)
    let b = try KernelSHAP.values(model, rows, classes: classes, options: graph)
    #expect(closeness(a.values, b.values, rtol: 1e-5, atol: 1e-6) <= 1, "\(a.values.scalars) vs \(b.values.scalars)")
    let bg = Self.rowsOf(background)
    for (n, row) in Self.rowsOf(rows).enumerated() {
      let fx = Self.output(model, row, class: classes[n], output: .probability)
      let mean = bg.reduce(0) { $0 + Self.output(model, $1, class: classes[n], output: .probability) } / Double(bg.count)
      let sum = (0..<4).reduce(0.0) { $0 + Double(a.values.scalars[n * 4 + $1]) }
      #expect(abs(sum - (fx - mean)) < 1e-6, "row \(n): sum \(sum) vs \(fx - mean)")
    }
    guard exactLimit == 12 else { return }
    let expected = zip(Self.rowsOf(rows), classes).flatMap { row, c in
      Self.bruteForce(model, row: row, background: bg, players: [0..<1, 1..<4, 4..<5, 5..<6], class: c, output: .probability)
    }
    #expect(closeness(a.values, Tensor(shape: [3, 4], scalars: expected.map(Float.init)), rtol: 1e-4, atol: 1e-6) <= 1)
  }

  /// Bad designs and inputs give one-line errors.
  @Test func errors() throws {
    let model = Self.model()
    #expect(throws: ExplanationError.self) { try KernelSHAP.values(model, Self.rows, classes: nil) }
    var o = Self.options()
    o.blackBox.background = Tensor.zeros([3, 5])
    #expect(throws: ExplanationError.self) { try KernelSHAP.values(model, Self.rows, classes: nil, options: o) }
    #expect(throws: ExplanationError.self) { try KernelSHAPDesign(players: 20, exactPlayerLimit: 12, sampled: 10) }
    // A reference split gives the seeded background sample.
    model.explanationReference = Self.background
    var sampled = ExplanationOptions()
    sampled.blackBox.backgroundSize = 100
    let a = try KernelSHAP.values(model, Self.rows, classes: [0, 1], options: sampled).values
    let b = try KernelSHAP.values(model, Self.rows, classes: [0, 1], options: Self.options()).values
    #expect(a.scalars == b.scalars)
  }
}
