import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Laberge et al.'s biased background (`modelfool biased-background`): the auditor's
/// Kolmogorov-Smirnov test, the share, and the search on a small case, checked against plain
/// KernelSHAP on the background it chose.
@Suite("Biased KernelSHAP backgrounds")
struct BiasedBackgroundTests {
  @Test func kolmogorovSmirnovByHand() {
    // F_a steps 1/3 at 1, 2, 3; F_b 1/4 at 2, 3, 4, 5: the largest gap is 1 - 1/2 at 3.
    let r = KolmogorovSmirnov.test([3, 1, 2], [2, 5, 3, 4])
    #expect(abs(r.statistic - 0.5) < 1e-12)
    let ne = 12.0 / 7, root = ne.squareRoot()
    #expect(r.p == KolmogorovSmirnov.tail((root + 0.12 + 0.11 / root) * 0.5))
    // Weights 2, 0, 1 on 1, 2, 3 against 1, 2, 3: F_a = 2/3, 2/3, 1 and F_b = 1/3, 2/3, 1.
    let w = KolmogorovSmirnov.test(KolmogorovSmirnov.Distribution([1, 2, 3], weights: [2, 0, 1], count: 3), KolmogorovSmirnov.Distribution([1, 2, 3]))
    #expect(abs(w.statistic - 1.0 / 3) < 1e-12)
    // Below the first value of a: F_b(1^-) = 1/2 against 0 (b has two values below 1).
    #expect(abs(KolmogorovSmirnov.test([1, 1], [0, 0.5, 1, 1]).statistic - 0.5) < 1e-12)
    // The Kolmogorov distribution's critical values: Q(1.3581) = 0.05, Q(1.6276) = 0.01, Q(1.2238) = 0.10.
    #expect(abs(KolmogorovSmirnov.tail(1.3581) - 0.05) < 2e-4)
    #expect(abs(KolmogorovSmirnov.tail(1.6276) - 0.01) < 1e-4)
    #expect(abs(KolmogorovSmirnov.tail(1.2238) - 0.10) < 2e-4)
    // Below 1.18 the other series: Q(1) = 0.26999967, Q(0.5) = 0.96394524 (both series agree at 1.18).
    #expect(abs(KolmogorovSmirnov.tail(1) - 0.26999967) < 1e-7 && abs(KolmogorovSmirnov.tail(0.5) - 0.96394524) < 1e-7)
    #expect(abs(KolmogorovSmirnov.tail(0.2) - 1) < 1e-9 && KolmogorovSmirnov.tail(0) == 1)
  }

  @Test func theShareSkipsRowsWithoutAttribution() {
    // Rows: 1/4, skipped, 1/2.
    #expect(BiasedBackground.share([1, -3, 0, 0, 2, 2], player: 0, players: 2) == 0.375)
    #expect(BiasedBackground.share([0, 0], player: 0, players: 2).isNaN)
  }

  /// 400 train and 30 test rows of three numeric features on a lattice (sensitive `s`, `a`, `b`),
  /// and a linear model whose class-1 logit is `2 s + a + b`.
  static func linearCase() throws -> (Model, DatasetSplit) {
    var generator = SeededGenerator(seed: 21)
    func rows(_ n: Int) -> Tensor {
      Tensor(shape: [n, 3], scalars: (0..<(3 * n)).map { _ in Float(Int(generator.next() % 9)) / 4 - 1 })
    }
    let features = ["s", "a", "b"].enumerated().map { FeatureGroup(name: $0.element, start: $0.offset, width: 1) }
    func data(_ x: Tensor) -> Dataset {
      Dataset(name: "lattice", inputs: x, labels: [Int](repeating: 0, count: x.shape[0]), classNames: ["no", "yes"], features: features)
    }
    let split = DatasetSplit(train: data(rows(400)), test: data(rows(30)))
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "3", "hidden": "", "classes": "2"])
    let named = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter) })
    named["0.weight"]!.value = Tensor(shape: [2, 3], scalars: [0, 0, 0, 2, 1, 1])
    named["0.bias"]!.value = Tensor(shape: [2], scalars: [0, 0])
    model.featureGroupsJSON = String(decoding: try JSONEncoder().encode(features), as: UTF8.self)
    return (model, split)
  }

  @Test func theChosenBackgroundLowersTheSharePassesTheTestAndIsWhatKernelSHAPSees() throws {
    let (model, split) = try Self.linearCase()
    var settings = BiasedBackgroundSettings()
    (settings.sensitive, settings.explainedRows, settings.candidates, settings.size) = ("s", 30, 60, 30)
    let outcome = try BiasedBackgroundRun.attack(model, split: split, settings: settings)
    let r = outcome.report
    #expect(r.sensitiveFeature == "s" && r.players == 3 && r.referenceRows == 400 && r.testAfter.tests == 4)
    // Every kept swap lowered the share; the test bounds how far (the report states both).
    #expect(r.steps > 0 && r.shareAfter < r.shareBefore, "\(r.text)")
    #expect(r.testBefore.correctedP >= 0.05 && r.testAfter.correctedP >= 0.05, "\(r.text)")
    #expect(outcome.chosen.shape == [30, 3] && outcome.honest.shape == [30, 3])
    // Plain KernelSHAP against each background, as `explain --background` runs it.
    for (background, share) in [(outcome.honest, r.shareBefore), (outcome.chosen, r.shareAfter)] {
      var options = outcome.options
      options.blackBox.background = background
      let phi = try KernelSHAP.values(model, outcome.explained, classes: nil, options: options).values.scalars.map(Double.init)
      #expect(abs(BiasedBackground.share(phi, player: 0, players: 3) - share) < 1e-5)
    }
    // The auditor's test recomputed on the chosen rows themselves (unit weights, repeated rows).
    let x = outcome.chosen.scalars, all = split.train.inputs.scalars
    for f in 0..<3 {
      let t = KolmogorovSmirnov.test((0..<30).map { Double(x[3 * $0 + f]) }, (0..<400).map { Double(all[3 * $0 + f]) })
      #expect(min(1, 4 * t.p) >= 0.05)
    }
  }
}
