import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// The input attack on tabular rows: valid rows (one-hot fixed, numerics in range) and the
/// "hide a feature" target.
@Suite("Input attack on tabular rows")
struct InputAttackTabularTests {
  /// Two numeric features and one categorical feature with three categories.
  static let features = [
    FeatureSpan(name: "a", start: 0, width: 1), FeatureSpan(name: "b", start: 1, width: 1),
    FeatureSpan(name: "c", start: 2, width: 3, categories: ["x", "y", "z"], isSensitive: true),
  ]

  @Test func constraintsFreezeOneHotColumnsAndBoundNumerics() {
    let reference = Tensor(shape: [3, 5], scalars: [
      -1, 2, 1, 0, 0,
      0.5, -3, 0, 1, 0,
      2, 0, 0, 0, 1,
    ])
    let c = InputAttack.tabularConstraints(features: Self.features, reference: reference)
    #expect(c.editable.scalars == [1, 1, 0, 0, 0])
    #expect(c.low.scalars == [-1, -3, 0, 0, 0])
    #expect(c.high.scalars == [2, 2, 1, 1, 1])
  }

  @Test func hideTargetRemovesTheColumnsAndRenormalises() {
    let maps = Tensor(shape: [2, 5], scalars: [0.1, 0.2, 0.3, 0.4, 0, 0.5, 0.25, 0, 0, 0.25])
    let t = InputAttack.hideTarget(maps, columns: [2, 3, 4]).scalars
    let expected: [Float] = [1.0 / 3, 2.0 / 3, 0, 0, 0, 2.0 / 3, 1.0 / 3, 0, 0, 0]
    #expect(zip(t, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(t)")
  }

  @Test func attackedRowsStayValid() throws {
    var g = SeededGenerator(seed: 3)
    var values: [Float] = []
    for i in 0..<16 {
      values += [g.nextNormal(), g.nextNormal()] + [0, 1, 2].map { $0 == i % 3 ? Float(1) : 0 }
    }
    let x = Tensor(shape: [16, 5], scalars: values)
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "5", "hidden": "8", "seed": "1"])
    model.featureGroupsJSON = String(decoding: try JSONEncoder().encode(Self.features), as: UTF8.self)
    var options = InputAttackOptions()
    options.steps = 30
    options.learningRate = 0.5  // large steps, so that the bounds are reached
    options.inputRange = nil
    let c = InputAttack.tabularConstraints(features: Self.features, reference: x)
    options.columns = c
    let classes = withoutRecording { model(x) }.argmaxLastAxis()
    let maps = try InputAttack.attackMap(model, x, classes: classes, method: .simpleGrad, beta: nil, createGraph: false).map.detached()
    let target = InputAttack.hideTarget(maps, columns: [2, 3, 4])
    let (adversarial, _) = try InputAttack.run(model, x, targetMaps: target, options: options)
    let a = adversarial.scalars, low = c.low.scalars, high = c.high.scalars
    var moved = false
    for i in 0..<16 {
      for j in 0..<5 {
        let v = a[i * 5 + j], v0 = values[i * 5 + j]
        if j >= 2 { #expect(v == v0, "one-hot column \(j) of row \(i) moved: \(v0) -> \(v)") }
        #expect(v >= low[j] - 1e-6 && v <= high[j] + 1e-6, "row \(i) column \(j): \(v) outside \(low[j])...\(high[j])")
        if j < 2 && abs(v - v0) > 1e-3 { moved = true }
      }
    }
    #expect(moved, "the numeric columns never moved")
    let score = try InputAttack.hidingScore(
      model, original: x, adversarial: adversarial, classes: classes, method: .simpleGrad, features: Self.features, hidden: [2])
    // Three features: "below the top 3" is impossible, so nothing is ever hidden; ranks are 1...3.
    #expect(score.hiddenFraction.original == 0 && score.hiddenFraction.fooled == 0)
    let rank = try #require(score.meanRank["c"])
    #expect(rank.original >= 1 && rank.original <= 3 && rank.fooled >= 1 && rank.fooled <= 3)
  }
}
