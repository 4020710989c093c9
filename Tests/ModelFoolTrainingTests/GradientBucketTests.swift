import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Two ranks played by one process, both holding the same numbers: every reduction doubles its
/// values. A started reduction takes its values when it starts and writes the doubled ones back
/// when waited for, as a nonblocking reduction may: a write into a bucket after its start is lost.
final class MirroredRanks: Communicator, @unchecked Sendable {
  let bucketBytes: Int
  var rank: Int { 0 }
  var size: Int { 2 }
  /// The element count of every reduction started so far.
  private(set) var started: [Int] = []
  private var pending: [(buffer: UnsafeMutableBufferPointer<Float>, values: [Float])] = []

  init(bucketBytes: Int) { self.bucketBytes = bucketBytes }

  func allreduceSum(_ values: inout [Float]) throws { values = values.map { $0 * 2 } }
  func startAllreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
    started.append(values.count)
    pending.append((values, Array(values)))
  }
  func advanceReductions() throws {}
  func waitForReductions() throws {
    for (buffer, values) in pending { for (i, v) in values.enumerated() { buffer[i] = v * 2 } }
    pending.removeAll()
  }
  func allgather(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes, bytes] }
  func barrier() throws {}
}

/// Gradients are summed over the ranks in buckets, started while the backward pass runs: the
/// result must not depend on the bucket size.
@Suite("Gradient buckets")
struct GradientBucketTests {
  /// Three data-parallel fine-tuning steps with 64-element buckets give the weights of one whole
  /// buffer bit for bit; every parameter is reduced once per step, in buckets of at most 64
  /// elements unless one parameter is larger.
  @Test func bucketSizeDoesNotChangeTheSteps() throws {
    let (base, data) = try FineTunerTests.setting()
    let sizes = base.trainableParameters().map(\.count)
    var options = FineTuneOptions()
    options.steps = 3
    options.batchSize = 8
    options.learningRate = 1e-3
    options.evaluateEvery = 100
    func run(bucketBytes: Int) throws -> (weights: [[Float]], started: [Int]) {
      let model = base.deepCopy()
      let ranks = MirroredRanks(bucketBytes: bucketBytes)
      _ = try FineTuner.train(
        model, original: FrozenOriginal(base.deepCopy()), on: data, monitor: data.subset(Array(0..<8)), options: options, communicator: ranks)
      return (model.trainableParameters().map(\.value.scalars), ranks.started)
    }
    let whole = try run(bucketBytes: 1 << 30)
    let small = try run(bucketBytes: 64 * MemoryLayout<Float>.size)
    #expect(whole.weights == small.weights)
    // One reduction a step: the gradients, 3 values and the row count.
    let total = sizes.reduce(0, +)
    #expect(whole.started == [Int](repeating: total + 4, count: 3))
    #expect(small.started.count > 3 * 3 && small.started.count % 3 == 0)
    #expect(small.started.reduce(0, +) == 3 * (total + 4))
    let perStep = Array(small.started.prefix(small.started.count / 3))
    for (k, n) in perStep.dropLast().enumerated() { #expect(n <= 64 || sizes.contains(n), "bucket \(k) holds \(n)") }
    #expect(perStep.last! - 4 <= 64 || sizes.contains(perStep.last! - 4))
  }
}
