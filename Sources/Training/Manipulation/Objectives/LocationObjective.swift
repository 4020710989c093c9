import ModelFool

/// Location (Heo et al. 2019): image maps move onto a frame around the image. Loss and statistic:
/// `mean((m - h)^2)` with the frame mask `m` of ``FoolingLoss/frameMask(height:width:)``; success
/// `<= 0.2`.
public struct LocationObjective: FoolingObjective {
  public init() {}
  public var name: String { "location" }
  public var kind: DataKind { .image }
  public var statistic: String { "location" }
  public var defaultRange: SuccessRange { SuccessRange(.atMost, 0.2) }

  public func loss(_ maps: ObjectiveMaps, options: FineTuneOptions) throws -> Tensor {
    FoolingLoss.location(try maps.fooled(maps.labels))
  }

  public func statistics(_ maps: ObjectiveMaps) throws -> (original: [Float], fooled: [Float]) {
    (FoolingStatistics.location(try maps.original(maps.labels)), FoolingStatistics.location(try maps.fooled(maps.labels)))
  }

  public func tune(_ options: inout FineTuneOptions, family: ModelFamily) { options.applyImageDefaults(family: family) }
}

extension ObjectiveDefinition {
  /// ``LocationObjective``.
  public static let location = ObjectiveDefinition(name: "location", kind: .image, summary: "maps move onto a frame around the image") { _ in
    LocationObjective()
  }
}
