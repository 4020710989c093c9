import Foundation
import ModelFool
import ModelFoolData
import Synchronization

/// Whether an objective fools image heatmaps (`[N, h, w]`) or tabular per-feature relevance
/// (`[N, groups]`).
public enum DataKind: String, Codable, Sendable {
  case image, tabular

  /// The kind of data `model` takes: tabular for one-axis inputs, images otherwise.
  public init(of model: Model) { self = model.inputShape.count == 1 ? .tabular : .image }

  /// The kind of `data`'s examples.
  public init(of data: Dataset) { self = data.exampleShape.count == 1 ? .tabular : .image }
}

/// The families of models whose fine-tuning defaults differ: small images (the digits CNN),
/// ImageNet-size images (at least 128 pixels a side) and tabular MLPs.
public enum ModelFamily: String, Codable, Sendable {
  case smallImage = "small-image", largeImage = "large-image", tabular

  /// The family of `model`.
  public init(of model: Model) {
    if model.inputShape.count == 1 {
      self = .tabular
    } else {
      self = model.inputShape.count == 3 && min(model.inputShape[1], model.inputShape[2]) >= 128 ? .largeImage : .smallImage
    }
  }
}

/// What an objective is resolved from: the model it fools, the data set it runs on, and the
/// classes or features the user named (nil: the objective's default).
public struct ObjectiveRequest: @unchecked Sendable {
  public var model: Model
  /// The data set's name (its profile's defaults, such as the sensitive features to hide).
  public var dataset: String
  public var classes: [Int]?
  public var features: [String]?
  /// The model's feature groups (empty for images).
  public var spans: [FeatureSpan]

  public init(model: Model, dataset: String, classes: [Int]? = nil, features: [String]? = nil) throws {
    self.model = model
    self.dataset = dataset
    self.classes = classes
    self.features = features
    self.spans = model.inputShape.count == 1 ? try FeatureSpan.features(of: model) : []
  }
}

/// The maps an objective's loss or statistic reads, for one batch and one explanation method.
///
/// While training, ``fooled`` records its graph (the loss is differentiated through it down to
/// the weights) and ``original`` gives constants; while scoring both are constants, min-max
/// normalised per image.
public struct ObjectiveMaps {
  /// The true class of each row of the batch.
  public var labels: [Int]
  /// The explanation method the maps are of.
  public var method: ExplanationMethod
  /// Maps of the model being fooled, explaining `classes[n]` for row `n`.
  public var fooled: ([Int]) throws -> Tensor
  /// Maps of the frozen original model (constants), explaining `classes[n]` for row `n`.
  public var original: ([Int]) throws -> Tensor
  /// Training only: the full explanations of the true labels by both models, for losses that read
  /// more than the post-processed map (the top-k loss keeps the maps' peak alive); nil in scoring.
  public var explanations: (() throws -> (fooled: Explanation, original: Explanation))?

  public init(
    labels: [Int], method: ExplanationMethod, fooled: @escaping ([Int]) throws -> Tensor,
    original: @escaping ([Int]) throws -> Tensor,
    explanations: (() throws -> (fooled: Explanation, original: Explanation))? = nil
  ) {
    self.labels = labels
    self.method = method
    self.fooled = fooled
    self.original = original
    self.explanations = explanations
  }
}

/// A fooling objective resolved for one model (Heo et al. 2019; Dimanov et al. 2020): what the
/// fine-tuning asks of the explanations, how success is measured, and its default settings.
///
/// Each objective is one value of this protocol in one file, made by an ``ObjectiveDefinition``
/// registered in ``FoolingObjectives``; nothing else switches over objectives.
public protocol FoolingObjective: Sendable {
  /// The name on the command line and in settings (`location`).
  var name: String { get }
  /// Image heatmaps or tabular relevance.
  var kind: DataKind { get }
  /// The name of the per-example success statistic (`location`, `feature-location`).
  var statistic: String { get }
  /// The default success range of ``statistic`` (docs/METHODS.md §5).
  var defaultRange: SuccessRange { get }
  /// The objective with its classes or features, e.g. `hide(race,age)`.
  func describe(features: [FeatureSpan]) -> String
  /// The fooling loss `L_F` of a batch (mean over it).
  func loss(_ maps: ObjectiveMaps, options: FineTuneOptions) throws -> Tensor
  /// The per-example statistic of the original and of the fooled model.
  func statistics(_ maps: ObjectiveMaps) throws -> (original: [Float], fooled: [Float])
  /// This objective's layer of the fine-tuning defaults for a model family (over the library's
  /// ``FineTuneOptions``; published settings and the user's come after it).
  func tune(_ options: inout FineTuneOptions, family: ModelFamily)
  /// Records the resolved classes or features in `settings` (what `evaluate --fsr` reads back).
  func record(into settings: inout FineTuneSettings, features: [FeatureSpan])
}

extension FoolingObjective {
  public func describe(features: [FeatureSpan]) -> String { name }
  public func record(into settings: inout FineTuneSettings, features: [FeatureSpan]) {}
}

/// A named objective as the registry holds it: its name and data kind, and how it resolves for
/// a model. Image and tabular objectives may share a name (`location`, `topk`); the model's
/// data kind picks one.
public struct ObjectiveDefinition: Sendable {
  public var name: String
  public var kind: DataKind
  /// One line for help texts.
  public var summary: String
  /// Whether the default base model of this objective is trained on the data set's biased labels
  /// (a model that never used a sensitive feature has nothing to hide).
  public var trainsBaseOnBiasedLabels: Bool
  /// Resolves the objective for a model; throws ``TrainingError`` naming the setting at fault.
  public var resolve: @Sendable (ObjectiveRequest) throws -> any FoolingObjective

  public init(
    name: String, kind: DataKind, summary: String, trainsBaseOnBiasedLabels: Bool = false,
    resolve: @escaping @Sendable (ObjectiveRequest) throws -> any FoolingObjective
  ) {
    self.name = name
    self.kind = kind
    self.summary = summary
    self.trainsBaseOnBiasedLabels = trainsBaseOnBiasedLabels
    self.resolve = resolve
  }
}

/// The registry of fooling objectives: the built-in ones, and any a library user registers.
public enum FoolingObjectives {
  /// The built-in objectives, one line each.
  static let builtIn: [ObjectiveDefinition] = [
    .location, .topK, .centerMass, .active, .hide, .featureLocation, .tabularTopK,
  ]
  private static let registry = Mutex(builtIn)

  /// Every registered definition, built-in ones first.
  public static var all: [ObjectiveDefinition] { registry.withLock { $0 } }

  /// Every registered name, each once, in registration order.
  public static var names: [String] {
    all.map(\.name).reduce(into: []) { names, n in if !names.contains(n) { names.append(n) } }
  }

  /// Adds `definition`; a definition of the same name and kind replaces the earlier one.
  public static func register(_ definition: ObjectiveDefinition) {
    registry.withLock { list in
      list.removeAll { $0.name == definition.name && $0.kind == definition.kind }
      list.append(definition)
    }
  }

  /// The definition of `name` for data of `kind`.
  ///
  /// - Throws: ``TrainingError`` for an unknown name, or one that has no meaning for `kind`.
  public static func definition(_ name: String, kind: DataKind) throws -> ObjectiveDefinition {
    let named = all.filter { $0.name == name }
    guard !named.isEmpty else {
      throw TrainingError("unknown objective '\(name)' (valid: \(names.joined(separator: ", ")))", settings: ["objective"])
    }
    guard let match = named.first(where: { $0.kind == kind }) else {
      let others = all.filter { $0.kind == kind }.map(\.name)
      throw TrainingError(
        "\(name) is not an objective for \(kind) models; \(kind) models take \(others.joined(separator: ", "))", settings: ["objective"])
    }
    return match
  }

  /// The objective `name` resolved for `request.model`.
  public static func resolve(_ name: String, for request: ObjectiveRequest) throws -> any FoolingObjective {
    try definition(name, kind: DataKind(of: request.model)).resolve(request)
  }

  /// ``resolve(_:for:)`` from its parts.
  public static func resolve(
    _ name: String, model: Model, dataset: String, classes: [Int]? = nil, features: [String]? = nil
  ) throws -> any FoolingObjective {
    try resolve(name, for: ObjectiveRequest(model: model, dataset: dataset, classes: classes, features: features))
  }
}
