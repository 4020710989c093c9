import Foundation
import ModelFool
import TestSupport
import Testing

/// LIME of tabular rows against the `lime` package's LimeTabularExplainer fed the same
/// perturbations (Tests/Fixtures/make_blackbox_fixtures.py), its sampling statistics, and
/// gradients to the weights.
@Suite struct LIMETests {
  struct Reference: Decodable {
    struct Net: Decodable { var w1: [[Double]], b1: [Double], w2: [[Double]], b2: [Double] }
    struct Case: Decodable {
      var row: [Double]
      var `class`: Int
      var perturbations: [[Double]]
      var coefficients: [Double]
    }
    var model: Net
    var training: [[Double]]
    var features: [FeatureSpan]
    var quartiles: [[Double]]
    var cases: [Case]
  }

  static func reference() throws -> Reference {
    try JSONDecoder().decode(Reference.self, from: KernelSHAPTests.fixture("lime_reference.json"))
  }

  static func model(_ ref: Reference) throws -> Model {
    let t = KernelSHAPTests.tensor
    let net = Sequential([
      Dense(weight: t(ref.model.w1), bias: t([ref.model.b1]).reshaped([-1])), ActivationLayer(.relu),
      Dense(weight: t(ref.model.w2), bias: t([ref.model.b2]).reshaped([-1])),
    ])
    let groups = String(decoding: try JSONEncoder().encode(ref.features), as: UTF8.self)
    let model = Model(network: net, architecture: "mlp", inputShape: [ref.training[0].count], featureGroupsJSON: groups)
    model.explanationReference = t(ref.training)
    return model
  }

  /// lime's coefficients on lime's own perturbations (its quartiles, bins, kernel and ridge):
  /// within 1e-4.
  @Test func matchesLimeTabularExplainerOnTheSamePerturbations() throws {
    let ref = try Self.reference()
    let model = try Self.model(ref)
    let stats = try LIMEStatistics(reference: model.explanationReference!, players: ref.features)
    for (g, q) in ref.quartiles.enumerated() {
      for (a, b) in zip(stats.quartiles[g], q) { #expect(abs(a - b) < 1e-5, "player \(g): quartiles \(stats.quartiles[g]) vs \(q)") }
    }
    #expect(stats.quartiles[3].isEmpty)
    for c in ref.cases {
      let x = KernelSHAPTests.tensor([c.row])
      let r = try LIME.values(model, x, classes: [c.class], perturbations: KernelSHAPTests.tensor(c.perturbations))
      let worst = zip(r.values.scalars, c.coefficients).map { abs(Double($0) - $1) }.max()!
      #expect(worst < 1e-4, "\(r.values.scalars) vs \(c.coefficients)")
    }
  }

  /// Sampled perturbations: each numeric value inside the range of a bin, bins and categories
  /// with the reference frequencies (5000 draws: within 0.03), and the same set for the same seed.
  @Test func perturbationsFollowTheReferenceDistribution() throws {
    let ref = try Self.reference()
    let model = try Self.model(ref)
    let stats = try LIMEStatistics(reference: model.explanationReference!, players: ref.features)
    let p = stats.sample(5000, columns: 6, seed: 3)
    #expect(p.scalars == stats.sample(5000, columns: 6, seed: 3).scalars)
    let v = p.scalars
    for g in 0..<4 {
      var counts = [Double](repeating: 0, count: stats.frequencies[g].count)
      for row in 0..<5000 { counts[stats.bin(v, row: row, columns: 6, player: g)] += 1 }
      for (a, b) in zip(counts, stats.frequencies[g]) { #expect(abs(a / 5000 - b) < 0.03, "player \(g): \(counts) vs \(stats.frequencies[g])") }
    }
    let train = model.explanationReference!.scalars
    for g in 0..<3 {
      let column = (0..<200).map { train[$0 * 6 + g] }
      #expect((0..<5000).allSatisfy { v[$0 * 6 + g] >= column.min()! && v[$0 * 6 + g] <= column.max()! })
    }
    // One-hot rows: exactly one category present.
    #expect((0..<5000).allSatisfy { r in (3..<6).reduce(Float(0)) { $0 + v[r * 6 + $1] } == 1 })
  }

  /// The coefficients are a fixed linear map of the outputs: the weight gradient of a scalar of
  /// them matches central differences.
  @Test func gradientsReachTheWeights() throws {
    let ref = try Self.reference()
    let model = try Self.model(ref)
    for (i, layer) in model.namedLayers().compactMap({ $0.layer as? ActivationLayer }).enumerated() where i == 0 {
      layer.activation = .softplus(beta: 1)
    }
    var o = ExplanationOptions()
    o.blackBox.limeSamples = 300
    let x = KernelSHAPTests.tensor([ref.cases[0].row, ref.cases[1].row])
    let mix = randomTensor([2, 4], seed: 5)
    let params = model.trainableParameters()
    let loss = { () -> Tensor in (try! LIME.values(model, x, classes: [1, 0], options: o).values * mix).sum() }
    let analytic = gradients(of: loss(), withRespectTo: params.map(\.value))
    let numerical = numericalGradients(of: loss, withRespectTo: params, epsilon: 1e-3)
    #expect(analytic.allSatisfy { $0.scalars.contains { $0 != 0 } })
    let error = zip(analytic, numerical).map { relativeError($0, $1, floor: 1e-3) }.max()!
    #expect(error < 2e-2, "relative error \(error)")
  }
}
