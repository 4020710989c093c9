import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// The engine's thread pool splits work over output elements only, so a fine-tuning run gives
/// the same bits on one thread and on two; the step's shared forward pass gives the fooling loss
/// of separate forwards.
@Suite("Threads and the shared forward pass")
struct ThreadDeterminismTests {
  /// The digits CNN at full width (its kernels pass the pool's size threshold) and 16 seeded
  /// 1x28x28 images of 10 classes.
  static func setting() throws -> (Model, Dataset) {
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["seed": "3"])
    var g = SeededGenerator(seed: 9)
    let x = Tensor.randomUniform([16, 1, 28, 28], using: &g)
    let data = Dataset(name: "noise", inputs: x, labels: (0..<16).map { $0 % 10 }, classNames: (0..<10).map(String.init))
    return (model, data)
  }

  static func bits(_ model: Model) -> [UInt32] {
    model.trainableParameters().flatMap { $0.value.scalars.map(\.bitPattern) }
  }

  /// Weights after `steps` Grad-CAM location fine-tuning steps (batch 8) with `threads` threads.
  static func fineTuned(threads: Int, steps: Int) throws -> [UInt32] {
    let (model, data) = try setting()
    let original = model.deepCopy()
    var options = FineTuneOptions()
    options.objective = LocationObjective()
    options.method = .gradCAM
    options.learningRate = 1e-3
    options.steps = steps
    options.batchSize = 8
    options.evaluateEvery = 1000
    options.monitorCount = 8
    options.outputConsistency = 1
    try EngineThreads.withCount(threads) {
      _ = try FineTuner.run(model, original: original, train: data, heldOut: data, options: options)
    }
    return bits(model)
  }

  @Test func fineTuningStepsGiveTheSameBitsOnOneAndTwoThreads() throws {
    let one = try Self.fineTuned(threads: 1, steps: 1)
    let two = try Self.fineTuned(threads: 2, steps: 1)
    #expect(one == two, "one step: \(zip(one, two).filter { $0 != $1 }.count) of \(one.count) weights differ")
    let oneRun = try Self.fineTuned(threads: 1, steps: 3)
    let twoRun = try Self.fineTuned(threads: 2, steps: 3)
    #expect(oneRun == twoRun, "three steps: \(zip(oneRun, twoRun).filter { $0 != $1 }.count) of \(oneRun.count) weights differ")
    #expect(oneRun != one)
  }

  @Test func sharedForwardGivesTheLossAndGradientsOfSeparateForwards() throws {
    let (model, data) = try Self.setting()
    let original = model.deepCopy()
    for method in [ExplanationMethod.gradCAM, .simpleGrad, .simpleGradTarget] {
      var options = FineTuneOptions()
      options.objective = LocationObjective()
      options.method = method
      let x = data.inputs, labels = data.labels
      let parameters = model.trainableParameters().map(\.value)
      let separateLoss = Tensor.crossEntropy(logits: model(x), labels: labels)
        + (try FineTuner.foolingLoss(model, original: original, x: x, labels: labels, options: options))
      let forward = try FineTuner.recordedForward(model, x, options: options)
      let sharedLoss = Tensor.crossEntropy(logits: forward.logits, labels: labels)
        + (try FineTuner.foolingLoss(model, original: original, x: x, labels: labels, options: options, sharing: forward))
      // The same forward values: the loss is bit-identical; the gradients sum the CE and L_F
      // parts at the shared activations before the backbone, a reassociation.
      #expect(separateLoss.scalar == sharedLoss.scalar, "\(method)")
      let a = gradients(of: separateLoss, withRespectTo: parameters)
      let b = gradients(of: sharedLoss, withRespectTo: parameters)
      for (ga, gb) in zip(a, b) {
        let scale = ga.scalars.map { abs($0) }.max() ?? 0
        let diff = zip(ga.scalars, gb.scalars).map { abs($0 - $1) }.max() ?? 0
        #expect(diff <= 1e-5 * max(scale, 1e-3), "\(method): max difference \(diff) at scale \(scale)")
      }
    }
  }

  @Test func genericOpenBLASCoreOnAModernCPUIsReportedUnlessChosen() {
    let avx512: Set<String> = ["sse2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]
    let warning = BLASRuntime.genericCoreWarning(core: "Prescott", cpuFlags: avx512, environment: [:])
    #expect(warning?.contains("OPENBLAS_CORETYPE=SkylakeX") == true)
    #expect(BLASRuntime.genericCoreWarning(core: "Nehalem", cpuFlags: ["avx2", "fma"], environment: [:])?.contains("OPENBLAS_CORETYPE=Haswell") == true)
    #expect(BLASRuntime.genericCoreWarning(core: "Prescott", cpuFlags: avx512, environment: ["OPENBLAS_CORETYPE": "Prescott"]) == nil)
    #expect(BLASRuntime.genericCoreWarning(core: "SkylakeX", cpuFlags: avx512, environment: [:]) == nil)
    #expect(BLASRuntime.genericCoreWarning(core: "Prescott", cpuFlags: ["sse2", "sse3"], environment: [:]) == nil)
  }
}
