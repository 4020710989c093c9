import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// The auditor's side: randomisation tests, the detector's statistics and the sweep's grid.
@Suite("Audit")
struct AuditTests {
  static func temporaryFolder() -> String {
    let path = NSTemporaryDirectory() + "modelfool-audit-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  @Test func layersWithWeightsAreListedTopDown() throws {
    let cnn = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "2,2,4"])
    #expect(SanityCheck.parameterLayers(cnn) == ["classifier", "features.6", "features.3", "features.0"])
    let mlp = try ModelZoo.build(architecture: "mlp", options: ["inputs": "3", "hidden": "4,2"])
    #expect(SanityCheck.parameterLayers(mlp) == ["4", "2", "0"])
  }

  @Test func randomisingOneLayerLeavesTheOthersAndKeepsTheScale() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "30", "hidden": "200", "seed": "1"])
    let before = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter.value.scalars) })
    let copy = model.deepCopy()
    SanityCheck.randomise(copy, layers: ["0"], seed: 7)
    let after = Dictionary(uniqueKeysWithValues: copy.namedParameters().map { ($0.name, $0.parameter.value.scalars) })
    #expect(before["2.weight"] == after["2.weight"] && before["2.bias"] == after["2.bias"])
    #expect(before["0.weight"] != after["0.weight"])
    func sd(_ v: [Float]) -> Float {
      let m = v.reduce(0, +) / Float(v.count)
      return (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Float(v.count)).squareRoot()
    }
    // 6,000 Gaussian draws: their spread is the replaced tensor's within a few per cent.
    #expect(abs(sd(after["0.weight"]!) / sd(before["0.weight"]!) - 1) < 0.05)
    // The original is untouched (deepCopy owns its storage).
    #expect(model.namedParameters().allSatisfy { $0.parameter.value.scalars == before[$0.name]! })
  }

  @Test func similarityMeasuresOnHandMadeMaps() {
    let a = AuditMapSet([[1, 2, 3, 4]], height: 1, width: 4)
    // Identical maps: every measure is 1; a tabular row has no SSIM.
    #expect(MapSimilarity.between(a, a, topKFraction: 0.5) == MapSimilarity(spearmanAbs: 1, spearmanSigned: 1, ssim: nil, topK: 1))
    // Reversed: rank correlation -1, disjoint top-2 sets.
    let reversed = AuditMapSet([[4, 3, 2, 1]], height: 1, width: 4)
    #expect(MapSimilarity.between(a, reversed, topKFraction: 0.5) == MapSimilarity(spearmanAbs: -1, spearmanSigned: -1, ssim: nil, topK: 0))
    // Signs flipped on the two smallest: |map| ranks agree; signed ranks [2,1,3,4] vs [1,2,3,4]
    // give 1 - 6 * 2 / (4 * 15) = 0.8.
    let flipped = AuditMapSet([[-1, -2, 3, 4]], height: 1, width: 4)
    let s = MapSimilarity.between(a, flipped, topKFraction: 0.5)
    #expect(s.spearmanAbs == 1 && abs(s.spearmanSigned - 0.8) < 1e-6 && s.topK == 1)
    // Images get SSIM; identical 8x8 maps have SSIM 1.
    let img = AuditMapSet([(0..<64).map { Float($0 % 9) }], height: 8, width: 8)
    #expect(abs((MapSimilarity.between(img, img).ssim ?? 0) - 1) < 1e-6)
  }

  @Test func randomisingNothingGivesCorrelationOneAndTheTopLayerLowersIt() throws {
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "4,4,8", "seed": "2"])
    var g = SeededGenerator(seed: 5)
    let x = Tensor.randomUniform([6, 1, 28, 28], using: &g), labels = [0, 1, 2, 3, 4, 5]
    for method in [ExplanationMethod.gradCAM, .simpleGrad] {
      let original = try AuditMapSet.explain(model, x, labels: labels, method: method)
      let again = try AuditMapSet.explain(model.deepCopy(), x, labels: labels, method: method)
      let same = MapSimilarity.between(original, again)
      #expect(same.spearmanAbs == 1 && same.spearmanSigned == 1 && same.topK == 1)
      let cascade = model.deepCopy()
      for layer in SanityCheck.parameterLayers(model) { SanityCheck.randomise(cascade, layers: [layer], seed: 3) }
      let random = MapSimilarity.between(original, try AuditMapSet.explain(cascade, x, labels: labels, method: method))
      #expect(random.spearmanAbs < 0.9, "\(method): \(random)")
    }
  }

  /// The maps of a data set do not depend on its batching (large images are explained in
  /// smaller batches than digits: ``Dataset/inferenceBatchSize(preferred:)``).
  @Test func mapsDoNotDependOnTheBatchSize() throws {
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "4,4,8", "seed": "2"])
    var g = SeededGenerator(seed: 7)
    let data = Dataset(name: "r", inputs: Tensor.randomUniform([10, 1, 28, 28], using: &g), labels: (0..<10).map { $0 % 3 }, classNames: ["a", "b", "c"])
    for method in [ExplanationMethod.gradCAM, .simpleGrad, .lrp] {
      let whole = try AuditMapSet.explain(model, data: data, method: method)
      #expect(try AuditMapSet.explain(model, data: data, method: method, batchSize: 3) == whole, "\(method)")
    }
    #expect(Trainer.logits(model, on: data, batchSize: 4).scalars == Trainer.logits(model, on: data).scalars)
  }

  @Test func shuffledLabelsArePermutedWithTheSameCounts() {
    let labels = (0..<200).map { $0 % 3 }
    let shuffled = Trainer.shuffledLabels(labels, seed: 4)
    #expect(shuffled.sorted() == labels.sorted())
    #expect(zip(shuffled, labels).filter { $0 != $1 }.count > 100)
    #expect(Trainer.shuffledLabels(labels, seed: 4) == shuffled)
  }

  @Test func sanityCheckOnTabularDataWithAPermutedLabelModel() throws {
    let split = try DatasetCatalog.load("german", root: "datasets")
    var recipe = BaseModelRecipe.forDataset(split)
    recipe.training.epochs = 3
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let (_, clean) = try Trainer.trainBase(split, recipe: recipe, seed: 1, checkpoint: folder + "/clean.h5")
    let (_, shuffled) = try Trainer.trainBase(split, recipe: recipe, seed: 1, checkpoint: folder + "/shuffled.h5", shuffleLabels: true)
    #expect(clean.labelShuffle == nil && shuffled.labelShuffle != nil)
    #expect(try Checkpoint.metadata(folder + "/shuffled.h5")["label_shuffle"] != nil)
    var settings = SanitySettings(model: folder + "/clean.h5")
    settings.shuffledModel = folder + "/shuffled.h5"
    settings.methods = [.simpleGrad, .gradTimesInput]
    settings.count = 20
    let outcome = try SanityCheck(settings: settings, datasetsRoot: "datasets").run()
    let r = outcome.report
    #expect(r.settings.data == .dataset("german") && r.layers == ["2", "0"] && r.examples == 20)
    #expect(r.cascading.map(\.layer) == ["none", "2", "0"] && r.independent.map(\.layer) == ["none", "2", "0"])
    #expect(r.cascading[0].similarity["simplegrad"] == MapSimilarity(spearmanAbs: 1, spearmanSigned: 1, ssim: nil, topK: 1))
    // Step 1 randomises the top layer alone in both kinds, with the same seed: the same numbers.
    #expect(r.cascading[1] == r.independent[1])
    let data = try #require(r.dataRandomisation)
    #expect(data.layer == "labels" && data.similarity["simplegrad"]!.spearmanAbs < 0.99)
    try outcome.write(to: folder + "/out")
    let html = try String(contentsOfFile: folder + "/out/report.html", encoding: .utf8)
    #expect(html.contains("cascading-spearman-abs.svg") && html.contains("data randomisation"))
    #expect(FileManager.default.fileExists(atPath: folder + "/out/independent-topk.svg"))
  }

  /// An auditor's own images (`--h5`, `--images`) instead of a catalogue data set: the digits test
  /// images written as grey RGB into an HDF5 file give the statistics the catalogue's give (the luma
  /// of a grey pixel is the pixel, up to float rounding), and the report names the file.
  @Test func manipulationAuditOnImagesFromAnHDF5File() throws {
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "4,4,8", "seed": "6"])
    try Checkpoint.save(model, to: folder + "/m.h5", metadata: ["dataset": "digits"])
    let test = try DatasetCatalog.load("digits", root: "datasets").test.evenlySpacedSubset(60)
    let x = test.inputs.scalars
    var images: [(rgb: [UInt8], width: Int, height: Int)] = []
    for i in 0..<test.count {
      var rgb: [UInt8] = []
      for v in x[(i * 784)..<((i + 1) * 784)] { rgb += [UInt8](repeating: UInt8((v * 255).rounded()), count: 3) }
      images.append((rgb: rgb, width: 28, height: 28))
    }
    try ImageNetDataset.writeHDF5(images: images, labels: test.labels, classNames: model.classNames, to: folder + "/digits.h5")
    var fromFile = ManipulationSettings(model: folder + "/m.h5")
    (fromFile.data, fromFile.count, fromFile.methods) = (.hdf5(folder + "/digits.h5"), 60, [.gradCAM, .simpleGrad, .lrp])
    let r = try ManipulationAudit(settings: fromFile, datasetsRoot: "datasets").run()
    #expect(r.examples == 60 && r.settings.data == .hdf5(folder + "/digits.h5") && r.dataSource == folder + "/digits.h5")
    var fromCatalogue = fromFile
    fromCatalogue.data = .dataset("digits")
    fromCatalogue.count = 60
    // The catalogue's 60 evenly spaced test digits are the file's 60 images (1,000 / 60 apart).
    let c = try ManipulationAudit(settings: fromCatalogue, datasetsRoot: "datasets").run()
    #expect(c.settings.data == .dataset("digits") && r.statistics.map(\.name) == c.statistics.map(\.name))
    #expect(r.statistics.map(\.name).contains("disagreement simplegrad label 9"))
    for (a, b) in zip(r.statistics, c.statistics) { #expect(abs(a.value - b.value) < 1e-4, "\(a.name): \(a.value) vs \(b.value)") }
    // One data source: a data set and a file together are refused where the source is chosen.
    #expect(throws: TrainingError.self) { try DataSource.choose(dataset: "digits", h5: folder + "/digits.h5") }
  }

  @Test func samenessIsOneForTheSameFrameAndLowForDifferentMaps() {
    let frame: [Float] = [1, 1, 1, 1, 0, 1, 1, 1, 1]
    let same = AuditMapSet([frame, frame, frame], height: 3, width: 3)
    #expect(AuditStatistics.sameness(same, labels: [0, 1, 2]) == 1)
    // A checkerboard, its negative and bands: pair (0,1) has Pearson -1, and as b = 1 - a,
    // Pearson(b, c) = -Pearson(a, c) (0.316): the mean over the three pairs is -1/3.
    let a: [Float] = [1, 0, 1, 0, 1, 0, 1, 0, 1], b = a.map { 1 - $0 }, c: [Float] = [1, 1, 1, 0, 0, 0, 1, 1, 1]
    let mixed = AuditMapSet([a, b, c], height: 3, width: 3)
    #expect(abs(AuditStatistics.sameness(mixed, labels: [0, 1, 2]) - (-1.0 / 3)) < 1e-6)
    // Pairs with the same label are left out: only (0, 2) and (1, 2) remain.
    #expect(abs(AuditStatistics.sameness(mixed, labels: [0, 0, 1])) < 1e-6)
    // Agreement: Spearman per example, averaged over the kept ones.
    #expect(AuditStatistics.agreement(mixed, mixed) == 1)
    let other = AuditMapSet([b, a, c], height: 3, width: 3)
    #expect(abs(AuditStatistics.agreement(mixed, other) - (-1 - 1 + 1) / 3) < 1e-6)
    #expect(AuditStatistics.agreement(mixed, other, keep: [false, false, true]) == 1)
  }

  @Test func disagreementOverEveryExampleAndPerLabelClass() {
    let a: [Float] = [1, 0, 1, 0, 1, 0, 1, 0, 1], b = a.map { 1 - $0 }, c: [Float] = [1, 1, 1, 0, 0, 0, 1, 1, 1]
    let own = AuditMapSet([a, b, c], height: 3, width: 3)
    // Spearman per example: against [a, a, c] 1, -1, 1; against [b, b, c] -1, 1, 1.
    let partners = [AuditMapSet([a, a, c], height: 3, width: 3), AuditMapSet([b, b, c], height: 3, width: 3)]
    // Every example: each partner agrees 1/3 on average, so 1 - 1/3.
    #expect(abs(AuditStatistics.disagreement(own, partners: partners) - 2.0 / 3) < 1e-6)
    // Labels [0, 1, 1]. Class 0 (example 0): agreements 1 and -1, mean 0: disagreement 1.
    #expect(abs(AuditStatistics.disagreement(own, partners: partners, keep: [true, false, false]) - 1) < 1e-6)
    // Class 1 (examples 1, 2): agreements (-1 + 1) / 2 = 0 and (1 + 1) / 2 = 1, mean 1/2.
    #expect(abs(AuditStatistics.disagreement(own, partners: partners, keep: [false, true, true]) - 0.5) < 1e-6)
    #expect(AuditStatistics.disagreement(own, partners: partners, keep: [false, false, false]).isNaN)
  }

  @Test func featureSharesOnHandMadeRelevance() {
    // Features: a (column 0), b (one-hot, columns 1-2), c (column 3).
    let features = [
      FeatureSpan(name: "a", start: 0, width: 1), FeatureSpan(name: "b", start: 1, width: 2, categories: ["x", "y"]),
      FeatureSpan(name: "c", start: 3, width: 1),
    ]
    let maps = AuditMapSet([[1, 2, 5, -1], [-3, 4, 1, 0], [0, 0, 0, 0]], height: 1, width: 4)
    let inputs: [[Float]] = [[0.5, 1, 0, 2], [1, 0, 1, 0], [1, 1, 0, 1]]
    // Row 0: b is category x (column 2's 5 is an absent category's): |R| = 1, 2, 1 -> 1/4, 2/4, 1/4.
    // Row 1: b is category y: |R| = 3, 1, 0 -> 3/4, 1/4, 0. Row 2 has no relevance: left out.
    let shares = AuditStatistics.featureShares(maps, features: features, inputs: inputs)
    #expect(zip(shares, [Float(0.5), 0.375, 0.125]).allSatisfy { abs($0 - $1) < 1e-6 })
    let blank = AuditMapSet([[0, 0, 0, 0]], height: 1, width: 4)
    #expect(AuditStatistics.featureShares(blank, features: features, inputs: [[1, 1, 0, 1]]).allSatisfy { $0.isNaN })
  }

  @Test func tabularStatisticsHoldOneShareTable() throws {
    // 3 numeric columns and a one-hot feature of 2 categories; an untrained MLP.
    var g = SeededGenerator(seed: 4)
    let n = 12
    var values: [Float] = []
    for i in 0..<n { values += (0..<3).map { _ in g.nextNormal() } + (i % 2 == 0 ? [1, 0] : [0, 1]) }
    let features = (0..<3).map { FeatureGroup(name: "x\($0)", start: $0, width: 1) }
      + [FeatureGroup(name: "group", start: 3, width: 2, categories: ["a", "b"], isSensitive: true)]
    let data = Dataset(name: "synthetic", inputs: Tensor(shape: [n, 5], scalars: values), labels: (0..<n).map { $0 % 2 },
                       classNames: ["no", "yes"], features: features)
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "5", "hidden": "8", "seed": "3"])
    model.featureGroupsJSON = String(decoding: try JSONEncoder().encode(features), as: UTF8.self)
    let methods: [ExplanationMethod] = [.simpleGrad, .lrp]
    let stats = try ManipulationAudit.statistics(model, data: data, methods: methods, noise: 0.05, beta: 10, seed: 0)
    for m in methods {
      let shares = stats.filter { $0.name.hasPrefix("share \(m.rawValue) ") }
      #expect(shares.map(\.name) == ["x0", "x1", "x2", "group"].map { "share \(m.rawValue) \($0)" })
      // Each row's shares sum to 1, so their means do too.
      #expect(abs(shares.map(\.value).reduce(0, +) - 1) < 1e-5)
    }
  }

  @Test func adaptiveAttackTermsMatchTheStatisticsOnHandMadeMaps() {
    let a: [Float] = [1, 0, 1, 0, 1, 0, 1, 0, 1], b = a.map { 1 - $0 }, c: [Float] = [1, 1, 1, 0, 0, 0, 1, 1, 1]
    let maps = Tensor(shape: [3, 3, 3], scalars: a + b + c)
    // The differentiable sameness is the mean Pearson over all pairs: -1/3 as in the audit.
    #expect(abs(AdaptiveAttack.batchSameness(maps).scalar - AuditStatistics.sameness(AuditMapSet([a, b, c], height: 3, width: 3), labels: [])) < 1e-5)
    #expect(abs(AdaptiveAttack.batchSameness(Tensor(shape: [2, 9], scalars: c + c)).scalar - 1) < 1e-5)
    let flipped = Tensor(shape: [3, 3, 3], scalars: b + a + c)
    #expect(abs(AdaptiveAttack.rowAgreement(maps, maps).scalar - 1) < 1e-5)
    #expect(abs(AdaptiveAttack.rowAgreement(maps, flipped).scalar - (-1 - 1 + 1) / 3) < 1e-5)
  }

  /// A report of `values` measured on German credit; its weights digest stands for the values
  /// (distinct values, distinct models) unless given.
  static func report(_ values: [String: Float], model: String = "m.h5", digest: String? = nil, dataset: String = "german") -> ManipulationReport {
    var settings = ManipulationSettings(model: model)
    settings.data = .dataset(dataset)
    var r = ManipulationReport(
      modelfool: "test", settings: settings, architecture: "mlp", examples: 10,
      statistics: values.sorted { $0.key < $1.key }.map { AuditStatistic(name: $0.key, value: $0.value) }, score: nil,
      scoreStatistic: nil, statisticsTested: nil, threshold: nil, verdict: "uncalibrated")
    r.modelDigest = digest ?? "\(values.sorted { $0.key < $1.key }.map(\.value))"
    return r
  }

  @Test func studentTPValuesMatchClosedFormsAndTables() {
    // I_0.3(2, 3) = sum over j = 2..4 of C(4, j) 0.3^j 0.7^(4 - j) = 0.2646 + 0.0756 + 0.0081.
    #expect(abs(AuditPValues.regularizedIncompleteBeta(0.3, a: 2, b: 3) - 0.3483) < 1e-12)
    // Its other side (x above (a + 1) / (a + b + 2)) by symmetry: I_0.7(3, 2) = 1 - 0.3483.
    #expect(abs(AuditPValues.regularizedIncompleteBeta(0.7, a: 3, b: 2) - 0.6517) < 1e-12)
    // One degree of freedom is the Cauchy distribution: P(|T| >= 1) = 1 - (2 / pi) atan(1) = 1/2.
    #expect(abs(AuditPValues.studentTTwoSided(1, degreesOfFreedom: 1) - 0.5) < 1e-12)
    // Two: P(|T| >= t) = 1 - t / sqrt(2 + t^2); at t = 2, 1 - 2 / sqrt(6).
    #expect(abs(AuditPValues.studentTTwoSided(-2, degreesOfFreedom: 2) - (1 - 2 / 6.0.squareRoot())) < 1e-12)
    // Table values t_{0.975}: 2.228139 with 10 degrees of freedom, 2.200985 with 11 (the evaluation's).
    #expect(abs(AuditPValues.studentTTwoSided(2.228139, degreesOfFreedom: 10) - 0.05) < 1e-6)
    #expect(abs(AuditPValues.studentTTwoSided(2.200985, degreesOfFreedom: 11) - 0.05) < 1e-6)
    // Three: 1 - (2 / pi) (atan(u) + u / (1 + u^2)), u = t / sqrt(3); t = 19.745 gives 2.838e-4.
    let u = 19.745379 / 3.0.squareRoot()
    #expect(abs(AuditPValues.studentTTwoSided(19.745379, degreesOfFreedom: 3) - (1 - 2 / Double.pi * (atan(u) + u / (1 + u * u)))) < 1e-12)
    #expect(AuditPValues.studentTTwoSided(0, degreesOfFreedom: 5) == 1)
    #expect(AuditPValues.studentTTwoSided(.infinity, degreesOfFreedom: 5) == 0)
    #expect(AuditPValues.studentTTwoSided(.nan, degreesOfFreedom: 5).isNaN && AuditPValues.studentTTwoSided(1, degreesOfFreedom: 0).isNaN)
    // The predictive p-value of 0.30 after 0.32, 0.34, 0.36 (mean 0.34, sd 0.02, n 3):
    // t = -0.04 / (0.02 sqrt(4/3)) = -sqrt(3), two degrees of freedom: 1 - sqrt(3) / sqrt(5).
    #expect(abs(AuditPValues.predictive(0.30, mean: 0.34, sd: 0.02, n: 3) - (1 - (3.0 / 5).squareRoot())) < 1e-12)
    #expect(AuditPValues.predictive(0.30, mean: 0.34, sd: 0.02, n: 1).isNaN)
  }

  @Test func holmCorrectionStepsDownAndKeepsOrder() {
    // Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> running max 0.06.
    let corrected = AuditPValues.holm([0.01, 0.04, 0.03, 0.005])
    for (c, expected) in zip(corrected, [0.03, 0.06, 0.06, 0.02]) { #expect(abs(c - expected) < 1e-15) }
    // Capped at 1; a NaN stays NaN and does not count: 0.3 * 2 = 0.6, then max(0.6, 0.9 * 1).
    let withNaN = AuditPValues.holm([0.9, .nan, 0.3])
    #expect(abs(withNaN[0] - 0.9) < 1e-15 && withNaN[1].isNaN && abs(withNaN[2] - 0.6) < 1e-15)
    #expect(AuditPValues.holm([0.6, 0.7]) == [1, 1])
  }

  @Test func calibrationScoresByCorrectedPValues() throws {
    let clean = [0.30, 0.32, 0.34, 0.36].map { Self.report(["sameness gradcam": Float($0), "noise gradcam": 0.1]) }
    let c = try AuditCalibration.make(clean)
    // Mean 0.33, sample sd 0.0258; the constant statistic's sd is floored at 0.01.
    #expect(abs(c.statistics["sameness gradcam"]!.mean - 0.33) < 1e-6)
    #expect(abs(c.statistics["sameness gradcam"]!.sd - 0.025820) < 1e-5)
    #expect(c.statistics["noise gradcam"]!.sd == AuditCalibration.sdFloor)
    // Leave-one-out: 0.30 against 0.32, 0.34, 0.36 has p = 1 - sqrt(3/5) (t = -sqrt(3), 2 df);
    // the constant statistic has p = 1; Holm over the two: 2 (1 - sqrt(3/5)) = 0.4508.
    #expect(abs(c.leaveOneOutP[0] - 2 * (1 - (3.0 / 5).squareRoot())) < 1e-5)
    // 0.32 against 0.30, 0.34, 0.36: t = -1/sqrt(7), p = 1 - 1/sqrt(15); the score is capped at 1,
    // the bound m p_min = 2 (1 - 1/sqrt(15)) = 1.4836 is not.
    let bounds = try #require(c.leaveOneOutBound)
    #expect(c.leaveOneOutP[1] == 1 && abs(bounds[1] - 2 * (1 - 1 / 15.0.squareRoot())) < 1e-5)
    #expect(abs(bounds[0] - c.leaveOneOutP[0]) < 1e-12 && bounds.count == 4)
    // A fooled model's same frame: sameness 0.9, t = 0.57 / (0.025820 sqrt(1.25)) = 19.745 with 3 df,
    // p = 2.838e-4, corrected (m = 2) 5.677e-4.
    let s = try #require(c.score(["sameness gradcam": 0.9, "noise gradcam": 0.1]))
    #expect(s.statistic == "sameness gradcam" && s.tested == 2)
    #expect(abs(s.p["sameness gradcam"]! - 2.838433e-4) < 1e-8)
    #expect(abs(s.score - 5.676867e-4) < 1e-8 && abs(s.bound - 5.676867e-4) < 1e-8 && s.correctedP["noise gradcam"] == 1)
    // A statistic the calibration lacks, or a NaN value, is not tested.
    let partial = try #require(c.score(["sameness gradcam": 0.33, "noise gradcam": .nan, "smoothing gradcam": 0.5]))
    #expect(partial.tested == 1 && abs(partial.score - 1) < 1e-5)
    #expect(c.score(["smoothing gradcam": 0.5]) == nil)
    #expect { try AuditCalibration.make(Array(clean.prefix(2))) } throws: { "\($0)".contains("at least 3 clean models") }
  }

  @Test func rankPValueCountsTheCalibrationBoundsAtOrBelow() throws {
    let loo = [0.5, 0.02, 0.03, 0.9]
    // (1 + #{0.02, 0.03}) / 5; below every one: 1 / 5; above every one: 5 / 5.
    #expect(AuditCalibration.rankP(0.03, leaveOneOut: loo) == 0.6)
    #expect(AuditCalibration.rankP(0.001, leaveOneOut: loo) == 0.2)
    #expect(AuditCalibration.rankP(1, leaveOneOut: loo) == 1)
    // The rank rule is refused where it cannot flag anything (3 models give at least 1/4 > 0.05),
    // before the model is read.
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let clean = [0.30, 0.32, 0.34].map { Self.report(["sameness simplegrad": Float($0)]) }
    try RunOutputs.writeText(try RunJSON.encode(try AuditCalibration.make(clean)), to: folder + "/c.json")
    var settings = ManipulationSettings(model: folder + "/m.h5")
    (settings.calibration, settings.rule) = (folder + "/c.json", .rank)
    #expect { try ManipulationAudit(settings: settings, datasetsRoot: "datasets").run() } throws: { "\($0)".contains("at least 19") }
    // A calibration made before the rank rule has no leave-one-out bounds: refused under it.
    var old = try AuditCalibration.make(clean)
    old.leaveOneOutBound = nil
    try RunOutputs.writeText(try RunJSON.encode(old), to: folder + "/old.json")
    settings.calibration = folder + "/old.json"
    #expect { try ManipulationAudit(settings: settings, datasetsRoot: "datasets").run() } throws: { "\($0)".contains("made before the rank rule") }
  }

  @Test func sweepExpandsEveryCombinationLambdaSlowest() throws {
    var base = FineTuneSettings()
    base.steps = 50
    var sweep = SweepSettings(finetune: base)
    #expect(sweep.expanded() == [base])
    sweep.lambdas = [0.1, 10]
    sweep.learningRates = [1e-3, 3e-3, 1e-2]
    let runs = sweep.expanded()
    #expect(runs.count == 6)
    #expect(runs.map { $0.lambda! } == [0.1, 0.1, 0.1, 10, 10, 10])
    #expect(runs.map { $0.learningRate! } == [1e-3, 3e-3, 1e-2, 1e-3, 3e-3, 1e-2])
    #expect(runs.allSatisfy { $0.steps == 50 && $0.objective == base.objective })
    #expect(sweep.folderName(runs[1]) == "lambda-0.1_lr-0.003")
    sweep.lambdas = [-1]
    #expect { try sweep.validate() } throws: { ($0 as? TrainingError)?.settings == ["lambda"] }
  }

  @Test func sweepPagePlotsEveryRunAndLinksItsReport() throws {
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let report = SweepReport(modelfool: "test", settings: SweepSettings(finetune: FineTuneSettings()), points: [
      SweepPoint(folder: "lambda-1.0", lambda: 1, learningRate: nil, steps: nil, method: "gradcam", fsr: 0.2, accuracyChange: -0.001),
      SweepPoint(folder: "lambda-10.0", lambda: 10, learningRate: nil, steps: nil, method: "gradcam", fsr: 0.9, accuracyChange: -0.02),
    ])
    try SweepRun.writePage(report, to: folder)
    let svg = try String(contentsOfFile: folder + "/front.svg", encoding: .utf8)
    #expect(svg.components(separatedBy: "<circle").count - 1 == 2)
    #expect(svg.contains("lambda-10.0/report.html"))
    let html = try String(contentsOfFile: folder + "/report.html", encoding: .utf8)
    #expect(html.contains("<a href=\"lambda-1.0/report.html\">") && html.contains("0.900"))
  }
}
