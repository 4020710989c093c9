import Foundation

/// Learning rate as a function of the step: constant, step decay, or cosine annealing.
public enum LearningRateSchedule: Sendable, Hashable, CustomStringConvertible {
  case constant
  /// Multiply by `factor` every `every` steps.
  case stepDecay(every: Int, factor: Float)
  /// Cosine from the base rate down to `floor` times it over `totalSteps`.
  case cosine(totalSteps: Int, floor: Float)

  /// The rate at `step` (0-based) for base rate `base`.
  public func rate(base: Float, step: Int) -> Float {
    switch self {
    case .constant:
      return base
    case .stepDecay(let every, let factor):
      return base * Foundation.pow(factor, Float(step / max(every, 1)))
    case .cosine(let total, let floor):
      let t = min(Float(step) / Float(max(total, 1)), 1)
      return base * (floor + (1 - floor) * 0.5 * (1 + Foundation.cos(.pi * t)))
    }
  }

  public var description: String {
    switch self {
    case .constant: "constant"
    case .stepDecay(let every, let factor): "step(every=\(every), factor=\(factor))"
    case .cosine(let total, let floor): "cosine(steps=\(total), floor=\(floor))"
    }
  }
}
