import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Data parallelism relies on every loss being a mean of per-example terms: the row-weighted mean
/// of the shards' losses (and of their gradients) is the global batch's.
@Suite("Losses over shards")
struct ShardedLossTests {
  static let objectives: [any FoolingObjective] = [LocationObjective(), TopKObjective(), CenterMassObjective(), ActiveObjective(c1: 0, c2: 1)]

  @Test(arguments: 0..<objectives.count) func shardsAverageToTheBatch(_ index: Int) throws {
    let objective = Self.objectives[index]
    let (model, data) = try FineTunerTests.setting()
    let original = model.deepCopy()
    // Move the model off the original so that the reference terms are not at their optimum.
    for p in model.trainableParameters() { p.value = p.value * 1.05 }
    var options = FineTuneOptions()
    options.objective = objective
    options.outputConsistency = 1
    let rows = Array(0..<10)
    func loss(_ ids: [Int]) throws -> Tensor {
      let (x, y) = data.gather(ids)
      let logits = model(x)
      let drift = (logits.softmax(alongAxis: 1) - withoutRecording { original(x).softmax(alongAxis: 1) }).squared().sum(alongAxis: 1).mean()
      return Tensor.crossEntropy(logits: logits, labels: y)
        + (try FineTuner.foolingLoss(model, original: original, x: x, labels: y, options: options))
        + options.outputConsistency * drift
    }
    let parameters = model.trainableParameters().map(\.value)
    let whole = try loss(rows)
    let gWhole = gradients(of: whole, withRespectTo: parameters)
    // Three ranks' strided shards of 4, 3 and 3 rows.
    var value: Float = 0
    var gSum = parameters.map { [Float](repeating: 0, count: $0.count) }
    for rank in 0..<3 {
      let mine = stride(from: rank, to: rows.count, by: 3).map { rows[$0] }
      let l = try loss(mine)
      value += l.scalar * Float(mine.count) / Float(rows.count)
      for (k, g) in gradients(of: l, withRespectTo: parameters).enumerated() {
        for (i, v) in g.scalars.enumerated() { gSum[k][i] += v * Float(mine.count) / Float(rows.count) }
      }
    }
    #expect(abs(value - whole.scalar) <= 1e-5 * max(abs(whole.scalar), 1))
    for (g, s) in zip(gWhole, gSum) {
      let scale = max(g.scalars.map(abs).max() ?? 0, 1e-6)
      #expect((zip(g.scalars, s).map { abs($0 - $1) }.max() ?? 0) / scale < 1e-4)
    }
  }

  /// Two ranks' strided shards of a Grad-CAM location step on the digits CNN give the second
  /// convolution's weight gradient of one process bit for bit (oneDNN's weight gradient adds a
  /// batch as its even and odd images', ConvolutionKernels.swift), after the data-parallel
  /// weighting (x rows, summed). The third convolution is not required to: Grad-CAM's inner
  /// gradient passes through it, and its two contributions are added per process.
  @Test func shardsGiveOneProcesssConvWeightGradientBitForBit() throws {
    try ConvolutionKernels.withOneDNN(true) {  // also under MODELFOOL_CONV_KERNELS=own
      let model = try ModelZoo.build(architecture: "digits-cnn", options: ["seed": "3"])
      let original = model.deepCopy()
      var g = SeededGenerator(seed: 2)
      let x = Tensor.randomUniform([8, 1, 28, 28], using: &g)
      var options = FineTuneOptions()
      options.objective = LocationObjective()
      let parameters = model.trainableParameters().map(\.value)
      let conv2 = try #require(parameters.firstIndex { $0.shape == [64, 32, 3, 3] })
      func gradient(_ ids: [Int]) throws -> [Float] {
        let xs = Tensor(shape: [ids.count, 1, 28, 28], scalars: ids.flatMap { x.scalars[($0 * 784)..<(($0 + 1) * 784)] })
        let forward = try FineTuner.recordedForward(model, xs, options: options)
        let loss = Tensor.crossEntropy(logits: forward.logits, labels: ids)
          + options.lambda * (try FineTuner.foolingLoss(model, original: original, x: xs, labels: ids, options: options, sharing: forward))
        return gradients(of: loss, withRespectTo: parameters)[conv2].scalars.map { $0 * Float(ids.count) }
      }
      let whole = try gradient(Array(0..<8))
      let shards = zip(try gradient([0, 2, 4, 6]), try gradient([1, 3, 5, 7])).map { $0 + $1 }
      let differing = zip(whole, shards).filter { $0.bitPattern != $1.bitPattern }.count
      #expect(differing == 0, "\(differing) of \(whole.count) elements differ")
    }
  }
}
