import ModelFool

/// Tabular location: relevance moves onto a chosen feature set. Loss: one minus the set's share
/// of |relevance|; statistic: that share; success `>= 0.5`.
public struct FeatureLocationObjective: FoolingObjective, Equatable {
  /// Indices of the feature groups relevance is moved onto.
  public var inside: [Int]
  public init(inside: [Int]) { self.inside = inside }
  public var name: String { "location" }
  public var kind: DataKind { .tabular }
  public var statistic: String { "feature-location" }
  public var defaultRange: SuccessRange { SuccessRange(.atLeast, 0.5) }
  public func describe(features: [FeatureSpan]) -> String { "location(\(features.names(of: inside)))" }

  public func loss(_ maps: ObjectiveMaps, options: FineTuneOptions) throws -> Tensor {
    FoolingLoss.featureLocation(try maps.fooled(maps.labels), inside: inside)
  }

  public func statistics(_ maps: ObjectiveMaps) throws -> (original: [Float], fooled: [Float]) {
    (FoolingStatistics.featureLocation(try maps.original(maps.labels), inside: inside),
     FoolingStatistics.featureLocation(try maps.fooled(maps.labels), inside: inside))
  }

  public func tune(_ options: inout FineTuneOptions, family: ModelFamily) { options.applyTabularDefaults() }

  public func record(into settings: inout FineTuneSettings, features: [FeatureSpan]) {
    settings.sensitive = inside.map { features[$0].name }
  }
}

extension ObjectiveDefinition {
  /// ``FeatureLocationObjective``: the feature set must be named.
  public static let featureLocation = ObjectiveDefinition(
    name: "location", kind: .tabular, summary: "relevance moves onto a chosen feature set"
  ) { request in
    guard let features = request.features, !features.isEmpty else {
      throw TrainingError("location on tabular data needs the feature set to move relevance onto", settings: ["sensitive"])
    }
    return FeatureLocationObjective(inside: try FineTuneSetup.groupIndices(features, in: request.spans))
  }
}
