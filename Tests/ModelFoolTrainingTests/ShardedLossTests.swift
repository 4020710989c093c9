import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Data parallelism relies on every loss being a mean of per-example terms: the row-weighted mean
/// of the shards' losses (and of their gradients) is the global batch's.
@Suite("Losses over shards")
struct ShardedLossTests {
  static let objectives: [FoolingObjective] = [.location, .topK, .centerMass, .active(c1: 0, c2: 1)]

  @Test(arguments: objectives) func shardsAverageToTheBatch(_ objective: FoolingObjective) throws {
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
}
