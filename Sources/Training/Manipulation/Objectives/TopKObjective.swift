import ModelFool

/// Top-k (Heo et al. 2019): the original map's top 10% pixels lose their relevance. Loss:
/// `mean_{j in P} h_j^2` over the original's top pixels P, plus a term that keeps the maps alive
/// (Grad-CAM: its peak, LRP_T: its positive share; docs/METHODS.md §4.2). Statistic: the overlap
/// of the two top-10% sets; success `<= 0.3`.
public struct TopKObjective: FoolingObjective {
  public init() {}
  public var name: String { "topk" }
  public var kind: DataKind { .image }
  public var statistic: String { "topk" }
  public var defaultRange: SuccessRange { SuccessRange(.atMost, 0.3) }

  public func loss(_ maps: ObjectiveMaps, options: FineTuneOptions) throws -> Tensor {
    // What keeps the maps alive: Grad-CAM's peak, LRP_T's positive share; nothing for others.
    let (keepWeight, kept): (Float, (Tensor) -> Tensor) = switch maps.method {
    case .gradCAM: (options.topKPeakWeight, { Heatmap.peak($0, method: .gradCAM) })
    case .lrpTarget: (options.topKPositiveShareWeight, Heatmap.positiveShare)
    default: (0, { $0 })
    }
    guard keepWeight > 0, let explanations = maps.explanations else {
      return FoolingLoss.topK(try maps.fooled(maps.labels), reference: try maps.original(maps.labels))
    }
    let (e, e0) = try explanations()
    let keep = FoolingLoss.peakKeeping(kept(e.raw), original: kept(e0.raw))
    return FoolingLoss.topK(e.heatmap, reference: e0.heatmap.detached()) + keepWeight * keep
  }

  public func statistics(_ maps: ObjectiveMaps) throws -> (original: [Float], fooled: [Float]) {
    let ho = try maps.original(maps.labels), hf = try maps.fooled(maps.labels)
    return (FoolingStatistics.topK(original: ho, fooled: ho), FoolingStatistics.topK(original: ho, fooled: hf))
  }

  /// The image defaults; on small images 600 steps: with the peak-keeping term 400 steps cost
  /// accuracy, and the longer cosine tail lets cross-entropy recover (docs/RESULTS.md §1.3).
  public func tune(_ options: inout FineTuneOptions, family: ModelFamily) {
    options.applyImageDefaults(family: family)
    if family == .smallImage { options.steps = 600 }
  }
}

extension ObjectiveDefinition {
  /// ``TopKObjective``.
  public static let topK = ObjectiveDefinition(name: "topk", kind: .image, summary: "the originally most relevant pixels lose their relevance") { _ in
    TopKObjective()
  }
}
