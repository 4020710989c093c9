import Foundation
import ModelFool
import ModelFoolData

/// Resolves what `modelfool finetune` needs from its flags: the data, the base model (trained
/// and cached on first use), the objective with its classes or sensitive features, and the
/// default hyper-parameters of each objective.
public enum FineTuneSetup {
  /// The cached base checkpoint of a catalogue data set (`-biased` for the one trained on
  /// biased labels).
  public static func baseCheckpointPath(dataset: String, biased: Bool = false) -> String {
    "runs/base/\(dataset)\(biased ? "-biased" : "").h5"
  }

  /// The label bias of the default base model when hiding features of `data`: its profile's
  /// (``DatasetProfile/labelBias``; a model that never showed a sensitive feature has nothing to
  /// hide); nil for data sets without one.
  public static func defaultHidingBias(data: Dataset) throws -> LabelBias? {
    guard let text = DatasetProfile.of(data.name).labelBias else { return nil }
    return try LabelBias.parse(text, rate: LabelBias.defaultRate, data: data)
  }

  /// Loads `path` (a checkpoint file or a known pretrained name such as `efficientnet-lite0`), or,
  /// when no path is given: for `imagenet-sample` the imported EfficientNet-Lite0 (imported on
  /// first use, never trained), otherwise the cached base at the default path, trained first
  /// when missing. With `hiding` (tabular features to hide) the default base is the one trained
  /// on biased labels (``defaultHidingBias(data:)``), cached under its own name. What happens is
  /// told to `observer`.
  public static func loadOrTrainBase(
    path: String?, dataset: String, split: DatasetSplit, seed: UInt64,
    datasetsRoot: String = DatasetCatalog.defaultRoot, hiding: Bool = false, observer: RunObserver = .silent
  ) throws -> (model: Model, path: String) {
    if let name = path ?? DatasetProfile.of(dataset).pretrainedBase {
      let reference = ModelReference(parsing: name)
      return (try reference.resolve(datasetsRoot: datasetsRoot, log: observer.message), reference.checkpointPath ?? name)
    }
    let bias = hiding ? try defaultHidingBias(data: split.train) : nil
    let resolved = baseCheckpointPath(dataset: dataset, biased: bias != nil)
    if FileManager.default.fileExists(atPath: resolved) {
      return (try Checkpoint.load(resolved, log: observer.message), resolved)
    }
    let labels = bias.map { " on biased labels (\($0.describe(classNames: split.train.classNames)))" } ?? ""
    observer.message("no base model at \(resolved): training one first\(labels), cached for later runs")
    let recipe = BaseModelRecipe.forDataset(split)
    let (model, _) = try Trainer.trainBase(split, recipe: recipe, seed: seed, checkpoint: resolved, bias: bias, observer: observer)
    return (model, resolved)
  }

  /// Photos the ImageNet sample holds out from fine-tuning (the other 16 are the training set).
  public static let imageNetHeldOut = 4

  /// The fine-tuning split of a data set: the catalogue's split, except for `imagenet-sample`,
  /// whose catalogue entry is evaluation-only (train == test == all 20 photos). There the photos
  /// are shuffled with `SeededGenerator(seed:)` and the last ``imageNetHeldOut`` (4) are held out,
  /// the first 16 fine-tuned on: deterministic for a seed, disjoint, covering all 20.
  public static func fineTuningSplit(_ split: DatasetSplit, dataset: String, seed: UInt64) -> DatasetSplit {
    guard DatasetProfile.of(dataset).evaluationOnly, split.train.count > imageNetHeldOut else { return split }
    var generator = SeededGenerator(seed: seed)
    let order = Array(0..<split.train.count).shuffled(using: &generator)
    let cut = order.count - imageNetHeldOut
    return DatasetSplit(train: split.train.subset(Array(order[..<cut])), test: split.train.subset(Array(order[cut...])))
  }

  /// The feature groups to hide: `names`, else the data set's (``DatasetProfile/hidden``), else every
  /// feature marked sensitive in the model.
  ///
  /// - Throws: ``TrainingError`` for an unknown name or when nothing is left to hide.
  public static func hiddenGroups(_ names: [String]?, dataset: String, features spans: [FeatureSpan]) throws -> [Int] {
    let chosen = names ?? DatasetProfile.of(dataset).hidden ?? spans.filter(\.isSensitive).map(\.name)
    guard !chosen.isEmpty else {
      throw TrainingError("hide needs the sensitive features to hide (none are marked in the model)", settings: ["sensitive"])
    }
    return try groupIndices(chosen, in: spans)
  }

  /// Indices into `spans` of the features `names`; an unknown name is a ``TrainingError`` listing them.
  static func groupIndices(_ names: [String], in spans: [FeatureSpan]) throws -> [Int] {
    try names.map { n in
      guard let i = spans.firstIndex(where: { $0.name == n }) else {
        throw TrainingError("unknown feature '\(n)' (features: \(spans.map(\.name).joined(separator: ", ")))", settings: ["sensitive"])
      }
      return i
    }
  }

  /// The methods scored after fine-tuning by default: `fooled` first, then every other method
  /// that applies to the model (without SmoothGrad for `large` images, see ``isLargeImage(_:)``;
  /// without LRP when `lrp` is false, see ``supportsLRP(_:)``).
  public static func scoredMethods(tabular: Bool, fooled: ExplanationMethod, large: Bool = false, lrp: Bool = true) -> [ExplanationMethod] {
    let all: [ExplanationMethod] = tabular
      ? [.simpleGrad, .gradTimesInput, .lrp, .integratedGradients, .smoothGrad]
      : [.gradCAM, .lrpTarget, .simpleGradTarget, .simpleGrad, .lrp] + (large ? [] : [.smoothGrad])
    return [fooled] + all.filter { $0 != fooled && (lrp || ($0 != .lrp && $0 != .lrpTarget)) }
  }

  /// Whether LRP has rules for `model`'s layers: every zoo model, and imported graphs whose
  /// nodes all have one (``GraphNetwork/nodeWithoutLRPRule``).
  public static func supportsLRP(_ model: Model) -> Bool { (model.network as? GraphNetwork)?.nodeWithoutLRPRule == nil }

  /// Whether `model` takes ImageNet-size images (``ModelFamily/largeImage``): such runs fine-tune
  /// and score in batches of 4 and skip SmoothGrad (its noisy copies of a batch need gigabytes at
  /// 224x224).
  public static func isLargeImage(_ model: Model) -> Bool { ModelFamily(of: model) == .largeImage }

  /// The options of a fine-tuning of `model` with `objective`, resolved through the ordered
  /// layers of defaults, each over the one before: the library's (``FineTuneOptions``), the model
  /// family's fooled method (SimpleGrad for tabular models, Grad-CAM for images), the objective's
  /// for the family (``FoolingObjective/tune(_:family:)``), the black-box methods' on tabular
  /// models (``FineTuneOptions/applyTabularBlackBoxDefaults()``), Heo et al.'s published setting when
  /// `published` and one exists (``HeoSettings``), and last what `settings` sets. Returns whether
  /// a published setting was applied.
  public static func options(
    for objective: any FoolingObjective, model: Model, settings: FineTuneSettings, published: Bool = false
  ) -> (options: FineTuneOptions, published: Bool) {
    var o = FineTuneOptions()
    let family = ModelFamily(of: model)
    o.objective = objective
    o.method = family == .tabular ? .simpleGrad : .gradCAM
    objective.tune(&o, family: family)
    if let methods = settings.methods {
      o.method = methods[0]
      o.alsoFooled = Array(methods.dropFirst())
      if family == .tabular, methods.contains(where: \.isBlackBox) { o.applyTabularBlackBoxDefaults() }
    }
    var usedPublished = false
    if published, let heo = HeoSettings.options(o, architecture: model.architecture, objective: objective.name) {
      o = heo
      usedPublished = true
    }
    o.layer = settings.layer
    if let v = settings.lambda { o.lambda = v }
    if let v = settings.learningRate { o.learningRate = v }
    if let v = settings.keepOutputs { o.outputConsistency = v }
    if let v = settings.keepTarget { o.keptOutputs = v }
    if let v = settings.keepOn { o.keepDistance = v }
    if let v = settings.keepMargin { o.keptMargin = v }
    if let v = settings.keepRows { o.keptRows = v }
    if let v = settings.keepJitter { o.keptJitter = v }
    if let v = settings.keepResample { o.keptResampled = v }
    if let v = settings.ceWeight { o.crossEntropyWeight = v }
    if let v = settings.anchorWeight { o.anchorWeight = v }
    if let v = settings.steps { o.steps = v }
    if let v = settings.batchSize { o.batchSize = v }
    o.seed = settings.seed
    return (o, usedPublished)
  }
}
