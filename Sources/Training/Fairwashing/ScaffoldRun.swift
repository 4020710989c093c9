import Foundation
import ModelFool
import ModelFoolData

/// The background KernelSHAP explains against (and the detector learns its masking with).
public enum ScaffoldBackground: String, Codable, Sendable, CaseIterable {
  /// k-means centres of the train rows (``KMeans``), as `shap.kmeans` gives and Slack et al. use.
  case kmeans
  /// Train rows drawn without replacement (the default of `modelfool explain`).
  case sample
}

/// What the biased model `f` is.
public enum BiasedModelKind: String, Codable, Sendable, CaseIterable {
  /// Slack et al.'s rule: the unfavourable class iff the row is in the sensitive group.
  case rule
  /// The data set's recipe MLP (``BaseModelRecipe``) trained with the run's seed on the train
  /// labels biased against the sensitive group (``LabelBias``, every favourable label of the
  /// group flipped): a learned model that uses the sensitive feature among others.
  case trained
}

/// The settings of a scaffolding run (``ScaffoldRun``), stored in its report.
public struct ScaffoldSettings: Codable, Sendable {
  /// Catalogue data set (or registered table).
  public var dataset = "compas"
  /// `FEATURE` or `FEATURE=CATEGORY` (``ScaffoldData``); nil: the profile's first hidden feature.
  public var sensitive: String? = nil
  /// What `psi` decides from.
  public var innocuous = InnocuousFeature.oneDecoy
  /// What `f` is.
  public var biased = BiasedModelKind.rule
  /// Whose perturbations the detector is trained on.
  public var perturbations = PerturbationSource.both
  /// Seeds the decoys, the detector's data and weights, and (plus 1) the explainers' designs.
  public var seed: UInt64 = 0
  /// Perturbations per train row (the real rows are repeated as often).
  public var repeats = 10
  /// Whether a row counts as real only if its numeric values occur in the train rows
  /// (``SeenValues``) besides the learned detector's verdict.
  public var seenValues = true
  /// The fraction of train rows the learned detector is set to pass as real: its threshold on the
  /// probability of "real" is that quantile of the train rows' probabilities; nil: 0.5.
  public var realKept: Double? = 0.99
  /// Hidden layers of the detector.
  public var hidden = [128, 64]
  /// Detector training: epochs, batch size, Adam learning rate.
  public var epochs = 10
  public var batchSize = 256
  public var learningRate: Float = 1e-3
  /// Test rows explained (the first ones of the test split; at most all of them).
  public var explainedRows = 500
  /// LIME samples per explanation (the `lime` package's 5000).
  public var limeSamples = 5000
  /// KernelSHAP's background: its kind and rows (Slack et al. use 10 k-means centres), and the
  /// coalitions sampled beyond 12 players.
  public var background = ScaffoldBackground.kmeans
  public var backgroundSize = 10
  public var coalitions = 2048

  public init() {}

  /// Throws a one-line error for a setting out of range.
  func check() throws {
    for (name, value, low, high) in [
      ("repeats", repeats, 1, 100), ("epochs", epochs, 1, 1000), ("batchSize", batchSize, 1, 65_536),
      ("explainedRows", explainedRows, 1, 100_000), ("limeSamples", limeSamples, 2, 100_000),
      ("backgroundSize", backgroundSize, 1, 10_000), ("coalitions", coalitions, 2, 100_000),
    ] where value < low || value > high {
      throw TrainingError("scaffold: \(name) is \(value), expected \(low) ... \(high)", settings: [name])
    }
    if let realKept, !(realKept > 0 && realKept < 1) {
      throw TrainingError("scaffold: the fraction of train rows kept must lie in (0, 1), got \(realKept)", settings: ["realKept"])
    }
    guard learningRate > 0, learningRate.isFinite else {
      throw TrainingError("scaffold: the learning rate must be positive, got \(learningRate)", settings: ["learningRate"])
    }
    guard !hidden.isEmpty, hidden.allSatisfy({ $0 > 0 && $0 <= 4096 }) else {
      throw TrainingError("scaffold: the detector needs 1 to 4096 units per hidden layer, got \(hidden)", settings: ["hidden"])
    }
  }
}

/// What a scaffolding run measured.
public struct ScaffoldReport: Codable, Sendable {
  public var settings: ScaffoldSettings
  /// `f`'s rule and `psi`'s rule, in words.
  public var biasedRule: String
  public var innocuousRule: String
  /// The sensitive and innocuous feature names.
  public var sensitiveFeature: String
  public var innocuousFeatures: [String]
  /// Train and test rows.
  public var trainRows: Int
  public var testRows: Int
  /// The detector on the test rows against fresh perturbations, per explainer.
  public var detector: [DetectorScore]
  /// The detector's threshold on the probability of "real".
  public var threshold: Float
  /// Agreement of the scaffold's predictions with `f`'s on the test rows.
  public var fidelity: Double
  /// Rankings per explainer.
  public var rankings: [ScaffoldRanking]
  public var seconds: Double
}

/// A scaffolding run: builds `f`, `psi` and the detector, measures the detector, the fidelity and
/// the rankings of LIME and KernelSHAP for `f` alone and for the scaffold.
public struct ScaffoldRun {
  public var settings: ScaffoldSettings
  public var datasetsRoot: String
  public var observer: RunObserver

  public init(settings: ScaffoldSettings, datasetsRoot: String = DatasetCatalog.defaultRoot, observer: RunObserver = .silent) {
    self.settings = settings
    self.datasetsRoot = datasetsRoot
    self.observer = observer
  }

  /// The models and the report.
  public struct Outcome {
    public var report: ScaffoldReport
    public var network: ScaffoldNetwork
    public var data: ScaffoldData
  }

  public func run() throws -> Outcome {
    let start = Date()
    try settings.check()
    let raw = try DatasetCatalog.load(settings.dataset, root: datasetsRoot)
    let data = try ScaffoldData(split: raw, sensitive: settings.sensitive, innocuous: settings.innocuous, seed: settings.seed)
    let (train, test) = (data.split.train, data.split.test)
    let background = Self.background(data: data, settings: settings)
    let network = try Self.build(data: data, settings: settings, background: background, observer: observer)
    let scaffold = network.model()

    let f = withoutRecording { network.biased(test.inputs).argmaxLastAxis() }
    let e = withoutRecording { scaffold(test.inputs).argmaxLastAxis() }
    let fidelity = Double(zip(f, e).filter { $0 == $1 }.count) / Double(test.count)
    let detector = try [PerturbationSource.lime, .kernelshap].map {
      try OODClassifier.score(network, real: test, source: $0, background: background, count: test.count, seed: settings.seed &+ 7)
    }
    observer.message(String(format: "fidelity %.4f; detector accuracy %@", fidelity,
                            detector.map { "\($0.source.rawValue) \(String(format: "%.4f", $0.accuracy))" }.joined(separator: ", ")))

    var options = ExplanationOptions()
    options.seed = settings.seed &+ 1
    options.blackBox.limeSamples = settings.limeSamples
    options.blackBox.background = background
    options.blackBox.coalitions = settings.coalitions
    let rows = min(settings.explainedRows, test.count)
    let x = test.inputs.slice(axis: 0, 0..<rows)
    let m = train.features.count
    var rankings: [ScaffoldRanking] = []
    for explainer in ScaffoldExplainer.allCases {
      observer.message("explaining \(rows) test rows with \(explainer.rawValue)")
      let alone = try ScaffoldRanking.attributions(explainer, model: network.biased, rows: x, options: options)
      let fooled = try ScaffoldRanking.attributions(explainer, model: scaffold, rows: x, options: options)
      rankings.append(ScaffoldRanking(
        explainer: explainer, rows: rows,
        biasedSensitive: RankRates.of(player: data.sensitivePlayer, in: alone, players: m),
        scaffoldSensitive: RankRates.of(player: data.sensitivePlayer, in: fooled, players: m),
        scaffoldInnocuous: Dictionary(uniqueKeysWithValues: data.innocuousPlayers.map {
          (train.features[$0].name, RankRates.of(player: $0, in: fooled, players: m))
        }),
        topFeatureMoved: ScaffoldRanking.moved(from: data.sensitivePlayer, to: data.innocuousPlayers, alone: alone, fooled: fooled, players: m),
        paper: settings.innocuous != .same && settings.innocuous != .fair && settings.biased == .rule
          ? PaperScaffoldNumbers.of(dataset: settings.dataset, explainer: explainer, decoys: settings.innocuous.decoyCount) : nil))
    }
    let report = ScaffoldReport(
      settings: settings, biasedRule: Self.describeBiased(data: data, settings: settings),
      innocuousRule: settings.innocuous == .same ? "f (an honest scaffold)"
        : settings.innocuous == .fair ? "\(BaseModelRecipe.forDataset(data.split).architecture) trained on the recorded labels without \(train.features[data.sensitivePlayer].name)"
        : data.innocuousRule.summary,
      sensitiveFeature: train.features[data.sensitivePlayer].name,
      innocuousFeatures: data.innocuousPlayers.map { train.features[$0].name },
      trainRows: train.count, testRows: test.count, detector: detector, threshold: network.threshold, fidelity: fidelity, rankings: rankings,
      seconds: Date().timeIntervalSince(start))
    return Outcome(report: report, network: network, data: data)
  }

  /// KernelSHAP's background rows `[B, D]` for the run: ``KMeans`` centres of the train rows or
  /// train rows drawn without replacement, `settings.backgroundSize` of them, seeded.
  public static func background(data: ScaffoldData, settings: ScaffoldSettings) -> Tensor {
    let train = data.split.train.inputs, n = train.shape[0], k = min(settings.backgroundSize, n)
    switch settings.background {
    case .kmeans: return KMeans.centres(of: train, k: k, seed: settings.seed)
    case .sample:
      var generator = SeededGenerator(seed: settings.seed &+ 3)
      var order = Array(0..<n)
      for i in 0..<k { order.swapAt(i, i + Int(generator.next() % UInt64(n - i))) }
      return train.selectingRows(Array(order[..<k]))
    }
  }

  /// The label bias that trains a learned `f`: every favourable label of the sensitive group
  /// flipped (the group of ``ScaffoldData/biasedRule``: a category, or a numeric feature's rows at
  /// or below the train median, which a label bias cannot name, so a learned `f` needs a
  /// categorical sensitive feature).
  static func labelBias(data: ScaffoldData) throws -> LabelBias {
    let rule = data.biasedRule, train = data.split.train
    guard rule.columns.count == 1, let group = train.features.first(where: { $0.columns.contains(rule.columns[0]) }),
          !group.categories.isEmpty else {
      throw TrainingError("a trained f is biased against a category: name a categorical sensitive feature (\(rule.summary))", settings: ["sensitive"])
    }
    return LabelBias(feature: group.name, category: group.categories[rule.columns[0] - group.start], favourable: rule.favourable,
                     unfavourable: rule.unfavourable, rate: 1)
  }

  /// The fair `psi` (``InnocuousFeature/fair``): the recipe model trained on the recorded labels
  /// with the sensitive feature's columns zeroed, its first layer's weights on them set to 0.
  static func fairModel(data: ScaffoldData, seed: UInt64, observer: RunObserver) throws -> Model {
    let recipe = BaseModelRecipe.forDataset(data.split)
    let model = try recipe.build(for: data.split, seed: seed)
    let columns = Array(data.split.train.features[data.sensitivePlayer].columns), d = data.columns
    var train = data.split.train
    var x = train.inputs.scalars
    for r in 0..<train.count { for c in columns { x[r * d + c] = 0 } }
    train.inputs = Tensor(shape: train.inputs.shape, scalars: x)
    var options = recipe.training
    options.seed = seed
    try Trainer.fit(model, train: train, test: nil, options: options, observer: observer)
    guard let first = model.namedParameters().first(where: { $0.name.hasSuffix("weight") && $0.parameter.shape.count == 2 && $0.parameter.shape[1] == d }) else {
      throw TrainingError("the fair model's first layer does not take the \(d) columns")
    }
    var w = first.parameter.value.scalars
    for o in 0..<first.parameter.shape[0] { for c in columns { w[o * d + c] = 0 } }
    first.parameter.value = Tensor(shape: first.parameter.shape, scalars: w)
    return model
  }

  /// `f` in words.
  static func describeBiased(data: ScaffoldData, settings: ScaffoldSettings) -> String {
    switch settings.biased {
    case .rule: data.biasedRule.summary
    case .trained: "\(BaseModelRecipe.forDataset(data.split).architecture) trained on labels biased against \(data.biasedRule.summary) (seed \(settings.seed))"
    }
  }

  /// `f` and `psi` from the data's rules (or `f` trained) and the detector trained on the train rows against their
  /// perturbations (KernelSHAP's against `background`); the models carry the train rows as their
  /// explanation reference.
  public static func build(
    data: ScaffoldData, settings: ScaffoldSettings, background: Tensor, observer: RunObserver = .silent
  ) throws -> ScaffoldNetwork {
    let d = data.columns
    let linear = BaseModelRecipe(architecture: "mlp", options: ["inputs": "\(d)", "hidden": "", "classes": "2"], training: TrainingOptions())
    let f: Model
    switch settings.biased {
    case .rule: f = try data.biasedRule.model(try linear.build(for: data.split, seed: 0))
    case .trained:
      let recipe = BaseModelRecipe.forDataset(data.split)
      f = try recipe.build(for: data.split, seed: settings.seed)
      var options = recipe.training
      options.seed = settings.seed
      let biased = try Self.labelBias(data: data).apply(to: data.split.train, seed: settings.seed).data
      try Trainer.fit(f, train: biased, test: nil, options: options, observer: observer)
    }
    let psi: Model
    switch settings.innocuous {
    case .same: psi = f.deepCopy()
    case .fair: psi = try Self.fairModel(data: data, seed: settings.seed &+ 1, observer: observer)
    default: psi = try data.innocuousRule.model(try linear.build(for: data.split, seed: 0))
    }
    var training = TrainingOptions()
    (training.epochs, training.batchSize, training.learningRate, training.seed) =
      (settings.epochs, settings.batchSize, settings.learningRate, settings.seed)
    let detector = try OODClassifier.train(
      on: data.split.train, source: settings.perturbations, background: background, repeats: settings.repeats, hidden: settings.hidden,
      training: training, seed: settings.seed, observer: observer)
    for model in [f, psi] { model.explanationReference = data.split.train.inputs }
    let seen = settings.seenValues ? SeenValues(train: data.split.train.inputs, features: data.split.train.features) : nil
    var threshold: Float = 0.5
    if let keep = settings.realKept {
      let x = data.split.train.inputs
      let p = withoutRecording { detector(x).softmax(alongAxis: -1) }.scalars
      let real = (0..<x.shape[0]).map { p[2 * $0] }.sorted()
      threshold = real[min(real.count - 1, Int(((1 - keep) * Double(real.count)).rounded(.down)))]
    }
    return ScaffoldNetwork(biased: f, innocuous: psi, detector: detector, threshold: threshold, seenValues: seen)
  }
}
