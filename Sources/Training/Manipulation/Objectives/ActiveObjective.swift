import ModelFool

/// Active fooling (Heo et al. 2019): the explanations of classes `c1` and `c2` swap. Loss
/// `0.5 [MSE(h_c1, h0_c2) + MSE(h_c2, h0_c1)]`; statistic: the Pearson correlation of the fooled
/// c1 map with the original c2 map; success `>= 0.5`.
public struct ActiveObjective: FoolingObjective, Equatable {
  public var c1: Int
  public var c2: Int
  public init(c1: Int, c2: Int) {
    self.c1 = c1
    self.c2 = c2
  }
  public var name: String { "active" }
  public var kind: DataKind { .image }
  public var statistic: String { "active" }
  public var defaultRange: SuccessRange { SuccessRange(.atLeast, 0.5) }
  public func describe(features: [FeatureSpan]) -> String { "active(\(c1)<->\(c2))" }

  public func loss(_ maps: ObjectiveMaps, options: FineTuneOptions) throws -> Tensor {
    let (a, b) = classes(maps.labels.count)
    return FoolingLoss.active(try maps.fooled(a), try maps.fooled(b), referenceC1: try maps.original(a), referenceC2: try maps.original(b))
  }

  public func statistics(_ maps: ObjectiveMaps) throws -> (original: [Float], fooled: [Float]) {
    let (a, b) = classes(maps.labels.count)
    let originalC2 = try maps.original(b)
    return (FoolingStatistics.active(fooledC1: try maps.original(a), originalC2: originalC2),
            FoolingStatistics.active(fooledC1: try maps.fooled(a), originalC2: originalC2))
  }

  public func tune(_ options: inout FineTuneOptions, family: ModelFamily) { options.applyImageDefaults(family: family) }

  public func record(into settings: inout FineTuneSettings, features: [FeatureSpan]) { settings.classes = [c1, c2] }

  /// `c1` and `c2` once per row.
  func classes(_ n: Int) -> ([Int], [Int]) { ([Int](repeating: c1, count: n), [Int](repeating: c2, count: n)) }
}

extension ObjectiveDefinition {
  /// ``ActiveObjective``: the classes named, else Heo et al.'s pair (386, 555) on a streamed
  /// ILSVRC-2012 folder with a 1,000-class model, else the first two classes.
  public static let active = ObjectiveDefinition(name: "active", kind: .image, summary: "the explanations of two classes swap") { request in
    let n = request.model.classNames.count
    let published = request.dataset == FineTuneSettings.streamedDataset && n > 555 ? HeoSettings.activeClasses : nil
    let c = request.classes ?? published ?? [0, 1]
    guard c.count == 2, c[0] != c[1], c.allSatisfy({ $0 >= 0 && (n == 0 || $0 < n) }) else {
      throw TrainingError("active needs two different class indices (0..<\(n)), got \(c)", settings: ["classes"])
    }
    return ActiveObjective(c1: c[0], c2: c[1])
  }
}
