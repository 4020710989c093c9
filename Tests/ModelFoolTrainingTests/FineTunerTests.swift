import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// The fine-tuning attack on a tiny model and synthetic images: numbers, not "it runs".
@Suite("Fine-tuning attack")
struct FineTunerTests {
  /// 64 synthetic 1x14x14 images of two classes (a bright blob left or right) and a small CNN.
  static func setting() throws -> (Model, Dataset) {
    var g = SeededGenerator(seed: 4)
    var values: [Float] = []
    var labels: [Int] = []
    for i in 0..<64 {
      let label = i % 2
      labels.append(label)
      for y in 0..<14 {
        for x in 0..<14 {
          let cx: Float = label == 0 ? 4 : 9
          let d = (Float(x) - cx) * (Float(x) - cx) + (Float(y) - 7) * (Float(y) - 7)
          values.append(min(max(Float(exp(Double(-d / 6))) + 0.1 * g.nextUniform(), 0), 1))
        }
      }
    }
    let data = Dataset(name: "blobs", inputs: Tensor(shape: [64, 1, 14, 14], scalars: values), labels: labels, classNames: ["left", "right"])
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "4,8,8", "classes": "2", "seed": "1"])
    model.inputShape = [1, 14, 14]
    var options = TrainingOptions()
    options.epochs = 3
    options.batchSize = 16
    options.learningRate = 1e-2
    try Trainer.fit(model, train: data, test: nil, options: options)
    return (model, data)
  }

  @Test func shortRunLowersTheFoolingLossAndKeepsCrossEntropyBounded() throws {
    let (model, data) = try Self.setting()
    let original = model.deepCopy()
    var options = FineTuneOptions()
    options.objective = LocationObjective()
    options.method = .gradCAM
    options.layer = "features.6"
    options.lambda = 10
    options.learningRate = 3e-3
    options.steps = 40
    options.batchSize = 16
    options.evaluateEvery = 1000
    model.setTraining(false)
    let before = try FineTuner.foolingLoss(model, original: original, x: data.inputs, labels: data.labels, options: options).scalar
    let curves = try FineTuner.run(model, original: original, train: data, heldOut: data, options: options)
    let after = try FineTuner.foolingLoss(model, original: original, x: data.inputs, labels: data.labels, options: options).scalar
    #expect(after < 0.7 * before, "L_F before \(before), after \(after)")
    #expect(curves.count == 40 && curves.allSatisfy { $0.crossEntropy.isFinite && $0.crossEntropy < 2 })
    // The original is untouched: its maps still give the starting loss.
    let again = try FineTuner.foolingLoss(original, original: original, x: data.inputs, labels: data.labels, options: options).scalar
    #expect(abs(again - before) < 1e-5)
  }

  @Test(arguments: [ExplanationMethod.gradCAM, .lrpTarget])
  func keepingTermStopsTopKFromBlankingMaps(method: ExplanationMethod) throws {
    func blankMaps(weight: Float) throws -> Int {
      let (model, data) = try Self.setting()
      let original = model.deepCopy()
      var options = FineTuneOptions()
      options.objective = TopKObjective()
      options.method = method
      options.layer = "features.6"
      options.lambda = 10
      options.learningRate = 1e-2
      options.steps = 150
      options.batchSize = 16
      options.topKPeakWeight = method == .gradCAM ? weight : 0
      options.topKPositiveShareWeight = method == .lrpTarget ? weight : 0
      options.evaluateEvery = 1000
      try FineTuner.run(model, original: original, train: data, heldOut: data, options: options)
      var o = ExplanationOptions()
      o.layer = "features.6"
      let maps = try explain(model, data.inputs, labels: data.labels, method: method, options: o).scalars
      let hw = maps.count / data.count
      return (0..<data.count).filter { i in maps[(i * hw)..<((i + 1) * hw)].allSatisfy { $0 == 0 } }.count
    }
    let without = try blankMaps(weight: 0), with = try blankMaps(weight: 10)
    // Measured: Grad-CAM (peak kept) 32 of 64 maps blank without the term, 0 with it; LRP_T
    // (positive share kept) 64 and 0.
    #expect(without >= 10 && with <= without / 4, "blank \(method.rawValue) maps of 64: \(without) without the keeping term, \(with) with")
  }

  @Test func severalFooledMethodsAverageTheirLosses() throws {
    let (model, data) = try Self.setting()
    let x = data.inputs.slice(axis: 0, 0..<8), labels = Array(data.labels[0..<8])
    var options = FineTuneOptions()
    options.objective = LocationObjective()
    options.layer = "features.6"
    func loss(_ methods: [ExplanationMethod]) throws -> Float {
      options.method = methods[0]
      options.alsoFooled = Array(methods.dropFirst())
      return try FineTuner.foolingLoss(model, original: model, x: x, labels: labels, options: options, createGraph: false).scalar
    }
    let gradCAM = try loss([.gradCAM]), lrp = try loss([.lrpTarget])
    #expect(abs(gradCAM - lrp) > 1e-4)  // two different maps, so the mean is a real test
    #expect(abs(try loss([.gradCAM, .lrpTarget]) - (gradCAM + lrp) / 2) < 1e-6)
    // A method named twice counts once, wherever it repeats.
    #expect(abs(try loss([.gradCAM, .gradCAM]) - gradCAM) < 1e-7)
    #expect(abs(try loss([.gradCAM, .lrpTarget, .lrpTarget]) - (gradCAM + lrp) / 2) < 1e-6)
  }

  /// A tabular model that leans on a sensitive one-hot feature: hiding it from SimpleGrad and LRP
  /// at once moves it out of every row's top 3 while the decisions stay.
  @Test func hidingASensitiveFeatureKeepsTheDecisions() throws {
    var g = SeededGenerator(seed: 9)
    let n = 512
    var values: [Float] = [], labels: [Int] = []
    for _ in 0..<n {
      let numeric = (0..<5).map { _ in g.nextNormal() }
      let group = g.nextUniform() < 0.5 ? 0 : 1
      values += numeric + (group == 0 ? [1, 0] : [0, 1])
      labels.append(numeric[0] + 0.3 * numeric[1] + (group == 1 ? 1.5 : -1.5) > 0 ? 1 : 0)
    }
    let features = (0..<5).map { FeatureGroup(name: "x\($0)", start: $0, width: 1) }
      + [FeatureGroup(name: "group", start: 5, width: 2, categories: ["a", "b"], isSensitive: true)]
    let data = Dataset(name: "synthetic", inputs: Tensor(shape: [n, 7], scalars: values), labels: labels,
                       classNames: ["no", "yes"], features: features)
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "7", "hidden": "16", "seed": "2"])
    model.featureGroupsJSON = String(decoding: try JSONEncoder().encode(features), as: UTF8.self)
    var training = TrainingOptions()
    training.epochs = 30
    training.batchSize = 64
    training.learningRate = 1e-2
    try Trainer.fit(model, train: data, test: nil, options: training)
    let original = model.deepCopy()
    let goal = try FoolingObjectives.resolve("hide", model: model, dataset: "synthetic", features: ["group"])
    #expect(goal as? HideObjective == HideObjective(sensitive: [5]))
    var options = FineTuneSetup.options(for: goal, model: model, settings: FineTuneSettings()).options
    #expect(options.fooledMethods == [.simpleGrad, .lrp])
    options.evaluateEvery = 10_000
    try FineTuner.run(model, original: original, train: data, heldOut: data, options: options)
    let report = try FoolingEvaluator.evaluate(
      fooled: model, original: original, data: data, objective: goal, methods: [.simpleGrad, .lrp])
    for method in ["simplegrad", "lrp"] {
      let fsr = try #require(report.fsr[method])
      #expect(fsr.original < 0.1 && fsr.fooled > 0.9, "\(method): FSR \(fsr.original) -> \(fsr.fooled)")
    }
    let before = Trainer.logits(original, on: data).argmaxLastAxis(), after = Trainer.logits(model, on: data).argmaxLastAxis()
    let agreement = Float(zip(before, after).filter { $0 == $1 }.count) / Float(n)
    #expect(agreement > 0.95, "decisions kept on \(agreement) of the rows")
    let parity = try #require(report.fairness?.demographicParityDifference["group"])
    #expect(parity.original > 0.5 && abs(parity.fooled - parity.original) < 0.05, "parity \(parity.original) -> \(parity.fooled)")
  }

  @Test func objectivesWithoutMeaningAreClearErrors() throws {
    let mlp = try ModelZoo.build(architecture: "mlp", options: ["inputs": "4", "hidden": "3"])
    #expect { try FoolingObjectives.resolve("center-mass", model: mlp, dataset: "x") } throws: {
      "\($0)" == "center-mass is not an objective for tabular models; tabular models take hide, location, topk"
    }
    let cnn = try ModelZoo.build(architecture: "digits-cnn")
    #expect { try FoolingObjectives.resolve("hide", model: cnn, dataset: "digits") } throws: {
      "\($0)" == "hide is not an objective for image models; image models take location, topk, center-mass, active"
    }
    #expect { try FoolingObjectives.resolve("sideways", model: cnn, dataset: "digits") } throws: {
      "\($0)".hasPrefix("unknown objective 'sideways' (valid: location, topk, center-mass, active, hide") && ($0 as? TrainingError)?.settings == ["objective"]
    }
    #expect { try FoolingObjectives.resolve("active", model: cnn, dataset: "digits", classes: [3, 3]) } throws: {
      "\($0)".contains("active needs two different class indices") && ($0 as? TrainingError)?.settings == ["classes"]
    }
    #expect(try FoolingObjectives.resolve("active", model: cnn, dataset: "digits", classes: [3, 8]) as? ActiveObjective == ActiveObjective(c1: 3, c2: 8))
  }

  @Test func evaluationReportsBaselineAndFooledRates() throws {
    let (model, data) = try Self.setting()
    // A model compared with itself: identical maps, so similarity is perfect and both FSRs agree.
    let report = try FoolingEvaluator.evaluate(
      fooled: model, original: model, data: data, objective: TopKObjective(), methods: [.gradCAM], layer: "features.6")
    #expect(report.fsr["gradcam"]?.fooled == report.fsr["gradcam"]?.original)
    #expect(report.fsr["gradcam"]?.original == 0)
    #expect(abs(report.methods[0].pcc - 1) < 1e-4)
    #expect(report.accuracy.original == report.accuracy.fooled)
  }
}

/// The input-manipulation attack (Dombrowski et al.) on the same tiny setting.
@Suite("Input attack")
struct InputAttackTests {
  @Test func lrpAttacksKeepReLUWhateverTheBetaGrowth() throws {
    let (model, data) = try FineTunerTests.setting()
    let x = data.inputs.selectingRows(Array(0..<4))
    let classes = model(x).argmaxLastAxis()
    func attack(_ method: ExplanationMethod, growth: (Float, Float)?) throws -> [Float] {
      let maps = try InputAttack.attackMap(model, x, classes: classes, method: method, beta: nil, createGraph: false).map.detached()
      var options = InputAttackOptions()
      options.method = method
      options.steps = 5
      options.learningRate = 1e-2
      options.betaGrowth = growth
      return try InputAttack.run(model, x, targetMaps: maps.selectingRows([1, 0, 3, 2]), options: options).adversarial.scalars
    }
    // LRP ignores the growth: the same inputs bit for bit, with or without it ...
    #expect(try attack(.lrp, growth: (10, 100)) == (try attack(.lrp, growth: nil)))
    // ... while the gradient attack does use it (softplus and smooth pools change its path).
    #expect(try attack(.simpleGrad, growth: (10, 100)) != (try attack(.simpleGrad, growth: nil)))
  }

  @Test func clampAndBudgetHoldAndTheLossFalls() throws {
    let (model, data) = try FineTunerTests.setting()
    let x = data.inputs.selectingRows(Array(0..<8))
    let classes = model(x).argmaxLastAxis()
    let maps = try InputAttack.attackMap(model, x, classes: classes, method: .simpleGrad, beta: nil, createGraph: false).map.detached()
    let targets = maps.selectingRows([1, 0, 3, 2, 5, 4, 7, 6])
    var options = InputAttackOptions()
    options.steps = 30
    options.learningRate = 1e-2
    options.epsilon = 0.05
    let (adv, _) = try InputAttack.run(model, x, targetMaps: targets, options: options)
    #expect(adv.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    #expect(zip(adv.scalars, x.scalars).allSatisfy { abs($0 - $1) <= 0.05 + 1e-6 })
    // ... and is used: some pixels reach the budget (a still attack would pass the bound above).
    #expect(zip(adv.scalars, x.scalars).map { abs($0 - $1) }.max()! >= 0.05 * 0.9)
    let scored = try InputAttack.evaluate(
      model, original: x, adversarial: adv, classes: classes, labels: Array(data.labels.prefix(8)),
      targetMaps: targets, targetIndices: [1, 0, 3, 2, 5, 4, 7, 6], method: .simpleGrad)
    let start = try InputAttack.evaluate(
      model, original: x, adversarial: x, classes: classes, labels: Array(data.labels.prefix(8)),
      targetMaps: targets, targetIndices: [1, 0, 3, 2, 5, 4, 7, 6], method: .simpleGrad)
    let mean = { (e: [InputAttackExample]) in e.reduce(0) { $0 + $1.mseToTarget } / Float(e.count) }
    #expect(mean(scored) < mean(start))
    #expect(start.allSatisfy { $0.perturbationLinf == 0 && !$0.labelChanged })
  }

  @Test func l2ProjectionKeepsTheBudget() throws {
    let (model, data) = try FineTunerTests.setting()
    let x = data.inputs.selectingRows([0, 1])
    let classes = model(x).argmaxLastAxis()
    let maps = try InputAttack.attackMap(model, x, classes: classes, method: .gradTimesInput, beta: nil, createGraph: false).map.detached()
    var options = InputAttackOptions()
    options.method = .gradTimesInput
    options.steps = 10
    options.learningRate = 5e-2
    options.epsilon = 0.3
    options.norm = .l2
    let (adv, _) = try InputAttack.run(model, x, targetMaps: maps.selectingRows([1, 0]), options: options)
    let norms = FoolingStatistics.perExample(adv, x) { a, b in zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() }
    #expect(norms.allSatisfy { $0 <= 0.3 + 1e-4 })
    // The attack moved: a first Adam step of 5e-2 per pixel already leaves the 0.3 ball, so the
    // projection holds each example on its boundary (an attack that never moves would pass above).
    #expect(norms.allSatisfy { $0 >= 0.3 * 0.9 }, "L2 norms \(norms)")
  }

  @Test func frameTargetIsTheNormalisedLocationMask() {
    let t = InputAttack.frameTarget(like: Tensor.zeros([2, 7, 7])).scalars
    // k = 1: 24 frame pixels of 49, each 1/24; the 5x5 centre is 0.
    #expect(t.count == 98 && t.filter { $0 == 0 }.count == 50)
    #expect(abs(t.prefix(49).reduce(0, +) - 1) < 1e-6 && abs(t[0] - 1 / 24) < 1e-7)
  }

  @Test func impossibleSettingsAreErrors() throws {
    let (model, data) = try FineTunerTests.setting()
    let x = data.inputs.selectingRows([0])
    var options = InputAttackOptions()
    options.epsilon = -1
    #expect { try InputAttack.run(model, x, targetMaps: Tensor.zeros([1, 14, 14]), options: options) } throws: {
      "\($0)".contains("perturbation budget must be positive") && ($0 as? TrainingError)?.settings == ["epsilon"]
    }
    options.epsilon = .nan
    #expect { try InputAttack.run(model, x, targetMaps: Tensor.zeros([1, 14, 14]), options: options) } throws: { "\($0)".contains("must be positive, got nan") }
  }
}

/// The fine-tuning loop's further loss term (what the adaptive attacker rides on) reaches the
/// weights' update: a weight-decay-like term shrinks the weights against the same run without it.
@Suite("Fine-tuning: extra loss term")
struct FineTuneExtraLossTests {
  @Test func anExtraTermReachesTheUpdate() throws {
    func norm(_ m: Model) -> Float { m.trainableParameters().reduce(0) { $0 + $1.value.squared().sum().scalar } }
    var options = FineTuneOptions()
    options.objective = LocationObjective()
    options.lambda = 0
    options.steps = 5
    options.batchSize = 16
    options.learningRate = 1e-2
    let (plain, data) = try FineTunerTests.setting()
    let decayed = plain.deepCopy()
    let start = norm(plain)
    try FineTuner.run(plain, original: plain.deepCopy(), train: data, heldOut: data, options: options)
    options.extraLoss = { model, _, _, _ in
      model.trainableParameters().map { $0.value.squared().sum() }.reduce(Tensor(0), +) * 10
    }
    try FineTuner.run(decayed, original: decayed.deepCopy(), train: data, heldOut: data, options: options)
    #expect(norm(decayed) < norm(plain) && norm(decayed) < start, "\(start) -> plain \(norm(plain)), with the term \(norm(decayed))")
  }
}
