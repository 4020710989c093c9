import ModelFool

/// Center-mass (Heo et al. 2019): the maps' centre of mass moves away from the original's. Loss:
/// the negated shift, capped at ``FineTuneOptions/centerMassCap``; statistic
/// `sqrt((dC_h^2 + dC_w^2) / 2) / (W - 1)`; success `>= 0.1`.
public struct CenterMassObjective: FoolingObjective {
  public init() {}
  public var name: String { "center-mass" }
  public var kind: DataKind { .image }
  public var statistic: String { "center-mass" }
  public var defaultRange: SuccessRange { SuccessRange(.atLeast, 0.1) }

  public func loss(_ maps: ObjectiveMaps, options: FineTuneOptions) throws -> Tensor {
    FoolingLoss.centerMass(try maps.fooled(maps.labels), reference: try maps.original(maps.labels), cap: options.centerMassCap)
  }

  public func statistics(_ maps: ObjectiveMaps) throws -> (original: [Float], fooled: [Float]) {
    let ho = try maps.original(maps.labels), hf = try maps.fooled(maps.labels)
    return (FoolingStatistics.centerMass(original: ho, fooled: ho), FoolingStatistics.centerMass(original: ho, fooled: hf))
  }

  /// The image defaults; on small images a lower rate (1e-3) fools more maps (docs/METHODS.md
  /// §4.3, docs/RESULTS.md §1.4).
  public func tune(_ options: inout FineTuneOptions, family: ModelFamily) {
    options.applyImageDefaults(family: family)
    if family == .smallImage { options.learningRate = 1e-3 }
  }
}

extension ObjectiveDefinition {
  /// ``CenterMassObjective``.
  public static let centerMass = ObjectiveDefinition(name: "center-mass", kind: .image, summary: "the maps' centre of mass moves") { _ in
    CenterMassObjective()
  }
}
