import ModelFool
import ModelFoolTraining

/// Timing of one fine-tuning step against one plain training step, for `modelfool bench step`
/// (Grad-CAM location on the digits CNN, batch 32, targeted at most 1.15x a plain CE step).
public enum FineTuneBenchmark {
  /// Throws unless `model` takes images: the step times Grad-CAM location.
  public static func requireImageModel(_ model: Model) throws {
    guard ModelFamily(of: model) != .tabular else {
      throw TrainingError("the fine-tuning step times Grad-CAM location, which needs an image model; \(model.architecture) takes rows of \(model.inputShape) columns")
    }
  }

  /// Median milliseconds of a plain cross-entropy step and of a `CE + lambda * L_F` step
  /// (Grad-CAM, location, target layer of the model), both with an Adam update, on seeded data
  /// of the model's input shape; `model` nil is the seeded digits CNN. The fine-tuning step is
  /// `FineTuner`'s: one recorded forward shared by the CE and the explanation;
  /// `separateForwards` also times the former step, whose explanation ran its own forward pass.
  /// Also returns the most tensor memory held at once during the plain and the fine-tuning
  /// steps, MiB (``TensorStorage/bytes``: the model, its Adam state and the step's activations).
  public static func stepTimes(
    iterations: Int = 10, batch: Int = 32, model: Model? = nil, separateForwards: Bool = false
  ) throws -> (plain: Double, fooling: Double, separate: Double?, plainPeakMiB: Double, foolingPeakMiB: Double) {
    let model = try model ?? ModelZoo.build(architecture: "digits-cnn", options: ["seed": "0"])
    try requireImageModel(model)
    model.setTraining(false)
    // The location step reads no original, so none is held, as in `FineTuner` (``FrozenOriginal``).
    func original() throws -> Model { throw TrainingError("the timed location step read the frozen original") }
    var g = SeededGenerator(seed: 2)
    let x = Tensor.randomUniform([batch] + model.inputShape, using: &g)
    let classes = withoutRecording { model(x.slice(axis: 0, 0..<1)) }.shape[1]
    let labels = (0..<batch).map { $0 % classes }
    var options = FineTuneOptions()
    options.objective = LocationObjective()
    options.method = .gradCAM
    let parameters = model.trainableParameters()
    var adam = Adam(learningRate: 1e-4)
    var failure: Error?
    enum Variant { case plain, shared, separate }
    func step(_ variant: Variant) {
      do {
        adam.update(parameters, along: try stepGradients(variant))
      } catch { failure = error }
    }
    // The graph is released before the update, as in `FineTuner`.
    func stepGradients(_ variant: Variant) throws -> [Tensor] {
      let loss: Tensor
      switch variant {
      case .plain:
        loss = Tensor.crossEntropy(logits: model(x), labels: labels)
      case .shared:
        let forward = try FineTuner.recordedForward(model, x, options: options)
        loss = Tensor.crossEntropy(logits: forward.logits, labels: labels)
          + options.lambda * (try FineTuner.foolingLoss(model, original: try original(), x: x, labels: labels, options: options, sharing: forward))
      case .separate:
        loss = Tensor.crossEntropy(logits: model(x), labels: labels)
          + options.lambda * (try FineTuner.foolingLoss(model, original: try original(), x: x, labels: labels, options: options))
      }
      return gradients(of: loss, withRespectTo: parameters.map(\.value))
    }
    func peakMiB() -> Double { Double(TensorStorage.bytes.peak) / 1_048_576 }
    TensorStorage.resetPeakBytes()
    let plain = KernelBenchmark.medianSeconds(repeats: iterations) { step(.plain) }
    let plainPeak = peakMiB()
    TensorStorage.resetPeakBytes()
    let fooling = KernelBenchmark.medianSeconds(repeats: iterations) { step(.shared) }
    let foolingPeak = peakMiB()
    let separate = separateForwards ? KernelBenchmark.medianSeconds(repeats: iterations) { step(.separate) } : nil
    if let failure { throw failure }
    return (plain * 1000, fooling * 1000, separate.map { $0 * 1000 }, plainPeak, foolingPeak)
  }
}
