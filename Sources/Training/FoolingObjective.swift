import ModelFool

/// The name of a fine-tuning objective, as settings documents and the command line write it;
/// ``FineTuneSetup/objective(_:model:dataset:classes:features:)`` resolves it for a model.
public enum ObjectiveName: String, Codable, CaseIterable, Sendable {
  /// Image maps onto a frame; tabular relevance onto a feature set.
  case location
  /// The originally most relevant pixels or features lose their relevance.
  case topk
  /// The maps' centre of mass moves.
  case centerMass = "center-mass"
  /// The explanations of two classes swap.
  case active
  /// Tabular: sensitive features leave the top of the ranking.
  case hide
}

/// What the fine-tuning attack asks of the explanations (Heo et al. 2019; Dimanov et al. 2020).
public enum FoolingObjective: Sendable, Hashable, CustomStringConvertible {
  /// Image maps move to a frame around the image.
  case location
  /// The originally most important 10% of pixels lose their relevance.
  case topK
  /// The centre of mass of the map moves away from the original's.
  case centerMass
  /// The explanations of classes `c1` and `c2` swap.
  case active(c1: Int, c2: Int)
  /// Tabular: the sensitive feature groups (indices) leave the top of the ranking.
  case hide(sensitive: [Int])
  /// Tabular: relevance is pushed onto the given feature groups.
  case featureLocation(inside: [Int])
  /// Tabular: the original top-3 features lose their relevance.
  case tabularTopK

  /// The objective's name on the command line.
  public var name: String {
    switch self {
    case .location: "location"
    case .topK: "topk"
    case .centerMass: "center-mass"
    case .active: "active"
    case .hide: "hide"
    case .featureLocation: "location"
    case .tabularTopK: "topk"
    }
  }

  /// True for objectives on tabular (per-feature) relevance.
  public var isTabular: Bool {
    switch self {
    case .hide, .featureLocation, .tabularTopK: true
    default: false
    }
  }

  /// The statistic that decides success for one example.
  public var statistic: FoolingStatistic {
    switch self {
    case .location: .location
    case .topK: .topK
    case .centerMass: .centerMass
    case .active: .active
    case .hide: .hide
    case .featureLocation: .featureLocation
    case .tabularTopK: .tabularTopK
    }
  }

  /// Whether the loss needs the frozen original model's maps.
  public var needsReference: Bool {
    switch self {
    case .location, .hide, .featureLocation: false
    default: true
    }
  }

  public var description: String { describe(features: []) }

  /// ``description`` with feature names instead of group indices where `features` has them:
  /// `hide(race,age)`.
  public func describe(features: [FeatureSpan]) -> String {
    func names(_ s: [Int]) -> String {
      s.map { $0 < features.count ? features[$0].name : String($0) }.joined(separator: ",")
    }
    return switch self {
    case .active(let c1, let c2): "active(\(c1)<->\(c2))"
    case .hide(let s): "hide(\(names(s)))"
    case .featureLocation(let s): "location(\(names(s)))"
    default: name
    }
  }
}
