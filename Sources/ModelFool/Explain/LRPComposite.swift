/// LRP composites as data: which ``LRPRule`` each kind of weighted layer gets, and which
/// canonisation runs before the pass. A new composite is one value of ``LRPComposite``; a new
/// layer kind is one case of ``LRPLayerKind``.

/// The kinds of weighted layer a composite assigns rules to.
///
/// A layer's kinds, most specific first: the first weighted layer of the network in call order is
/// ``first`` and then its type's kind (``dense`` for ``Dense``, ``convolution`` for ``Conv2D``, a
/// folded BatchNorm keeping the kind of the layer it was folded into); every other weighted layer
/// is only its type's kind. The composite's rule for the first of these kinds it names applies.
/// Layers without weights (pooling, activations, normalisation, residual and concatenation
/// splits) have the fixed rules listed at ``LRP``.
public enum LRPLayerKind: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
  /// ``Dense`` layers.
  case dense
  /// ``Conv2D`` layers, grouped and depthwise included.
  case convolution = "conv"
  /// The first weighted layer in call order (e.g. for zB, which needs the input's bounds).
  case first

  /// The short name used in reports (`dense`, `conv`, `first`).
  public var description: String { rawValue }
}

/// A model rewrite applied before the relevance pass (Zennit's "canonizers"): it replaces a group
/// of layers by one layer that computes the same function and whose weights are built from the
/// original parameters, so the relevance stays differentiable with respect to them.
public enum LRPCanonizer: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
  /// An evaluation-mode ``BatchNorm`` directly after a ``Dense`` or ``Conv2D`` layer (in the same
  /// sequence, matching channel count) is folded into that layer: `W' = W * scale`,
  /// `b' = b * scale + shift` with ``BatchNorm/evaluationAffine()``. Unfolded BatchNorm layers pass
  /// relevance unchanged. A BatchNorm that is itself the stop layer of LRP_T is not folded.
  case foldBatchNorm = "fold"

  /// How reports describe the canonisation (`BatchNorm folded`).
  public var description: String {
    switch self {
    case .foldBatchNorm: "BatchNorm folded"
    }
  }
}

/// An LRP composite: a rule per ``LRPLayerKind``, the stabiliser of the non-epsilon rules and the
/// canonisation steps.
///
/// Presets: ``heo`` (Heo et al. 2019: epsilon 0.01 for dense layers, alpha1-beta0 for every conv,
/// the first included; winner-take-all max-pool; residual relevance split by positive parts),
/// ``heo2b`` (the same with Heo's `+2b` bias handling), ``dombrowski`` (Dombrowski et al. 2019:
/// zB on the first layer with inputs in [0, 1], z+ elsewhere).
public struct LRPComposite: Sendable, Hashable, CustomStringConvertible {
  /// The rule per layer kind; a weighted layer none of whose kinds is named here is an error.
  public var rules: [LRPLayerKind: LRPRule]
  /// Stabiliser `e` of the non-epsilon rules (`z + e * sign(z)`).
  public var stabilizer: Float
  /// Rewrites of the model applied, in order, before the relevance pass.
  public var canonizers: [LRPCanonizer]
  /// Preset name (for reports).
  public var name: String

  /// A composite with explicit rules, e.g. `LRPComposite([.dense: .epsilon(0.01), .convolution:
  /// .zPlus, .first: .zB(low: 0, high: 1)])`.
  public init(
    _ rules: [LRPLayerKind: LRPRule], stabilizer: Float = 0.01, canonizers: [LRPCanonizer] = [], name: String = "custom"
  ) {
    self.rules = rules
    self.stabilizer = stabilizer
    self.canonizers = canonizers
    self.name = name
  }

  /// The rule for one layer kind, or nil when the composite names none.
  public subscript(kind: LRPLayerKind) -> LRPRule? {
    get { rules[kind] }
    set { rules[kind] = newValue }
  }

  /// The rule for a layer with `kinds` (most specific first): the first one the composite names.
  public func rule(for kinds: [LRPLayerKind]) -> LRPRule? {
    kinds.lazy.compactMap { rules[$0] }.first
  }

  /// One rule for every weighted layer (stabiliser: the rule's ``LRPRule/uniformStabilizer``
  /// unless given).
  public static func uniform(_ rule: LRPRule, stabilizer: Float? = nil) -> LRPComposite {
    LRPComposite(
      [.dense: rule, .convolution: rule], stabilizer: stabilizer ?? rule.uniformStabilizer, name: rule.description)
  }

  /// Heo et al. (2019): epsilon 0.01 (dense), alpha1-beta0 with `b+` (conv, first included).
  public static let heo = LRPComposite([.dense: .epsilon(0.01), .convolution: .alpha1Beta0], stabilizer: 0.01, name: "heo")
  /// Heo et al.'s code: as ``heo`` with the full bias in both alpha-beta terms (`+2b`).
  public static let heo2b = LRPComposite(
    [.dense: .epsilon(0.01), .convolution: .alphaBeta(alpha: 1, beta: 0, doubleBias: true)], stabilizer: 0.01,
    name: "heo+2b")
  /// Dombrowski et al. (2019): zB with inputs in [0, 1] on the first layer, z+ elsewhere.
  public static let dombrowski = LRPComposite(
    [.dense: .zPlus, .convolution: .zPlus, .first: .zB(low: 0, high: 1)], stabilizer: 1e-9, name: "dombrowski")

  /// The named presets, by the name ``init(parsing:)`` accepts.
  public static let presets: [String: LRPComposite] = ["heo": .heo, "heo+2b": .heo2b, "heo2b": .heo2b, "dombrowski": .dombrowski]

  /// Parses a composite: `heo`, `heo+2b`, `dombrowski`, or one rule for every layer (see
  /// ``uniform(_:stabilizer:)``): `epsilon` (0.01) / `epsilon=E`, `zplus`, `alphaAbetaB` (e.g.
  /// `alpha1beta0`, `alpha2beta1`, optional `+2b`), `gamma` (0.25) / `gamma=G`. A suffix `,fold`
  /// adds the ``LRPCanonizer/foldBatchNorm`` canonisation.
  ///
  /// - Throws: ``ExplanationError`` listing the accepted forms.
  public init(parsing text: String) throws {
    var s = text.lowercased().replacingOccurrences(of: " ", with: "")
    let fold = s.hasSuffix(",fold")
    if fold { s.removeLast(5) }
    if let preset = Self.presets[s] {
      self = preset
    } else if let rule = LRPRule(parsing: s) {
      self = .uniform(rule)
    } else {
      throw ExplanationError(
        "unknown LRP composite '\(text)' (valid: heo, heo+2b, dombrowski, epsilon[=E], zplus, alphaAbetaB[+2b], gamma[=G], each optionally followed by ',fold')")
    }
    if fold {
      canonizers.append(.foldBatchNorm)
      name += ",fold"
    }
  }

  /// `name: dense R, conv R[, first R][, BatchNorm folded]`.
  public var description: String {
    let parts = LRPLayerKind.allCases.compactMap { k in rules[k].map { "\(k) \($0)" } } + canonizers.map(\.description)
    return "\(name): \(parts.joined(separator: ", "))"
  }
}
