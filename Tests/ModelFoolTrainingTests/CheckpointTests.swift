import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Checkpoints: bit-exact round trip, precise errors, atomic writes.
@Suite("Checkpoints")
struct CheckpointTests {
  static func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelfool-ckpt-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
  }

  @Test func roundTripIsBitExact() throws {
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["seed": "3", "channels": "4,4,8"])
    model.classNames = (0..<10).map { "digit \($0)" }
    let path = Self.temporaryPath("m.h5")
    try Checkpoint.save(model, to: path, metadata: ["note": "test"])
    let loaded = try Checkpoint.load(path)
    #expect(loaded.architecture == "digits-cnn")
    #expect(loaded.classNames == model.classNames)
    #expect(loaded.inputShape == [1, 28, 28])
    #expect(try Checkpoint.metadata(path)["note"] == "test")
    let a = model.namedParameters(), b = loaded.namedParameters()
    #expect(a.map(\.name) == b.map(\.name))
    for (x, y) in zip(a, b) {
      #expect(x.parameter.value.scalars.map(\.bitPattern) == y.parameter.value.scalars.map(\.bitPattern), "\(x.name)")
    }
  }

  @Test func misShapedParameterIsNamed() throws {
    let small = try ModelZoo.build(architecture: "mlp", options: ["inputs": "5", "hidden": "4"])
    let path = Self.temporaryPath("mlp.h5")
    try Checkpoint.save(small, to: path)
    // Rewrite one weight with a wrong shape.
    let file = try HDF5File.open(path, mode: .readWrite)
    try file.write([Float](repeating: 0, count: 12), shape: [4, 3], at: HDF5File.datasetPath(forParameter: "0.weight"))
    try file.close()
    #expect {
      _ = try Checkpoint.load(path)
    } throws: { error in
      "\(error)".contains("0.weight has shape [4, 3], mlp needs [4, 5]")
    }
  }

  @Test func missingFileAndForeignFile() throws {
    #expect { _ = try Checkpoint.load("/nonexistent/model.h5") } throws: { "\($0)".contains("does not exist") }
    let path = Self.temporaryPath("plain.h5")
    let file = try HDF5File.create(path)
    try file.write([1, 2], shape: [2], at: "x")
    try file.close()
    #expect { _ = try Checkpoint.load(path) } throws: { "\($0)".contains("is not a ModelFool checkpoint") }
  }

  @Test func refusesToOverwriteWithNaN() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "3", "hidden": "2"])
    let path = Self.temporaryPath("good.h5")
    try Checkpoint.save(model, to: path)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let p = try model.parameter(named: "0.weight")
    p.value = Tensor(repeating: .nan, shape: p.shape)
    #expect { try Checkpoint.save(model, to: path) } throws: { "\($0)".contains("0.weight holds NaN") }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
  }
}

/// Optimisers against hand-computed steps.
@Suite("Optimizers")
struct OptimizerTests {
  @Test func sgdWithMomentumAndDecay() {
    let p = Parameter(Tensor([1, -2]))
    var sgd = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.5)
    sgd.update([p], along: [Tensor([0.2, 0.4])])
    // d = g + 0.5 w = [0.7, -0.6]; v = d; w -= 0.1 v.
    #expect(p.value.scalars.enumerated().allSatisfy { abs($0.element - [0.93, -1.94][$0.offset]) < 1e-6 })
    sgd.update([p], along: [Tensor([0.2, 0.4])])
    // d = [0.2 + 0.465, 0.4 - 0.97] = [0.665, -0.57]; v = 0.9 [0.7, -0.6] + d = [1.295, -1.11].
    #expect(p.value.scalars.enumerated().allSatisfy { abs($0.element - [0.93 - 0.1295, -1.94 + 0.111][$0.offset]) < 1e-5 })
  }

  @Test func adamFirstStepIsLearningRateTimesSign() {
    let p = Parameter(Tensor([1, 1, 1]))
    var adam = Adam(learningRate: 0.01)
    adam.update([p], along: [Tensor([3, -0.5, 1e-3])])
    let expected: [Float] = [0.99, 1.01, 0.99]
    #expect(zip(p.value.scalars, expected).allSatisfy { abs($0 - $1) < 1e-5 })
  }

  @Test func trainingStopsOnNaNLoss() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "2", "hidden": "3"])
    let data = Dataset(name: "bad", inputs: Tensor(shape: [4, 2], scalars: [3e38, -3e38, 0, 1, 1, 1, 0, 0]), labels: [0, 1, 0, 1], classNames: ["a", "b"])
    var options = TrainingOptions()
    options.epochs = 1
    options.batchSize = 4
    #expect { try Trainer.fit(model, train: data, test: nil, options: options) } throws: { "\($0)".contains("loss became nan") }
  }

  @Test func cosineSchedule() {
    let s = LearningRateSchedule.cosine(totalSteps: 10, floor: 0.1)
    #expect(s.rate(base: 1, step: 0) == 1)
    #expect(abs(s.rate(base: 1, step: 5) - 0.55) < 1e-6)
    #expect(abs(s.rate(base: 1, step: 10) - 0.1) < 1e-6)
  }
}
