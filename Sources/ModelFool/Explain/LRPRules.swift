/// LRP rules (Bach et al. 2015; Montavon et al. 2019) for the weighted layers (``Dense``,
/// ``Conv2D``, and either with a folded ``BatchNorm``), written with differentiable tensor ops only.
/// Everything about one rule sits in this file: its case, its name, how it parses and its formula;
/// which layers get which rule is the business of ``LRPComposite``.
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

  /// alpha = 1, beta = 0 with the positive bias part (the conv rule of Heo's composite, docs/METHODS.md §2.5).
  public static let alpha1Beta0 = LRPRule.alphaBeta(alpha: 1, beta: 0, doubleBias: false)

  /// The rule's name as reports show it: `epsilon(0.01)`, `z+`, `alpha1beta0`, `alpha1beta0+2b`,
  /// `gamma(0.25)`, `zB(0.0, 1.0)`.
  public var description: String {
    switch self {
    case .epsilon(let e): "epsilon(\(e))"
    case .zPlus: "z+"
    case .alphaBeta(let a, let b, let d): "alpha\(formatRuleNumber(a))beta\(formatRuleNumber(b))\(d ? "+2b" : "")"
    case .gamma(let g): "gamma(\(g))"
    case .zB(let l, let h): "zB(\(l), \(h))"
    }
  }

  /// The stabiliser a composite that applies this rule everywhere uses by default: `1e-9` for z+
  /// (no bias, so the denominator only vanishes with the input), `0.01` otherwise.
  public var uniformStabilizer: Float { self == .zPlus ? 1e-9 : 0.01 }

  /// Parses a rule name in lower case without spaces: `epsilon` (0.01) / `epsilon=E`, `zplus` /
  /// `z+`, `alphaAbetaB` (e.g. `alpha1beta0`, `alpha2beta1`, optional `+2b`), `gamma` (0.25) /
  /// `gamma=G`; nil for anything else.
  init?(parsing s: String) {
    func number(after prefix: String, default d: Float) -> Float? {
      let rest = s.dropFirst(prefix.count)
      if rest.isEmpty { return d }
      guard rest.first == "=", let v = Float(rest.dropFirst()), v >= 0 else { return nil }
      return v
    }
    switch s {
    case "zplus", "z+": self = .zPlus
    case _ where s.hasPrefix("epsilon"):
      guard let e = number(after: "epsilon", default: 0.01) else { return nil }
      self = .epsilon(e)
    case _ where s.hasPrefix("gamma"):
      guard let g = number(after: "gamma", default: 0.25) else { return nil }
      self = .gamma(g)
    case _ where s.hasPrefix("alpha"):
      var body = s.dropFirst(5)
      let double = body.hasSuffix("+2b")
      if double { body = body.dropLast(3) }
      let parts = body.split(separator: "beta", omittingEmptySubsequences: false)
      guard parts.count == 2, let a = Float(parts[0]), let b = Float(parts[1]), a >= 0, b >= 0 else { return nil }
      self = .alphaBeta(alpha: a, beta: b, doubleBias: double)
    default: return nil
    }
  }

  /// The relevance at the input of the weighted layer `m` from the relevance `r` at its output
  /// (shaped like the layer's output), reshaped to the layer's input shape.
  ///
  /// - Parameters:
  ///   - st: the composite's stabiliser (every rule but epsilon).
  ///   - bounds: zB's lower and upper bound tensors shaped like `m.x` (nil for the other rules).
  func relevance(_ m: LRPLinearMap, _ r0: Tensor, stabilizer st: Float, bounds: (Tensor, Tensor)?) -> Tensor {
    let x = m.x, w = m.weight, f = m.f, t = m.t
    let r = m.isConv ? r0 : r0.reshaped([-1, w.shape[0]])
    let out: Tensor
    switch self {
    case .epsilon(let e):
      let z = m.bias.map { f(x, w) + $0 } ?? f(x, w)
      out = x * t(r / stabilized(z, e), w)
    case .gamma(let gamma):
      let wg = w + w.relu() * gamma
      let bg = m.bias.map { $0 + $0.relu() * gamma }
      let z = bg.map { f(x, wg) + $0 } ?? f(x, wg)
      out = x * t(r / stabilized(z, st), wg)
    case .zPlus:
      out = signSplit(m, r, biasPos: nil, biasNeg: nil, alpha: 1, beta: 0, st: st)
    case .alphaBeta(let alpha, let beta, let double):
      let bp = m.bias.map { double ? $0 * 2 : $0.relu() }
      let bn = m.bias.map { double ? $0 * 2 : $0 - $0.relu() }
      out = signSplit(m, r, biasPos: bp, biasNeg: bn, alpha: alpha, beta: beta, st: st)
    case .zB:
      let (lo, hi) = bounds!
      let wp = w.relu(), wn = w - wp
      let z = f(x, w) - f(lo, wp) - f(hi, wn)
      let s = r / stabilized(z, st)
      out = x * t(s, w) - lo * t(s, wp) - hi * t(s, wn)
    }
    return out.reshaped(m.inputShape)
  }
}

/// Alpha-beta on both input signs of `m` (z+ is alpha 1, beta 0 without bias).
private func signSplit(
  _ m: LRPLinearMap, _ r: Tensor, biasPos: Tensor?, biasNeg: Tensor?, alpha: Float, beta: Float, st: Float
) -> Tensor {
  let x = m.x, f = m.f, t = m.t
  let wp = m.weight.relu(), wn = m.weight - wp
  let positiveOnly = isNonNegative(x)
  let xp = positiveOnly ? x : x.relu()
  let xn = positiveOnly ? nil : x - xp
  /// One sign half: `z = f(x+, a) + f(x-, b) + bias`, `x+ T(R / stab(z), a) + x- T(R / stab(z), b)`.
  func half(_ a: Tensor, _ b: Tensor, _ bias: Tensor?) -> Tensor {
    var z = f(xp, a)
    if let xn { z = z + f(xn, b) }
    if let bias { z = z + bias }
    let s = r / stabilized(z, st)
    var rel = xp * t(s, a)
    if let xn { rel = rel + xn * t(s, b) }
    return rel
  }
  // Positive contributions: x+ W+ and x- W-; negative ones: x+ W- and x- W+.
  var rel = half(wp, wn, biasPos)
  if alpha != 1 { rel = rel * alpha }
  guard beta != 0 else { return rel }
  return rel - half(wn, wp, biasNeg) * beta
}

/// `z + e * sign(z)` with `sign(0) = +1` (the sign is a constant mask).
func stabilized(_ z: Tensor, _ e: Float) -> Tensor {
  z + z.isGreaterOrEqual(to: Tensor(0)) * (2 * e) - e
}

/// True when no value of `t` is negative (then the `x-` terms of the rules vanish).
func isNonNegative(_ t: Tensor) -> Bool {
  let p = t.storage.pointer
  for i in 0..<t.count where p[i] < 0 { return false }
  return true
}

/// `1`, `0.5`: a rule parameter without a trailing `.0`.
func formatRuleNumber(_ v: Float) -> String {
  v == v.rounded() ? String(Int(v)) : String(v)
}
