import ModelFool

/// Tabular top-k: the original top-3 features lose their relevance. Loss: their share of each
/// row's |relevance|; statistic: the overlap of the original and fooled top-3 sets; success
/// `<= 1/3`.
public struct TabularTopKObjective: FoolingObjective {
  public init() {}
  public var name: String { "topk" }
  public var kind: DataKind { .tabular }
  public var statistic: String { "tabular-topk" }
  public var defaultRange: SuccessRange { SuccessRange(.atMost, 1.0 / 3.0) }

  public func loss(_ maps: ObjectiveMaps, options: FineTuneOptions) throws -> Tensor {
    FoolingLoss.tabularTopK(try maps.fooled(maps.labels), reference: try maps.original(maps.labels))
  }

  public func statistics(_ maps: ObjectiveMaps) throws -> (original: [Float], fooled: [Float]) {
    let ho = try maps.original(maps.labels), hf = try maps.fooled(maps.labels)
    return (FoolingStatistics.tabularTopK(original: ho, fooled: ho), FoolingStatistics.tabularTopK(original: ho, fooled: hf))
  }

  public func tune(_ options: inout FineTuneOptions, family: ModelFamily) { options.applyTabularDefaults() }
}

extension ObjectiveDefinition {
  /// ``TabularTopKObjective``.
  public static let tabularTopK = ObjectiveDefinition(name: "topk", kind: .tabular, summary: "the original top-3 features lose their relevance") { _ in
    TabularTopKObjective()
  }
}
