import ModelFool
import ModelFoolTraining

/// Timing of one fine-tuning step against one plain training step, for `modelfool bench step`
/// (issue target: Grad-CAM location on the digits CNN, batch 32, at most 4x a plain CE step).
public enum FineTuneBenchmark {
  /// Median milliseconds of a plain cross-entropy step and of a `CE + lambda * L_F` step
  /// (Grad-CAM, location, target layer of the model), both with an Adam update, on seeded data
  /// of the model's input shape; `model` nil is the seeded digits CNN.
  public static func stepTimes(iterations: Int = 10, batch: Int = 32, model: Model? = nil) throws -> (plain: Double, fooling: Double) {
    let model = try model ?? ModelZoo.build(architecture: "digits-cnn", options: ["seed": "0"])
    model.setTraining(false)
    let original = model.deepCopy()
    var g = SeededGenerator(seed: 2)
    let x = Tensor.randomUniform([batch] + model.inputShape, using: &g)
    let labels = (0..<batch).map { $0 % max(model.classNames.count, 10) }
    var options = FineTuneOptions()
    options.objective = .location
    options.method = .gradCAM
    let parameters = model.trainableParameters()
    var adam = Adam(learningRate: 1e-4)
    var failure: Error?
    func step(fooling: Bool) {
      do {
        var loss = Tensor.crossEntropy(logits: model(x), labels: labels)
        if fooling {
          loss = loss + options.lambda * (try FineTuner.foolingLoss(model, original: original, x: x, labels: labels, options: options))
        }
        adam.update(parameters, along: gradients(of: loss, withRespectTo: parameters.map(\.value)))
      } catch { failure = error }
    }
    let plain = KernelBenchmark.medianSeconds(repeats: iterations) { step(fooling: false) }
    let fooling = KernelBenchmark.medianSeconds(repeats: iterations) { step(fooling: true) }
    if let failure { throw failure }
    return (plain * 1000, fooling * 1000)
  }
}
