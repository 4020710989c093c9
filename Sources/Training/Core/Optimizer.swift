import Foundation
import ModelFool

/// Updates parameters in place from their gradients.
///
/// State (momentum, Adam moments) is kept per parameter object, so the same optimiser can be
/// used across steps with `model.trainableParameters()` in any order.
public protocol Optimizer {
  /// Applies one step: `parameters[i]` moves along `-gradients[i]`.
  mutating func update(_ parameters: [Parameter], along gradients: [Tensor])
  /// The step size used by the next update.
  var learningRate: Float { get set }
}

/// Stochastic gradient descent with optional momentum (PyTorch's form: `v = mu v + g`,
/// `p -= lr v`) and L2 weight decay added to the gradient.
public struct SGD: Optimizer {
  public var learningRate: Float
  public var momentum: Float
  public var weightDecay: Float
  private var velocity: [ObjectIdentifier: [Float]] = [:]

  public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
    self.learningRate = learningRate
    self.momentum = momentum
    self.weightDecay = weightDecay
  }

  public mutating func update(_ parameters: [Parameter], along gradients: [Tensor]) {
    precondition(parameters.count == gradients.count, "SGD: \(parameters.count) parameters, \(gradients.count) gradients")
    for (p, g) in zip(parameters, gradients) where p.isTrainable {
      let id = ObjectIdentifier(p)
      var v = velocity.removeValue(forKey: id) ?? [Float](repeating: 0, count: momentum == 0 ? 0 : p.count)
      let (lr, mu, wd) = (learningRate, momentum, weightDecay)
      v.withUnsafeMutableBufferPointer { vb in
        let pv = vb.baseAddress
        p.value = updated(p.value, g) { w, grad, i in
          let d = grad + wd * w
          guard mu != 0, let pv else { return w - lr * d }
          pv[i] = mu * pv[i] + d
          return w - lr * pv[i]
        }
      }
      if momentum != 0 { velocity[id] = v }
    }
  }
}

/// Adam (Kingma & Ba, 2015) with bias correction; `weightDecay` adds `wd * p` to the gradient
/// (PyTorch's `Adam`, not AdamW). The fine-tuning attack uses it with no weight decay.
public struct Adam: Optimizer {
  public var learningRate: Float
  public var beta1: Float
  public var beta2: Float
  public var epsilon: Float
  public var weightDecay: Float
  private var moments: [ObjectIdentifier: (m: [Float], v: [Float], step: Int)] = [:]

  public init(
    learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
    weightDecay: Float = 0
  ) {
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
  }

  public mutating func update(_ parameters: [Parameter], along gradients: [Tensor]) {
    precondition(parameters.count == gradients.count, "Adam: \(parameters.count) parameters, \(gradients.count) gradients")
    for (p, g) in zip(parameters, gradients) where p.isTrainable {
      let id = ObjectIdentifier(p)
      // Taken out of the dictionary, so that the moment arrays have one owner and are updated in
      // place: a reference left there made every step copy both arrays.
      var state = moments.removeValue(forKey: id) ?? ([Float](repeating: 0, count: p.count), [Float](repeating: 0, count: p.count), 0)
      state.step += 1
      let (b1, b2, eps, wd) = (beta1, beta2, epsilon, weightDecay)
      let t = Float(state.step)
      let stepSize = learningRate * (1 - Foundation.pow(b2, t)).squareRoot() / (1 - Foundation.pow(b1, t))
      let epsilonHat = eps * (1 - Foundation.pow(b2, t)).squareRoot()  // once a step, not per element
      precondition(p.value.shape == g.shape, "optimizer: gradient shape \(g.shape) differs from parameter \(p.value.shape)")
      // Element by element on the engine's threads (each element in one chunk: the same bits for
      // any thread count). The moment arrays are moved out of `state` as well.
      var m = state.m, v = state.v
      state.m = []
      state.v = []
      let count = p.count
      let pg = g.storage.pointer
      // In place when this step's graph is gone (the callers drop it before updating).
      p.updateInPlace { wb in
        m.withUnsafeMutableBufferPointer { mb in
          v.withUnsafeMutableBufferPointer { vb in
            guard let pw = wb.baseAddress, let pm = mb.baseAddress, let pv = vb.baseAddress else { return }
            let rule = AdamRule(beta1: b1, beta2: b2, decay: wd, stepSize: stepSize, epsilonHat: epsilonHat)
            EngineThreads.forEachChunk(count, work: 8 * count) { part in
              rule.apply(part, weights: pw, gradients: pg, m: pm, v: pv)
            }
          }
        }
      }
      state.m = m
      state.v = v
      moments[id] = state
    }
  }

  /// The moments of `parameters`, in that order (nil for one never updated): what a resumable
  /// checkpoint stores.
  public func moments(of parameters: [Parameter]) -> [(m: [Float], v: [Float], step: Int)?] {
    parameters.map { moments[ObjectIdentifier($0)] }
  }

  /// Restores moments saved by ``moments(of:)`` for the same parameters in the same order.
  public mutating func restoreMoments(_ saved: [(m: [Float], v: [Float], step: Int)?], of parameters: [Parameter]) {
    precondition(saved.count == parameters.count, "Adam: \(saved.count) saved moments for \(parameters.count) parameters")
    for (p, state) in zip(parameters, saved) { moments[ObjectIdentifier(p)] = state }
  }
}

/// One Adam step on a range of elements, 8 lanes at a time (the compiler left the scalar loop
/// unvectorised: a tenth of a ResNet-50 step went to it). Each lane runs the scalar formula's
/// operations in the same order, and IEEE square roots and quotients are exact per lane, so the
/// bits equal the scalar loop's, which handles the tail.
struct AdamRule {
  let beta1: Float, beta2: Float, decay: Float, stepSize: Float, epsilonHat: Float

  func apply(
    _ part: Range<Int>, weights pw: UnsafeMutablePointer<Float>, gradients pg: UnsafePointer<Float>,
    m pm: UnsafeMutablePointer<Float>, v pv: UnsafeMutablePointer<Float>
  ) {
    typealias Lanes = SIMD8<Float>
    let (b1, b2, wd) = (Lanes(repeating: beta1), Lanes(repeating: beta2), Lanes(repeating: decay))
    let (c1, c2) = (Lanes(repeating: 1 - beta1), Lanes(repeating: 1 - beta2))
    let (size, eps) = (Lanes(repeating: stepSize), Lanes(repeating: epsilonHat))
    var i = part.lowerBound
    while i + Lanes.scalarCount <= part.upperBound {
      let w = UnsafeRawPointer(pw + i).loadUnaligned(as: Lanes.self)
      let d = UnsafeRawPointer(pg + i).loadUnaligned(as: Lanes.self) + wd * w
      let m = b1 * UnsafeRawPointer(pm + i).loadUnaligned(as: Lanes.self) + c1 * d
      let v = b2 * UnsafeRawPointer(pv + i).loadUnaligned(as: Lanes.self) + c2 * d * d
      UnsafeMutableRawPointer(pm + i).storeBytes(of: m, as: Lanes.self)
      UnsafeMutableRawPointer(pv + i).storeBytes(of: v, as: Lanes.self)
      UnsafeMutableRawPointer(pw + i).storeBytes(of: w - size * m / (v.squareRoot() + eps), as: Lanes.self)
      i += Lanes.scalarCount
    }
    for i in i..<part.upperBound {
      let w = pw[i]
      let d = pg[i] + decay * w
      pm[i] = beta1 * pm[i] + (1 - beta1) * d
      pv[i] = beta2 * pv[i] + (1 - beta2) * d * d
      pw[i] = w - stepSize * pm[i] / (pv[i].squareRoot() + epsilonHat)
    }
  }
}

/// A new tensor with `rule(weight, gradient, index)` applied to every element (no graph), on the
/// engine's threads: `rule` may write state at index `i` only.
@inline(__always)
func updated(_ w: Tensor, _ g: Tensor, _ rule: (Float, Float, Int) -> Float) -> Tensor {
  precondition(w.shape == g.shape, "optimizer: gradient shape \(g.shape) differs from parameter \(w.shape)")
  let storage = TensorStorage(uninitializedCount: w.count)
  let pw = w.storage.pointer, pg = g.storage.pointer, out = storage.pointer
  EngineThreads.forEachChunk(w.count, work: 4 * w.count) { part in
    for i in part { out[i] = rule(pw[i], pg[i], i) }
  }
  return Tensor(shape: w.shape, storage: storage)
}
