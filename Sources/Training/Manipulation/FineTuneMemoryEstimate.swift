import Foundation
import ModelFool

/// An estimate of the memory a fine-tuning adds while it runs, checked against the memory the
/// system has available before the first step, so that a batch too large for the machine ends in
/// a one-line error instead of the out-of-memory killer.
///
/// `bytes = 4 * (parameters * parameterCopies + activationsPerExample * batchSize * activationFactor) + overhead`
///
/// - `parameters`: the model's trainable and buffer values; each is held ``parameterCopies``
///   times (the fooled weights, the original model's (only where the objective reads it during
///   training, ``FrozenOriginal``: one copy too many for the others), the gradient, Adam's two
///   moments and the gradient of the double-backprop graph).
/// - `activationsPerExample`: the values of every layer output for one example (a forward pass
///   of one zero input); the double-backprop graph keeps the forward pass of the fooled and the
///   original model, the explanation's backward pass and the gradients of both, which
///   ``activationFactor`` covers. Calibrated on the digits CNN (Grad-CAM location, `--steps 3`):
///   peak resident memory 185 / 488 / 1,610 MB at batch 16 / 256 / 1024, i.e. 1.43 MB per example,
///   where factor 6 estimates 2.25 MB: the estimate errs high by about 1.6x, so that it refuses
///   only what would not fit.
public struct FineTuneMemoryEstimate: Sendable, Equatable {
  /// Parameter and buffer values of the model.
  public var parameters: Int
  /// Values of all layer outputs for one example.
  public var activationsPerExample: Int
  public var batchSize: Int

  /// Copies of every parameter alive during a step.
  public static let parameterCopies = 6.0
  /// Bytes of the double-backprop graph per byte of forward activations, for one example.
  public static let activationFactor = 6.0
  /// What a step allocates beside parameters and activations (scratch buffers, the explanation maps).
  public static let overhead = 64.0 * 1_048_576

  /// The estimate for `batchSize` examples of `model`, measured by one forward pass of one zero
  /// example in evaluation mode (the model's mode is restored afterwards).
  public init(model: Model, batchSize: Int) {
    self.parameters = model.namedParameters().reduce(0) { $0 + $1.parameter.count }
    self.activationsPerExample = Self.activationCount(model)
    self.batchSize = batchSize
  }

  /// An estimate from known counts.
  public init(parameters: Int, activationsPerExample: Int, batchSize: Int) {
    self.parameters = parameters
    self.activationsPerExample = activationsPerExample
    self.batchSize = batchSize
  }

  /// The estimated peak memory the fine-tuning adds, in bytes (a Double: a batch size from a
  /// flag can make it exceed `Int`).
  public var bytes: Double {
    4 * (Double(parameters) * Self.parameterCopies
      + Double(activationsPerExample) * Double(max(batchSize, 0)) * Self.activationFactor) + Self.overhead
  }

  /// `MemAvailable` of `/proc/meminfo` in bytes; nil where there is no such file (not Linux).
  public static func availableBytes(meminfo path: String = "/proc/meminfo") -> Double? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
      return line.split(separator: " ").dropFirst().first.flatMap { Double($0) }.map { $0 * 1024 }
    }
    return nil
  }

  /// Throws a one-line ``TrainingError`` naming the estimate and the available memory when the
  /// estimate exceeds `available` (nil: ``availableBytes(meminfo:)``; unknown: no check).
  public func check(available: Double? = FineTuneMemoryEstimate.availableBytes()) throws {
    guard let available, bytes > available else { return }
    throw TrainingError(
      "the fine-tuning needs an estimated \(Self.describe(bytes)) (batch \(batchSize) x \(Self.describe(bytesPerExample)) per example, \(parameters) parameters) but \(Self.describe(available)) of memory is available: lower the batch size, or turn the memory check off",
      settings: ["batchSize", "memoryCheck"])
  }

  /// The activation bytes of one example in a step.
  public var bytesPerExample: Double { 4 * Double(activationsPerExample) * Self.activationFactor }

  /// `1.2 GB`, `340 MB` (powers of 1024).
  public static func describe(_ bytes: Double) -> String {
    bytes >= 1_073_741_824 ? String(format: "%.1f GB", bytes / 1_073_741_824)
      : bytes >= 1_048_576 ? String(format: "%.1f MB", bytes / 1_048_576) : String(format: "%.0f KB", bytes / 1024)
  }

  /// Values of the input and of every leaf layer's output for one zero example.
  static func activationCount(_ model: Model) -> Int {
    var leaves: Set<String> = []
    func collect(_ layer: any Layer, _ name: String) {
      if layer.children.isEmpty { leaves.insert(name) }
      for (child, sub) in layer.children { collect(sub, joinLayerName(name, child)) }
    }
    collect(model, "")
    let training = model.isTraining
    model.isTraining = false
    defer { model.isTraining = training }
    let tap = ActivationTap(outputsOf: leaves)
    let input = Tensor.zeros([1] + model.inputShape)
    _ = ActivationTap.$current.withValue(tap) { model(input) }
    return input.count + tap.outputs.values.reduce(0) { $0 + $1.count }
  }
}
