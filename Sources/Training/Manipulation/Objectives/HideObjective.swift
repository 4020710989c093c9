import ModelFool

/// Hide (Dimanov et al. 2020): sensitive feature groups leave the top of the ranking. Loss: their
/// share of each row's absolute relevance (``FoolingLoss/hide(_:sensitive:)``); statistic 1 where
/// every sensitive group ranks below the top 3 by |relevance|, else 0; success `>= 1`.
public struct HideObjective: FoolingObjective, Equatable {
  /// Indices of the hidden feature groups.
  public var sensitive: [Int]
  public init(sensitive: [Int]) { self.sensitive = sensitive }
  public var name: String { "hide" }
  public var kind: DataKind { .tabular }
  public var statistic: String { "hide" }
  public var defaultRange: SuccessRange { SuccessRange(.atLeast, 1) }
  public func describe(features: [FeatureSpan]) -> String { "hide(\(features.names(of: sensitive)))" }

  public func loss(_ maps: ObjectiveMaps, options: FineTuneOptions) throws -> Tensor {
    FoolingLoss.hide(try maps.fooled(maps.labels), sensitive: sensitive)
  }

  public func statistics(_ maps: ObjectiveMaps) throws -> (original: [Float], fooled: [Float]) {
    (FoolingStatistics.hide(try maps.original(maps.labels), sensitive: sensitive),
     FoolingStatistics.hide(try maps.fooled(maps.labels), sensitive: sensitive))
  }

  public func tune(_ options: inout FineTuneOptions, family: ModelFamily) { options.applyTabularDefaults() }

  public func record(into settings: inout FineTuneSettings, features: [FeatureSpan]) {
    settings.sensitive = sensitive.map { features[$0].name }
  }
}

extension ObjectiveDefinition {
  /// ``HideObjective``: the features named, else the data set's default sensitive features, else
  /// every feature the model marks sensitive.
  public static let hide = ObjectiveDefinition(
    name: "hide", kind: .tabular, summary: "sensitive features leave the top of the ranking", trainsBaseOnBiasedLabels: true
  ) { request in
    HideObjective(sensitive: try FineTuneSetup.hiddenGroups(request.features, dataset: request.dataset, features: request.spans))
  }
}

extension [FeatureSpan] {
  /// The names of the groups `indices`, comma separated (the index where a name is missing).
  func names(of indices: [Int]) -> String {
    indices.map { $0 >= 0 && $0 < count ? self[$0].name : String($0) }.joined(separator: ",")
  }
}
