import ModelFool

/// Shared test helpers: closeness measures, finite-difference gradient checks (first and second
/// order) and seeded random tensors. Tests assert on the numbers these return.

/// Largest elementwise violation of `|a - b| <= atol + rtol * |b|`, as a ratio (<= 1 passes).
public func closeness(_ a: Tensor, _ b: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5) -> Float {
  precondition(a.shape == b.shape, "closeness: shapes differ \(a.shape) vs \(b.shape)")
  var worst: Float = 0
  for (x, y) in zip(a.scalars, b.scalars) {
    let r = abs(x - y) / (atol + rtol * abs(y))
    if !r.isFinite { return .infinity }
    worst = max(worst, r)
  }
  return worst
}

/// `||a - b|| / max(||b||, floor)`: a relative error that ignores the scale of individual entries.
public func relativeError(_ a: Tensor, _ b: Tensor, floor: Float = 1e-6) -> Float {
  precondition(a.shape == b.shape, "relativeError: shapes differ \(a.shape) vs \(b.shape)")
  var num: Float = 0
  var den: Float = 0
  for (x, y) in zip(a.scalars, b.scalars) {
    num += (x - y) * (x - y)
    den += y * y
  }
  return num.squareRoot() / max(den.squareRoot(), floor)
}

/// A seeded random tensor with values in `[low, high)`; with `awayFromZero`, magnitudes are at
/// least `awayFromZero` (keeps inputs off the kinks of relu, abs, ...).
public func randomTensor(
  _ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1, awayFromZero: Float = 0
) -> Tensor {
  var g = SeededGenerator(seed: seed)
  var values = [Float](repeating: 0, count: elementCount(shape))
  for i in values.indices {
    var v = low + (high - low) * g.nextUniform()
    if awayFromZero > 0 && abs(v) < awayFromZero { v = v < 0 ? v - awayFromZero : v + awayFromZero }
    values[i] = v
  }
  return Tensor(shape: shape, scalars: values)
}

/// Central finite-difference gradient of a scalar function with respect to each input.
///
/// Recording stays on: `f` may itself take gradients (saliency inside a loss).
public func numericalGradients(
  of f: ([Tensor]) -> Tensor, at inputs: [Tensor], epsilon: Float = 1e-2
) -> [Tensor] {
  do {
    return inputs.indices.map { k in
      var grad = [Float](repeating: 0, count: inputs[k].count)
      for i in 0..<inputs[k].count {
        var plus = inputs, minus = inputs
        var vp = inputs[k].scalars, vm = vp
        vp[i] += epsilon
        vm[i] -= epsilon
        plus[k] = Tensor(shape: inputs[k].shape, scalars: vp)
        minus[k] = Tensor(shape: inputs[k].shape, scalars: vm)
        // Differences in Double: the function values are Float32, their difference need not be.
        let d = Double(f(plus).scalar) - Double(f(minus).scalar)
        grad[i] = Float(d / (2 * Double(epsilon)))
      }
      return Tensor(shape: inputs[k].shape, scalars: grad)
    }
  }
}

/// Central-difference gradients of `loss` with respect to the values of `parameters` (a model's
/// weights), which are restored afterwards.
public func numericalGradients(
  of loss: () -> Tensor, withRespectTo parameters: [Parameter], epsilon: Float = 1e-2
) -> [Tensor] {
  let base = parameters.map(\.value)
  defer { for (p, v) in zip(parameters, base) { p.value = v } }
  return numericalGradients(
    of: { values in
      for (p, v) in zip(parameters, values) { p.value = v }
      return loss()
    }, at: base, epsilon: epsilon)
}

/// Result of a gradient check: worst relative error over the inputs.
public struct GradientCheck: Sendable {
  public var analytic: [Tensor]
  public var numerical: [Tensor]
  /// Max over inputs of `relativeError(analytic, numerical)`.
  public var error: Float {
    zip(analytic, numerical).map { relativeError($0, $1, floor: 1e-3) }.max() ?? 0
  }
}

/// First-order check: gradients from the recorded graph against central differences.
public func checkGradients(
  of f: ([Tensor]) -> Tensor, at inputs: [Tensor], epsilon: Float = 1e-2
) -> GradientCheck {
  let vars = inputs.map { $0.variable() }
  let analytic = gradients(of: f(vars), withRespectTo: vars)
  return GradientCheck(analytic: analytic, numerical: numericalGradients(of: f, at: inputs, epsilon: epsilon))
}

/// Second-order check: with fixed random directions `v`, the scalar `s(x) = sum_k <grad_k f(x), v_k>`
/// is built by differentiating `f` with `createGraph: true`; its gradient (a Hessian-vector
/// product, obtained by double backprop) is compared with central differences of `s`.
public func checkSecondOrder(
  of f: @escaping ([Tensor]) -> Tensor, at inputs: [Tensor], seed: UInt64 = 99, epsilon: Float = 1e-2
) -> GradientCheck {
  let directions = inputs.enumerated().map { randomTensor($0.element.shape, seed: seed + UInt64($0.offset)) }
  let s: ([Tensor]) -> Tensor = { xs in
    let vars = xs.map { $0.requiresGradient ? $0 : $0.variable() }
    let grads = gradients(of: f(vars), withRespectTo: vars, createGraph: true)
    return zip(grads, directions).map { ($0 * $1).sum() }.reduce(Tensor(0), +)
  }
  let vars = inputs.map { $0.variable() }
  let analytic = gradients(of: s(vars), withRespectTo: vars)
  return GradientCheck(analytic: analytic, numerical: numericalGradients(of: s, at: inputs, epsilon: epsilon))
}

/// Gives every BatchNorm of `model` seeded non-trivial statistics, scale and shift (fresh ones are
/// the identity, which would hide a mix-up of the four tensors), then switches to evaluation mode.
public func randomizeBatchNorms(_ model: Model, seed: UInt64) {
  var k = seed
  for l in model.namedLayers() {
    guard let bn = l.layer as? BatchNorm else { continue }
    k += 4
    bn.weight.value = randomTensor([bn.channels], seed: k, low: 0.5, high: 1.5)
    bn.bias.value = randomTensor([bn.channels], seed: k + 1, low: -0.3, high: 0.3)
    bn.runningMean.value = randomTensor([bn.channels], seed: k + 2, low: -0.2, high: 0.2)
    bn.runningVariance.value = randomTensor([bn.channels], seed: k + 3, low: 0.5, high: 2)
    bn.batchesTracked.value = Tensor(Float(k))
  }
  model.setTraining(false)
}

/// LRP with epsilon 1e-9 everywhere on two seeded 32x32 RGB images: each image's input relevance
/// summed, the logit it explains, and the relevance's shape. With zero biases the sums equal the
/// logits (conservation); compare them with ``closeness(_:_:rtol:atol:)``.
public func lrpRelevanceSums(_ model: Model) throws -> (sums: Tensor, logits: Tensor, shape: [Int]) {
  let x = randomTensor([2, 3, 32, 32], seed: 1, low: 0, high: 1)
  let (r, logits, classes) = try LRP.relevance(model: model, input: x, classes: nil, composite: .uniform(.epsilon(1e-9)))
  return (r.reshaped([2, -1]).sum(alongAxis: 1), logits.gathered(rowIndices: classes), r.shape)
}
