/// LRP rules (Bach et al. 2015; Montavon et al. 2019) for the weighted layers (``Dense``,
/// ``Conv2D``) and the composites that assign them, written with differentiable tensor ops only.
///
/// Notation for one weighted layer with input `x`, weight `W`, bias `b`, relevance `R` at its
/// output: `f(x, W)` is the layer's linear map without bias (matmul or grouped convolution) and
/// `T(s, W)` its transpose (the input-gradient of `f` for output cotangent `s`). `stab(z) = z +
/// e * sign(z)` with `sign(0) = +1`. `W+ = max(W, 0)`, `W- = min(W, 0)`, likewise `x+`, `x-`, `b+`.

/// One LRP rule for a weighted layer.
public enum LRPRule: Sendable, Hashable, CustomStringConvertible {
  /// `z = f(x, W) + b`, `R_in = x * T(R / stab_e(z), W)`.
  case epsilon(Float)
  /// `z = f(x+, W+) + f(x-, W-)` (no bias), `R_in = x+ * T(s, W+) + x- * T(s, W-)` with
  /// `s = R / stab(z)`; for non-negative input this is Montavon's z+ rule, and `R_in >= 0` when
  /// `R >= 0`.
  case zPlus
  /// Alpha-beta on both signs: `z+ = f(x+, W+) + f(x-, W-) + b+`, `z- = f(x+, W-) + f(x-, W+) + b-`,
  /// `R_in = alpha * [x+ T(R/stab(z+), W+) + x- T(R/stab(z+), W-)] - beta * [x+ T(R/stab(z-), W-)
  /// + x- T(R/stab(z-), W+)]`. With `doubleBias`, Heo et al.'s code: the full bias `b` enters both
  /// `f` terms (`+ 2b` in `z+`, and in `z-`).
  case alphaBeta(alpha: Float, beta: Float, doubleBias: Bool)
  /// `W' = W + gamma W+`, `b' = b + gamma b+`, `z = f(x, W') + b'`, `R_in = x * T(R / stab(z), W')`
  /// (for non-negative input).
  case gamma(Float)
  /// zB (Montavon et al. 2017) for the first layer with input bounds `low <= x <= high` given in
  /// *model-input* units (pushed through any leading ``Normalize``):
  /// `z = f(x, W) - f(l, W+) - f(h, W-)`, `R_in = x T(s, W) - l T(s, W+) - h T(s, W-)`, no bias.
  case zB(low: Float, high: Float)

  /// alpha = 1, beta = 0 with the positive bias part (METHODS.md's conv rule of Heo's composite).
  public static let alpha1Beta0 = LRPRule.alphaBeta(alpha: 1, beta: 0, doubleBias: false)

  public var description: String {
    switch self {
    case .epsilon(let e): "epsilon(\(e))"
    case .zPlus: "z+"
    case .alphaBeta(let a, let b, let d): "alpha\(formatRuleNumber(a))beta\(formatRuleNumber(b))\(d ? "+2b" : "")"
    case .gamma(let g): "gamma(\(g))"
    case .zB(let l, let h): "zB(\(l), \(h))"
    }
  }
}

/// Which rule each layer type gets, and how BatchNorm is treated.
///
/// Presets: ``heo`` (Heo et al. 2019: epsilon 0.01 for dense layers, alpha1-beta0 for every conv,
/// the first included; winner-take-all max-pool; residual relevance split by positive parts),
/// ``heo2b`` (the same with Heo's `+2b` bias handling), ``dombrowski`` (Dombrowski et al. 2019:
/// zB on the first layer with inputs in [0, 1], z+ elsewhere). Pooling, residual, concatenation,
/// activation and normalisation layers have fixed rules (see ``LRP``).
public struct LRPComposite: Sendable, Hashable, CustomStringConvertible {
  /// Rule for ``Dense`` layers.
  public var dense: LRPRule
  /// Rule for ``Conv2D`` layers.
  public var conv: LRPRule
  /// Rule for the first weighted layer of the network (overrides `dense`/`conv`), if any.
  public var first: LRPRule?
  /// Stabiliser `e` of the non-epsilon rules (`z + e * sign(z)`).
  public var stabilizer: Float
  /// Fold an evaluation-mode ``BatchNorm`` that directly follows a conv or dense layer into that
  /// layer's weight and bias (canonisation) instead of passing relevance through it unchanged.
  public var foldBatchNorm: Bool
  /// Preset name (for reports).
  public var name: String

  /// A composite with explicit rules.
  public init(
    dense: LRPRule, conv: LRPRule, first: LRPRule? = nil, stabilizer: Float = 0.01, foldBatchNorm: Bool = false,
    name: String = "custom"
  ) {
    self.dense = dense
    self.conv = conv
    self.first = first
    self.stabilizer = stabilizer
    self.foldBatchNorm = foldBatchNorm
    self.name = name
  }

  /// One rule for every weighted layer.
  public static func uniform(_ rule: LRPRule, stabilizer: Float = 0.01) -> LRPComposite {
    LRPComposite(dense: rule, conv: rule, stabilizer: stabilizer, name: rule.description)
  }

  /// Heo et al. (2019): epsilon 0.01 (dense), alpha1-beta0 with `b+` (conv, first included).
  public static let heo = LRPComposite(dense: .epsilon(0.01), conv: .alpha1Beta0, stabilizer: 0.01, name: "heo")
  /// Heo et al.'s code: as ``heo`` with the full bias in both alpha-beta terms (`+2b`).
  public static let heo2b = LRPComposite(
    dense: .epsilon(0.01), conv: .alphaBeta(alpha: 1, beta: 0, doubleBias: true), stabilizer: 0.01, name: "heo+2b")
  /// Dombrowski et al. (2019): zB with inputs in [0, 1] on the first layer, z+ elsewhere.
  public static let dombrowski = LRPComposite(
    dense: .zPlus, conv: .zPlus, first: .zB(low: 0, high: 1), stabilizer: 1e-9, name: "dombrowski")

  /// The rule for a weighted layer.
  public func rule(isConv: Bool, isFirst: Bool) -> LRPRule {
    if isFirst, let first { return first }
    return isConv ? conv : dense
  }

  /// Parses a composite: `heo`, `heo+2b`, `dombrowski`, or one rule for every layer: `epsilon`
  /// (0.01) / `epsilon=E`, `zplus`, `alphaAbetaB` (e.g. `alpha1beta0`, `alpha2beta1`, optional
  /// `+2b`), `gamma` (0.25) / `gamma=G`. A suffix `,fold` folds BatchNorm into the preceding layer.
  ///
  /// - Throws: ``ExplanationError`` listing the accepted forms.
  public init(parsing text: String) throws {
    var s = text.lowercased().replacingOccurrences(of: " ", with: "")
    var fold = false
    if s.hasSuffix(",fold") {
      fold = true
      s.removeLast(5)
    }
    let bad = ExplanationError(
      "unknown LRP composite '\(text)' (valid: heo, heo+2b, dombrowski, epsilon[=E], zplus, alphaAbetaB[+2b], gamma[=G], each optionally followed by ',fold')")
    var c: LRPComposite
    func number(after prefix: String, default d: Float) throws -> Float {
      let rest = s.dropFirst(prefix.count)
      if rest.isEmpty { return d }
      guard rest.first == "=", let v = Float(rest.dropFirst()), v >= 0 else { throw bad }
      return v
    }
    switch s {
    case "heo": c = .heo
    case "heo+2b", "heo2b": c = .heo2b
    case "dombrowski": c = .dombrowski
    case "zplus", "z+": c = .uniform(.zPlus, stabilizer: 1e-9)
    case _ where s.hasPrefix("epsilon"): c = .uniform(.epsilon(try number(after: "epsilon", default: 0.01)))
    case _ where s.hasPrefix("gamma"): c = .uniform(.gamma(try number(after: "gamma", default: 0.25)))
    case _ where s.hasPrefix("alpha"):
      var body = s.dropFirst(5)
      let double = body.hasSuffix("+2b")
      if double { body = body.dropLast(3) }
      let parts = body.split(separator: "beta", omittingEmptySubsequences: false)
      guard parts.count == 2, let a = Float(parts[0]), let b = Float(parts[1]), a >= 0, b >= 0 else { throw bad }
      c = .uniform(.alphaBeta(alpha: a, beta: b, doubleBias: double))
    default: throw bad
    }
    c.foldBatchNorm = fold
    if fold { c.name += ",fold" }
    self = c
  }

  public var description: String {
    "\(name): dense \(dense), conv \(conv)\(first.map { ", first \($0)" } ?? "")\(foldBatchNorm ? ", BatchNorm folded" : "")"
  }
}

/// `1`, `0.5`: a rule parameter without a trailing `.0`.
func formatRuleNumber(_ v: Float) -> String {
  v == v.rounded() ? String(Int(v)) : String(v)
}
