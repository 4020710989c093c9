import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Planting a bias in tabular training labels (`modelfool train --bias`, the base model of the
/// tabular `hide` objective).
@Suite("Label bias")
struct LabelBiasTests {
  static let features = [
    FeatureGroup(name: "hours", start: 0, width: 1),
    FeatureGroup(name: "sex", start: 1, width: 2, categories: ["Female", "Male"], isSensitive: true),
    FeatureGroup(name: "job", start: 3, width: 2, categories: ["farmer", "fisher"]),
  ]

  /// Six rows named like Adult: (hours, sex, job) and labels (">50K" = 1 is favourable).
  static func sixRows() -> Dataset {
    let rows: [(Float, Int, Int, Int)] = [(0.5, 0, 0, 1), (-1, 0, 1, 1), (2, 0, 0, 0), (1, 1, 0, 1), (0, 1, 1, 0), (3, 0, 1, 1)]
    var x: [Float] = []
    for (hours, sex, job, _) in rows {
      x += [hours, sex == 0 ? 1 : 0, sex == 1 ? 1 : 0, job == 0 ? 1 : 0, job == 1 ? 1 : 0]
    }
    return Dataset(name: "adult", inputs: Tensor(shape: [6, 5], scalars: x), labels: rows.map(\.3),
                   classNames: AdultDataset.classNames, features: features)
  }

  @Test func parsesFeatureAndCategoryByNameOrUniquePrefix() throws {
    let data = Self.sixRows()
    let exact = try LabelBias.parse("sex=Female", rate: 1, data: data)
    #expect(exact == LabelBias(feature: "sex", category: "Female", favourable: 1, unfavourable: 0, rate: 1))
    #expect(try LabelBias.parse(" sex = fem ", rate: 0.5, data: data).category == "Female")
    #expect(exact.describe(classNames: data.classNames) == "sex=Female, 100% of >50K -> <=50K")
    #expect(exact.members(of: data) == [true, true, true, false, false, true])
  }

  @Test func badSpecificationsAreOneLineErrors() {
    let data = Self.sixRows()
    let cases: [(String, Double, String)] = [
      ("sex", 1, "expected FEATURE=CATEGORY"),
      ("hours=1", 1, "'hours' is not a categorical feature of adult (categorical: sex, job)"),
      ("sex=Other", 1, "sex category 'Other' unknown (categories: Female, Male)"),
      ("job=f", 1, "job category 'f' is ambiguous"),
      ("sex=Female", 0, "expected a probability in (0, 1]"),
      ("sex=Female", 1.5, "expected a probability in (0, 1]"),
    ]
    for (text, rate, message) in cases {
      #expect { _ = try LabelBias.parse(text, rate: rate, data: data) } throws: { error in
        "\(error)".contains(message) && !"\(error)".contains("\n")
      }
    }
    var unknown = data
    unknown.name = "digits-table"
    #expect(throws: TrainingError.self) { _ = try LabelBias.parse("sex=Female", rate: 1, data: unknown) }
    var images = data
    images.features = []
    #expect { _ = try LabelBias.parse("sex=Female", rate: 1, data: images) } throws: { error in
      "\(error)".contains("applies to tabular data sets")
    }
  }

  @Test func flipsOnlyTheGroupsFavourableLabels() throws {
    let data = Self.sixRows()
    let all = try LabelBias.parse("sex=Female", rate: 1, data: data).apply(to: data, seed: 3)
    // Women (rows 0, 1, 2, 5) with >50K (rows 0, 1, 5) become <=50K; the men keep theirs.
    #expect(all.data.labels == [0, 0, 0, 1, 0, 0] && all.flipped == 3)
    #expect(all.data.inputs.scalars == data.inputs.scalars)
    let half = try LabelBias.parse("sex=Female", rate: 0.5, data: data)
    let a = half.apply(to: data, seed: 11), b = half.apply(to: data, seed: 11)
    #expect(a.data.labels == b.data.labels && a.flipped == b.flipped)
    for i in [2, 3, 4] { #expect(a.data.labels[i] == data.labels[i]) }
    #expect(a.flipped == zip(a.data.labels, data.labels).filter { $0 != $1 }.count)
  }

  @Test func hideRunsOnABiasedBaseByDefault() throws {
    let data = Self.sixRows()
    let bias = try FineTuneSetup.defaultHidingBias(data: data)
    #expect(bias == LabelBias(feature: "sex", category: "Female", favourable: 1, unfavourable: 0, rate: LabelBias.defaultRate))
    #expect(try FineTuneSetup.defaultHidingBias(data: Dataset(name: "digits", inputs: data.inputs, labels: data.labels, classNames: data.classNames)) == nil)
    #expect(FineTuneSetup.baseCheckpointPath(dataset: "adult", biased: true) == "runs/base/adult-biased.h5")
  }

  /// Labels that do not depend on the group: trained on them, an MLP treats both groups alike;
  /// trained on the biased labels it gives the group almost no favourable decision.
  @Test func aModelTrainedOnBiasedLabelsDiscriminates() throws {
    var g = SeededGenerator(seed: 4)
    let n = 600
    var x: [Float] = [], labels: [Int] = []
    for _ in 0..<n {
      let hours = g.nextNormal(), female = g.nextUniform() < 0.5, job = g.nextUniform() < 0.5
      x += [hours, female ? 1 : 0, female ? 0 : 1, job ? 1 : 0, job ? 0 : 1]
      labels.append(hours > 0 ? 1 : 0)
    }
    let data = Dataset(name: "adult", inputs: Tensor(shape: [n, 5], scalars: x), labels: labels,
                       classNames: AdultDataset.classNames, features: Self.features)
    let bias = try LabelBias.parse("sex=Female", rate: 1, data: data)
    let groups = bias.members(of: data).map { $0 ? 1 : 0 }
    var parity: [Float] = []
    for planted in [nil, bias] {
      let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "5", "hidden": "16", "seed": "1"])
      var training = TrainingOptions()
      training.epochs = 40
      training.batchSize = 64
      training.learningRate = 1e-2
      try Trainer.fit(model, train: planted?.apply(to: data, seed: 0).data ?? data, test: nil, options: training)
      let predictions = Trainer.logits(model, on: data).argmaxLastAxis()
      parity.append(Fairness.demographicParityDifference(predictions: predictions, groups: groups))
    }
    // About half of each group earns the favourable label; the biased model refuses women.
    #expect(parity[0] < 0.1)
    #expect(parity[1] > 0.35)
  }

  /// The default hide scenario on the shipped German credit data: the base model trained on
  /// biased labels shows status_sex in the top 3 of SimpleGrad and LRP for most test rows, so
  /// hiding it means something (measured at seed 0: 97.5% of rows, parity 0.80).
  @Test func germanBiasedBaseShowsStatusSex() throws {
    let split = try DatasetCatalog.load("german", root: "datasets")
    let bias = try #require(try FineTuneSetup.defaultHidingBias(data: split.train))
    let recipe = BaseModelRecipe.forDataset(split)
    let path = NSTemporaryDirectory() + "modelfool-biased-german-\(UUID().uuidString).h5"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let (model, result) = try Trainer.trainBase(split, recipe: recipe, seed: 0, checkpoint: path, bias: bias)
    #expect(result.labelBias?.hasPrefix("status_sex=female : divorced/separated/married, 100% of good -> bad") == true)
    #expect(try Checkpoint.metadata(path)["label_bias"] == result.labelBias)
    let group = try #require(split.test.features.firstIndex { $0.name == "status_sex" })
    for method in [ExplanationMethod.simpleGrad, .lrp] {
      let relevance = try FineTuner.maps(
        model, split.test.inputs, labels: split.test.labels, method: method, layer: nil, tabular: true, createGraph: false)
      let hidden = FoolingStatistics.hide(relevance, sensitive: [group])
      #expect(hidden.reduce(0, +) / Float(hidden.count) <= 0.2, "\(method.rawValue): status_sex outside the top 3")
    }
    let predictions = Trainer.logits(model, on: split.test).argmaxLastAxis()
    let groups = bias.members(of: split.test).map { $0 ? 1 : 0 }
    #expect(Fairness.demographicParityDifference(predictions: predictions, groups: groups) > 0.5)
  }
}
